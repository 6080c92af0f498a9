"""The circuit breakers as the workers use them: ask before a provider call, report after.

The rules are the domain's (``domain/integrations/breaker.py``); this module reads the
shared circuit, applies a transition and stores the result with a compare-and-set, each
in its own short transaction (never inside a step's transaction, so a busy breaker row
never holds back a ledger posting). A lost compare-and-set means another worker changed
the circuit first: read it again and decide again. Nothing is written when a transition
changes nothing (asking a closed circuit, a success on a clean one): the hot path of a
healthy provider is one primary-key read per call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, TypeVar

from application.context import Services
from application.ports.metrics import NO_METRICS, Metrics
from domain.integrations import Admission, BreakerPolicy, Circuit
from domain.shared import CountryCode

T = TypeVar("T")

MAX_CAS_ROUNDS: Final = 50


class CircuitContention(RuntimeError):
    """The circuit kept changing under this worker (an infrastructure fault, not expected)."""


@dataclass(frozen=True, slots=True)
class CircuitBreakerGate:
    svc: Services
    policy: BreakerPolicy
    metrics: Metrics = NO_METRICS

    async def admit(self, country: CountryCode, provider: str, *, caller: str) -> Admission:
        now = self.svc.clock.now()

        def ask(circuit: Circuit) -> tuple[Circuit, Admission]:
            admission = circuit.admit(self.policy, now=now, caller=caller)
            return admission.circuit, admission

        return await self._change(country, provider, ask)

    async def succeeded(self, country: CountryCode, provider: str, *, caller: str) -> Circuit:
        now = self.svc.clock.now()

        def succeed(circuit: Circuit) -> tuple[Circuit, Circuit]:
            after = circuit.record_success(self.policy, now=now, caller=caller)
            return after, after

        return await self._change(country, provider, succeed)

    async def failed(self, country: CountryCode, provider: str, *, caller: str) -> Circuit:
        now = self.svc.clock.now()

        def fail(circuit: Circuit) -> tuple[Circuit, Circuit]:
            after = circuit.record_failure(self.policy, now=now, caller=caller)
            return after, after

        return await self._change(country, provider, fail)

    async def _change(
        self, country: CountryCode, provider: str, transition: Callable[[Circuit], tuple[Circuit, T]]
    ) -> T:
        for _ in range(MAX_CAS_ROUNDS):
            async with self.svc.uow() as uow:
                current = await uow.circuits.get(country, provider)
                after, answer = transition(current)
                if after == current:
                    return answer
                if await uow.circuits.replace(current, after):
                    await uow.commit()
                    if after.state is not current.state:
                        self.metrics.circuits([after])
                    return answer
        raise CircuitContention(f"the circuit of {provider} in {country} kept changing")
