"""Free text from outside (a provider's failure reason, an exception's message) made fit for
records that are never erased: the audit log, a dispute's last execution error, a job's history.

:func:`without_personal_data` replaces what ``domain.diagnostics.pii`` recognises (e-mails,
card numbers, IBANs, national ids, tokens, keys, IP addresses) and any free-standing run of 7
or more digits (a phone, an account number; not one inside an id like ``ord_000123456789``,
nor a date like ``2026-12-07``) with ``[REDACTED:<KIND>]``. HTTP statuses, timeouts, dates
and our own keys stay readable.
"""

from __future__ import annotations

import re
from typing import Final

from domain.diagnostics.pii import PiiDetector

_DETECTOR: Final = PiiDetector()
_DIGIT_RUN: Final = re.compile(r"(?:(?<![\w.:/-])|(?<=[A-Za-z]:))\+?\(?\d(?:[ ().\-]{0,2}\d){6,18}(?![\w:/])")
_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}|\d{1,2}[/.]\d{1,2}[/.]\d{4}")


def _number(match: re.Match[str]) -> str:
    return match.group() if _DATE.fullmatch(match.group()) else "[REDACTED:NUMBER]"


def without_personal_data(text: str) -> str:
    """``text`` with personal data and long digit runs replaced by ``[REDACTED:<KIND>]``."""
    if not text:
        return text
    return _DIGIT_RUN.sub(_number, _DETECTOR.redact(text, phones=False))
