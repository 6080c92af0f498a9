"""Structured JSON logs (structlog), with the request id and without personal data.

``configure_logging`` routes every log record, structlog's and the standard library's
(``logging.getLogger("supportos.graphql")``, uvicorn, SQLAlchemy), through one chain:

    context variables (``request_id``, bound per request by the HTTP middleware)
    -> level, logger name, UTC ISO timestamp
    -> exception text
    -> PII redaction (:func:`redact_event`)
    -> one JSON object per line

Redaction reuses the diagnostics detectors (``domain/diagnostics/pii.py``: e-mails, card
numbers with a Luhn check, IBANs, national ids with check digits, bearer tokens, JWTs, API
keys, IP addresses) and adds one blunt rule for logs: any free-standing run of 9 to 19
digits (optionally ``+``, spaces, dots, dashes, parentheses; right after a word and a colon
too, as in ``tel:5512345678``) is masked, which covers
national phone numbers written without a country code and card-like numbers that fail the
Luhn check. Kuwait's numbers have 8 digits: a run of 8 (plain, or two groups of 4) that is
a valid Kuwaiti number is masked too (D124); other 8-digit runs (``20261207``, an amount)
are left alone. A value under a key named like a secret (``password``, ``api_key``,
``authorization``, ``client_secret``..., judged as bundle inspection judges names, D77) is
replaced whole by ``[REDACTED:SECRET]``. Every string value is redacted except the few keys
the logger itself writes
(``timestamp``, ``level``, ``logger``, ``request_id``); numbers are left alone.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
from typing import IO, Any, Final

import phonenumbers
import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from domain.diagnostics.pii import PiiDetector, secret_name

_HANDLER_NAME: Final = "supportos-json"
_SAFE_KEYS: Final = frozenset({"timestamp", "level", "logger", "request_id"})
_DIGIT_RUN: Final = re.compile(r"(?:(?<![\w.:/-])|(?<=[A-Za-z]:))\+?\(?\d(?:[ ().\-]{0,2}\d){8,18}(?![\w:/])")
_EIGHT_DIGITS: Final = re.compile(r"(?:(?<![\w.:/+-])|(?<=[A-Za-z]:))\d{4}[ .\-]?\d{4}(?![\w:/]|[.\-]\d)")
_MAX_DEPTH: Final = 4
_DETECTOR: Final = PiiDetector()


def redact_text(text: str) -> str:
    """``text`` with every piece of personal data replaced by ``[REDACTED:<KIND>]``."""
    if not text:
        return text
    text = _DETECTOR.redact(text, phones=False)
    return _EIGHT_DIGITS.sub(_kuwaiti_number, _DIGIT_RUN.sub("[REDACTED:NUMBER]", text))


def _kuwaiti_number(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group())
    kuwaiti = phonenumbers.is_valid_number(phonenumbers.parse(digits, "KW"))
    return "[REDACTED:NUMBER]" if kuwaiti else match.group()


def _redact_value(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if depth >= _MAX_DEPTH:
        return value if isinstance(value, int | float | bool) or value is None else "[REDACTED:NESTED]"
    if isinstance(value, Mapping):
        return {str(key): _redact_item(str(key), item, depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redact_value(item, depth + 1) for item in value]
    if isinstance(value, int | float | bool) or value is None:
        return value
    return redact_text(str(value))


def _redact_item(key: str, value: Any, depth: int) -> Any:
    """A value under ``key``: all of it when the key names a secret (``password``,
    ``api_key``, ``authorization``..., as bundle inspection judges names), else its PII."""
    if value is not None and value != "" and not isinstance(value, bool) and secret_name(key) is not None:
        return "[REDACTED:SECRET]"
    return _redact_value(value, depth)


def redact_event(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """The structlog processor: redact every value but the logger's own keys."""
    for key, value in list(event_dict.items()):
        if key not in _SAFE_KEYS:
            event_dict[key] = _redact_item(key, value, 0)
    return event_dict


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
    ]


def _foreign_processors() -> list[Processor]:
    """For standard-library records: their ``extra={...}`` fields become JSON keys too."""
    return [*_shared_processors(), structlog.stdlib.ExtraAdder()]


def configure_logging(level: str = "INFO", stream: IO[str] | None = None) -> logging.Handler:
    """JSON lines on ``stream`` (default: standard error) for every logger of the process.

    Idempotent: calling it again replaces the handler it installed before. Returns the
    handler (tests remove it with :func:`remove_handler`).
    """
    shared = _shared_processors()
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_foreign_processors(),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact_event,
            structlog.processors.JSONRenderer(default=str),
        ],
    )
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == _HANDLER_NAME:
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    return handler


def remove_handler(handler: logging.Handler) -> None:
    logging.getLogger().removeHandler(handler)


def get_logger(name: str) -> Any:
    """A structlog logger (``log.info("event", key=value)``)."""
    return structlog.stdlib.get_logger(name)


def bound_request_id(request_id: str) -> Any:
    """A context manager binding ``request_id`` to every log line written inside it."""
    return structlog.contextvars.bound_contextvars(request_id=request_id)


__all__ = [
    "bound_request_id",
    "configure_logging",
    "get_logger",
    "redact_event",
    "redact_text",
    "remove_handler",
]
