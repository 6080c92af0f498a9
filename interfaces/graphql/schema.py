"""The root GraphQL schema. Feature packages (``interfaces/graphql/<feature>/``) merge in here.

Limits are on by default: query depth, token count and aliases are capped, and
unexpected errors are masked (expected errors are values in result unions).
"""

from __future__ import annotations

from typing import Final

import strawberry
from strawberry.extensions import MaskErrors, MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter

from interfaces.version import supportos_version

MAX_QUERY_DEPTH: Final = 12
MAX_TOKENS: Final = 2_000
MAX_ALIASES: Final = 30


def resolve_version() -> str:
    return supportos_version()


@strawberry.type(description="Entry point for reads.")
class Query:
    # `field(resolver=..., description=...)` keeps the resolver typed under mypy --strict;
    # the decorator form with keyword arguments is typed as returning Any.
    version: str = strawberry.field(
        resolver=resolve_version, description="The version of the running Support OS service."
    )


schema: Final = strawberry.Schema(
    query=Query,
    # factories, so that every request gets fresh extension instances
    extensions=[
        lambda: QueryDepthLimiter(max_depth=MAX_QUERY_DEPTH),
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
        MaskErrors,
    ],
)
