"""Which reported fulfilment steps come too early (D96): the rule of the order feed's 409."""

from __future__ import annotations

import pytest

from domain.orders import OrderStatus as S
from domain.orders.status import skips_a_step


@pytest.mark.parametrize(
    ("src", "dst", "early"),
    [
        (S.PAID, S.ACCEPTED, False),  # the next step
        (S.PAID, S.IN_PREPARATION, True),  # skips ACCEPTED
        (S.CREATED, S.ACCEPTED, True),  # before the capture
        (S.ACCEPTED, S.DELIVERED, True),
        (S.DELIVERED, S.ACCEPTED, False),  # already taken
        (S.IN_TRANSIT, S.IN_TRANSIT, False),
        (S.COMPLETED, S.DELIVERED, False),  # off the path: never early
        (S.PAID, S.CANCELLED, False),
    ],
)
def test_a_step_is_early_only_when_it_skips_one_on_the_way_forward(src: S, dst: S, early: bool) -> None:
    assert skips_a_step(src, dst) is early
