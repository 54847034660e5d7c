"""Serve settings: flags over ASSISTANT_* environment over the TOML file over defaults."""

from __future__ import annotations

import pytest

from assistant.cli import _settings
from assistant.errors import InvalidInputError
from assistant.settings import ServeSettings


def test_precedence(tmp_path, monkeypatch):
    config = tmp_path / "assistant.toml"
    config.write_text('port = 9000\ncontext = 2048\nhost = "0.0.0.0"\ncors_origin = ["http://localhost:3000"]\n')
    monkeypatch.setenv("ASSISTANT_PORT", "9100")
    monkeypatch.setenv("ASSISTANT_SLOTS", "2")
    s = _settings(ServeSettings, {"slots": 3}, config)
    assert (s.port, s.context, s.host, s.slots) == (9100, 2048, "0.0.0.0", 3)
    assert s.cors_origin == ["http://localhost:3000"]
    assert _settings(ServeSettings, {}, None).host == "127.0.0.1"  # safe default


def test_api_key_file(tmp_path):
    key = tmp_path / "key.txt"
    key.write_text("s3cret\n")
    assert ServeSettings(api_key_file=key).resolved_api_key() == "s3cret"
    assert ServeSettings().resolved_api_key() is None


def test_bad_settings_are_one_clear_error(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("port = \n")
    with pytest.raises(InvalidInputError, match="cannot read the config file"):
        _settings(ServeSettings, {}, bad)
    with pytest.raises(InvalidInputError, match="port"):
        _settings(ServeSettings, {"port": "eighty"}, None)
