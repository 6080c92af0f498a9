"""The composition root: the one place that knows every concrete implementation.

Later issues add providers here (engine, unit of work, repositories, providers,
use cases). Tests override them, e.g. ``container.settings.override(providers.Object(s))``.
"""

from __future__ import annotations

from dependency_injector import containers, providers
from fastapi import FastAPI

from interfaces.http.app import create_app
from interfaces.settings import Settings, get_settings


class Container(containers.DeclarativeContainer):
    settings: providers.Provider[Settings] = providers.Singleton(get_settings)
    http_app: providers.Provider[FastAPI] = providers.Singleton(create_app, settings=settings)


def build_container(settings: Settings | None = None) -> Container:
    """A container wired to ``settings`` (default: read from the environment)."""
    container = Container()
    if settings is not None:
        container.settings.override(providers.Object(settings))
    return container
