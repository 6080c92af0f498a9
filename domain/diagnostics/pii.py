"""Finding personal data that a bundle should have redacted (SPEC §10).

What is a leak (each kind has a precise rule, so that a redacted value never is one):

- ``EMAIL``: ``local@domain.tld``. Addresses at the domains reserved for documentation
  (``example.com/.net/.org``, ``*.example``, ``*.invalid``, ``*.test``, ``*.localhost``) and
  addresses whose local part or domain is a redaction marker (``redacted@redacted.com``)
  are placeholders.
- ``PHONE``: whatever the :class:`PhoneNumberFinder` port calls a valid phone number (the
  adapter uses ``phonenumbers``, with the bundle's country as the default region).
- ``CARD_NUMBER``: 13-19 digits (plain, or grouped 4-4-4-4, 4-6-5, 4-6-4 with spaces or
  dashes) with a known issuer prefix **and** a valid Luhn check.
- ``IBAN``: a known length for its country and ISO 7064 mod 97 = 1.
- ``NATIONAL_ID``: with valid check digits: Brazil's CPF, Chile's RUT, Mexico's CURP,
  Spain's DNI and NIE.
- ``BEARER_TOKEN``: ``Bearer <token>`` where the token has letters and digits and is not
  a marker; ``API_KEY``: well-known key shapes (``sk_live_...``, ``ghp_...``, ``AKIA...``,
  Support OS partner keys ``sos_..._<64 hex>``) and, inside JSON, the value of a field
  named like a secret (``password``, ``api_key``, ``access_token``...); ``JWT``: three
  base64url parts whose first two start with ``eyJ`` (``{"``).
- ``IP_ADDRESS``: IPv4 and IPv6 addresses, except loopback, unspecified and the
  documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32).

Redaction placeholders are never leaks: ``[REDACTED]``, ``***``, ``<email>``,
``xxxx-xxxx-xxxx-1234``, ``j***@example.com``, ``Bearer [REDACTED]``, ``sk_live_xxxx``...
None of them carries the characters or check digits a detector needs.

Where spans overlap, one finding is kept, by priority (a JWT after ``Bearer`` is one
bearer token; a card number is not also a phone number): the order of :class:`PiiKind`.

Positions: inside JSON, each finding names the file, the JSON path of the string (JSONPath
syntax, ``$.spans[3].attributes["http.url"]``) and the character offset inside that string;
inside a text file, the character offset from the start of the file (``json_path`` None).
Only a masked preview of the value is kept (``jo***@***.com``), never the value itself.
"""

from __future__ import annotations

import bisect
import ipaddress
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, Protocol

from domain.diagnostics.checksums import (
    IBAN_LENGTHS,
    MAX_IBAN_LENGTH,
    MIN_IBAN_LENGTH,
    card_brand,
    cpf_valid,
    curp_valid,
    dni_valid,
    iban_valid,
    luhn_valid,
    nie_valid,
    rut_valid,
)


class PiiKind(StrEnum):
    """Kinds of personal data, in the priority used to resolve overlapping findings."""

    BEARER_TOKEN = "BEARER_TOKEN"  # noqa: S105 - a kind of finding, not a secret
    JWT = "JWT"
    API_KEY = "API_KEY"
    EMAIL = "EMAIL"
    IBAN = "IBAN"
    CARD_NUMBER = "CARD_NUMBER"
    NATIONAL_ID = "NATIONAL_ID"
    IP_ADDRESS = "IP_ADDRESS"
    PHONE = "PHONE"


_PRIORITY: Final = {kind: index for index, kind in enumerate(PiiKind)}


@dataclass(frozen=True, slots=True)
class PiiMatch:
    """One piece of personal data in a string: ``text[start:end]``."""

    start: int
    end: int
    kind: PiiKind
    detail: str  # "visa", "CPF", "IPv6", "sk_live"...
    preview: str  # masked: never the value itself


@dataclass(frozen=True, slots=True)
class PiiFinding:
    """A leak, located: the file, the JSON path (``None`` in a text file) and the offset."""

    file: str
    json_path: str | None
    offset: int
    length: int
    kind: PiiKind
    detail: str
    preview: str
    in_key: bool = False  # found in an object key rather than a value


class PhoneNumberFinder(Protocol):
    """Port: the spans of ``text`` that are valid phone numbers (``region``: ISO-3166 alpha-2
    used for numbers written without a country code)."""

    def find(self, text: str, region: str | None) -> Iterable[tuple[int, int]]: ...


# ----------------------------------------------------------------------------- placeholders

_MARKER_WORDS: Final = frozenset(
    {
        "redacted", "masked", "hidden", "removed", "anonymized", "anonymised", "scrubbed",
        "filtered", "omitted", "censored", "private", "secret", "token", "none", "null",
        "undefined", "placeholder", "example", "sample", "dummy", "changeme", "email", "mail",
        "phone", "card", "pan", "iban", "ip", "name", "user", "username", "address", "number",
    }
)  # fmt: skip
_MASK_CHARS: Final = frozenset("xX*#•·._-")
_RESERVED_EMAIL_DOMAINS: Final = frozenset({"example.com", "example.net", "example.org"})
_RESERVED_EMAIL_TLDS: Final = frozenset({"example", "invalid", "test", "localhost"})


def is_redaction_marker(value: str) -> bool:
    """A value that stands for a redacted one: a marker word, or only mask characters."""
    bare = value.strip().strip("[]<>{}()$%'\"").strip()
    if not bare:
        return True
    if bare.lower().replace("_", "").replace("-", "") in _MARKER_WORDS:
        return True
    return all(char in _MASK_CHARS for char in bare)


def _mask(value: str) -> str:
    """A preview that shows the shape, never the value: the first two and last two characters."""
    if len(value) <= 6:
        return "*" * len(value)
    return f"{value[:2]}{'*' * min(len(value) - 4, 12)}{value[-2:]}"


# ----------------------------------------------------------------------------- detectors

_EMAIL: Final = re.compile(
    r"(?<![\w.%+-])([A-Za-z0-9][A-Za-z0-9._%+-]{0,63})@"
    r"((?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24})(?![\w-])"
)
_BEARER: Final = re.compile(r"\b[Bb][Ee][Aa][Rr][Ee][Rr][ \t]+([A-Za-z0-9\-._~+/]{8,}=*)")
_JWT: Final = re.compile(r"(?<![\w-])eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")
_API_KEYS: Final = (
    (re.compile(r"(?<![\w-])((?:sk|pk|rk)_(?:live|test))_([A-Za-z0-9]{10,})"), 1, 2),
    (re.compile(r"(?<![\w-])(whsec)_([A-Za-z0-9+/=]{16,})"), 1, 2),
    (re.compile(r"(?<![\w-])(gh[pousr])_([A-Za-z0-9]{30,})"), 1, 2),
    (re.compile(r"(?<![\w-])(github_pat)_([A-Za-z0-9_]{40,})"), 1, 2),
    (re.compile(r"(?<![\w-])(xox[abprs])-([A-Za-z0-9-]{10,})"), 1, 2),
    (re.compile(r"(?<![\w-])(AKIA)([0-9A-Z]{16})(?![\w-])"), 1, 2),
    (re.compile(r"(?<![\w-])(AIza)([0-9A-Za-z_\-]{35})"), 1, 2),
    (re.compile(r"(?<![\w-])(sos)_[A-Za-z0-9_]{1,200}?_([0-9a-f]{64})(?![\w-])"), 1, 2),
)
_CARD: Final = re.compile(r"(?<![\w+.-])\d(?:[ -]?\d){11,18}(?![\w-]|[.,]\d|[ -]\d)")
_CARD_GROUPINGS: Final = frozenset({(4, 4, 4, 4), (4, 4, 4, 4, 3), (4, 6, 5), (4, 6, 4), (4, 4, 4, 1)})
_IBAN: Final = re.compile(r"(?<![\w-])([A-Z]{2}\d{2})((?: ?[A-Z0-9]){11,30})")
_CPF: Final = re.compile(r"(?<![\w.-])(\d{3}\.\d{3}\.\d{3}-\d{2}|\d{11})(?![\w.-]|-\d)")
_RUT: Final = re.compile(r"(?<![\w.-])(\d{1,2}(?:\.\d{3}\.\d{3}|\d{6}))-([\dkK])(?![\w-])")
_CURP: Final = re.compile(
    r"(?<![\w-])[A-Z][AEIOUX][A-Z]{2}\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])[HMX]"
    r"(?:AS|BC|BS|CC|CL|CM|CS|CH|DF|DG|GT|GR|HG|JC|MC|MN|MS|NT|NL|OC|PL|QT|QR|SP|SL|SR|TC|TS|TL|VZ|YN|ZS|NE)"
    r"[B-DF-HJ-NP-TV-Z]{3}[A-Z0-9]\d(?![\w-])"
)
_DNI: Final = re.compile(r"(?<![\w-])(\d{8})[- ]?([A-Za-z])(?![\w-])")
_NIE: Final = re.compile(r"(?<![\w-])([XYZxyz])[- ]?(\d{7})[- ]?([A-Za-z])(?![\w-])")
_IPV4: Final = re.compile(
    r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\w]|\.\d)"
)
_IPV6: Final = re.compile(
    r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]{1,4})?(?![\w:])"
)
_DIGIT: Final = re.compile(r"\d")
_PHONE_HINT: Final = re.compile(r"\d[\d \t().\-]{5,}\d")

_IP_PLACEHOLDERS: Final = (
    ipaddress.ip_network("192.0.2.0/24"),
    ipaddress.ip_network("198.51.100.0/24"),
    ipaddress.ip_network("203.0.113.0/24"),
    ipaddress.ip_network("2001:db8::/32"),
)

_SECRET_FIELDS: Final = frozenset(
    {
        "password", "passwd", "pwd", "secret", "clientsecret", "apikey", "apisecret", "accesstoken",
        "refreshtoken", "idtoken", "authtoken", "authorization", "privatekey", "sessiontoken",
        "xapikey", "token",
    }
)  # fmt: skip
MIN_SECRET_CHARS: Final = 8


def _emails(text: str) -> Iterator[PiiMatch]:
    for match in _EMAIL.finditer(text):
        local, domain = match.group(1), match.group(2).lower()
        labels = domain.split(".")
        if domain in _RESERVED_EMAIL_DOMAINS or labels[-1] in _RESERVED_EMAIL_TLDS:
            continue
        if is_redaction_marker(local) or is_redaction_marker(labels[0]):
            continue
        preview = f"{local[:2]}***@***.{labels[-1]}"
        yield PiiMatch(match.start(), match.end(), PiiKind.EMAIL, "email", preview)


def _tokens(text: str) -> Iterator[PiiMatch]:
    for match in _BEARER.finditer(text):
        token = match.group(1)
        if is_redaction_marker(token) or not any(c.isdigit() for c in token):
            continue
        if not any(c.isalpha() for c in token):
            continue
        yield PiiMatch(match.start(), match.end(), PiiKind.BEARER_TOKEN, "bearer", f"Bearer {_mask(token)}")
    for match in _JWT.finditer(text):
        yield PiiMatch(match.start(), match.end(), PiiKind.JWT, "jwt", _mask(match.group()))
    for pattern, prefix_group, secret_group in _API_KEYS:
        for match in pattern.finditer(text):
            if is_redaction_marker(match.group(secret_group)):
                continue
            prefix = match.group(prefix_group)
            yield PiiMatch(match.start(), match.end(), PiiKind.API_KEY, prefix, f"{prefix}_{'*' * 8}")


def _cards(text: str) -> Iterator[PiiMatch]:
    for match in _CARD.finditer(text):
        raw = match.group()
        groups = tuple(len(part) for part in re.split(r"[ -]", raw))
        if len(groups) > 1 and groups not in _CARD_GROUPINGS:
            continue
        digits = raw.replace(" ", "").replace("-", "")
        brand = card_brand(digits)
        if brand is not None and luhn_valid(digits):
            yield PiiMatch(match.start(), match.end(), PiiKind.CARD_NUMBER, brand, f"****{digits[-4:]}")


def _ibans(text: str) -> Iterator[PiiMatch]:
    for match in _IBAN.finditer(text):
        head = match.group(1)
        rest = match.group(2)
        expected = IBAN_LENGTHS.get(head[:2])
        lengths = [expected] if expected is not None else range(MAX_IBAN_LENGTH, MIN_IBAN_LENGTH - 1, -1)
        for length in lengths:
            # consume ``length - 4`` alphanumerics of ``rest`` (spaces between them allowed)
            needed, end = length - 4, 0
            while needed and end < len(rest):
                if rest[end] != " ":
                    needed -= 1
                end += 1
            if needed or (end < len(rest) and rest[end] != " "):
                continue
            candidate = head + rest[:end].replace(" ", "")
            if iban_valid(candidate):
                stop = match.start(2) + end
                yield PiiMatch(
                    match.start(), stop, PiiKind.IBAN, candidate[:2], f"{candidate[:2]}**{'*' * 8}"
                )
                break


def _national_ids(text: str) -> Iterator[PiiMatch]:
    for match in _CPF.finditer(text):
        digits = match.group(1).replace(".", "").replace("-", "")
        if cpf_valid(digits):
            yield PiiMatch(
                match.start(), match.end(), PiiKind.NATIONAL_ID, "CPF", f"***.***.***-{digits[-2:]}"
            )
    for match in _RUT.finditer(text):
        body = match.group(1).replace(".", "")
        if rut_valid(body, match.group(2)):
            yield PiiMatch(
                match.start(), match.end(), PiiKind.NATIONAL_ID, "RUT", f"**.***.***-{match.group(2)}"
            )
    for match in _CURP.finditer(text):
        if curp_valid(match.group()):
            yield PiiMatch(match.start(), match.end(), PiiKind.NATIONAL_ID, "CURP", _mask(match.group()))
    for match in _DNI.finditer(text):
        if dni_valid(match.group(1), match.group(2)):
            yield PiiMatch(
                match.start(), match.end(), PiiKind.NATIONAL_ID, "DNI", f"******{match.group()[-3:]}"
            )
    for match in _NIE.finditer(text):
        if nie_valid(match.group(1), match.group(2), match.group(3)):
            yield PiiMatch(
                match.start(), match.end(), PiiKind.NATIONAL_ID, "NIE", f"******{match.group()[-3:]}"
            )


def _reportable_ip(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if address.is_loopback or address.is_unspecified:
        return False
    return not any(address in network for network in _IP_PLACEHOLDERS)


def _ips(text: str) -> Iterator[PiiMatch]:
    for match in _IPV4.finditer(text):
        v4 = ipaddress.IPv4Address(match.group())
        if _reportable_ip(v4):
            yield PiiMatch(match.start(), match.end(), PiiKind.IP_ADDRESS, "IPv4", _ip_preview(match.group()))
    for match in _IPV6.finditer(text):
        try:
            v6 = ipaddress.IPv6Address(match.group())
        except ValueError:
            continue
        if _reportable_ip(v6):
            yield PiiMatch(match.start(), match.end(), PiiKind.IP_ADDRESS, "IPv6", _ip_preview(match.group()))


def _ip_preview(raw: str) -> str:
    separator = "." if "." in raw and ":" not in raw else ":"
    return f"{raw.split(separator, 1)[0]}{separator}***"


# ----------------------------------------------------------------------------- the detector


class PiiDetector:
    """Every piece of personal data in a string (pure; phone numbers through the port)."""

    __slots__ = ("_phones", "_region")

    def __init__(self, phones: PhoneNumberFinder | None = None, region: str | None = None) -> None:
        self._phones = phones
        self._region = region

    def matches(self, text: str, *, phones: bool = True) -> list[PiiMatch]:
        """Non-overlapping matches in ``text``, in order of position."""
        candidates: list[PiiMatch] = []
        if "@" in text:
            candidates.extend(_emails(text))
        candidates.extend(_tokens(text))
        if _DIGIT.search(text):
            candidates.extend(_cards(text))
            candidates.extend(_ibans(text))
            candidates.extend(_national_ids(text))
            candidates.extend(_ips(text))
            if phones and self._phones is not None and _PHONE_HINT.search(text):
                for start, end in self._phones.find(text, self._region):
                    number = text[start:end]
                    digits = "".join(c for c in number if c.isdigit())
                    preview = f"{'+' if number.startswith('+') else ''}***{digits[-2:]}"
                    candidates.append(PiiMatch(start, end, PiiKind.PHONE, "phone", preview))
        elif ":" in text:
            candidates.extend(_ips(text))
        return resolve_overlaps(candidates)


def resolve_overlaps(candidates: Iterable[PiiMatch]) -> list[PiiMatch]:
    """Keep one match where several overlap: the higher priority kind, then the longer."""
    ordered = sorted(candidates, key=lambda m: (_PRIORITY[m.kind], m.start - m.end, m.start))
    starts: list[int] = []
    kept: list[PiiMatch] = []
    for match in ordered:
        index = bisect.bisect_left(starts, match.start)
        if index > 0 and kept[index - 1].end > match.start:
            continue
        if index < len(kept) and kept[index].start < match.end:
            continue
        starts.insert(index, match.start)
        kept.insert(index, match)
    return kept


# ----------------------------------------------------------------------------- JSON documents

_IDENTIFIER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def child_path(parent: str, key: str | int) -> str:
    """JSONPath of a member: ``$.spans``, ``$.spans[3]``, ``$.attributes["http.url"]``."""
    if isinstance(key, int):
        return f"{parent}[{key}]"
    if _IDENTIFIER.fullmatch(key):
        return f"{parent}.{key}"
    escaped = key.replace("\\", "\\\\").replace('"', '\\"')
    return f'{parent}["{escaped}"]'


def _secret_field(key: str) -> bool:
    return re.sub(r"[^a-z]", "", key.lower()) in _SECRET_FIELDS


def scan_document(document: object, file: str, detector: PiiDetector) -> Iterator[PiiFinding]:
    """Every leak in a parsed JSON document: in string values, object keys and integers."""
    stack: list[tuple[str, object, str | None]] = [("$", document, None)]
    while stack:
        path, value, key = stack.pop()
        if isinstance(value, str):
            found = detector.matches(value)
            for match in found:
                yield _located(file, path, match)
            if not found and key is not None and _secret_field(key) and _looks_secret(value):
                yield PiiFinding(file, path, 0, len(value), PiiKind.API_KEY, f"field {key}", _mask(value))
        elif isinstance(value, bool) or value is None or isinstance(value, float):
            continue
        elif isinstance(value, int):
            for match in detector.matches(str(value), phones=False):
                yield _located(file, path, match)
        elif isinstance(value, Mapping):
            members: list[tuple[str, object, str | None]] = []
            for member_key, member in value.items():
                member_path = child_path(path, str(member_key))
                for match in detector.matches(str(member_key)):
                    yield _located(file, member_path, match, in_key=True)
                members.append((member_path, member, str(member_key)))
            stack.extend(reversed(members))
        elif isinstance(value, list):
            stack.extend(
                (child_path(path, index), item, None) for index, item in reversed(list(enumerate(value)))
            )


def _looks_secret(value: str) -> bool:
    return len(value) >= MIN_SECRET_CHARS and not is_redaction_marker(value) and " " not in value.strip()


def _located(file: str, path: str | None, match: PiiMatch, *, in_key: bool = False) -> PiiFinding:
    return PiiFinding(
        file, path, match.start, match.end - match.start, match.kind, match.detail, match.preview, in_key
    )


# ----------------------------------------------------------------------------- streaming text

DEFAULT_SCAN_WINDOW: Final = 256 * 1024
DEFAULT_OVERLAP: Final = 4 * 1024
DEFAULT_MAX_BUFFER: Final = 4 * 1024 * 1024


class StreamingTextScanner:
    """Scan a text of any length fed in chunks, holding at most about ``max_buffer`` characters.

    The buffer is scanned once it holds ``window`` characters. Matches that end before the
    last ``overlap`` characters are reported; the rest of the buffer (from the start of any
    match that reaches into that tail) is kept, with a little context before it, and
    scanned again with the next chunk, so that nothing split across two chunks is missed
    and nothing is reported twice. Should one match span the whole window (no real one
    does), the scanner waits for more text up to ``max_buffer`` characters, then moves on.
    """

    __slots__ = (
        "_base",
        "_buffer",
        "_detector",
        "_file",
        "_fresh_from",
        "_max_buffer",
        "_need",
        "_overlap",
        "_sink",
        "_window",
    )

    CONTEXT: Final = 64

    def __init__(
        self,
        detector: PiiDetector,
        file: str,
        sink: Callable[[PiiFinding], None],
        *,
        window: int = DEFAULT_SCAN_WINDOW,
        overlap: int = DEFAULT_OVERLAP,
        max_buffer: int = DEFAULT_MAX_BUFFER,
    ) -> None:
        self._detector = detector
        self._file = file
        self._sink = sink
        self._window = window
        self._overlap = overlap
        self._max_buffer = max(max_buffer, window + overlap)
        self._need = window + overlap
        self._buffer = ""
        self._base = 0  # offset in the file of self._buffer[0]
        self._fresh_from = 0  # matches starting before this index of the buffer were handled

    def feed(self, chunk: str) -> None:
        self._buffer += chunk
        while len(self._buffer) >= self._need:
            self._scan(final=False)

    def finish(self) -> None:
        self._scan(final=True)
        self._buffer = ""

    def _scan(self, *, final: bool) -> None:
        buffer = self._buffer
        found = [m for m in self._detector.matches(buffer) if m.start >= self._fresh_from]
        cut = len(buffer)
        if not final:
            cut -= self._overlap
            for match in reversed(found):  # non-overlapping, in order: one pass is enough
                if match.start < cut < match.end:
                    cut = match.start
            if cut <= self._fresh_from:
                if len(buffer) < self._max_buffer:
                    self._need = len(buffer) + self._window  # wait for the rest of the match
                    return
                cut = len(buffer) - self._overlap
        for match in found:
            if match.start < cut:
                self._sink(
                    PiiFinding(
                        self._file,
                        None,
                        self._base + match.start,
                        match.end - match.start,
                        match.kind,
                        match.detail,
                        match.preview,
                    )
                )
        keep_from = max(cut - self.CONTEXT, 0)
        self._base += keep_from
        self._buffer = buffer[keep_from:]
        self._fresh_from = cut - keep_from
        self._need = len(self._buffer) + self._window


# ----------------------------------------------------------------------------- bounded results


class FindingCollector:
    """Counts every finding, keeps the first ``limit`` (a bundle full of leaks stays small)."""

    __slots__ = ("_by_kind", "_findings", "_limit", "_total")

    def __init__(self, limit: int = 1000) -> None:
        self._limit = limit
        self._findings: list[PiiFinding] = []
        self._by_kind: dict[PiiKind, int] = {}
        self._total = 0

    def add(self, finding: PiiFinding) -> None:
        self._total += 1
        self._by_kind[finding.kind] = self._by_kind.get(finding.kind, 0) + 1
        if len(self._findings) < self._limit:
            self._findings.append(finding)

    def extend(self, findings: Iterable[PiiFinding]) -> None:
        for finding in findings:
            self.add(finding)

    @property
    def total(self) -> int:
        return self._total

    @property
    def truncated(self) -> bool:
        return self._total > len(self._findings)

    def summary(self) -> PiiSummary:
        by_kind = {
            kind.value: count
            for kind, count in sorted(self._by_kind.items(), key=lambda kv: _PRIORITY[kv[0]])
        }
        return PiiSummary(self._total, by_kind, tuple(self._findings), self.truncated)


@dataclass(frozen=True, slots=True)
class PiiSummary:
    total: int
    by_kind: Mapping[str, int]
    findings: tuple[PiiFinding, ...]
    truncated: bool
