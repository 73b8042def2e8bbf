"""Credentials come from the environment or a secrets directory and never show in reprs."""

from __future__ import annotations

from pathlib import Path

import pytest

from security.keys import new_key_entry
from settings import Settings
from settings_secrets import Secrets, load_secrets


def test_secrets_come_from_the_environment_and_are_masked_in_repr(
        monkeypatch: pytest.MonkeyPatch) -> None:
    entry = new_key_entry("k9")
    monkeypatch.setenv("CASHLOOP_CODEC_KEYS", entry)
    monkeypatch.setenv("CASHLOOP_CODEC_TOKEN", "tok-very-secret")
    monkeypatch.setenv("CASHLOOP_API_TOKENS", '{"erp-cloud": "erp-secret-1"}')
    secrets = load_secrets()
    ring = secrets.key_ring()
    assert ring is not None and ring.ids == ["k9"]
    assert secrets.api_tokens["erp-cloud"].get_secret_value() == "erp-secret-1"
    shown = repr(secrets) + str(secrets)
    for secret in ("tok-very-secret", "erp-secret-1", entry.split(":")[1]):
        assert secret not in shown


def test_secrets_dir_provides_one_file_per_secret(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("CASHLOOP_CODEC_KEYS", "CASHLOOP_CODEC_TOKEN", "CASHLOOP_CODEC_KEYS_FILE"):
        monkeypatch.delenv(var, raising=False)
    (tmp_path / "cashloop_codec_token").write_text("from-file")
    keys = tmp_path / "keys"
    keys.write_text(new_key_entry("kf"))
    (tmp_path / "cashloop_codec_keys_file").write_text(str(keys))
    monkeypatch.setenv("CASHLOOP_SECRETS_DIR", str(tmp_path))
    secrets = load_secrets()
    assert secrets.codec_token is not None
    assert secrets.codec_token.get_secret_value() == "from-file"
    ring = secrets.key_ring()
    assert ring is not None and ring.ids == ["kf"]


def test_no_codec_keys_means_no_key_ring(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("CASHLOOP_CODEC_KEYS", "CASHLOOP_CODEC_KEYS_FILE", "CASHLOOP_SECRETS_DIR"):
        monkeypatch.delenv(var, raising=False)
    assert Secrets().key_ring() is None


def test_database_url_is_a_secret_but_still_reaches_the_stores() -> None:
    url = "postgresql+psycopg://app:pw-123@db:5432/cashloop"
    settings = Settings.model_validate({"database_url": url})  # a plain str, as the env gives it
    assert "pw-123" not in repr(settings)
    assert settings.store_url("crm") == url
