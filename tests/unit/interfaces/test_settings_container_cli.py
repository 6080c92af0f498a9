"""Configuration from SUPPORTOS_* variables, the composition root and the shape of the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from pydantic import SecretStr, ValidationError
from typer.testing import CliRunner

from interfaces.cli.main import app as cli
from interfaces.container import build_container
from interfaces.settings import DEFAULT_DATABASE_URL, DEV_JWT_SECRET, Settings


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "DATABASE_URL",
        "MIGRATION_DATABASE_URL",
        "DATABASE_APP_ROLE",
        "ENVIRONMENT",
        "LOG_LEVEL",
        "JWT_SECRET",
        "HOST",
        "PORT",
    ):
        monkeypatch.delenv(f"SUPPORTOS_{name}", raising=False)


def test_defaults_are_the_embedded_development_mode() -> None:
    settings = Settings()
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.environment == "development"
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.graphiql_enabled
    assert settings.sqlite_path == Path("var/supportos.sqlite3")


def test_settings_come_from_prefixed_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPPORTOS_DATABASE_URL", "postgresql+asyncpg://u@db:5432/supportos")
    monkeypatch.setenv("SUPPORTOS_PORT", "9000")
    monkeypatch.setenv("SUPPORTOS_LOG_LEVEL", "DEBUG")
    settings = Settings()
    assert settings.database_url == "postgresql+asyncpg://u@db:5432/supportos"
    assert settings.port == 9000
    assert settings.log_level == "DEBUG"
    assert settings.sqlite_path is None


def test_migrations_connect_as_the_owner_when_a_migration_url_is_given() -> None:
    service = "postgresql+asyncpg://supportos_app@db:5432/supportos"
    owner = "postgresql+asyncpg://supportos_owner@db:5432/supportos"
    assert Settings(database_url=service).migration_url == service
    settings = Settings(database_url=service, migration_database_url=owner)
    assert (settings.migration_url, settings.database_app_role) == (owner, "supportos_app")


@pytest.mark.parametrize("role", ["", "app; DROP ROLE x", "1app", "x" * 64])
def test_the_service_role_must_be_a_plain_identifier(role: str) -> None:
    with pytest.raises(ValidationError, match="database_app_role"):
        Settings(database_app_role=role)


def test_production_refuses_the_development_secret() -> None:
    with pytest.raises(ValidationError, match="SUPPORTOS_JWT_SECRET"):
        Settings(environment="production")
    with pytest.raises(ValidationError, match="SUPPORTOS_JWT_SECRET"):
        Settings(environment="production", jwt_secret=SecretStr(DEV_JWT_SECRET))
    with pytest.raises(ValidationError, match="at least"):
        Settings(environment="production", jwt_secret=SecretStr("short"))


def test_production_accepts_a_real_secret() -> None:
    settings = Settings(environment="production", jwt_secret=SecretStr("x" * 48))
    assert settings.is_production
    assert not settings.graphiql_enabled


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite+aiosqlite:///./var/supportos.sqlite3", Path("var/supportos.sqlite3")),
        ("sqlite+aiosqlite:////srv/data/supportos.sqlite3", Path("/srv/data/supportos.sqlite3")),
        ("sqlite:///relative.db?timeout=5", Path("relative.db")),
        ("sqlite+aiosqlite:///:memory:", None),
        ("sqlite+aiosqlite://", None),
        ("postgresql+asyncpg://postgres@127.0.0.1:5432/test", None),
    ],
)
def test_sqlite_path(url: str, expected: Path | None) -> None:
    assert Settings(database_url=url).sqlite_path == expected


def test_the_database_directory_is_created_when_needed(tmp_path: Path) -> None:
    database = tmp_path / "nested" / "var" / "supportos.sqlite3"
    settings = Settings(database_url=f"sqlite+aiosqlite:///{database}")
    settings.ensure_database_directory()
    assert database.parent.is_dir()
    assert not database.exists()


def test_the_container_builds_the_app_from_the_given_settings() -> None:
    settings = Settings(port=8123)
    container = build_container(settings)
    assert container.settings() is settings
    app = container.http_app()
    assert isinstance(app, FastAPI)
    assert app.state.settings is settings
    assert container.http_app() is app


def test_the_cli_lists_serve() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    assert "serve" in result.output
    serve_help = CliRunner().invoke(cli, ["serve", "--help"])
    assert serve_help.exit_code == 0
    assert "--host" in serve_help.output
    assert "--port" in serve_help.output
