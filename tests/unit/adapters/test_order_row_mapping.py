"""An order row's currency is read strictly (a supported ISO-4217 code, canonical form),
every time: the mapper remembers good codes, never a refusal."""

from __future__ import annotations

import pytest

from adapters.persistence.mappers import order_from_row, order_to_row
from tests.integration.aggregate_builders import delivered


def test_an_order_row_round_trips_and_a_bad_currency_is_refused_every_time() -> None:
    order = delivered("ord_1")
    row = {**order_to_row(order), "updated_at": order.created_at}
    assert order_to_row(order_from_row(row)) == order_to_row(order)
    assert order_from_row(row).snapshot is not None

    for code in ("mxn", "XXX", "MXN ", "mxn"):  # lower case, unknown, padded; twice
        with pytest.raises(ValueError, match="ISO-4217"):
            order_from_row({**row, "currency": code})
    again = order_from_row(row).snapshot
    assert again is not None and again.currency.code == "MXN" and again.total_charged.minor > 0
