"""The FastAPI application factory: ``/healthz`` and ``/graphql``.

This module never imports adapters; the composition root
(``interfaces/container.py``) builds the app and hands it what it needs.
"""

from __future__ import annotations

from fastapi import FastAPI
from strawberry.fastapi import GraphQLRouter

from interfaces.graphql.schema import schema
from interfaces.settings import Settings
from interfaces.version import supportos_version


def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(
        title="Support OS",
        version=supportos_version(),
        docs_url=None if settings.is_production else "/docs",
        redoc_url=None,
        openapi_url=None if settings.is_production else "/openapi.json",
    )
    app.state.settings = settings

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    graphql_router: GraphQLRouter[object, None] = GraphQLRouter(
        schema,
        graphql_ide="graphiql" if settings.graphiql_enabled else None,
    )
    app.include_router(graphql_router, prefix="/graphql")
    return app
