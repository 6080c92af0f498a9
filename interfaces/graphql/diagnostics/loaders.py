"""The bundles of cases by ``(country, case id)``: one query per batch (``Case.bundles`` in
the ``cases`` work queue costs one query per page, whatever its size)."""

from __future__ import annotations

from strawberry.dataloader import DataLoader

from application.context import Services
from domain.diagnostics.attachment import BundleAttachment
from domain.shared import CountryCode
from interfaces.graphql.common import Key, batched


def case_bundles_loader(services: Services) -> DataLoader[Key, list[BundleAttachment]]:
    async def fetch(country: CountryCode, case_ids: list[str]) -> dict[str, list[BundleAttachment]]:
        async with services.uow() as uow:
            found = await uow.case_bundles.for_cases(country, case_ids)
        return {case_id: [b for b in bundles if b.country == country] for case_id, bundles in found.items()}

    return DataLoader(load_fn=batched(fetch, country_of=lambda _: None, missing=list))
