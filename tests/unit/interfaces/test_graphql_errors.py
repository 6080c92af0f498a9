"""Every typed failure a use case can return becomes the right GraphQL union member."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from application.errors import NotFound
from application.ports.concurrency import ConcurrencyConflict
from application.ports.idempotency import IdempotencyKeyInFlight, IdempotencyKeyReused, InvalidIdempotencyKey
from application.security.principal import Forbidden
from domain.orders.errors import DisputeWindowClosed
from domain.shared import DomainError, InvalidInput
from interfaces.auth import Unauthenticated
from interfaces.graphql.errors import (
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    RuleViolationError,
    UnauthenticatedError,
    camel,
    to_error,
)

NOW = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (Unauthenticated("no credentials"), UnauthenticatedError),
        (Forbidden("order.read", "CO", "outside"), ForbiddenError),
        (NotFound("order", "o1"), NotFoundError),
        (InvalidInput("country_code", "bad"), InvalidInputError),
        (InvalidIdempotencyKey(), InvalidInputError),
        (ConcurrencyConflict("order", "o1", 3), ConflictError),
        (IdempotencyKeyReused("k"), ConflictError),
        (IdempotencyKeyInFlight("k"), ConflictError),
        (DisputeWindowClosed(window_closed_at=NOW, attempted_at=NOW), RuleViolationError),
    ],
)
def test_each_failure_maps_to_its_member_with_its_code(error: DomainError, expected: type) -> None:
    member = to_error(error)
    assert isinstance(member, expected)
    assert member.code == error.code
    assert member.message


def test_invalid_input_names_the_field_in_camel_case() -> None:
    member = to_error(InvalidInput("country_code", "is not a code"))
    assert isinstance(member, InvalidInputError)
    assert (member.field, member.message) == ("countryCode", "countryCode: is not a code")
    assert camel("file.content_sha256") == "file.contentSha256"
    assert camel("after") == "after"


def test_unauthenticated_never_says_why() -> None:
    member = to_error(Unauthenticated("ExpiredSignatureError: Signature has expired"))
    assert "Expired" not in member.message
