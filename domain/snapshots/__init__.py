"""Order snapshots and versioned refund policies."""

from domain.snapshots.policy import RefundPolicy
from domain.snapshots.snapshot import OrderSnapshot

__all__ = ["OrderSnapshot", "RefundPolicy"]
