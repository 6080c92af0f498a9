"""Integrations: circuit breakers, the dead-letter queue, provider status (SPEC §7)."""
