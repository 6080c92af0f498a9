"""Runtime configuration, read from ``SUPPORTOS_*`` environment variables.

The defaults run the embedded mode: SQLite under ``./var/``, development
environment, a development-only JWT secret. Production refuses that secret.
"""

from __future__ import annotations

import base64
import binascii
import re
from functools import lru_cache
from pathlib import Path
from typing import Final, Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL: Final = "sqlite+aiosqlite:///./var/supportos.sqlite3"
DEV_JWT_SECRET: Final = "supportos-development-only-jwt-secret-do-not-use-in-production"  # noqa: S105
MIN_PRODUCTION_SECRET_LENGTH: Final = 32
MIN_WEBHOOK_SECRET_BYTES: Final = 16
_PROVIDER_NAME: Final = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")

Environment = Literal["development", "production"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
JwtAlgorithm = Literal["HS256", "RS256"]


class Settings(BaseSettings):
    """Every setting of the service; one immutable object built at start-up."""

    model_config = SettingsConfigDict(
        env_prefix="SUPPORTOS_",
        env_file=None,
        extra="ignore",
        frozen=True,
        case_sensitive=False,
    )

    database_url: str = DEFAULT_DATABASE_URL
    # PostgreSQL in production (D22): the service connects as its own role, which owns
    # nothing and is held by row-level security (``postgresql+asyncpg://supportos_app@host/db``);
    # ``supportos migrate`` connects as the schema's owner instead, through this URL when set
    # (else ``database_url``), and grants ``database_app_role`` what the service needs.
    migration_database_url: str | None = None
    database_app_role: str = Field(default="supportos_app", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
    environment: Environment = "development"
    log_level: LogLevel = "INFO"
    jwt_secret: SecretStr = SecretStr(DEV_JWT_SECRET)
    jwt_algorithm: JwtAlgorithm = "HS256"
    jwt_public_key_file: Path | None = None  # RS256: one PEM public key
    jwt_jwks_file: Path | None = None  # RS256: a JWKS document (keys chosen by ``kid``)
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    telemetry_retention_days: int = Field(default=30, ge=0, le=3650)  # telemetry.retentionDays (SPEC §10)
    # the scheduler's periodic balance checkpoints (D69): an account with this many postings
    # after its newest snapshot gets a new one; a process's first tick looks at the newest WINDOW postings
    ledger_checkpoint_every: int = Field(default=1_000, ge=1, le=10_000_000)
    ledger_checkpoint_window: int = Field(default=50_000, ge=1, le=100_000_000)
    # idempotency keys are deleted this long after they were made (Stripe: 24 h; D71)
    idempotency_key_retention_hours: int = Field(default=24, ge=1, le=24 * 365)
    # the seller payout run (D89): each seller owed money is paid out at most once per
    # INTERVAL hours (0: on every run); the scheduler sweeps the sellers every CHECK minutes
    payout_interval_hours: int = Field(default=24, ge=0, le=24 * 366)
    payout_check_minutes: int = Field(default=10, ge=1, le=24 * 60)
    bundle_dir: Path = Path("var/bundles")  # uploaded diagnostics bundles (``bundles-purge``)
    # bundles attached to cases (``caseAttachBundle``, D48): the upload limit and where the
    # storage port keeps their bytes (content-addressed; the sandbox storage on local disk)
    bundle_upload_max_bytes: int = Field(default=50 * 1024 * 1024, ge=1, le=2 * 1024**3)
    # dispute evidence files (``disputeEvidenceUpload``, D84): photos and PDFs, kept by the
    # storage port under ``<blob_dir>/evidence/<country>/<dispute>/`` (content-addressed)
    evidence_upload_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1, le=25 * 1024 * 1024)
    blob_dir: Path = Path("var/blobs")
    # provider -> its Standard Webhooks secrets (``whsec_`` + base64), newest first; several
    # during a rotation. JSON: SUPPORTOS_WEBHOOK_SECRETS='{"sandbox-payments": ["whsec_..."]}'
    webhook_secrets: dict[str, list[SecretStr]] = Field(default_factory=dict)
    # the sandbox confirms payments by signed webhook to <url>/sandbox-payments (``supportos
    # worker``; e.g. http://127.0.0.1:8000/webhooks); unset: it confirms at once
    sandbox_webhook_url: str | None = None

    @model_validator(mode="after")
    def _rs256_needs_a_public_key(self) -> Self:
        if self.jwt_algorithm == "RS256":
            given = [f for f in (self.jwt_public_key_file, self.jwt_jwks_file) if f is not None]
            if len(given) != 1:
                raise ValueError(
                    "SUPPORTOS_JWT_ALGORITHM=RS256 needs exactly one of "
                    "SUPPORTOS_JWT_PUBLIC_KEY_FILE or SUPPORTOS_JWT_JWKS_FILE"
                )
        return self

    @model_validator(mode="after")
    def _production_needs_a_real_secret(self) -> Self:
        if self.is_production and self.jwt_algorithm == "HS256":
            secret = self.jwt_secret.get_secret_value()
            if secret == DEV_JWT_SECRET:
                raise ValueError(
                    "SUPPORTOS_JWT_SECRET must be set in production (the development default is refused)"
                )
            if len(secret) < MIN_PRODUCTION_SECRET_LENGTH:
                raise ValueError(
                    "SUPPORTOS_JWT_SECRET must be at least "
                    f"{MIN_PRODUCTION_SECRET_LENGTH} characters in production"
                )
        return self

    @model_validator(mode="after")
    def _webhook_secrets_are_usable(self) -> Self:
        for provider, secrets in self.webhook_secrets.items():
            if not _PROVIDER_NAME.fullmatch(provider):
                raise ValueError(f"SUPPORTOS_WEBHOOK_SECRETS: {provider!r} is not a provider name")
            for secret in secrets:
                if not _usable_webhook_secret(secret.get_secret_value()):
                    raise ValueError(
                        f"SUPPORTOS_WEBHOOK_SECRETS[{provider!r}]: a secret must be 'whsec_' + base64 "
                        f"of at least {MIN_WEBHOOK_SECRET_BYTES} bytes"
                    )
        return self

    def webhook_secrets_by_provider(self) -> dict[str, list[str]]:
        """The configured webhook secrets, in the clear (for the verifier only)."""
        return {p: [s.get_secret_value() for s in secrets] for p, secrets in self.webhook_secrets.items()}

    @property
    def migration_url(self) -> str:
        """Where ``supportos migrate`` connects: the owner's URL when set, else the service's."""
        return self.migration_database_url or self.database_url

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def graphiql_enabled(self) -> bool:
        """The in-browser GraphQL IDE is a development tool only."""
        return not self.is_production

    @property
    def sqlite_path(self) -> Path | None:
        """The database file when the URL names an on-disk SQLite database, else ``None``."""
        scheme, sep, rest = self.database_url.partition("://")
        if not sep or scheme.split("+", 1)[0] != "sqlite":
            return None
        # sqlite:///relative.db -> rest "/relative.db"; sqlite:////abs.db -> rest "//abs.db"
        path = rest.removeprefix("/").split("?", 1)[0]
        if path in {"", ":memory:"} or path.startswith("file:"):
            return None
        return Path(path)

    def ensure_database_directory(self) -> None:
        """Create the directory of an on-disk SQLite database (``./var/`` by default)."""
        path = self.sqlite_path
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)


def _usable_webhook_secret(secret: str) -> bool:
    encoded = secret.removeprefix("whsec_")
    try:
        decoded = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except binascii.Error:
        return False
    return len(decoded) >= MIN_WEBHOOK_SECRET_BYTES


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment once."""
    return Settings()
