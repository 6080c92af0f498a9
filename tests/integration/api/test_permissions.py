"""The permission matrix over HTTP: every role that can call the API × every operation.

Allowed means anything but ``ForbiddenError`` (the ids do not exist, so allowed calls
answer ``NOT_FOUND`` or an empty page and change nothing); refused means the
``ForbiddenError`` member **and** one ``access.denied`` audit entry naming the actor.
L0 and SYSTEM cannot authenticate over HTTP (no token role, no API key): their rows of
the matrix are checked in ``test_system_roles_cannot_call_the_api``.
"""

from __future__ import annotations

import pytest

from application.security.principal import PERMISSIONS, Operation, Role
from interfaces.auth import TOKEN_ROLES
from interfaces.graphql.schema import schema
from tests.integration.api.conftest import Api

FIELDS = "__typename ... on Error { code }"
CASE = 'countryCode: "MX", caseId: "case_x"'
OPERATIONS: dict[str, tuple[Operation, str]] = {
    "order": (Operation.ORDER_READ, f'{{ order(countryCode: "MX", id: "ord_x") {{ {FIELDS} }} }}'),
    "orders": (Operation.ORDER_READ, f'{{ orders(countryCode: "MX") {{ {FIELDS} }} }}'),
    "dispute": (Operation.DISPUTE_READ, f'{{ dispute(countryCode: "MX", id: "dsp_x") {{ {FIELDS} }} }}'),
    "disputes": (Operation.DISPUTE_READ, f'{{ disputes(countryCode: "MX") {{ {FIELDS} }} }}'),
    "disputeState": (
        Operation.DISPUTE_READ,
        f'{{ disputeState(countryCode: "MX", id: "dsp_x") {{ {FIELDS} }} }}',
    ),
    "evidencePack": (
        Operation.EVIDENCE_READ,
        f'{{ evidencePack(countryCode: "MX", disputeId: "dsp_x") {{ {FIELDS} }} }}',
    ),
    "ledgerAccount": (
        Operation.LEDGER_READ,
        f'{{ ledgerAccount(countryCode: "MX", account: "psp:clearing", currency: "MXN") {{ {FIELDS} }} }}',
    ),
    "sellerBalance": (
        Operation.SELLER_BALANCE_READ,
        f'{{ sellerBalance(countryCode: "MX", sellerId: "sel_1", currency: "MXN") {{ {FIELDS} }} }}',
    ),
    "auditTrail": (
        Operation.AUDIT_READ,
        f'{{ auditTrail(countryCode: "MX", targetType: "order", targetId: "ord_x") {{ {FIELDS} }} }}',
    ),
    "disputeOpen": (
        Operation.DISPUTE_OPEN,
        'mutation { disputeOpen(input: {countryCode: "MX", orderId: "ord_x", reason: LATE, statement: "s"}) '
        f"{{ {FIELDS} }} }}",
    ),
    "disputeEvidenceSubmit": (
        Operation.DISPUTE_SUBMIT_EVIDENCE,
        'mutation { disputeEvidenceSubmit(input: {countryCode: "MX", disputeId: "dsp_x", statement: "s"}) '
        f"{{ {FIELDS} }} }}",
    ),
    "disputeEvidenceUpload": (  # no multipart file: refused as input after the guard, nothing kept
        Operation.DISPUTE_SUBMIT_EVIDENCE,
        'mutation { disputeEvidenceUpload(input: {countryCode: "MX", disputeId: "dsp_x", file: "x"}) '
        f"{{ {FIELDS} }} }}",
    ),
    "disputeReviewStart": (
        Operation.DISPUTE_START_REVIEW,
        f'mutation {{ disputeReviewStart(input: {{countryCode: "MX", disputeId: "dsp_x"}}) {{ {FIELDS} }} }}',
    ),
    "disputeResolve": (
        Operation.DISPUTE_DECIDE,
        'mutation { disputeResolve(input: {countryCode: "MX", disputeId: "dsp_x", outcome: REJECTED, '
        f'reasonCode: OTHER, idempotencyKey: "k"}}) {{ {FIELDS} }} }}',
    ),
    "disputeWithdraw": (
        Operation.DISPUTE_WITHDRAW,
        'mutation { disputeWithdraw(input: {countryCode: "MX", disputeId: "dsp_x", reason: "r"}) '
        f"{{ {FIELDS} }} }}",
    ),
    "disputeRefundReissue": (
        Operation.DISPUTE_REFUND_REISSUE,
        'mutation { disputeRefundReissue(input: {countryCode: "MX", disputeId: "dsp_x", method: CARD, '
        f'reason: "r"}}) {{ {FIELDS} }} }}',
    ),
    "orderTransition": (
        Operation.ORDER_TRANSITION,
        'mutation { orderTransition(input: {countryCode: "MX", orderId: "ord_x", target: IN_TRANSIT}) '
        f"{{ {FIELDS} }} }}",
    ),
    "orderForceComplete": (
        Operation.ORDER_FORCE_COMPLETE,
        'mutation { orderForceComplete(input: {countryCode: "MX", orderId: "ord_x", reason: "r"}) '
        f"{{ {FIELDS} }} }}",
    ),
    "deadLetterJobs": (Operation.DEAD_LETTER_READ, f'{{ deadLetterJobs(countryCode: "MX") {{ {FIELDS} }} }}'),
    "providerStatus": (
        Operation.PROVIDER_STATUS_READ,
        f'{{ providerStatus(countryCode: "MX") {{ {FIELDS} }} }}',
    ),
    "deadLetterReplay": (
        Operation.DEAD_LETTER_REPLAY,
        f'mutation {{ deadLetterReplay(input: {{countryCode: "MX", jobId: 999}}) {{ {FIELDS} }} }}',
    ),
    "deadLetterDiscard": (
        Operation.DEAD_LETTER_DISCARD,
        'mutation { deadLetterDiscard(input: {countryCode: "MX", jobId: 999, reason: "r"}) '
        f"{{ {FIELDS} }} }}",
    ),
    "conversation": (
        Operation.CONVERSATION_READ,
        f'{{ conversation(countryCode: "MX", orderId: "ord_x") {{ {FIELDS} }} }}',
    ),
    "messageSend": (
        Operation.MESSAGE_SEND,
        'mutation { messageSend(input: {countryCode: "MX", orderId: "ord_x", clientMessageId: "c1", '
        f'body: "b"}}) {{ {FIELDS} }} }}',
    ),
    "conversationOpen": (
        Operation.CONVERSATION_OPEN,
        'mutation { conversationOpen(input: {countryCode: "MX", orderId: "ord_x", reason: "r"}) '
        f"{{ {FIELDS} }} }}",
    ),
    "conversationFreeze": (
        Operation.CONVERSATION_FREEZE,
        'mutation { conversationFreeze(input: {countryCode: "MX", orderId: "ord_x", reason: "r"}) '
        f"{{ {FIELDS} }} }}",
    ),
    "conversationUnfreeze": (
        Operation.CONVERSATION_FREEZE,
        'mutation { conversationUnfreeze(input: {countryCode: "MX", orderId: "ord_x", reason: "r"}) '
        f"{{ {FIELDS} }} }}",
    ),
    "conversationExport": (
        Operation.CONVERSATION_EXPORT,
        f'mutation {{ conversationExport(input: {{countryCode: "MX", orderId: "ord_x"}}) {{ {FIELDS} }} }}',
    ),
    "cases": (Operation.CASE_READ, f'{{ cases(countryCode: "MX") {{ {FIELDS} }} }}'),
    "case": (Operation.CASE_READ, f'{{ case(countryCode: "MX", id: "case_x") {{ {FIELDS} }} }}'),
    "caseAcknowledge": (
        Operation.CASE_ACKNOWLEDGE,
        f"mutation {{ caseAcknowledge(input: {{{CASE}}}) {{ {FIELDS} }} }}",
    ),
    "caseAssign": (
        Operation.CASE_ASSIGN,
        f'mutation {{ caseAssign(input: {{{CASE}, assignee: "a"}}) {{ {FIELDS} }} }}',
    ),
    "caseEscalate": (
        Operation.CASE_ESCALATE,
        f'mutation {{ caseEscalate(input: {{{CASE}, reason: "r"}}) {{ {FIELDS} }} }}',
    ),
    "caseStatusUpdate": (
        Operation.CASE_UPDATE,
        f'mutation {{ caseStatusUpdate(input: {{{CASE}, text: "t"}}) {{ {FIELDS} }} }}',
    ),
    "caseWaitOnCustomer": (
        Operation.CASE_UPDATE,
        f'mutation {{ caseWaitOnCustomer(input: {{{CASE}, reason: "r"}}) {{ {FIELDS} }} }}',
    ),
    "caseCustomerReplied": (
        Operation.CASE_UPDATE,
        f"mutation {{ caseCustomerReplied(input: {{{CASE}}}) {{ {FIELDS} }} }}",
    ),
    "caseRate": (
        Operation.CASE_RATE,
        f"mutation {{ caseRate(input: {{{CASE}, score: 5}}) {{ {FIELDS} }} }}",
    ),
    "incidentOpen": (
        Operation.INCIDENT_OPEN,
        'mutation { incidentOpen(input: {countryCode: "MX", orderId: "ord_x", type: OTHER, severity: SEV2, '
        f'title: "t"}}) {{ {FIELDS} }} }}',
    ),
    "incidentAction": (
        Operation.INCIDENT_ACTION_RETRY,
        f"mutation {{ incidentAction(input: {{{CASE}, action: RETRY}}) {{ {FIELDS} }} }}",
    ),
    "platformIncident": (
        Operation.PLATFORM_INCIDENT_READ,
        f'{{ platformIncident(countryCode: "MX", id: "pinc_x") {{ {FIELDS} }} }}',
    ),
    "postIncidentReview": (
        Operation.PLATFORM_INCIDENT_READ,
        f'{{ postIncidentReview(countryCode: "MX", incidentId: "pinc_x") {{ {FIELDS} }} }}',
    ),
    "caseReport": (
        Operation.CASE_REPORT_READ,
        f'{{ caseReport(countryCode: "MX", month: "2026-03") {{ {FIELDS} }} }}',
    ),
    "platformIncidentOpen": (  # an unknown order: NOT_FOUND, nothing opened
        Operation.PLATFORM_INCIDENT_MANAGE,
        'mutation { platformIncidentOpen(input: {countryCode: "MX", severity: SEV1, title: "t", '
        f'orderIds: ["ord_x"]}}) {{ {FIELDS} }} }}',
    ),
    "platformIncidentUpdate": (
        Operation.PLATFORM_INCIDENT_MANAGE,
        'mutation { platformIncidentUpdate(input: {countryCode: "MX", incidentId: "pinc_x", text: "t"}) '
        f"{{ {FIELDS} }} }}",
    ),
    "platformIncidentClose": (
        Operation.PLATFORM_INCIDENT_CLOSE,
        'mutation { platformIncidentClose(input: {countryCode: "MX", incidentId: "pinc_x", rootCause: "r"}) '
        f"{{ {FIELDS} }} }}",
    ),
    "caseBundles": (Operation.CASE_READ, f"{{ caseBundles({CASE}) {{ {FIELDS} }} }}"),
    "caseAttachBundle": (  # no multipart file: refused as input after the guard, nothing kept
        Operation.CASE_ATTACH_BUNDLE,
        f'mutation {{ caseAttachBundle(input: {{{CASE}, file: "x"}}) {{ {FIELDS} }} }}',
    ),
    "diagnosticsTicketOpen": (  # SEV0: refused after the guard (SEVERITY_NOT_COVERED), nothing kept
        Operation.DIAGNOSTICS_TICKET_OPEN,
        'mutation { diagnosticsTicketOpen(input: {countryCode: "MX", customerId: "cus_1", channel: "ui", '
        f'summary: "s", severity: SEV0}}) {{ {FIELDS} }} }}',
    ),
    "slaPolicy": (
        Operation.SLA_POLICY_READ,
        f'{{ slaPolicy(countryCode: "MX", kind: DISPUTE) {{ {FIELDS} }} }}',
    ),
    "slaPolicyPublish": (  # no targets: refused as input after the guard, nothing published
        Operation.SLA_POLICY_MANAGE,
        'mutation { slaPolicyPublish(input: {countryCode: "MX", kind: DISPUTE, expectedVersion: 1, '
        f"targets: []}}) {{ {FIELDS} }} }}",
    ),
}
API_ROLES = sorted(TOKEN_ROLES | {Role.PARTNER})


def test_every_root_field_is_in_the_matrix_test() -> None:
    graphql = schema._schema
    assert graphql.query_type is not None and graphql.mutation_type is not None
    roots = set(graphql.query_type.fields) | set(graphql.mutation_type.fields)
    assert roots - {"version"} == set(OPERATIONS)


def test_system_roles_cannot_call_the_api() -> None:
    assert Role.L0 not in TOKEN_ROLES and Role.SYSTEM not in TOKEN_ROLES
    assert PERMISSIONS[Role.L0] >= {Operation.DISPUTE_DECIDE, Operation.DISPUTE_READ}
    assert PERMISSIONS[Role.SYSTEM] == frozenset(Operation)


@pytest.mark.parametrize("role", API_ROLES, ids=[r.value for r in API_ROLES])
async def test_role_against_every_operation(api: Api, role: Role) -> None:
    headers = await api.partner_key("sel_1") if role is Role.PARTNER else api.bearer(role, subject="actor-1")
    actor = "partner:sel_1" if role is Role.PARTNER else "actor-1"
    for name, (operation, document) in OPERATIONS.items():
        before = len(await api.denials())
        data = await api.gql(document, None, headers)
        answer = data[name]
        allowed = operation in PERMISSIONS[role]
        denials = await api.denials()
        if allowed:
            assert answer["__typename"] != "ForbiddenError", (role, name, answer)
            assert len(denials) == before, (role, name)
        else:
            assert answer == {"__typename": "ForbiddenError", "code": "FORBIDDEN"}, (role, name, answer)
            assert len(denials) == before + 1, (role, name)
            assert (denials[-1]["actor_id"], denials[-1]["actor_role"], denials[-1]["country_code"]) == (
                actor,
                role.value,
                "MX",
            )
