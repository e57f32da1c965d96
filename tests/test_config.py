"""Settings built from an environment given as a value (how the demo builds its roles' settings)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bridge.config import Settings


def test_settings_from_an_environment_ignore_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRIDGE_TOPICS__PARTITIONS", "9")
    monkeypatch.setenv("BRIDGE_SINK__BATCH_SIZE", "7")
    settings = Settings.from_environment(
        {
            "BRIDGE_TOPICS__PARTITIONS": "4",
            "BRIDGE_SALESFORCE__CLIENT_SECRET": "s3cr3t-value",
            "BRIDGE_SOURCE__CHANNELS": '["/data/AccountChangeEvent"]',
            "PATH": "/usr/bin",
        }
    )
    assert isinstance(settings, Settings)
    assert settings.topics.partitions == 4
    assert settings.sink.batch_size == Settings.model_fields["sink"].default.batch_size  # not the process's 7
    assert settings.source.channels == ("/data/AccountChangeEvent",)
    assert settings.salesforce.client_secret is not None
    assert settings.salesforce.client_secret.get_secret_value() == "s3cr3t-value"
    assert "s3cr3t-value" not in repr(settings)
    assert Settings().topics.partitions == 9  # the process's own settings are untouched


def test_a_bad_value_in_the_given_environment_is_a_clear_error() -> None:
    with pytest.raises(ValidationError, match="partitions"):
        Settings.from_environment({"BRIDGE_TOPICS__PARTITIONS": "many"})
