"""Ledger queries for the ways in (balances are read through the unit of work's ledger)."""
