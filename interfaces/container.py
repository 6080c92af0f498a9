"""The composition root: the one place that knows every concrete implementation.

Tests override providers, e.g. ``container.settings.override(providers.Object(s))`` or
``container.clock.override(providers.Object(FixedClock()))``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Final

from dependency_injector import containers, providers
from fastapi import FastAPI
from returns.result import Result
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.calendars.holidays_calendar import HolidaysCalendarSource
from adapters.diagnostics.catalogue import MarkdownErrorCatalogue
from adapters.diagnostics.phones import PhonenumbersFinder
from adapters.diagnostics.schemas import JsonSchemaValidator
from adapters.diagnostics.store import DirectoryBundleStore
from adapters.diagnostics.zip_reader import BundleLimits, ZipBundleReader
from adapters.events.in_process import InProcessChangeFeed
from adapters.events.postgres import PostgresChangeFeed
from adapters.persistence.api_keys import api_key_authenticator
from adapters.persistence.audit_cli import run_audit_verify
from adapters.persistence.database import backend_name, create_engine, create_session_factory
from adapters.persistence.migrate import current_revision, head_revision, upgrade_to_head
from adapters.persistence.read_models import read_models
from adapters.persistence.readiness import database_not_ready
from adapters.persistence.request_reads import request_reads_factory
from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork, unit_of_work_factory
from adapters.providers.evidence_storage import SandboxEvidenceStorage
from adapters.providers.sandbox import SandboxNotifications, SandboxPayments, SandboxStorage, SandboxWebhooks
from adapters.providers.webhook_delivery import HttpWebhookSender
from adapters.screening import MarketplacePhoneFinder
from adapters.system import SystemClock, TimeOrderedIds
from adapters.telemetry.metrics import PrometheusMetrics, process_metrics
from application.audit.verify import ChainHead
from application.cases.bundles import BundleServices
from application.cases.dispatch import DISPATCH_JOB_KIND, order_dispatch_job
from application.cases.platform_reminders import REMINDER_JOB_KIND, platform_reminder_job
from application.context import Services
from application.demo.seed import failing_demo_orders
from application.diagnostics.inspect import BundleInspector
from application.disputes.evidence_storage import EvidenceFileServices
from application.disputes.refund_returns import (
    REISSUE_JOB_KIND,
    REISSUE_NOTICE_JOB_KIND,
    RefundReissueJob,
    RefundReissueNoticeJob,
)
from application.integrations.monitoring import refresh_queue_gauges
from application.integrations.webhooks import (
    VerifiedWebhook,
    WebhookProcessing,
    WebhookReceipt,
    WebhookRefusal,
    receive_webhook,
)
from application.ledger.metering import metered
from application.ledger.payouts import PAYOUT_JOB_KIND, SellerPayoutJob
from application.messaging.common import MessagingServices
from application.messaging.notifications import NOTIFY_JOB_KIND, conversation_notify_job
from application.ports.metrics import Metrics
from application.saga.executor import ProviderJob, Providers, SagaRunner
from domain.messaging import Screener
from interfaces.graphql.context import ApiDependencies
from interfaces.http.app import create_app
from interfaces.http.observability import Operations
from interfaces.http.webhooks import WebhookDependencies
from interfaces.settings import Settings, get_settings


def _engine(settings: Settings) -> AsyncEngine:
    settings.ensure_database_directory()
    return create_engine(settings.database_url)


def _uow_factory(engine: AsyncEngine) -> Callable[[], SqlAlchemyUnitOfWork]:
    return unit_of_work_factory(create_session_factory(engine))


def _read_engine(settings: Settings, engine: AsyncEngine) -> AsyncEngine:
    """Reads outside units of work (the GraphQL read side, API-key checks). On an SQLite file:
    a second engine whose transactions ``BEGIN DEFERRED``, so readers never take the write
    lock (WAL lets them read while a writer writes). On PostgreSQL: a second pool, because a
    request holds its read connection for the whole request (D53) and must never wait for a
    write connection of the same pool. In-memory SQLite: the same engine."""
    if engine.dialect.name != "sqlite":
        return create_engine(settings.database_url)
    if settings.sqlite_path is None:
        return engine
    return create_engine(settings.database_url, sqlite_begin="DEFERRED")


def _api(
    services: Services,
    read_engine: AsyncEngine,
    messaging: MessagingServices,
    bundles: BundleServices | None = None,
    engine: AsyncEngine | None = None,
    *,
    evidence_files: EvidenceFileServices | None = None,
) -> ApiDependencies:
    return ApiDependencies(
        services=services,
        reads=read_models(read_engine),
        authenticate_api_key=api_key_authenticator(create_session_factory(read_engine)),
        request_reads=request_reads_factory(
            read_engine, shared_sqlite=read_engine is engine and engine.dialect.name == "sqlite"
        ),
        messaging=messaging,
        bundles=bundles,
        evidence_files=evidence_files,
    )


def _evidence_files(settings: Settings, services: Services) -> EvidenceFileServices:
    """Dispute evidence files (D84): the sandbox storage, one content-addressed space per
    country and dispute under ``SUPPORTOS_BLOB_DIR/evidence``, and
    ``SUPPORTOS_EVIDENCE_UPLOAD_MAX_BYTES``."""
    return EvidenceFileServices(
        base=services,
        storage=SandboxEvidenceStorage(root=settings.blob_dir / "evidence"),
        max_bytes=settings.evidence_upload_max_bytes,
    )


def _bundles(settings: Settings, services: Services) -> BundleServices:
    """Bundles attached to cases (D48): the sandbox's content-addressed storage under
    ``SUPPORTOS_BLOB_DIR``, the hostile-input inspector, ``SUPPORTOS_BUNDLE_UPLOAD_MAX_BYTES``."""
    inspector = bundle_inspector()
    return BundleServices(
        base=services,
        storage=SandboxStorage(root=settings.blob_dir),
        inspect=inspector.inspect,
        named_country=inspector.named_country,
        max_bytes=settings.bundle_upload_max_bytes,
    )


JOB_PROVIDERS: Final = ("payments", "notifications", "internal")
"""The ``provider`` of every outbox job kind: dispute steps (``application/saga/scheduling.py``),
the messaging, dispatch and reminder notices (``notifications``). ``supportos worker
--providers`` chooses among them; their dead-letter series are exported from 0."""


def _metrics() -> PrometheusMetrics:
    """The process's metrics; the dead-letter series of every job provider start at 0 in
    each country the process learns of, so an alert on ``increase()`` sees the first one."""
    metrics = process_metrics()
    metrics.add_job_providers(JOB_PROVIDERS)
    return metrics


def _change_feed(settings: Settings) -> InProcessChangeFeed | PostgresChangeFeed:
    """The change feed behind live subscriptions (D55): PostgreSQL ``LISTEN``/``NOTIFY`` when
    the database is PostgreSQL (every API replica, worker and scheduler reaches every
    subscriber); in-process on SQLite (only this process's own changes are pushed)."""
    if backend_name(settings.database_url) == "postgresql":
        return PostgresChangeFeed.for_url(settings.database_url)
    return InProcessChangeFeed()


def _screener() -> Screener:
    """Message screening with ``phonenumbers`` behind its port (D25)."""
    return Screener(MarketplacePhoneFinder())


WEBHOOK_JOB_PROVIDERS: Final[Mapping[str, frozenset[str]]] = MappingProxyType(
    {
        "sandbox-payments": frozenset({"payments"}),
        "http-payments": frozenset({"payments"}),
        "sandbox-notifications": frozenset({"notifications"}),
    }
)
"""Which jobs a webhook provider may settle: the ``{provider}`` of ``/webhooks/{provider}``
(the name its secrets have in ``SUPPORTOS_WEBHOOK_SECRETS``) -> the ``provider`` of the
outbox jobs its signed events may confirm. A provider that is not listed settles nothing
(``WEBHOOK_PROVIDER_MISMATCH``); a payments webhook never settles a notification, nor the
other way round."""

MARKETPLACE_WEBHOOK_PROVIDERS: Final = frozenset({"marketplace"})
"""The webhook providers whose signed ``order.*`` events are the marketplace's order feed
(D91): orders created, payments captured, fulfilment steps, applied as role MARKETPLACE;
``/webhooks/marketplace`` with a secret under that name in ``SUPPORTOS_WEBHOOK_SECRETS``.
Any other provider's order event is ``NOT_A_MARKETPLACE_SOURCE``."""

TRACKING_WEBHOOK_PROVIDERS: Final = frozenset({"courier-tracking"})
"""The webhook providers whose signed ``tracking.*`` events are recorded as the delivery
tracking feed (D90): the courier app and dispatch system, ``/webhooks/courier-tracking`` with
a secret under that name in ``SUPPORTOS_WEBHOOK_SECRETS``. Any other provider's tracking
event is ``NOT_A_TRACKING_SOURCE``."""


def saga_runner(
    services: Services,
    saga_providers: Providers,
    *,
    worker_id: str,
    metrics: Metrics,
    job_kinds: Mapping[str, ProviderJob],
) -> SagaRunner:
    """A production ``SagaRunner``: retries with full jitter drawn from ``random.random``
    (SPEC §7; the dataclass's default draws 1.0, the deterministic worst case, for tests),
    the process's metrics (job outcomes, dead letters, provider calls) and every provider
    job kind."""
    return SagaRunner(
        services,
        saga_providers,
        rand=random.random,
        worker_id=worker_id,
        metrics=metrics,
        job_kinds=job_kinds,
    )


def _webhook_processing(
    services: Services,
    metrics: Metrics,
    job_kinds: Mapping[str, ProviderJob],
    settles: Mapping[str, frozenset[str]],
) -> WebhookProcessing:
    """Verified webhooks settle saga steps and provider jobs (``SagaRunner.confirm`` touches
    no provider); a declined confirmation dead-letters its job and counts in the process's
    dead-letter metric like a worker's."""
    runner = saga_runner(
        services, demo_providers(), worker_id="webhooks", metrics=metrics, job_kinds=job_kinds
    )
    return WebhookProcessing(
        services,
        runner,
        settles=settles,
        tracking_sources=TRACKING_WEBHOOK_PROVIDERS,
        marketplace_sources=MARKETPLACE_WEBHOOK_PROVIDERS,
    )


def _webhooks(settings: Settings, processing: WebhookProcessing) -> WebhookDependencies:
    async def receive(webhook: VerifiedWebhook) -> Result[WebhookReceipt, WebhookRefusal]:
        return await receive_webhook(processing, webhook)

    return WebhookDependencies(secrets=settings.webhook_secrets_by_provider(), receive=receive)


def _operations(engine: AsyncEngine, services: Services, metrics: PrometheusMetrics) -> Operations:
    """``/readyz``: the service's own engine reaches the database and the schema is at head;
    ``/metrics``: the outbox and breaker gauges read from the database before a scrape."""

    async def readiness() -> str | None:
        return await database_not_ready(engine)

    async def refresh() -> None:
        await refresh_queue_gauges(services, metrics)

    return Operations(readiness=readiness, refresh_gauges=refresh, registry=metrics.registry)


def _saga_providers(settings: Settings) -> Providers:
    """The providers the workers call (``supportos worker``): the embedded sandbox.

    With ``SUPPORTOS_SANDBOX_WEBHOOK_URL`` and a secret for ``sandbox-payments`` in
    ``SUPPORTOS_WEBHOOK_SECRETS``, the sandbox confirms payments as a real provider does:
    it answers "accepted" and, a second later, POSTs a signed webhook to
    ``<url>/sandbox-payments`` (the service's ``/webhooks/{provider}``).
    """
    payments = SandboxPayments()
    secrets = settings.webhook_secrets_by_provider().get(payments.name, [])
    if settings.sandbox_webhook_url and secrets:
        target = f"{settings.sandbox_webhook_url.rstrip('/')}/{payments.name}"
        payments = SandboxPayments(
            webhooks=SandboxWebhooks(HttpWebhookSender(target), secrets=secrets[:1], delay_s=1.0)
        )
    return Providers(payments, SandboxNotifications(), payouts=payments)


def _job_kinds() -> Mapping[str, ProviderJob]:
    """Provider job kinds the workers run besides dispute steps: the messaging bridge's
    notifications (``conversation.notify``: push or e-mail to the other parties, D25), the
    platform incidents' "status update due" reminders (D46), the incidents' re-dispatch
    and replacement notices (``order.dispatch``, D72), the sellers' payouts
    (``seller.payout``, posted to the ledger when they complete, D89), the re-issues of
    refunds the provider returned (``dispute.refund_reissue``, D136) and the buyer's notice
    of a re-issue to the card (``dispute.refund_reissue_notice``, D155)."""
    return MappingProxyType(
        {
            NOTIFY_JOB_KIND: conversation_notify_job,
            REMINDER_JOB_KIND: platform_reminder_job,
            DISPATCH_JOB_KIND: order_dispatch_job,
            PAYOUT_JOB_KIND: SellerPayoutJob(),
            REISSUE_JOB_KIND: RefundReissueJob(),
            REISSUE_NOTICE_JOB_KIND: RefundReissueNoticeJob(),
        }
    )


class Container(containers.DeclarativeContainer):
    settings: providers.Provider[Settings] = providers.Singleton(get_settings)
    engine: providers.Provider[AsyncEngine] = providers.Singleton(_engine, settings=settings)
    uow_factory: providers.Provider[Callable[[], SqlAlchemyUnitOfWork]] = providers.Singleton(
        _uow_factory, engine=engine
    )
    clock: providers.Provider[SystemClock] = providers.Singleton(SystemClock)
    ids: providers.Provider[TimeOrderedIds] = providers.Singleton(TimeOrderedIds)
    metrics: providers.Provider[PrometheusMetrics] = providers.Singleton(_metrics)
    calendars: providers.Provider[HolidaysCalendarSource] = providers.Singleton(HolidaysCalendarSource)
    changes: providers.Provider[InProcessChangeFeed | PostgresChangeFeed] = providers.Singleton(
        _change_feed, settings=settings
    )
    services: providers.Provider[Services] = providers.Singleton(
        Services,
        uow=providers.Callable(metered, uow_factory, metrics),
        clock=clock,
        ids=ids,
        metrics=metrics,
        calendars=calendars,
        changes=changes,
    )
    read_engine: providers.Provider[AsyncEngine] = providers.Singleton(
        _read_engine, settings=settings, engine=engine
    )
    screener: providers.Provider[Screener] = providers.Singleton(_screener)
    messaging: providers.Provider[MessagingServices] = providers.Singleton(
        MessagingServices,
        uow=uow_factory,
        clock=clock,
        ids=ids,
        screener=screener,
        metrics=metrics,
        changes=changes,
    )
    bundles: providers.Provider[BundleServices] = providers.Singleton(
        _bundles, settings=settings, services=services
    )
    evidence_files: providers.Provider[EvidenceFileServices] = providers.Singleton(
        _evidence_files, settings=settings, services=services
    )
    api: providers.Provider[ApiDependencies] = providers.Singleton(
        _api,
        services=services,
        read_engine=read_engine,
        messaging=messaging,
        bundles=bundles,
        engine=engine,
        evidence_files=evidence_files,
    )
    job_kinds: providers.Provider[Mapping[str, ProviderJob]] = providers.Singleton(_job_kinds)
    webhook_job_providers: providers.Provider[Mapping[str, frozenset[str]]] = providers.Object(
        WEBHOOK_JOB_PROVIDERS
    )
    webhook_processing: providers.Provider[WebhookProcessing] = providers.Singleton(
        _webhook_processing,
        services=services,
        metrics=metrics,
        job_kinds=job_kinds,
        settles=webhook_job_providers,
    )
    webhooks: providers.Provider[WebhookDependencies] = providers.Singleton(
        _webhooks, settings=settings, processing=webhook_processing
    )
    saga_providers: providers.Provider[Providers] = providers.Singleton(_saga_providers, settings=settings)
    operations: providers.Provider[Operations] = providers.Singleton(
        _operations, engine=engine, services=services, metrics=metrics
    )
    http_app: providers.Provider[FastAPI] = providers.Singleton(
        create_app, settings=settings, api=api, webhooks=webhooks, operations=operations
    )


def build_container(settings: Settings | None = None) -> Container:
    """A container wired to ``settings`` (default: read from the environment)."""
    container = Container()
    if settings is not None:
        container.settings.override(providers.Object(settings))
    return container


async def dispose_engines(container: Container) -> None:
    """Close the pools the container opened (tests, and tools that build a container), and
    the change feed's connections."""
    await container.changes().aclose()
    engine, read_engine = container.engine(), container.read_engine()
    if read_engine is not engine:
        await read_engine.dispose()
    await engine.dispose()


async def database_problem(container: Container) -> str | None:
    """Why the container's database cannot serve a command (unreachable, not migrated, not at
    head; ``/readyz``'s words), or ``None``."""
    return await database_not_ready(container.engine())


async def migrate_database(settings: Settings) -> tuple[str | None, str | None]:
    """Bring the configured database to the newest schema; (before, after) revisions."""
    settings.ensure_database_directory()
    url = settings.migration_url  # the schema owner's, not the service's role (D22)
    before = await current_revision(url)
    after = await upgrade_to_head(url, app_role=settings.database_app_role)
    return before, after


async def verify_audit_log(settings: Settings, *, expect_head: ChainHead | None = None) -> tuple[int, str]:
    """(exit code, report) of a full audit-chain verification (and of the expected head, if given)."""
    return await run_audit_verify(settings.database_url, expect_head=expect_head)


def schema_head() -> str | None:
    return head_revision()


def demo_providers() -> Providers:
    """The embedded sandbox, declining the demo's designated refunds (to show dead letters)."""
    payments = SandboxPayments(fail_orders=failing_demo_orders())
    return Providers(payments, SandboxNotifications(), payouts=payments)


def bundle_inspector(limits: BundleLimits | None = None) -> BundleInspector:
    """``supportos inspect``: the hostile-input zip reader, the JSON Schemas under
    ``docs/diagnostics/``, the catalogue ``docs/errors.md`` and ``phonenumbers``."""
    return BundleInspector(
        ZipBundleReader(limits), JsonSchemaValidator(), MarkdownErrorCatalogue(), PhonenumbersFinder()
    )


def bundle_store(directory: Path) -> DirectoryBundleStore:
    """``supportos bundles-purge``: the bundle directory."""
    return DirectoryBundleStore(directory)
