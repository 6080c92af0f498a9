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
#
# Speed matters: a bundle may hold a gigabyte of logs. Python's ``re`` visits every
# position a pattern could start at, so each extra pattern is another pass over the text.
# Hence: one combined pass for everything that starts a token (cards, national ids, IBANs,
# IP addresses, phone-shaped runs), each branch keeping its own boundary rules; windows
# around each ``@`` for e-mails; literal searches for tokens and keys. Candidates are then
# checked in Python (check digits, issuer prefixes, address ranges, the phone port).

_EMAIL: Final = re.compile(
    r"(?<![\w.%+-])([A-Za-z0-9][A-Za-z0-9._%+-]{0,63})@"
    r"((?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24})(?![\w-])"
)
_EMAIL_LOCAL_MAX: Final = 64
_EMAIL_DOMAIN_MAX: Final = 255
_BEARER: Final = re.compile(r"[Bb](?<![\w][Bb])[Ee][Aa][Rr][Ee][Rr][ \t]+([A-Za-z0-9\-._~+/]{8,}=*)")
_JWT: Final = re.compile(r"eyJ(?<![\w-]eyJ)[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")
_API_KEY: Final = re.compile(
    r"(?:(?P<stripe>(?:sk|pk|rk)_(?:live|test))_(?P<stripe_secret>[A-Za-z0-9]{10,})"
    r"|(?P<whsec>whsec)_(?P<whsec_secret>[A-Za-z0-9+/=]{16,})"
    r"|(?P<github>gh[pousr])_(?P<github_secret>[A-Za-z0-9]{30,})"
    r"|(?P<github_pat>github_pat)_(?P<github_pat_secret>[A-Za-z0-9_]{40,})"
    r"|(?P<slack>xox[abprs])-(?P<slack_secret>[A-Za-z0-9-]{10,})"
    r"|(?P<aws>AKIA)(?P<aws_secret>[0-9A-Z]{16})(?![\w-])"
    r"|(?P<google>AIza)(?P<google_secret>[0-9A-Za-z_\-]{35})"
    r"|(?P<supportos>sos)_[A-Za-z0-9_]{1,200}?_(?P<supportos_secret>[0-9a-f]{64})(?![\w-]))"
)
_API_KEY_HINT: Final = re.compile(
    r"[spr]k_(?:live|test)_|whsec_|gh[pousr]_|github_pat_|xox[abprs]-|AKIA|AIza|sos_"
)
_API_KEY_KINDS: Final = ("stripe", "whsec", "github", "github_pat", "slack", "aws", "google", "supportos")
_STATES: Final = (
    "AS|BC|BS|CC|CL|CM|CS|CH|DF|DG|GT|GR|HG|JC|MC|MN|MS|NT|NL|OC|PL|QT|QR|SP|SL|SR|TC|TS|TL|VZ|YN|ZS|NE"
)
_CARD_RE: Final = r"(?P<card>(?<![+.-])\d(?:[ -]?\d){11,18}+)(?![\w-]|[.,]\d|[ -]\d)"
_CPF_RE: Final = r"(?P<cpf>(?<![.-])(?:\d{3}\.\d{3}\.\d{3}-\d{2}|\d{11}))(?![\w.-]|-\d)"
_RUT_RE: Final = (
    r"(?P<rut>(?<![.-])(?P<rut_body>\d{1,2}(?:\.\d{3}\.\d{3}|\d{6}))-(?P<rut_dv>[\dkK]))(?![\w-])"
)
_DNI_RE: Final = r"(?P<dni>(?<![-])(?P<dni_number>\d{8})[- ]?(?P<dni_letter>[A-Za-z]))(?![\w-])"
_OCTET: Final = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4_RE: Final = rf"(?P<ipv4>(?<![.])(?:{_OCTET}\.){{3}}{_OCTET})(?![\w]|\.\d)"
_NIE_RE: Final = (
    r"(?P<nie>(?<![-])(?P<nie_prefix>[XYZxyz])[- ]?(?P<nie_number>\d{7})[- ]?"
    r"(?P<nie_letter>[A-Za-z]))(?![\w-])"
)
_CURP_RE: Final = (
    r"(?P<curp>(?<![-])[A-Z][AEIOUX][A-Z]{2}\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])[HMX]"
    rf"(?:{_STATES})[B-DF-HJ-NP-TV-Z]{{3}}[A-Z0-9]\d)(?![\w-])"
)
_IBAN_RE: Final = r"(?P<iban>(?<![-])(?P<iban_head>[A-Z]{2}\d{2})(?P<iban_rest>(?: ?[A-Z0-9]){11,30}))"
_IPV6_RE: Final = (
    r"(?P<ipv6>(?<![:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]{1,4})?)(?![\w:])"
)
_PHONE_RE: Final = r"(?P<phone>(?<![+])\+?\(?\d(?:[ \t().\-]{0,3}\d){6,19}+)(?![\w])"
_STRUCTURED: Final = re.compile(
    # one pass; each token start is dispatched on its first character to the families that
    # can begin with it, so most tokens are rejected after one or two tests
    r"(?<![\w])(?:"
    rf"(?=\d)(?:{_CARD_RE}|{_CPF_RE}|{_RUT_RE}|{_DNI_RE}|{_IPV4_RE}|{_IPV6_RE}|{_PHONE_RE})"
    rf"|(?=[XYZxyz]){_NIE_RE}"
    rf"|(?=[A-Z]){_CURP_RE}|{_IBAN_RE}"
    rf"|(?=[A-Fa-f:]){_IPV6_RE.replace('ipv6', 'ipv6h')}"
    rf"|(?=[+(]){_PHONE_RE.replace('phone', 'phoneh')}"
    r")"
)
_PHONE_RUN: Final = re.compile(r"\+?\(?\d(?:[ \t().\-]{0,3}\d){6,19}+(?!\w)")
_DATE_OR_TIME: Final = re.compile(r"\d{4}-\d{2}-\d{2}|\d{1,2}/\d{1,2}/\d{2,4}|\d{1,2}:\d{2}|\d+\.\d+\.\d+")
_CARD_GROUPINGS: Final = frozenset({(4, 4, 4, 4), (4, 4, 4, 4, 3), (4, 6, 5), (4, 6, 4), (4, 4, 4, 1)})
_CARD_SEPARATORS: Final = re.compile(r"[ -]")
MIN_PHONE_DIGITS: Final = 8
MAX_PHONE_DIGITS: Final = 15
PHONE_CONTEXT: Final = 2

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
    at = text.find("@")
    resume = 0
    while at >= 0:
        start = max(at - _EMAIL_LOCAL_MAX, resume)
        match = _EMAIL.search(text, start, at + _EMAIL_DOMAIN_MAX + 1)
        if match is not None and match.start() <= at < match.end():
            resume = match.end()
            email = _email(match)
            if email is not None:
                yield email
        at = text.find("@", max(at + 1, resume))


def _email(match: re.Match[str]) -> PiiMatch | None:
    local, domain = match.group(1), match.group(2).lower()
    labels = domain.split(".")
    if domain in _RESERVED_EMAIL_DOMAINS or labels[-1] in _RESERVED_EMAIL_TLDS:
        return None
    if is_redaction_marker(local) or is_redaction_marker(labels[0]):
        return None
    return PiiMatch(match.start(), match.end(), PiiKind.EMAIL, "email", f"{local[:2]}***@***.{labels[-1]}")


def _tokens(text: str) -> Iterator[PiiMatch]:
    for match in _BEARER.finditer(text):
        token = match.group(1)
        if is_redaction_marker(token) or not any(c.isdigit() for c in token):
            continue
        if not any(c.isalpha() for c in token):
            continue
        yield PiiMatch(match.start(), match.end(), PiiKind.BEARER_TOKEN, "bearer", f"Bearer {_mask(token)}")
    if "eyJ" in text:
        for match in _JWT.finditer(text):
            yield PiiMatch(match.start(), match.end(), PiiKind.JWT, "jwt", _mask(match.group()))
    for hint in _API_KEY_HINT.finditer(text):
        key = _API_KEY.match(text, hint.start())
        if key is None:
            continue
        if key.start() > 0 and (text[key.start() - 1].isalnum() or text[key.start() - 1] in "_-"):
            continue
        kind = next(k for k in _API_KEY_KINDS if key.group(k) is not None)
        if is_redaction_marker(key.group(f"{kind}_secret")):
            continue
        prefix = key.group(kind)
        yield PiiMatch(key.start(), key.end(), PiiKind.API_KEY, prefix, f"{prefix}_{'*' * 8}")


def _card(match: re.Match[str]) -> PiiMatch | None:
    raw = match.group("card")
    groups = tuple(len(part) for part in _CARD_SEPARATORS.split(raw))
    if len(groups) > 1 and groups not in _CARD_GROUPINGS:
        return None
    digits = raw.replace(" ", "").replace("-", "")
    brand = card_brand(digits)
    if brand is None or not luhn_valid(digits):
        return None
    return PiiMatch(match.start(), match.end(), PiiKind.CARD_NUMBER, brand, f"****{digits[-4:]}")


def _iban(match: re.Match[str]) -> PiiMatch | None:
    head, rest = match.group("iban_head"), match.group("iban_rest")
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
            stop = match.start("iban_rest") + end
            return PiiMatch(match.start(), stop, PiiKind.IBAN, candidate[:2], f"{candidate[:2]}**{'*' * 8}")
    return None


def _national_id(match: re.Match[str], family: str) -> PiiMatch | None:
    start, end, value = match.start(), match.end(), match.group(family)
    if family == "cpf":
        digits = value.replace(".", "").replace("-", "")
        valid, preview = cpf_valid(digits), f"***.***.***-{digits[-2:]}"
    elif family == "rut":
        valid = rut_valid(match.group("rut_body").replace(".", ""), match.group("rut_dv"))
        preview = f"**.***.***-{match.group('rut_dv')}"
    elif family == "curp":
        valid, preview = curp_valid(value), _mask(value)
    elif family == "dni":
        valid, preview = (
            dni_valid(match.group("dni_number"), match.group("dni_letter")),
            f"******{value[-3:]}",
        )
    else:  # nie
        valid = nie_valid(match.group("nie_prefix"), match.group("nie_number"), match.group("nie_letter"))
        preview = f"******{value[-3:]}"
    return PiiMatch(start, end, PiiKind.NATIONAL_ID, family.upper(), preview) if valid else None


def _reportable_ip(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if address.is_loopback or address.is_unspecified:
        return False
    return not any(address in network for network in _IP_PLACEHOLDERS)


def _ip(match: re.Match[str], group: str) -> PiiMatch | None:
    raw = match.group(group)
    family = group.removesuffix("h")
    try:
        address = ipaddress.IPv4Address(raw) if family == "ipv4" else ipaddress.IPv6Address(raw)
    except ValueError:
        return None
    if not _reportable_ip(address):
        return None
    separator = "." if family == "ipv4" else ":"
    preview = f"{raw.split(separator, 1)[0]}{separator}***"
    return PiiMatch(
        match.start(), match.end(), PiiKind.IP_ADDRESS, "IPv4" if family == "ipv4" else "IPv6", preview
    )


_FAMILIES: Final = (
    "card",
    "cpf",
    "rut",
    "dni",
    "ipv4",
    "nie",
    "curp",
    "iban",
    "ipv6",
    "ipv6h",
    "phone",
    "phoneh",
)


def _structured(text: str) -> Iterator[tuple[PiiMatch | None, re.Match[str]]]:
    """Each token-shaped candidate with what it turned out to be (``None``: nothing)."""
    for match in _STRUCTURED.finditer(text):
        group = next(f for f in _FAMILIES if match.group(f) is not None)
        family = group.removesuffix(
            "h"
        )  # "ipv6h", "phoneh": the same family, reached by another first character
        if family == "card":
            yield _card(match), match
        elif family == "iban":
            yield _iban(match), match
        elif family in {"ipv4", "ipv6"}:
            yield _ip(match, group), match
        elif family == "phone":
            yield None, match
        else:
            yield _national_id(match, family), match


def _phone_candidate(text: str, start: int) -> tuple[int, int] | None:
    """The phone-shaped run at ``start`` worth asking the port about: 8-15 digits, not a date."""
    run = _PHONE_RUN.match(text, start)
    if run is None:
        return None
    value = run.group()
    digits = sum(char.isdigit() for char in value)
    if not MIN_PHONE_DIGITS <= digits <= MAX_PHONE_DIGITS or _DATE_OR_TIME.search(value):
        return None
    return run.start(), run.end()


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
        ask_phones = phones and self._phones is not None
        for found, match in _structured(text):
            if found is not None:
                candidates.append(found)
            elif ask_phones:
                candidates.extend(self._phone_numbers(text, match.start()))
        return resolve_overlaps(candidates)

    def _phone_numbers(self, text: str, start: int) -> Iterator[PiiMatch]:
        """Ask the port about the phone-shaped run at ``start`` (with a little context)."""
        assert self._phones is not None
        candidate = _phone_candidate(text, start)
        if candidate is None:
            return
        window_start = max(candidate[0] - PHONE_CONTEXT, 0)
        window = text[window_start : candidate[1] + PHONE_CONTEXT]
        for relative_start, relative_end in self._phones.find(window, self._region):
            number = window[relative_start:relative_end]
            digits = "".join(c for c in number if c.isdigit())
            preview = f"{'+' if number.startswith('+') else ''}***{digits[-2:]}"
            yield PiiMatch(
                window_start + relative_start, window_start + relative_end, PiiKind.PHONE, "phone", preview
            )


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
