"""An order row's currency is read strictly (a supported ISO-4217 code, canonical form),
every time: the mapper remembers good codes, never a refusal."""

from __future__ import annotations

import pytest

from adapters.persistence.mappers import SNAPSHOT_COLUMNS, order_from_row, order_to_row
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


def _row() -> dict[str, object]:
    order = delivered("ord_1")
    return {**order_to_row(order), "updated_at": order.created_at}


def test_a_snapshot_is_all_its_columns_or_none_of_them() -> None:
    row = _row()
    no_snapshot = {**row, **dict.fromkeys(SNAPSHOT_COLUMNS), "status": "CREATED", "delivered_at": None}
    assert order_from_row(no_snapshot).snapshot is None

    optional = {**row, "snapshot_courier_id": None, "payment_partner_id": None}
    snapshot = order_from_row(optional).snapshot
    assert snapshot is not None and snapshot.courier_id is None and snapshot.payment_partner_id is None

    for name in SNAPSHOT_COLUMNS:  # one required column NULL: a partial snapshot, named
        if name in {"snapshot_courier_id", "payment_partner_id"}:
            continue
        with pytest.raises(ValueError, match=rf"partial snapshot, missing \['{name}'\]"):
            order_from_row({**row, name: None})
    only_courier = {**no_snapshot, "snapshot_courier_id": "cou_1"}  # only an optional one set
    with pytest.raises(ValueError, match=r"partial snapshot, missing \['captured_at', 'commission_bp'"):
        order_from_row(only_courier)


def test_a_column_left_out_of_the_row_is_named() -> None:
    for name in ("total_charged_minor", "payment_partner_id"):
        row = _row()
        del row[name]
        with pytest.raises(ValueError, match=f"missing field '{name}'"):
            order_from_row(row)


def test_snapshot_amounts_are_read_strictly() -> None:
    with pytest.raises(ValueError, match="tax_minor must be an integer"):
        order_from_row({**_row(), "tax_minor": 1.5})
    with pytest.raises(ValueError, match="commission_bp must be an integer"):
        order_from_row({**_row(), "commission_bp": "500"})
