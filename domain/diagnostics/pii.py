"""Finding personal data that a bundle should have redacted (SPEC §10).

What is a leak (each kind has a precise rule, so that a redacted value never is one):

- ``EMAIL``: ``local@domain.tld``. Addresses at the domains reserved for documentation
  (``example.com/.net/.org``, ``*.example``, ``*.invalid``, ``*.test``, ``*.localhost``) and
  addresses whose local part or domain is a redaction marker (``redacted@redacted.com``)
  are placeholders.
- ``PHONE``: whatever the :class:`PhoneNumberFinder` port calls a valid phone number (the
  adapter uses ``phonenumbers``, with the bundle's country as the default region), in a run
  of 8-15 digits that is not a date, a time, a version (``10.4.21``, ``124.0.6367.91``), an
  IPv4 address or a number grouped by thousands; dotted numbers (``55.1234.5678``) are
  asked about. A JSON integer is a phone number only under a phone's name
  (``customer.msisdn``, ``phoneNumber``), read in the region or as ``+<digits>``.
- ``CARD_NUMBER``: 13-19 digits (plain, or grouped 4-4-4-4, 4-6-5, 4-6-4 with spaces or
  dashes) with a known issuer prefix **and** a valid Luhn check.
- ``IBAN``: a known length for its country and ISO 7064 mod 97 = 1.
- ``NATIONAL_ID``, for every marketplace country (MX, CO, BR, AR, CL, PE, ES, US, KW):
  anywhere, when written the way the document is written and its check digits (or, for
  the SSN, its issuing rules) hold: Brazil's CPF, Chile's RUT, Mexico's CURP, Spain's DNI
  and NIE, Argentina's CUIT/CUIL (``20-30123456-3``), the US SSN (``536-90-4399``: no area
  000, 666 or 9xx, no group 00, no serial 0000), Colombia's NIT (``900.123.456-8``),
  Kuwait's civil id (12 digits: century, birth date, serial, check digit). Numbers without
  a checksum (Colombia's cédula, Argentina's and Peru's DNI) or too short to tell from any
  other number (a plain 9-digit SSN, 11-digit CUIT or RUC) only **by name**: under a JSON
  key, or after a label in text, that names the document (``cedula``, ``cc``, ``dni``,
  ``documento``, ``national_id``, ``ssn``, ``cuit``, ``cuil``, ``nit``, ``ruc``,
  ``civil_id``; ``DNI Nº 30.123.456``, ``cédula de ciudadanía 1.020.304.050``), with the
  document's length (and check digits where it has them).
- ``BEARER_TOKEN``: ``Bearer <token>`` where the token has letters and digits and is not
  a marker; ``BASIC_AUTH``: ``Basic <base64>`` that decodes to printable ``user:password``;
  ``API_KEY``: well-known key shapes (``sk_live_...``, ``ghp_...``, ``AKIA...``, Support OS
  partner keys ``sos_..._<64 hex>``) and PEM private key blocks; ``JWT``: three base64url
  parts whose first two start with ``eyJ`` (``{"``).
- ``SECRET``: a value (the finding spans the value, not its name) **named** like a secret:
  a JSON field (or the items of a JSON list under it), a URL query parameter, or a
  ``key=value`` / ``key: value`` pair in text whose key, split into words
  (``http.request.header.x-api-key`` -> http request header x api key), ends in a secret
  word (``password``, ``passwd``, ``pwd``, ``passphrase``, ``secret``, ``token``,
  ``authorization``, ``cookie``, ``credentials``, ``apikey``; or ``key`` after ``api``,
  ``private``, ``secret``, ``signing``, ``access``, ``client``, ``master``,
  ``encryption``); in a query string also ``key``, ``sig``, ``...signature`` and ``code``
  (with a ``state`` beside it: an OAuth callback). Not secrets: keys where the secret
  word is not last (``token_count``, ``tokens_used``, ``password_changed_at``,
  ``api_key_id``), paging tokens (``next_page_token``), and values that are redacted
  (markers, ``***``, ``[REDACTED:...]``, ``${API_KEY}``, ``<your-key>``), booleans,
  shorter than 8 characters (4 for passwords) or with spaces (except ``Authorization`` and
  ``Cookie`` headers). A bare ``token: value`` in prose needs a value with letters and
  digits (``token: expired`` is not one).
- ``IP_ADDRESS``: IPv4 and IPv6 addresses, except loopback, unspecified and the
  documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32).

Percent-encoded text (``?to=%2B525512345678``, ``ana%40acme.io``) is also scanned decoded,
where an escape is an ``@`` or touches a digit; findings are located in the encoded text.

Redaction placeholders are never leaks: ``[REDACTED]``, ``***``, ``<email>``,
``xxxx-xxxx-xxxx-1234``, ``j***@example.com``, ``Bearer [REDACTED]``, ``sk_live_xxxx``...
None of them carries the characters or check digits a detector needs.

Where spans overlap, one finding is kept, by priority (a JWT after ``Bearer`` is one
bearer token; a card number is not also a phone number; ``Authorization: Basic ...`` is
basic credentials, not also a secret header): the order of :class:`PiiKind`.

Positions: inside JSON, each finding names the file, the JSON path of the string (JSONPath
syntax, ``$.spans[3].attributes["http.url"]``) and the character offset inside that string;
inside a text file, the character offset from the start of the file (``json_path`` None).
Only a masked preview of the value is kept (``jo***@***.com``), never the value itself.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import ipaddress
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Final, Literal, Protocol
from urllib.parse import unquote

from domain.diagnostics.checksums import (
    CUIL_TYPES,
    IBAN_LENGTHS,
    MAX_IBAN_LENGTH,
    MIN_IBAN_LENGTH,
    card_brand,
    cpf_valid,
    cuit_valid,
    curp_valid,
    dni_valid,
    iban_valid,
    kw_civil_id_valid,
    luhn_valid,
    nie_valid,
    nit_valid,
    peru_dni_valid,
    ruc_valid,
    rut_valid,
    ssn_valid,
)


class PiiKind(StrEnum):
    """Kinds of personal data, in the priority used to resolve overlapping findings."""

    BEARER_TOKEN = "BEARER_TOKEN"  # noqa: S105 - a kind of finding, not a secret
    BASIC_AUTH = "BASIC_AUTH"
    JWT = "JWT"
    API_KEY = "API_KEY"
    SECRET = "SECRET"  # noqa: S105 - a kind of finding, not a secret
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
    detail: str  # "visa", "CPF", "IPv6", "sk_live", "query access_token"...
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
_BASIC: Final = re.compile(r"[Bb](?<![\w][Bb])[Aa][Ss][Ii][Cc][ \t]+([A-Za-z0-9+/]{6,}+={0,2})")
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
_PEM_PRIVATE_KEY: Final = re.compile(
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----(?P<body>(?:\s|\\[rn]|[A-Za-z0-9+/=:,]){0,8192}+)"
    r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----)?"
)
MIN_PEM_BODY: Final = 32
_STATES: Final = (
    "AS|BC|BS|CC|CL|CM|CS|CH|DF|DG|GT|GR|HG|JC|MC|MN|MS|NT|NL|OC|PL|QT|QR|SP|SL|SR|TC|TS|TL|VZ|YN|ZS|NE"
)
_CARD_RE: Final = r"(?P<card>(?<![+.-])\d(?:[ -]?\d){11,18}+)(?![\w-]|[.,]\d|[ -]\d)"
_CPF_RE: Final = r"(?P<cpf>(?<![.-])(?:\d{3}\.\d{3}\.\d{3}-\d{2}|\d{11}))(?![\w.-]|-\d)"
_RUT_RE: Final = (
    r"(?P<rut>(?<![.-])(?P<rut_body>\d{1,2}(?:\.\d{3}\.\d{3}|\d{6}))-(?P<rut_dv>[\dkK]))(?![\w-])"
)
_DNI_RE: Final = r"(?P<dni>(?<![-])(?P<dni_number>\d{8})[- ]?(?P<dni_letter>[A-Za-z]))(?![\w-])"
_SSN_RE: Final = r"(?P<ssn>(?<![-])\d{3}-\d{2}-\d{4})(?![\w-]|[.,]\d)"
_CUIT_RE: Final = r"(?P<cuit>(?<![-])\d{2}-\d{8}-\d)(?![\w-]|[.,]\d)"
_NIT_RE: Final = r"(?P<nit>(?<![.-])\d{3}\.\d{3}\.\d{3}-\d)(?![\w-]|[.,]\d)"
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
    rf"(?=\d)(?:{_CARD_RE}|{_CPF_RE}|{_RUT_RE}|{_DNI_RE}|{_SSN_RE}|{_CUIT_RE}|{_NIT_RE}|{_IPV4_RE}"
    rf"|{_IPV6_RE}|{_PHONE_RE})"
    rf"|(?=[XYZxyz]){_NIE_RE}"
    rf"|(?=[A-Z]){_CURP_RE}|{_IBAN_RE}"
    rf"|(?=[A-Fa-f:]){_IPV6_RE.replace('ipv6', 'ipv6h')}"
    rf"|(?=[+(]){_PHONE_RE.replace('phone', 'phoneh')}"
    r")"
)
_PHONE_RUN: Final = re.compile(r"\+?\(?\d(?:[ \t().\-]{0,3}\d){6,19}+(?!\w)")
_DATE_OR_TIME: Final = re.compile(
    # searched in a phone-shaped run: a date or time anywhere in it ("2026-03-01 12") makes it
    # a timestamp. Dotted dates are whole (not inside 612.34.56.78): 06.12.2026, 2026.03.01
    r"\d{4}-\d{2}-\d{2}|\d{1,2}/\d{1,2}/\d{2,4}|\d{1,2}:\d{2}"
    r"|(?<![\d.])(?:\d{4}\.[01]?\d\.[0-3]?\d|[0-3]?\d\.[0-3]?\d\.(?:\d{4}|\d{2}))(?!\.?\d)"
)
_NOT_A_PHONE: Final = re.compile(
    # a whole phone-shaped run that is something else; any other dotted number (55.1234.5678,
    # 212.555.0123, 612.34.56.78, +34.612.345.678) is left to the port's validity check
    rf"(?:{_OCTET}\.){{3}}{_OCTET}"  # an IPv4 address (a documentation or loopback one)
    r"|\d{1,2}\.\d{1,3}\.\d{1,3}"  # a version: 1.2.3, 10.4.21
    r"|\d{1,4}(?:\.\d{1,5})*\.0(?:\.\d{1,5})+"  # a version with a zero part: 124.0.6367.91
    r"|\d{1,2}(?:\.\d{3}){2,}"  # grouped by thousands: 1.234.567.890, 30.123.456
    r"|\d{3}\.\d{3}\.\d{3}-\d{1,2}"  # a CPF or NIT whose check digits failed
)
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
    if "PRIVATE KEY-----" in text:
        for pem in _PEM_PRIVATE_KEY.finditer(text):
            body = re.sub(r"\s|\\[rn]", "", pem.group("body"))
            if len(body) >= MIN_PEM_BODY and not is_redacted_secret(body):
                yield PiiMatch(pem.start(), pem.end(), PiiKind.API_KEY, "private_key", "-----BEGIN ****")
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


def _basic_credentials(encoded: str) -> bool:
    """``Basic`` credentials: base64 of printable ``user:password`` (a prefix is enough: logs
    truncate), where the secret part is not a marker."""
    core = encoded.rstrip("=")
    if len(core) % 4 == 1:
        core = core[:-1]
    try:
        decoded = base64.b64decode(core + "=" * (-len(core) % 4), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    user, colon, password = decoded.partition(":")
    if not colon or not decoded.isprintable():
        return False
    secret = password or user
    return bool(secret) and not is_redaction_marker(secret)


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
    detail = family.upper()
    digits = value.replace(".", "").replace("-", "")
    if family == "ssn":
        valid, preview = ssn_valid(digits), f"***-**-**{digits[-2:]}"
    elif family == "cuit":
        valid, preview = cuit_valid(digits), f"**-********-{digits[-1]}"
        detail = "CUIL" if digits[:2] in CUIL_TYPES else "CUIT"
    elif family == "nit":
        valid, preview = nit_valid(digits), f"***.***.***-{digits[-1]}"
    elif family == "cpf":
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
    return PiiMatch(start, end, PiiKind.NATIONAL_ID, detail, preview) if valid else None


def _civil_id(match: re.Match[str]) -> PiiMatch | None:
    """A 12-digit run that is not a card may be Kuwait's civil id (check digit, birth date)."""
    raw = match.group("card")
    if len(raw) != 12 or not kw_civil_id_valid(raw):
        return None
    return PiiMatch(match.start(), match.end(), PiiKind.NATIONAL_ID, "CIVIL_ID", f"**********{raw[-2:]}")


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
    "ssn",
    "cuit",
    "nit",
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
            yield _card(match) or _civil_id(match), match
        elif family == "iban":
            yield _iban(match), match
        elif family in {"ipv4", "ipv6"}:
            yield _ip(match, group), match
        elif family == "phone":
            yield None, match
        else:
            yield _national_id(match, family), match


def _phone_candidate(text: str, start: int) -> tuple[int, int] | None:
    """The phone-shaped run at ``start`` worth asking the port about: 8-15 digits, not a date,
    a time, a version, an IPv4 address, a number grouped by thousands or a document number."""
    run = _PHONE_RUN.match(text, start)
    if run is None:
        return None
    value = run.group()
    digits = sum(char.isdigit() for char in value)
    if not MIN_PHONE_DIGITS <= digits <= MAX_PHONE_DIGITS or _DATE_OR_TIME.search(value):
        return None
    if _NOT_A_PHONE.fullmatch(value):
        return None
    return run.start(), run.end()


# ----------------------------------------------------------------------------- by name
#
# Secrets and document numbers recognised by what they are called: the JSON key above a
# value, a URL query parameter, ``key=value`` / ``key: value`` in text, a label before a
# number (``DNI Nº 30.123.456``). Names are split into lower-case ASCII words
# (``http.request.header.X-Api-Key`` -> http request header x api key) and judged by their
# last word, so ``token`` is a secret and ``token_count`` is not. One literal-ish pass finds
# the words that can make such a name; each hit is widened to the whole name in Python.

SecretShape = Literal["password", "header", "token"]

_NAME_WORD: Final = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_NAME_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
MAX_NAME_CHARS: Final = 128
_SECRET_SUFFIXES: Final[tuple[tuple[str, SecretShape], ...]] = (
    ("password", "password"), ("passwd", "password"), ("passphrase", "password"), ("pwd", "password"),
    ("authorization", "header"), ("cookie", "header"),
    ("secret", "token"), ("token", "token"), ("credentials", "token"), ("credential", "token"),
    ("apikey", "token"), ("privatekey", "token"),
)  # fmt: skip
_KEY_QUALIFIERS: Final = frozenset(
    {"api", "private", "secret", "signing", "access", "client", "master", "encryption"}
)
_NOT_SECRET_QUALIFIERS: Final = frozenset(
    {"page", "next", "continuation", "pagination", "cursor", "idempotency", "sync"}
)
_NOT_SECRET_NAMES: Final = frozenset({"PWD", "OLDPWD"})  # a shell's working directories
_QUERY_ONLY_SECRETS: Final = frozenset({"key", "sig", "signature"})
_NOT_SECRET_VALUES: Final = frozenset(
    {"true", "false", "yes", "no", "on", "off", "nil", "n/a", "na", "required", "optional",
     "missing", "present", "unset", "invalid", "expired", "revoked"}
)  # fmt: skip
_REDACTED_PART: Final = re.compile(
    r"\*{3,}|•{2,}|[xX]{4,}|\[[A-Za-z_ :-]*\]|<[^<>\s]*>|\$\{[^}]*\}|\{\{[^}]*\}\}|%\([^)]*\)s|^\$[A-Z_]+$"
)
MIN_SECRET_CHARS: Final = 8
MIN_PASSWORD_CHARS: Final = 4
MAX_SECRET_VALUE: Final = 2048

_ID_NAMES: Final = {
    "cedula": "CEDULA", "cc": "CEDULA", "dni": "DNI", "documento": "DOCUMENT",
    "identificacion": "DOCUMENT", "nationalid": "NATIONAL_ID", "ssn": "SSN",
    "cuit": "CUIT", "cuil": "CUIL", "nit": "NIT", "ruc": "RUC", "civilid": "CIVIL_ID",
}  # fmt: skip
_ID_TRAILERS: Final = frozenset(
    {"number", "num", "no", "nro", "numero", "nr", "de", "ciudadania", "identidad"}
)

_ASCII_LOWER: Final = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_NAME_HINT: Final = re.compile(
    # searched in an ASCII-lower-cased copy (same offsets), branches grouped by their first
    # character so that the engine tests each position against one set of first characters
    r"a(?:uthori[sz]ation|pi[-_.]?key|ccess[-_.]?key)"
    r"|b(?<![\w]b)asic[ \t]"
    r"|c(?:ookie|redential|lient[-_.]?key|ivil[-_. ]?id|(?<![a-z0-9]c)(?:ui[tl]|c|\.c\.)(?![a-z0-9]))"
    r"|d(?:ula|ocument|(?<![a-z0-9]d)ni(?![a-z0-9]))"
    r"|encryption[-_.]?key|identificaci|master[-_.]?key"
    r"|n(?:ational[-_. ]?id|(?<![a-z0-9]n)it(?![a-z0-9]))"
    r"|p(?:ass|wd|rivate[-_.]?key)"
    r"|r(?<![a-z0-9]r)uc(?![a-z0-9])"
    r"|s(?:ecret|igning[-_.]?key|(?<![a-z0-9]s)sn(?![a-z0-9]))"
    r"|token"
)
_SEPARATOR: Final = re.compile(
    r"(?P<kq>\\?[\"'])?[ \t]*(?:(?P<eq>=)(?![=>])|:(?![:/=]))[ \t]*(?P<vq>\\?[\"'])?"
)
_BARE_VALUE: Final = re.compile(rf"[^\s&;,\"'<>()\[\]{{}}\\]{{1,{MAX_SECRET_VALUE}}}")
_LINE_VALUE: Final = re.compile(rf"[^\r\n]{{1,{MAX_SECRET_VALUE}}}")
_QUERY_PARAM: Final = re.compile(r"[?&#](?P<name>[A-Za-z][A-Za-z0-9_.\-]{0,63})=(?P<value>[^&#\s\"'<>\\]*)")
_OAUTH_STATE: Final = re.compile(r"[?&#]state=")
_ID_PREFIX: Final = re.compile(
    r"(?:\\?[\"'])?[ \t]*"
    r"(?:(?i:de[ \t]+(?:ciudadan[íi]a|identidad)|n[º°o]\.?|nro\.?|n[uú]m(?:ero)?\.?|number|#)[ \t]*){0,2}"
    r"[:=#]?[ \t]*(?:\\?[\"'])?"
)
_ID_NUMBER: Final = re.compile(r"\d(?:[.\-]?\d){4,15}+(?:-[0-9A-Ka-k])?(?![\w]|[.,]\d)")


@lru_cache(maxsize=4096)
def name_words(name: str) -> tuple[str, ...]:
    """``http.request.header.X-Api-Key`` -> ("http", "request", "header", "x", "api", "key")."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return tuple(word.lower() for word in _NAME_WORD.findall(ascii_name))


@lru_cache(maxsize=4096)
def secret_name(name: str) -> SecretShape | None:
    """How a value called ``name`` is a secret (``None``: it is not one, by its name)."""
    words = name_words(name)
    if not words or name in _NOT_SECRET_NAMES:
        return None
    last = words[-1]
    if last == "key":
        return "token" if len(words) > 1 and words[-2] in _KEY_QUALIFIERS else None
    for suffix, shape in _SECRET_SUFFIXES:
        if last.endswith(suffix):
            head = last[: -len(suffix)]
            if any(head.endswith(q) for q in _NOT_SECRET_QUALIFIERS) or any(
                word in _NOT_SECRET_QUALIFIERS for word in words[-3:-1]
            ):
                return None
            return shape
    return None


def _query_secret_name(name: str) -> SecretShape | None:
    words = name_words(name)
    if words and ("".join(words) in _QUERY_ONLY_SECRETS or words[-1] == "signature"):
        return "token"
    return secret_name(name)


@lru_cache(maxsize=4096)
def id_document_name(name: str) -> str | None:
    """The identity document a value called ``name`` holds (``"DNI"``...), or ``None``."""
    words = list(name_words(name))
    qualified = False
    while len(words) > 1 and words[-1] in _ID_TRAILERS:
        words.pop()
        qualified = True
    if not words:
        return None
    candidates = [words[-1], "".join(words[-2:]), "".join(words)]
    for candidate in candidates:
        if candidate in _ID_NAMES:
            return _ID_NAMES[candidate]
    return "DOCUMENT" if qualified and words[-1] == "document" else None


def is_redacted_secret(value: str) -> bool:
    """A value standing for a secret that was removed: a marker, a mask, a template."""
    if is_redaction_marker(value) or _REDACTED_PART.search(value):
        return True
    scheme, space, rest = value.partition(" ")
    return bool(space) and scheme.isalpha() and is_redaction_marker(rest)


def _secret_value(value: str, shape: SecretShape, *, strong: bool) -> bool:
    """Whether ``value``, named like a secret, is one: not redacted, not a flag, long enough;
    ``strong`` (``=``, a quoted or JSON key) or else with letters and digits."""
    value = value.strip()
    minimum = MIN_PASSWORD_CHARS if shape == "password" else MIN_SECRET_CHARS
    if len(value) < minimum or value.lower() in _NOT_SECRET_VALUES or is_redacted_secret(value):
        return False
    if shape != "header" and any(char.isspace() for char in value):
        return False
    return strong or (any(c.isdigit() for c in value) and any(c.isalpha() for c in value))


def _secret_preview(value: str) -> str:
    return _mask(value) if len(value) >= 20 else "********"


def _id_number_valid(document: str, number: str) -> bool:
    """A number written under a document's name: the document's length and check digits."""
    compact = number.replace(".", "").replace("-", "")
    if len(set(compact)) == 1:
        return False
    if document == "SSN":
        return ssn_valid(compact)
    if document in {"CUIT", "CUIL"}:
        return cuit_valid(compact)
    if document == "NIT":
        return nit_valid(compact)
    if document == "RUC":
        return ruc_valid(compact)
    if document == "CIVIL_ID":
        return kw_civil_id_valid(compact)
    if not compact.isascii() or not compact.isdigit():
        return document == "DNI" and peru_dni_valid(compact)
    if document == "DNI":  # Argentina 7-8 digits, Peru 8 (+ a check character)
        return 7 <= len(compact) <= 8 or peru_dni_valid(compact)
    if document == "CEDULA":  # Colombia: 6-10 digits, no check digit
        return 6 <= len(compact) <= 10
    return 6 <= len(compact) <= 12  # DOCUMENT, NATIONAL_ID


def named_id(name: str, value: str) -> PiiMatch | None:
    """The whole of ``value`` as the identity document its ``name`` says it is, if it fits."""
    document = id_document_name(name)
    number = value.strip()
    if document is None or _ID_NUMBER.fullmatch(number) is None or not _id_number_valid(document, number):
        return None
    start = value.index(number)
    return PiiMatch(start, start + len(number), PiiKind.NATIONAL_ID, document, f"***{number[-2:]}")


def named_secret(name: str, value: str) -> PiiMatch | None:
    """The whole of ``value`` as a secret, when ``name`` (a JSON key) names one."""
    shape = secret_name(name)
    if shape is None or not _secret_value(value, shape, strong=True):
        return None
    return PiiMatch(0, len(value), PiiKind.SECRET, f"field {name}", _secret_preview(value.strip()))


def _named(text: str) -> Iterator[PiiMatch]:
    """Secrets in query strings, ``key=value`` pairs and ``Basic`` credentials; documents
    after their labels."""
    if "=" in text:
        yield from _query_secrets(text)
    name_end = -1
    for hint in _NAME_HINT.finditer(text.translate(_ASCII_LOWER)):
        if hint.start() < name_end:
            continue
        if hint.group()[0] == "b":
            basic = _BASIC.match(text, hint.start())
            if basic is not None and _basic_credentials(basic.group(1)):
                yield PiiMatch(basic.start(), basic.end(), PiiKind.BASIC_AUTH, "basic", "Basic ********")
            continue
        start, end = hint.start(), hint.end()
        floor = max(start - MAX_NAME_CHARS, 0)
        while start > floor and _name_char(text[start - 1]):
            start -= 1
        ceiling = min(end + MAX_NAME_CHARS, len(text))
        while end < ceiling and _name_char(text[end]):
            end += 1
        while end > hint.end() and text[end - 1] in ".-":
            end -= 1
        name_end = end
        if start > 0 and text[start - 1] in "?&#":
            continue  # a query parameter: _query_secrets
        name = text[start:end]
        shape = secret_name(name)
        if shape is not None:
            found = _pair_value(text, end, name, shape)
        else:
            document = id_document_name(name)
            found = None if document is None else _labelled_id(text, end, document)
        if found is not None:
            yield found


def _name_char(char: str) -> bool:
    return char in _NAME_CHARS or (char > "\x7f" and char.isalpha())  # "cédula"


def _pair_value(text: str, name_end: int, name: str, shape: SecretShape) -> PiiMatch | None:
    separator = _SEPARATOR.match(text, name_end)
    if separator is None:
        return None
    start = separator.end()
    quote = separator.group("vq")
    if quote:
        end = text.find(quote, start, start + MAX_SECRET_VALUE)
        if end < 0 or "\n" in text[start:end]:
            return None
    else:
        line = shape == "header" and separator.group("eq") is None
        run = (_LINE_VALUE if line else _BARE_VALUE).match(text, start)
        if run is None:
            return None
        end = start + len(run.group().rstrip())
    value = text[start:end]
    strong = separator.group("eq") is not None or separator.group("kq") is not None
    if not _secret_value(value, shape, strong=strong):
        return None
    return PiiMatch(start, end, PiiKind.SECRET, f"pair {name[-40:]}", _secret_preview(value))


def _query_secrets(text: str) -> Iterator[PiiMatch]:
    for match in _QUERY_PARAM.finditer(text):
        name, value = match.group("name"), match.group("value")
        if name.lower() == "code":
            query_start = text.rfind("?", max(match.start() - MAX_SECRET_VALUE, 0), match.start() + 1)
            query_end = match.end() + MAX_SECRET_VALUE
            shape: SecretShape | None = (
                "token" if query_start >= 0 and _OAUTH_STATE.search(text, query_start, query_end) else None
            )
        else:
            shape = _query_secret_name(name)
        if shape is None or not value:
            continue
        if _secret_value(unquote(value), shape, strong=True):
            start = match.start("value")
            yield PiiMatch(start, match.end(), PiiKind.SECRET, f"query {name[-40:]}", _secret_preview(value))


def _labelled_id(text: str, label_end: int, document: str) -> PiiMatch | None:
    prefix = _ID_PREFIX.match(text, label_end)
    start = label_end if prefix is None else prefix.end()
    number = _ID_NUMBER.match(text, start)
    if number is None or not _id_number_valid(document, number.group()):
        return None
    return PiiMatch(number.start(), number.end(), PiiKind.NATIONAL_ID, document, f"***{number.group()[-2:]}")


# ----------------------------------------------------------------------------- encoded text

_PERCENT_ESCAPE: Final = re.compile(r"%[2-7][0-9A-Fa-f]")  # printable ASCII only: one character each
# an escape that can hide a leak: an encoded "@", or one touching a digit ("%2B52...", "55%201234")
_HIDING_ESCAPE: Final = re.compile(r"%40|%[2-7][0-9A-Fa-f](?=[\d(])|(?<=\d)%[2-7][0-9A-Fa-f]")
_ENCODED_STOPS: Final = frozenset("\"'<>`\\")
MAX_ENCODED_REACH: Final = 2048
_ENCODED_RUN: Final = re.compile(rf"[^\s\"'<>`\\]{{0,{MAX_ENCODED_REACH}}}")


def _encoded_char(char: str) -> bool:
    return char not in _ENCODED_STOPS and not char.isspace()


def _percent_decode(text: str, start: int, end: int) -> tuple[str, list[int]]:
    """``text[start:end]`` with its ASCII ``%XX`` escapes decoded, and for each decoded
    character (and the end) its offset in ``text``."""
    parts: list[str] = []
    origin: list[int] = []
    position = start
    for escape in _PERCENT_ESCAPE.finditer(text, start, end):
        parts.append(text[position : escape.start()])
        origin.extend(range(position, escape.start()))
        parts.append(chr(int(escape.group()[1:], 16)))
        origin.append(escape.start())
        position = escape.end()
    parts.append(text[position:end])
    origin.extend(range(position, end))
    origin.append(end)
    return "".join(parts), origin


# ----------------------------------------------------------------------------- phones by name

_PHONE_WORDS: Final = frozenset(
    {"phone", "phones", "telephone", "telephones", "tel", "mobile", "cell", "cellphone", "msisdn",
     "whatsapp", "telefono", "telefone", "celular", "movil"}
)  # fmt: skip
_PHONE_TRAILERS: Final = frozenset({"number", "numbers", "num", "no", "nr", "nro", "numero"})
_PLAIN_PHONE: Final = re.compile(rf"\d{{{MIN_PHONE_DIGITS},{MAX_PHONE_DIGITS}}}")


@lru_cache(maxsize=4096)
def phone_name(name: str) -> bool:
    """Whether a value called ``name`` is a phone number: its last word (after ``number``,
    ``no``...; or its last two, ``WhatsApp``) is phone, telephone, tel, mobile, cell, msisdn,
    whatsapp (or teléfono, celular, móvil): ``customer.msisdn``, ``phoneNumber``,
    ``buyer_phone``; not ``phone_verified_at``, ``cell_id``."""
    words = list(name_words(name))
    while len(words) > 1 and words[-1] in _PHONE_TRAILERS:
        words.pop()
    return bool(words) and (words[-1] in _PHONE_WORDS or "".join(words[-2:]) in _PHONE_WORDS)


# ----------------------------------------------------------------------------- the detector


class PiiDetector:
    """Every piece of personal data in a string (pure; phone numbers through the port)."""

    __slots__ = ("_phones", "_region")

    def __init__(self, phones: PhoneNumberFinder | None = None, region: str | None = None) -> None:
        self._phones = phones
        self._region = region

    def matches(self, text: str, *, phones: bool = True) -> list[PiiMatch]:
        """Non-overlapping matches in ``text``, in order of position.

        Percent-encoded stretches (``?to=%2B525512345678``, ``ana%40acme.io``) are also
        scanned decoded; what is found there is located in ``text`` (the escapes included).
        """
        candidates = self._candidates(text, phones)
        if "%" in text:
            candidates.extend(self._percent_encoded(text, phones))
        return resolve_overlaps(candidates)

    def redact(self, text: str, *, phones: bool = True) -> str:
        """``text`` with each of its :meth:`matches` replaced by ``[REDACTED:<KIND>]``."""
        parts: list[str] = []
        position = 0
        for match in self.matches(text, phones=phones):
            parts.append(text[position : match.start])
            parts.append(f"[REDACTED:{match.kind.value}]")
            position = match.end
        parts.append(text[position:])
        return "".join(parts)

    def _candidates(self, text: str, phones: bool) -> list[PiiMatch]:
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
        candidates.extend(_named(text))  # after the shapes: on a tie, the shape's finding stays
        return candidates

    def _percent_encoded(self, text: str, phones: bool) -> Iterator[PiiMatch]:
        """Matches in the decoded form of each stretch of ``text`` holding an ASCII ``%XX``
        escape that can hide a leak (an encoded ``@``, or one next to a digit: ``%2B52...``,
        ``55%201234``; not ``hola%20mundo``), located in ``text``. A stretch runs up to
        whitespace, quotes, angle brackets or backslashes, at most ``MAX_ENCODED_REACH``
        characters on either side of the escape."""
        segment_end = 0
        for escape in _HIDING_ESCAPE.finditer(text):
            if escape.start() < segment_end:
                continue
            start = escape.start()
            floor = max(start - MAX_ENCODED_REACH, segment_end)
            while start > floor and _encoded_char(text[start - 1]):
                start -= 1
            run = _ENCODED_RUN.match(text, escape.end())
            end = escape.end() if run is None else run.end()
            segment_end = end
            decoded, origin = _percent_decode(text, start, end)
            for match in self._candidates(decoded, phones):
                yield PiiMatch(
                    origin[match.start], origin[match.end], match.kind, match.detail, match.preview
                )

    def named_phone(self, value: str) -> PiiMatch | None:
        """The whole of ``value``, a plain run of 8-15 digits under a name that says it is a
        phone number (``customer.msisdn``, ``phoneNumber``), as one: read in the bundle's
        region, or else as an international number stored without its ``+`` (an MSISDN)."""
        number = value.strip()
        if self._phones is None or _PLAIN_PHONE.fullmatch(number) is None:
            return None
        start = value.index(number)
        preview = f"***{number[-2:]}"
        for candidate, shift in ((number, 0), (f"+{number}", 1)):
            for found_start, found_end in self._phones.find(candidate, self._region):
                if found_start <= shift and found_end == len(candidate):
                    return PiiMatch(start, start + len(number), PiiKind.PHONE, "phone", preview)
        return None

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


def scan_document(document: object, file: str, detector: PiiDetector) -> Iterator[PiiFinding]:
    """Every leak in a parsed JSON document: in string values, object keys and integers.

    A value in which no detector finds anything is judged by its key too (the nearest object
    key: the items of ``"authorization": ["Basic ..."]`` are under it): a secret's name
    (``password``, ``http.request.header.x-api-key``), an identity document's (``dni``) or a
    phone number's (``customer.msisdn``, ``phoneNumber``). Integers are asked about phone
    numbers only under such a name: ids, amounts and timestamps are not phone numbers.
    """
    stack: list[tuple[str, object, str | None]] = [("$", document, None)]
    while stack:
        path, value, key = stack.pop()
        if isinstance(value, str):
            found = detector.matches(value)
            for match in found:
                yield _located(file, path, match)
            if not found and key is not None:
                yield from _by_key(file, path, key, value, detector)
        elif isinstance(value, bool) or value is None or isinstance(value, float):
            continue
        elif isinstance(value, int):
            # ids, amounts and timestamps are not asked about phones, unless named as one
            found = detector.matches(str(value), phones=False)
            for match in found:
                yield _located(file, path, match)
            if not found and key is not None:
                yield from _by_key(file, path, key, value, detector)
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
                (child_path(path, index), item, key) for index, item in reversed(list(enumerate(value)))
            )


def _by_key(file: str, path: str, key: str, value: str | int, detector: PiiDetector) -> Iterator[PiiFinding]:
    """A value nothing was found in, judged by its key: a secret (strings), a document number,
    a phone number (``"customer.msisdn": 525512345678``)."""
    named = named_secret(key, value) if isinstance(value, str) else None
    named = named or named_id(key, str(value))
    if named is None and phone_name(key):
        named = detector.named_phone(str(value))
    if named is not None:
        yield _located(file, path, named)


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
