"""Settings: defaults need nothing installed; a wrong value names its variable."""

from __future__ import annotations

import pytest

from dispatcher.runtime.settings import DEFAULT_SECRET_KEY, SettingsError, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("PULSE_"):
            monkeypatch.delenv(name)


def test_defaults_are_the_embedded_stack() -> None:
    settings = load_settings()
    assert settings.database_url == "sqlite:///./pulse.db"
    assert (settings.worker, settings.email_channel, settings.sms_channel) == ("inprocess", "outbox", "outbox")


def test_wrong_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULSE_PORT", "eighty")
    monkeypatch.setenv("PULSE_WORKER", "threads")
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert "PULSE_PORT" in str(raised.value) and "PULSE_WORKER" in str(raised.value)


def test_unknown_database_scheme_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULSE_DATABASE_URL", "mysql://localhost/pulse")
    with pytest.raises(SettingsError, match="PULSE_DATABASE_URL"):
        load_settings()


def test_plain_postgresql_url_uses_psycopg(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULSE_DATABASE_URL", "postgresql://pulse@db/pulse")
    assert load_settings().database_url == "postgresql+psycopg://pulse@db/pulse"


@pytest.mark.parametrize("environment", ["production", "test"])
def test_default_secret_refused_outside_development(monkeypatch: pytest.MonkeyPatch, environment: str) -> None:
    monkeypatch.setenv("PULSE_ENVIRONMENT", environment)
    with pytest.raises(SettingsError, match="PULSE_SECRET_KEY"):
        load_settings()
    monkeypatch.setenv("PULSE_SECRET_KEY", "a-long-random-production-secret-value")
    assert load_settings().secret_key.get_secret_value() != DEFAULT_SECRET_KEY
