"""Use cases for diagnostics bundles: inspect one, purge the expired ones (SPEC §10)."""
