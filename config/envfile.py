"""Write a `.env` with a fresh SECRET_KEY and FIELD_ENCRYPTION_KEY when there is none.

`make run` calls this before anything else. An existing `.env` is never touched: its keys
decrypt the credentials already stored.

    python -m config.envfile [PATH]
"""
from __future__ import annotations

import secrets
import sys
from pathlib import Path

from cryptography.fernet import Fernet

DEFAULT_PATH = Path(__file__).resolve().parent.parent / ".env"


def ensure_env_file(path: Path = DEFAULT_PATH) -> bool:
    """Create `path` with fresh keys if it does not exist. True when a file was written."""
    if path.exists():
        return False
    content = (
        "# Written by `make run` (config/envfile.py). Keep it: FIELD_ENCRYPTION_KEY decrypts stored credentials.\n"
        f"SECRET_KEY={secrets.token_urlsafe(50)}\n"
        f"FIELD_ENCRYPTION_KEY={Fernet.generate_key().decode()}\n"
    )
    # O_EXCL: two `make run`s racing cannot both write (and one overwrite the other's keys).
    with open(path, "x", encoding="utf-8") as handle:
        handle.write(content)
    path.chmod(0o600)
    return True


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_PATH
    if ensure_env_file(target):
        print(f"Wrote {target} with a new SECRET_KEY and FIELD_ENCRYPTION_KEY.", file=sys.stderr)
