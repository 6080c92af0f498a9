"""telemetry.retentionDays and the bundle directory, from SUPPORTOS_* variables."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from interfaces.settings import Settings


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SUPPORTOS_TELEMETRY_RETENTION_DAYS", raising=False)
    monkeypatch.delenv("SUPPORTOS_BUNDLE_DIR", raising=False)
    settings = Settings()
    assert settings.telemetry_retention_days == 30
    assert settings.bundle_dir == Path("var/bundles")


def test_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPPORTOS_TELEMETRY_RETENTION_DAYS", "7")
    monkeypatch.setenv("SUPPORTOS_BUNDLE_DIR", "/srv/bundles")
    settings = Settings()
    assert (settings.telemetry_retention_days, settings.bundle_dir) == (7, Path("/srv/bundles"))


def test_a_negative_retention_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPPORTOS_TELEMETRY_RETENTION_DAYS", "-1")
    with pytest.raises(ValidationError):
        Settings()
