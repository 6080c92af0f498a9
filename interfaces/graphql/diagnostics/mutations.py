"""``caseAttachBundle``: upload a diagnostics bundle onto a case (GraphQL multipart request
spec; D48, D49).

The file is read here up to the limit plus one byte (an upload past it is refused with
``BUNDLE_UPLOAD_TOO_LARGE`` and nothing is kept; the HTTP layer already refused bodies
whose declared length is past it), then handed to the use case
(application/cases/bundles.py), which authorizes again, inspects off the event loop, stores
the bytes through the storage port and records the result on the case.
"""

from __future__ import annotations

from typing import Annotated, TypeAlias

import strawberry
from returns.result import Failure
from strawberry.file_uploads import Upload

from application.audit.denials import DenialTarget
from application.cases.bundles import AttachBundle, attach_bundle
from application.security.principal import Operation
from interfaces.graphql.common import check_id
from interfaces.graphql.context import GraphQLInfo
from interfaces.graphql.diagnostics.types import CaseBundle
from interfaces.graphql.errors import AnyError, invalid_field, invalid_input
from interfaces.graphql.scope import Scope, guard


@strawberry.input(
    description="A diagnostics bundle (trace-<timestamp>-<channel>.zip) for a case, sent as a "
    "multipart request (the `file` variable mapped to the upload)."
)
class CaseAttachBundleInput:
    country_code: str
    case_id: str
    file: Upload


@strawberry.type(description="The bundle on the case, with its inspection result.")
class CaseAttachBundleSuccess:
    bundle: CaseBundle
    created: bool = strawberry.field(description="False: these bytes were already on the case.")


CaseAttachBundleResult: TypeAlias = Annotated[
    CaseAttachBundleSuccess | AnyError, strawberry.union("CaseAttachBundleResult")
]


async def _read_capped(upload: object, limit: int) -> tuple[bytes, str] | None:
    """The upload's bytes (at most ``limit + 1``) and its file name; ``None`` if not a file."""
    read = getattr(upload, "read", None)
    if read is None:
        return None
    content = await read(limit + 1)
    name = getattr(upload, "filename", None)
    return (content if isinstance(content, bytes) else bytes(content)), str(name or "")


async def case_attach_bundle(info: GraphQLInfo, input: CaseAttachBundleInput) -> CaseAttachBundleResult:
    target = DenialTarget("case", input.case_id)
    scope = await guard(info, input.country_code, Operation.CASE_ATTACH_BUNDLE, target)
    if not isinstance(scope, Scope):
        return scope
    problem = check_id("caseId", input.case_id)
    if problem is not None:
        return invalid_input(problem)
    services = info.context.bundles
    read = await _read_capped(input.file, services.max_bytes)
    if read is None:
        return invalid_field("file", "send the bundle as a multipart upload")
    content, filename = read
    result = await attach_bundle(
        services, scope.request, AttachBundle(scope.country, input.case_id, filename, content)
    )
    scope.loaders.clear_all()
    if isinstance(result, Failure):
        return await scope.failed(result.failure(), target)
    attached = result.unwrap()
    return CaseAttachBundleSuccess(
        bundle=CaseBundle.from_domain(attached.attachment), created=attached.created
    )


@strawberry.type
class DiagnosticsMutations:
    case_attach_bundle: CaseAttachBundleResult = strawberry.mutation(
        resolver=case_attach_bundle,
        description="Attach a diagnostics bundle to a case (L1+; multipart upload, size-limited): it is "
        "inspected, kept in storage (not without telemetry consent) and its verdict, leak locations "
        "and summary are stored on the case, with a timeline entry and an audit entry.",
    )
