"""Bounded metric labels (D30, D113): operation names claim at most ``limit`` slots, and only
a known caller's valid operation may claim one; HTTP methods outside the standard set are
``other``."""

from __future__ import annotations

from interfaces.http.observability import HTTP_METHODS
from interfaces.telemetry import ANONYMOUS, OTHER, OperationNames


def test_names_claim_slots_up_to_the_limit_then_are_other() -> None:
    names = OperationNames(limit=2)
    assert (names.label("Orders"), names.label("Resolve"), names.label("Third")) == (
        "Orders",
        "Resolve",
        OTHER,
    )
    assert names.label("Orders") == "Orders"  # a name with a slot keeps it
    assert (names.label(None), names.label(""), names.label("bad name!")) == (ANONYMOUS, ANONYMOUS, OTHER)


def test_a_name_that_may_not_claim_a_slot_is_other_and_leaves_the_slots_free() -> None:
    names = OperationNames(limit=2)
    junk = [names.label(f"junk{i}", may_claim=False) for i in range(50)]
    assert set(junk) == {OTHER}
    assert (names.label("Orders"), names.label("Resolve")) == ("Orders", "Resolve")
    # once claimed by a known caller, the name is labelled as itself for anyone
    assert names.label("Orders", may_claim=False) == "Orders"


def test_the_method_labels_are_the_standard_methods() -> None:
    assert {"GET", "POST", "HEAD", "OPTIONS"} <= HTTP_METHODS
    assert "ZQXJ1" not in HTTP_METHODS and "PROPFIND" not in HTTP_METHODS
