"""Audit use cases: verifying the hash chain."""

from application.audit.verify import verify_audit_chain

__all__ = ["verify_audit_chain"]
