from cryptography.fernet import Fernet

from config.envfile import ensure_env_file


def read_env(path):
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if line and not line.startswith("#"))


def test_writes_fresh_working_keys(tmp_path):
    target = tmp_path / ".env"
    assert ensure_env_file(target) is True
    values = read_env(target)
    Fernet(values["FIELD_ENCRYPTION_KEY"].encode())  # a valid key
    assert len(values["SECRET_KEY"]) >= 50
    assert target.stat().st_mode & 0o077 == 0  # readable by its owner only


def test_keys_differ_between_setups(tmp_path):
    ensure_env_file(tmp_path / "a")
    ensure_env_file(tmp_path / "b")
    assert read_env(tmp_path / "a") != read_env(tmp_path / "b")


def test_never_overwrites_an_existing_file(tmp_path):
    target = tmp_path / ".env"
    target.write_text("FIELD_ENCRYPTION_KEY=mine\n")
    assert ensure_env_file(target) is False
    assert target.read_text() == "FIELD_ENCRYPTION_KEY=mine\n"
