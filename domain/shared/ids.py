"""Typed identifiers. They are strings on the wire and in the database, distinct to mypy.

Ids are made outside the domain (an ``IdGenerator`` port) and passed in.
"""

from __future__ import annotations

from typing import NewType

OrderId = NewType("OrderId", str)
DisputeId = NewType("DisputeId", str)
BuyerId = NewType("BuyerId", str)
SellerId = NewType("SellerId", str)
CourierId = NewType("CourierId", str)
PartnerId = NewType("PartnerId", str)
ActorId = NewType("ActorId", str)
EvidenceId = NewType("EvidenceId", str)
LedgerTransactionId = NewType("LedgerTransactionId", str)
PolicyVersion = NewType("PolicyVersion", str)
