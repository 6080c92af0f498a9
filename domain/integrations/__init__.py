"""Integrations: the rules for talking to external providers (circuit breaker)."""

from domain.integrations.breaker import (
    Admission,
    BreakerPolicy,
    Circuit,
    CircuitState,
    Verdict,
)

__all__ = ["Admission", "BreakerPolicy", "Circuit", "CircuitState", "Verdict"]
