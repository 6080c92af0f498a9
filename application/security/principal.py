"""Who is calling, and what each role may do (SPEC §2).

The permission matrix lives here, in the application layer, so it is enforced for every
use case whatever the entry point (GraphQL, CLI, workers). Country scope is part of the
check: an actor outside the operation's country is refused, and the refusal is a typed
value the caller audits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import ClassVar, Final

from returns.result import Failure, Result, Success

from domain.shared import CountryCode, DomainError


class Role(StrEnum):
    L0 = "L0"  # the system's own rules
    L1 = "L1"
    L2 = "L2"
    L3 = "L3"
    AUDITOR = "AUDITOR"
    PARTNER = "PARTNER"
    BUYER = "BUYER"
    SELLER = "SELLER"
    COURIER = "COURIER"
    MARKETPLACE = "MARKETPLACE"  # the marketplace's checkout and fulfilment, reporting orders (D91)
    SYSTEM = "SYSTEM"  # workers, schedulers, CLI commands


class PartnerKind(StrEnum):
    """Which kind of partner a ``PARTNER`` key acts for (SPEC §2, D88): a seller org sees the
    orders it sells (``seller_id``), a payment partner the orders whose payment it processed
    (``payment_partner_id``)."""

    SELLER_ORG = "SELLER_ORG"
    PAYMENT_PARTNER = "PAYMENT_PARTNER"


class Operation(StrEnum):
    ORDER_READ = "order.read"
    ORDER_CREATE = "order.create"
    ORDER_CAPTURE = "order.capture"
    ORDER_TRANSITION = "order.transition"
    ORDER_ASSIGN_COURIER = "order.assign_courier"  # the courier dispatch gives the order (D132)
    ORDER_FORCE_COMPLETE = "order.force_complete"
    ORDERS_COMPLETE_DUE = "orders.complete_due"
    DISPUTE_READ = "dispute.read"
    DISPUTE_OPEN = "dispute.open"
    DISPUTE_SUBMIT_EVIDENCE = "dispute.submit_evidence"
    DISPUTE_START_REVIEW = "dispute.start_review"
    DISPUTE_DECIDE = "dispute.decide"
    DISPUTE_WITHDRAW = "dispute.withdraw"
    DISPUTE_REPLAY = "dispute.replay"
    DISPUTE_REFUND_REISSUE = "dispute.refund_reissue"
    SAGA_EXECUTE = "saga.execute"
    LEDGER_READ = "ledger.read"
    # a seller's balance and payouts: support's and auditors' for any seller, a seller org's
    # partner key for its own seller only (D156)
    SELLER_BALANCE_READ = "seller_balance.read"
    EVIDENCE_READ = "evidence.read"
    AUDIT_READ = "audit.read"
    API_KEY_MANAGE = "api_key.manage"
    DEAD_LETTER_READ = "dead_letter.read"
    DEAD_LETTER_REPLAY = "dead_letter.replay"
    DEAD_LETTER_DISCARD = "dead_letter.discard"
    PROVIDER_STATUS_READ = "provider_status.read"
    CONVERSATION_READ = "conversation.read"
    CONVERSATION_OPEN = "conversation.open"
    MESSAGE_SEND = "message.send"
    CONVERSATION_FREEZE = "conversation.freeze"  # freeze and unfreeze (a conversation, or a sender in it)
    CONVERSATION_EXPORT = "conversation.export"
    CASE_READ = "case.read"
    CASE_ACKNOWLEDGE = "case.acknowledge"
    CASE_ASSIGN = "case.assign"
    CASE_ESCALATE = "case.escalate"
    CASE_UPDATE = "case.update"  # status updates, mitigate, wait on the customer and the answer
    CASE_RESOLVE = "case.resolve"  # resolve and close
    CASE_RATE = "case.rate"  # the customer's 1-5 rating (the order's buyer)
    INCIDENT_OPEN = "incident.open"
    INCIDENT_ACTION_RETRY = "incident.action.retry"
    INCIDENT_ACTION_URGENT_REPLACEMENT = "incident.action.urgent_replacement"
    INCIDENT_ACTION_OPERATIONAL_CANCELLATION = "incident.action.operational_cancellation"
    INCIDENT_ACTION_FORCE_COMPLETE = "incident.action.force_complete"
    INCIDENT_STORE_CREDIT = "incident.store_credit"  # L0's goodwill outcome for a late order (D43)
    SLA_POLICY_READ = "sla_policy.read"
    SLA_POLICY_MANAGE = "sla_policy.manage"
    PLATFORM_INCIDENT_READ = "platform_incident.read"  # incidents and their post-incident reviews
    PLATFORM_INCIDENT_MANAGE = "platform_incident.manage"  # open, link, post status updates
    PLATFORM_INCIDENT_CLOSE = "platform_incident.close"  # close with root cause and action items
    CASE_REPORT_READ = "case_report.read"  # the monthly case report of a country
    CASE_ATTACH_BUNDLE = "case.attach_bundle"  # upload a diagnostics bundle onto a case (D48)
    DIAGNOSTICS_TICKET_OPEN = "diagnostics_ticket.open"  # open a customer's diagnostics ticket (D56)
    # support's own fields on what a partner or a party may also read: an agent's note and id,
    # a saga's error, a force-complete reason; not a root field but fields under one
    SUPPORT_INTERNAL_READ = "support_internal.read"


_READS: Final = frozenset({Operation.ORDER_READ, Operation.DISPUTE_READ})
_STAFF_READS: Final = _READS | {Operation.SUPPORT_INTERNAL_READ}  # support's reads
_CASE_WORK: Final = frozenset(
    {
        Operation.CASE_READ,
        Operation.CASE_ACKNOWLEDGE,
        Operation.CASE_ASSIGN,
        Operation.CASE_ESCALATE,
        Operation.CASE_UPDATE,
        Operation.SLA_POLICY_READ,
    }
)
_L1: Final = _STAFF_READS | {
    Operation.DISPUTE_OPEN,
    Operation.DISPUTE_SUBMIT_EVIDENCE,
    Operation.DISPUTE_START_REVIEW,
    Operation.LEDGER_READ,
    Operation.SELLER_BALANCE_READ,
    Operation.EVIDENCE_READ,
    Operation.CONVERSATION_READ,
    Operation.CONVERSATION_OPEN,
    Operation.MESSAGE_SEND,
    *_CASE_WORK,
    Operation.PLATFORM_INCIDENT_READ,
    Operation.INCIDENT_OPEN,
    Operation.INCIDENT_ACTION_RETRY,
    Operation.CASE_ATTACH_BUNDLE,
    Operation.DIAGNOSTICS_TICKET_OPEN,
}
_L2: Final = _L1 | {
    # Resolving or closing a case lifts its order's payout hold: SPEC §2 gives L1 no
    # resolution (acknowledge, message, evidence, RETRY, escalate); L2 resolves (D74).
    Operation.CASE_RESOLVE,
    Operation.DISPUTE_DECIDE,
    Operation.DISPUTE_WITHDRAW,
    Operation.ORDER_TRANSITION,
    Operation.CONVERSATION_FREEZE,
    Operation.INCIDENT_ACTION_URGENT_REPLACEMENT,
    Operation.INCIDENT_ACTION_OPERATIONAL_CANCELLATION,
    Operation.PLATFORM_INCIDENT_MANAGE,
}
_INTEGRATION_READS: Final = frozenset({Operation.DEAD_LETTER_READ, Operation.PROVIDER_STATUS_READ})
_L3: Final = (
    _L2
    | _INTEGRATION_READS
    | {
        Operation.ORDER_FORCE_COMPLETE,
        Operation.DISPUTE_REPLAY,
        Operation.DISPUTE_REFUND_REISSUE,
        Operation.AUDIT_READ,
        Operation.DEAD_LETTER_REPLAY,
        Operation.DEAD_LETTER_DISCARD,
        Operation.CONVERSATION_EXPORT,
        Operation.INCIDENT_ACTION_FORCE_COMPLETE,
        Operation.SLA_POLICY_MANAGE,
        Operation.PLATFORM_INCIDENT_CLOSE,
        Operation.CASE_REPORT_READ,
    }
)
_PARTY: Final = frozenset(
    {
        Operation.ORDER_READ,
        Operation.DISPUTE_READ,
        Operation.DISPUTE_SUBMIT_EVIDENCE,
        Operation.CONVERSATION_READ,
        Operation.CONVERSATION_OPEN,
        Operation.MESSAGE_SEND,
    }
)

PERMISSIONS: Final[dict[Role, frozenset[Operation]]] = {
    # L0 (the rules) works cases and grants the goodwill a rule covers; it opens nothing and
    # takes no incident action of a human tier but RETRY (D43).
    # Nor does it upload diagnostics bundles (people attach them, D48) or open tickets (D56).
    Role.L0: (
        _L1 - {Operation.INCIDENT_OPEN, Operation.CASE_ATTACH_BUNDLE, Operation.DIAGNOSTICS_TICKET_OPEN}
    )
    | {Operation.CASE_RESOLVE, Operation.DISPUTE_DECIDE, Operation.INCIDENT_STORE_CREDIT},
    Role.L1: _L1,
    Role.L2: _L2,
    Role.L3: _L3,
    Role.AUDITOR: _STAFF_READS
    | _INTEGRATION_READS
    | {
        Operation.LEDGER_READ,
        Operation.SELLER_BALANCE_READ,
        Operation.EVIDENCE_READ,
        Operation.AUDIT_READ,
        Operation.CONVERSATION_READ,
        Operation.CONVERSATION_EXPORT,
        Operation.CASE_READ,
        Operation.SLA_POLICY_READ,
        Operation.PLATFORM_INCIDENT_READ,
        Operation.CASE_REPORT_READ,
    },
    Role.PARTNER: _READS | {Operation.SELLER_BALANCE_READ},  # its own seller's only (D156)
    Role.BUYER: _PARTY | {Operation.DISPUTE_OPEN, Operation.DISPUTE_WITHDRAW, Operation.CASE_RATE},
    Role.SELLER: _PARTY | {Operation.SELLER_BALANCE_READ},  # its own (D156)
    Role.COURIER: _PARTY,
    # The marketplace reports its orders: created, captured (the snapshot's amounts), each
    # plain step of their life and the courier dispatch gives them; it reads them back, and
    # nothing else (D91, D132).
    Role.MARKETPLACE: frozenset(
        {
            Operation.ORDER_CREATE,
            Operation.ORDER_CAPTURE,
            Operation.ORDER_TRANSITION,
            Operation.ORDER_ASSIGN_COURIER,
            Operation.ORDER_READ,
        }
    ),
    Role.SYSTEM: frozenset(Operation),
}


@dataclass(frozen=True, slots=True)
class Principal:
    actor_id: str
    role: Role
    countries: frozenset[CountryCode]
    partner_id: str | None = None
    partner_kind: PartnerKind | None = None  # a PARTNER's; None reads as SELLER_ORG

    def may(self, operation: Operation) -> bool:
        return operation in PERMISSIONS[self.role]

    def in_scope(self, country: CountryCode) -> bool:
        return country in self.countries


@dataclass(frozen=True, slots=True)
class Forbidden(DomainError):
    code: ClassVar[str] = "FORBIDDEN"
    operation: str
    country: str
    why: str = field(default="")

    @property
    def message(self) -> str:
        return f"not allowed to {self.operation} in {self.country}" + (f": {self.why}" if self.why else "")


def authorize(principal: Principal, operation: Operation, country: CountryCode) -> Result[None, Forbidden]:
    """The one check every use case makes first: role may do it, and in this country."""
    if not principal.in_scope(country):
        return Failure(Forbidden(operation.value, country.value, "outside the actor's countries"))
    if not principal.may(operation):
        return Failure(Forbidden(operation.value, country.value, f"role {principal.role.value} may not"))
    return Success(None)
