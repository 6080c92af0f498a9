"""Root queries on the ledger: ``ledgerAccount`` (balance and postings) and ``sellerBalance``
(a seller's payable, receivable, what is owed and its payouts, D89)."""

from __future__ import annotations

from typing import Annotated, TypeAlias

import strawberry
from returns.result import Failure

from application.audit.denials import DenialTarget
from application.errors import NotFound
from application.ledger.payouts import ReadSellerBalance, seller_balance
from application.ledger.queries import ReadBalance, account_balance
from application.security.principal import Operation
from domain.ledger import Account
from domain.shared import Currency
from interfaces.graphql.common import DEFAULT_PAGE_SIZE, check_id, connection, page_request
from interfaces.graphql.context import GraphQLInfo
from interfaces.graphql.errors import (
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    UnauthenticatedError,
    forbidden,
    invalid_input,
    not_found,
)
from interfaces.graphql.ledger.types import AccountPosting, LedgerAccount, SellerBalance
from interfaces.graphql.orders.queries import AfterArgument, CountryArgument, FirstArgument
from interfaces.graphql.scope import Scope, guard

SellerBalanceResult: TypeAlias = Annotated[
    SellerBalance | UnauthenticatedError | ForbiddenError | NotFoundError | InvalidInputError,
    strawberry.union("SellerBalanceResult"),
]
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


async def resolve_seller_balance(
    info: GraphQLInfo,
    *,
    country_code: CountryArgument,
    seller_id: Annotated[str, strawberry.argument(description="The seller's id, e.g. sel_1.")],
    currency: CurrencyArgument,
) -> SellerBalanceResult:
    target = DenialTarget("seller", seller_id)
    scope = await guard(info, country_code, Operation.SELLER_BALANCE_READ, target)
    if not isinstance(scope, Scope):
        return scope
    problem = check_id("sellerId", seller_id)
    if problem is not None:
        return invalid_input(problem)
    parsed_currency = Currency.parse(currency[:16])
    if isinstance(parsed_currency, Failure):
        return invalid_input(parsed_currency.failure())
    query = ReadSellerBalance(scope.country, seller_id, parsed_currency.unwrap())
    read = await seller_balance(scope.services, scope.request, query)
    if isinstance(read, Failure):  # a seller, or its partner key, asking for another's (D156)
        if isinstance(read.failure(), NotFound):
            return not_found("seller", seller_id)
        return await scope.hidden("seller", seller_id)
    return SellerBalance.from_view(read.unwrap())


@strawberry.type
class LedgerQueries:
    ledger_account: LedgerAccountResult = strawberry.field(
        resolver=resolve_ledger_account,
        description="One account in one currency of the country: balance and postings (newest first).",
    )
    seller_balance: SellerBalanceResult = strawberry.field(
        resolver=resolve_seller_balance,
        description=(
            "A seller's payable, receivable, what the next payout pays, its payouts "
            "(L1+, AUDITOR; a seller and its seller org's partner key: its own, D156)."
        ),
    )
