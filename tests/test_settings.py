from __future__ import annotations

from pathlib import Path

import pytest

from z0.settings import Settings


def test_defaults() -> None:
    settings = Settings()
    assert settings.data_dir == Path("z0-data")
    assert (settings.host, settings.gateway_port, settings.api_port) == ("127.0.0.1", 8787, 8788)
    assert settings.max_upload_bytes == 10 * 1024 * 1024
    assert settings.resolved_database_url == f"sqlite:///{Path('z0-data').resolve() / 'z0.sqlite3'}"


def test_flags_win_over_env_which_wins_over_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "z0.toml"
    config.write_text(
        '[z0]\napi_port = 9001\ngateway_port = 9002\nhost = "0.0.0.0"\nmax_upload_bytes = 1234\n'
    )
    monkeypatch.setenv("Z0_API_PORT", "9100")
    monkeypatch.setenv("Z0_GATEWAY_PORT", "9200")
    settings = Settings.load(config, api_port=9999, gateway_port=None)
    assert settings.api_port == 9999  # flag
    assert settings.gateway_port == 9200  # env
    assert settings.host == "0.0.0.0"  # file
    assert settings.max_upload_bytes == 1234  # file


def test_env_sets_data_dir_and_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("Z0_DATA_DIR", "/srv/z0")
    monkeypatch.setenv("Z0_API_TOKEN", "secret-token")
    settings = Settings.load()
    assert settings.data_dir == Path("/srv/z0")
    assert settings.api_token is not None and settings.api_token.get_secret_value() == "secret-token"
    assert "secret-token" not in repr(settings)


def test_bad_file_and_bad_values_are_clear(tmp_path: Path) -> None:
    config = tmp_path / "z0.toml"
    config.write_text("api_port = [")
    with pytest.raises(ValueError, match="not valid TOML"):
        Settings.load(config)
    with pytest.raises(ValueError, match="Cannot read the settings file"):
        Settings.load(tmp_path / "missing.toml")
    config.write_text("unknown_setting = 1\n")
    with pytest.raises(ValueError, match="unknown_setting"):
        Settings.load(config)
    with pytest.raises(ValueError, match="account id"):
        Settings(account_id="not valid!")
