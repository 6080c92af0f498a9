"""Use case: an account's balance, as the ledger keeps it (latest checkpoint + later postings)."""

from __future__ import annotations

from dataclasses import dataclass

from returns.result import Failure, Result, Success

from application.context import RequestContext, Services
from application.security.principal import Forbidden, Operation, authorize
from domain.ledger import Account, Balance
from domain.shared import CountryCode, Currency


@dataclass(frozen=True, slots=True)
class ReadBalance:
    country: CountryCode
    account: Account
    currency: Currency


async def account_balance(
    svc: Services, ctx: RequestContext, query: ReadBalance
) -> Result[Balance, Forbidden]:
    allowed = authorize(ctx.principal, Operation.LEDGER_READ, query.country)
    if isinstance(allowed, Failure):
        return allowed
    async with svc.uow() as uow:  # read only: left without commit, so it rolls back
        balance = await uow.ledger.balance(query.country, query.account, query.currency)
    return Success(balance)
