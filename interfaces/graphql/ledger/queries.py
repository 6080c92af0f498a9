"""Root query on the ledger: ``ledgerAccount`` (balance and postings)."""

from __future__ import annotations

from typing import Annotated, TypeAlias

import strawberry
from returns.result import Failure

from application.audit.denials import DenialTarget
from application.ledger.queries import ReadBalance, account_balance
from application.security.principal import Operation
from domain.ledger import Account
from domain.shared import Currency
from interfaces.graphql.common import DEFAULT_PAGE_SIZE, connection, page_request
from interfaces.graphql.context import GraphQLInfo
from interfaces.graphql.errors import (
    ForbiddenError,
    InvalidInputError,
    UnauthenticatedError,
    forbidden,
    invalid_input,
)
from interfaces.graphql.ledger.types import AccountPosting, LedgerAccount
from interfaces.graphql.orders.queries import AfterArgument, CountryArgument, FirstArgument
from interfaces.graphql.scope import Scope, guard

LedgerAccountResult: TypeAlias = Annotated[
    LedgerAccount | UnauthenticatedError | ForbiddenError | InvalidInputError,
    strawberry.union("LedgerAccountResult"),
]
AccountArgument: TypeAlias = Annotated[
    str, strawberry.argument(description="A stable account name, e.g. escrow:order:ord_1 or psp:clearing.")
]
CurrencyArgument: TypeAlias = Annotated[str, strawberry.argument(description="ISO-4217 code, e.g. MXN.")]


async def resolve_ledger_account(
    info: GraphQLInfo,
    *,
    country_code: CountryArgument,
    account: AccountArgument,
    currency: CurrencyArgument,
    first: FirstArgument = DEFAULT_PAGE_SIZE,
    after: AfterArgument = None,
) -> LedgerAccountResult:
    scope = await guard(info, country_code, Operation.LEDGER_READ, DenialTarget("ledger_account", account))
    if not isinstance(scope, Scope):
        return scope
    parsed_account = Account.parse(account)
    if isinstance(parsed_account, Failure):
        return invalid_input(parsed_account.failure())
    parsed_currency = Currency.parse(currency[:16])
    if isinstance(parsed_currency, Failure):
        return invalid_input(parsed_currency.failure())
    page = page_request(first, after)
    if isinstance(page, Failure):
        return invalid_input(page.failure())
    query = ReadBalance(scope.country, parsed_account.unwrap(), parsed_currency.unwrap())
    postings = await scope.reads.ledger.postings(query.country, query.account, query.currency, page.unwrap())
    if isinstance(postings, Failure):
        return invalid_input(postings.failure())
    balance = await account_balance(scope.services, scope.request, query)
    if isinstance(balance, Failure):  # pragma: no cover - the guard authorized the same operation
        return forbidden(balance.failure())
    return LedgerAccount.from_domain(
        balance.unwrap(), connection(postings.unwrap(), AccountPosting.from_domain)
    )


@strawberry.type
class LedgerQueries:
    ledger_account: LedgerAccountResult = strawberry.field(
        resolver=resolve_ledger_account,
        description="One account in one currency of the country: balance and postings (newest first).",
    )
