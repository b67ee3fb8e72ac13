#!/usr/bin/env bash
# Kite's own integration suite (pykiteconnect's tests/integration) against a freshly started sandbox.
#
#   PYKITECONNECT=/path/to/pykiteconnect bench/kite_integration.sh [pytest args...]
#
# PYKITECONNECT: a checkout of github.com/zerodha/pykiteconnect WITH its tests/mock_responses submodule
# (github.com/zerodha/kiteconnect-mocks): `git clone --recursive`, or `git submodule update --init`. Nothing
# is downloaded here. RATE_LIMITS=on runs it against a sandbox that answers 429 past Kite's limits
# (default off). The sandbox gets its own SQLite file in a temporary folder, its clock frozen at the
# last Wednesday 11:00 IST (market hours), and a paper user holding INFY and RELIANCE; the suite gets
# its api_key, access_token and --root-url. Exit status: pytest's.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
: "${PYKITECONNECT:?set PYKITECONNECT to a pykiteconnect checkout (with tests/mock_responses)}"
if [ ! -d "$PYKITECONNECT/tests/integration" ]; then
    echo "no tests/integration in $PYKITECONNECT" >&2; exit 2
fi
if [ ! -f "$PYKITECONNECT/tests/mock_responses/holdings.json" ]; then
    echo "$PYKITECONNECT/tests/mock_responses is empty: git submodule update --init (kiteconnect-mocks)" >&2
    exit 2
fi

export PYKITECONNECT RATE_LIMITS="${RATE_LIMITS:-off}"
cd "$ROOT"
exec "$PYTHON" - "$@" <<'PY'
import os, subprocess, sys, tempfile
from pathlib import Path

sys.path.insert(0, os.getcwd())
from tests.fixtures.sandbox import TRADING_TIME, start_sandbox  # noqa: E402

checkout = Path(os.environ["PYKITECONNECT"]).resolve()
work = Path(tempfile.mkdtemp(prefix="kite-integration-"))
# The suite imports `mock` (the PyPI backport); the standard library's unittest.mock is the same API.
shim = work / "shim"
shim.mkdir()
(shim / "mock.py").write_text("from unittest.mock import *  # noqa: F403\n")
handle = start_sandbox(work / "sandbox", extra_env={"KITE_SANDBOX_RATE_LIMITS": os.environ["RATE_LIMITS"]})
code = 1
try:
    handle.set_clock(TRADING_TIME)
    kite = handle.connect(holdings=[{"instrument": "NSE:INFY", "quantity": 10},
                                    {"instrument": "NSE:RELIANCE", "quantity": 5}])
    print(f"sandbox {handle.url}, clock {handle.clock().isoformat()}, rate limits {os.environ['RATE_LIMITS']}",
          flush=True)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(shim), str(checkout)]))
    code = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rfE",
                           "tests/integration", "--api-key", kite.api_key, "--access-token", kite.access_token,
                           "--root-url", handle.url, *sys.argv[1:]], cwd=checkout, env=env).returncode
finally:
    handle.stop()
sys.exit(code)
PY
