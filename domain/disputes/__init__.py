"""Disputes: lifecycle, the evidence trident, outcomes and their execution plans."""
