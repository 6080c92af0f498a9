"""Screening: the marketplace's safety net against taking the deal off the platform.

:func:`screen` is a pure function of a message's text. It blocks

- phone numbers of the marketplace's countries in any common format - digits grouped by
  spaces, dots, dashes or brackets, with or without a country code, digits spelled out
  in Spanish, Portuguese or English, and mixtures (``"tres 1 cinco"``). The text is
  normalised first (folded, spelled digits turned into digits, look-alike letters in digit
  runs turned into digits, our own codes, dates, times, amounts and postal codes masked),
  then each run of digits is handed to a :class:`PhoneNumberFinder` (the ``phonenumbers``
  library, behind a port). A local number (7+ digits) right after a contact word
  (``"cel"``, ``"whats"``, ``"llámame"``) is blocked even when no country would accept it;
- e-mail addresses, including ``at``/``arroba``/``dot``/``punto`` spellings;
- links, bare domains (``floreriaelsol.mx``; a missing space after a full stop, as in
  ``"llegó.Es"``, is not one) and messaging handles (WhatsApp, Telegram, Instagram, X,
  LINE, ``wa.me``, ``t.me``, ``@handle``...);
- offers or requests to pay outside the platform (bank transfer, Pix, Nequi, Zelle,
  PayPal, Mercado Pago, cash, crypto...), in es/pt/en;
- asking for or giving contact details (``"pásame tu número"``, ``"meu zap é"``);
- abusive terms of a configurable per-language list.

It does not block order numbers (``MX-48213377``), tracking codes of our couriers
(``SOS-TRK-12345678``), prices and amounts, dates and times, street addresses or
quantities. Each :class:`Finding` names its kind and the span of the original text, so a
moderator sees exactly what was blocked. The vocabulary is data, in
:mod:`domain.messaging.lexicon`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import Final, Protocol

from domain.messaging import lexicon
from domain.messaging.numbers import spell_digits
from domain.messaging.text import MappedText, fold
from domain.shared.country import CountryCode


class FindingKind(StrEnum):
    PHONE = "PHONE"
    EMAIL = "EMAIL"
    LINK = "LINK"
    HANDLE = "HANDLE"
    PAYMENT = "PAYMENT"
    CONTACT_REQUEST = "CONTACT_REQUEST"
    ABUSE = "ABUSE"


BYPASS_KINDS: Final = frozenset(FindingKind) - {FindingKind.ABUSE}
"""Kinds that take the conversation (or the money) off the platform."""


@dataclass(frozen=True, slots=True, order=True)
class Finding:
    """``text[start:end]`` of the original message is a ``kind`` (found by ``rule``)."""

    start: int
    end: int
    kind: FindingKind
    rule: str

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.end:
            raise ValueError(f"a finding needs a non-empty span, got {self.start}:{self.end}")

    def excerpt(self, text: str) -> str:
        return text[self.start : self.end]

    def contains(self, other: Finding) -> bool:
        return self.start <= other.start and other.end <= self.end

    def to_canonical(self) -> dict[str, object]:
        return {"kind": self.kind.value, "start": self.start, "end": self.end, "rule": self.rule}


@dataclass(frozen=True, slots=True)
class Screening:
    """The verdict on one message: blocked if anything was found."""

    findings: tuple[Finding, ...] = ()

    @property
    def blocked(self) -> bool:
        return bool(self.findings)

    @property
    def kinds(self) -> frozenset[FindingKind]:
        return frozenset(finding.kind for finding in self.findings)


class PhoneNumberFinder(Protocol):
    """The port to a phone-number library (``adapters/screening`` implements it).

    ``text`` is one run of digits as normalised by screening: ASCII digits, single spaces,
    dots, dashes and brackets between groups, an optional leading ``+``. The answer is the
    ``[start, end)`` spans of ``text`` that are phone numbers of any of the marketplace's
    countries.
    """

    def find(self, text: str) -> Sequence[tuple[int, int]]: ...

    def national(self, number: str, region: str) -> bool:
        """Whether ``number`` (a span :meth:`find` gave) is a valid number of ``region``
        (ISO-3166 alpha-2) written without its country code."""
        ...


@dataclass(frozen=True, slots=True)
class ScreeningPolicy:
    """What a deployment may tune: the abusive terms per language, domains that are ours."""

    abusive_terms: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: lexicon.ABUSIVE_TERMS)
    allowed_domains: frozenset[str] = frozenset()
    min_phone_digits: int = 7
    min_uncued_phone_digits: int = 9
    uncued_phone_digits_by_country: Mapping[str, int] = field(
        default_factory=lambda: lexicon.FULL_NATIONAL_NUMBER_DIGITS
    )
    """Countries whose full national numbers are shorter than ``min_uncued_phone_digits``
    (Kuwait's have 8 digits): in their conversations a number that long is blocked uncued."""

    def __post_init__(self) -> None:
        if not 5 <= self.min_phone_digits <= self.min_uncued_phone_digits:
            raise ValueError("phone numbers have at least 5 digits, and uncued ones at least as many")
        for country, digits in self.uncued_phone_digits_by_country.items():
            if not re.fullmatch(r"[A-Z]{2}", country) or not self.min_phone_digits <= digits:
                raise ValueError(
                    f"uncued phone digits of {country!r}: a two-letter country and at least "
                    f"{self.min_phone_digits} digits"
                )
        for language, terms in self.abusive_terms.items():
            if not re.fullmatch(r"[a-z]{2}", language) or any(not term.strip() for term in terms):
                raise ValueError(f"abusive terms of {language!r}: a two-letter language and non-blank terms")

    def uncued_phone_digits(self, country: CountryCode | None) -> int:
        """How many digits a number needs to be blocked with no contact word before it, in a
        conversation of ``country`` (``None``: a text of no known country)."""
        if country is None:
            return self.min_uncued_phone_digits
        return self.uncued_phone_digits_by_country.get(country.value, self.min_uncued_phone_digits)


DEFAULT_POLICY: Final = ScreeningPolicy()


# ----------------------------------------------------------------------------- compiled vocabulary


def _alternation(patterns: Sequence[str]) -> str:
    return "|".join(f"(?:{pattern})" for pattern in patterns)


def _word(pattern: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![a-z0-9])(?:{pattern})(?![a-z0-9])")


_EMAIL: Final = _word(_alternation(lexicon.EMAIL_PATTERNS))
_LINK: Final = _word(_alternation(lexicon.LINK_PATTERNS))
_APPS: Final = _word(_alternation(lexicon.MESSAGING_APPS))
_HANDLE: Final = re.compile(lexicon.HANDLE)
_PAYMENT_INSTRUMENT: Final = _word(_alternation(lexicon.PAYMENT_INSTRUMENTS))
_PAYMENT_PHRASE: Final = _word(_alternation(lexicon.PAYMENT_PHRASES))
_CONTACT_REQUEST: Final = _word(_alternation(lexicon.CONTACT_REQUESTS))
_BARE_DOMAIN: Final = _word(lexicon.BARE_CCTLD_DOMAIN)

_KEYWORD_RULES: Final[tuple[tuple[re.Pattern[str], FindingKind, str], ...]] = (
    (_EMAIL, FindingKind.EMAIL, "email"),
    (_LINK, FindingKind.LINK, "link"),
    (_APPS, FindingKind.HANDLE, "messaging-app"),
    (_HANDLE, FindingKind.HANDLE, "at-handle"),
    (_PAYMENT_INSTRUMENT, FindingKind.PAYMENT, "payment-instrument"),
    (_PAYMENT_PHRASE, FindingKind.PAYMENT, "payment-phrase"),
    (_CONTACT_REQUEST, FindingKind.CONTACT_REQUEST, "contact-request"),
)

_CUE_BEFORE: Final = re.compile(
    rf"(?<![a-z0-9]){lexicon.CONTACT_CUES}(?![a-z])[^a-z0-9]*(?:[a-z]+[^a-z0-9]+){{0,3}}$"
)
_ORDER_WORD: Final = _word(lexicon.ORDER_WORDS)


@lru_cache(maxsize=32)
def _abuse_pattern(terms: tuple[str, ...]) -> re.Pattern[str] | None:
    if not terms:
        return None
    spelled = {r"\s+".join(re.escape(word) for word in fold(term).text.split()) for term in terms}
    return _word(_alternation(sorted(spelled, key=lambda pattern: (-len(pattern), pattern))))


def _all_terms(policy: ScreeningPolicy) -> tuple[str, ...]:
    return tuple(sorted({term for terms in policy.abusive_terms.values() for term in terms}))


# ----------------------------------------------------------------------------- views


_SPACED_LETTERS: Final = re.compile(r"(?<![a-z0-9])(?:[a-z][ .\-_*]){2,}[a-z](?![a-z0-9])")
_LEET_TOKEN: Final = re.compile(r"[a-z0-9@$!|]{4,}")
_LEET: Final = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i", "|": "l"}
)


def _collapsed(view: MappedText) -> MappedText:
    """``"w h a t s a p p"`` and ``"p.a.y.p.a.l"`` as words."""
    return view.substitute(
        (match.start(), match.end(), re.sub(r"[ .\-_*]", "", match.group()))
        for match in _SPACED_LETTERS.finditer(view.text)
    )


def _leet(view: MappedText) -> MappedText:
    """``"wh4ts4pp"``, ``"p@ypal"``, ``"1d10t4"`` as words (only tokens that mix letters in)."""
    replacements = []
    for match in _LEET_TOKEN.finditer(view.text):
        token = match.group()
        if re.search(r"[a-z]", token) and re.search(r"[0-9@$!|]", token) and "@" not in token[1:-1]:
            replacements.append((match.start(), match.end(), token.translate(_LEET)))
    return view.substitute(replacements)


_CONFUSABLE_RUN: Final = re.compile(r"(?<![a-z0-9])[0-9oli|]*[0-9][0-9oli|]*(?![a-z0-9])")
_CONFUSABLE: Final = str.maketrans({"o": "0", "l": "1", "i": "1", "|": "1"})


def _digit_lookalikes(view: MappedText) -> MappedText:
    """``"3l5 555 l234"``, ``"55 I234 5678"``: look-alike letters inside digit runs as digits."""
    replacements = []
    for match in _CONFUSABLE_RUN.finditer(view.text):
        token = match.group()
        if sum(char.isdigit() for char in token) >= 2 and not token.isdigit():
            replacements.append((match.start(), match.end(), token.translate(_CONFUSABLE)))
    return view.substitute(replacements)


# ----------------------------------------------------------------------------- what is not a phone number

_MONEY_WORDS: Final = (
    r"(?:pesos?|reais|real|reales|soles?|dolares|dollars?|bucks|euros?|mxn|cop|brl|ars|clp|pen|usd|eur|mil"
    r"|lucas?|palos?|k)"
)
_AMOUNT: Final = r"\d{1,3}(?:[.,]\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?"
_PROTECTED: Final[tuple[re.Pattern[str], ...]] = (
    _word(lexicon.TRACKING_CODE),
    _word(lexicon.ORDER_NUMBER),
    _word(lexicon.PLATFORM_ID),
    # money: "$1.250.000", "R$ 89,90", "S/ 120", "1,500 MXN", "350 mil pesos"
    re.compile(
        rf"(?:us\$|r\$|\$|€|s/\.?|(?<![a-z])(?:mxn|cop|brl|ars|clp|pen|usd|eur)(?![a-z]))\s?(?:{_AMOUNT})"
    ),
    re.compile(rf"(?<![\d.,])(?:{_AMOUNT})\s?(?:{_MONEY_WORDS})(?![a-z])"),
    # times: "14:30", "9:00 am", "3pm", "10h30", "18hs"
    re.compile(r"(?<!\d)\d{1,2}:\d{2}(?::\d{2})?(?!\d)"),
    re.compile(r"(?<!\d)\d{1,2}\s?(?:am|pm|a\.m\.|p\.m\.|hs|hrs|h)(?![a-z])"),
    re.compile(r"(?<!\d)\d{1,2}h\d{2}(?!\d)"),
    # postal codes: "CP 06700", "CEP 01310-200", "zip 10001-1234"
    re.compile(
        r"(?<![a-z])(?:cp|c\.p\.|codigo\s+postal|cod\.?\s+postal|cep|zip(?:\s+code)?|postal\s+code)"
        r"\s*:?\s*\d{4,5}(?:-?\d{3,4})?(?!\d)"
    ),
    # identity and tax numbers in their official shapes (CPF, CNPJ, RUT, NIT, CUIT)
    re.compile(r"(?<![\d.])\d{3}\.\d{3}\.\d{3}-\d{1,2}(?!\d)"),
    re.compile(r"(?<![\d.])\d{2}\.\d{3}\.\d{3}/\d{4}-\d{2}(?!\d)"),
    re.compile(r"(?<![\d.])\d{1,2}\.\d{3}\.\d{3}-[\dk](?![\da-z])"),
    re.compile(r"(?<![\d\-])\d{2}-\d{8}-\d(?![\d\-])"),
    # percentages and sizes: "15%", "30 cm"
    re.compile(r"(?<!\d)\d+(?:[.,]\d+)?\s?(?:%|cm|mm|km|kg|gr|g|ml|lt|l|m)(?![a-z])"),
)
_MASK: Final = "\u00a0"
"""What a masked span is overwritten with: a space to ``\\s``, but one that the long separator
of :data:`_DIGIT_RUN` does not stretch over, so a masked date or amount between two numbers
(``"315 12/05 555 1234"``) joins them no more than it did with short separators only."""
_DATE: Final = re.compile(r"(?<![\d.])(\d{1,4})[/.\-](\d{1,2})[/.\-](\d{1,4})(?![\d])")
_DAY_MONTH: Final = re.compile(r"(?<![\d.,/\-])(\d{1,2})/(\d{1,2})(?![\d/])")


def _plausible_date(first: str, second: str, third: str) -> bool:
    if len(first) == 4:  # 2026-03-15
        year, month, day = int(first), int(second), int(third)
        return 1900 <= year <= 2199 and 1 <= month <= 12 and 1 <= day <= 31 and len(third) <= 2
    if len(third) not in (2, 4) or len(first) > 2:
        return False
    day_or_month = (int(first), int(second))
    return all(value >= 1 for value in day_or_month) and min(day_or_month) <= 12 and max(day_or_month) <= 31


def _masked(view: MappedText) -> MappedText:
    """The same text with what is not a phone number (our codes, money, dates...) blanked."""
    spans: list[tuple[int, int]] = []
    for pattern in _PROTECTED:
        spans.extend((match.start(), match.end()) for match in pattern.finditer(view.text))
    for match in _DATE.finditer(view.text):
        if _plausible_date(*match.groups()):
            spans.append((match.start(), match.end()))
    for match in _DAY_MONTH.finditer(view.text):
        day, month = int(match.group(1)), int(match.group(2))
        if 1 <= day <= 31 and 1 <= month <= 12:
            spans.append((match.start(), match.end()))
    for start, end in spans:
        view = view.overwrite(start, end, _MASK)
    return view


# ----------------------------------------------------------------------------- phones

_SEPARATOR: Final = r"[\s.\-()/,_*~|:;]"
_LONG_SEPARATOR: Final = rf"(?:(?!{_MASK}){_SEPARATOR}){{4,{lexicon.MAX_PHONE_SEPARATOR}}}"
_DIGIT_RUN: Final = re.compile(rf"(?:\+\s?|\(\s?)?\d(?:(?:{_SEPARATOR}{{1,3}}|{_LONG_SEPARATOR})\d|\d)*\)?")
"""Digits with up to 3 separator characters between groups (masked spans among them), or a
longer run of typed ones (``"55 -- 1234"``, ``"11 . . . 98765"``, ``"5    5"``)."""
_ODD_SEPARATOR: Final = re.compile(r"[/,_*~|:;]")
_BLANKS: Final = re.compile(r"\s{2,}|(?<=\+)\s")
_REPEATED_MARKS: Final = re.compile(r"\s*[.\-](?:\s*[.\-])+\s*")


def _phone_candidate(run: MappedText) -> MappedText:
    """A digit run as the phone library reads it: odd separators and repeated dots or dashes
    (``" -- "``, ``"..."``) as spaces, single spaces."""
    run = run.substitute((match.start(), match.end(), " ") for match in _REPEATED_MARKS.finditer(run.text))
    spaced = run.replace_each(lambda char: " " if _ODD_SEPARATOR.fullmatch(char) or char.isspace() else char)
    return spaced.substitute(
        (match.start(), match.end(), "" if spaced.text[match.start() - 1 : match.start()] == "+" else " ")
        for match in _BLANKS.finditer(spaced.text)
    )


def _phones(
    view: MappedText,
    folded: MappedText,
    phones: PhoneNumberFinder,
    policy: ScreeningPolicy,
    country: CountryCode | None,
) -> Iterator[Finding]:
    """Phone numbers among the runs of digits of ``view`` (normalised and masked).

    A number the library accepts is blocked when it has a country code, or at least
    ``policy.min_uncued_phone_digits`` digits (a full national number), or a contact word
    right before it. Shorter national numbers (a Lima landline has 8 digits, like a
    Peruvian DNI) need that contact word, and so does a run the library refuses; where a
    full national number is shorter (Kuwait: 8 digits), the conversation's country says so."""
    for match in _DIGIT_RUN.finditer(view.text):
        if _digits(match.group()) < policy.min_phone_digits:
            continue
        candidate = _phone_candidate(view.slice(match.start(), match.end()))
        origin_start, origin_end = view.original_span(match.start(), match.end())
        cued = _cued(folded, origin_start)
        found = False
        for start, end in phones.find(candidate.text):
            number = candidate.text[start:end]
            international = number.startswith("+") or re.sub(r"\D", "", number).startswith("00")
            if end > start and (cued or international or _full_national(number, phones, policy, country)):
                found = True
                yield Finding(*candidate.original_span(start, end), FindingKind.PHONE, "phone-number")
        if not found and cued:
            yield Finding(origin_start, origin_end, FindingKind.PHONE, "digits-after-contact-word")


def _full_national(
    number: str, phones: PhoneNumberFinder, policy: ScreeningPolicy, country: CountryCode | None
) -> bool:
    """An uncued national number long enough to block: ``policy.min_uncued_phone_digits``
    digits, or, in a country whose full numbers are shorter, a valid number of that country
    as long as they are (``9876 5432`` in Kuwait; not any 8 digits some other country takes)."""
    digits = _digits(number)
    if digits >= policy.min_uncued_phone_digits:
        return True
    return (
        country is not None
        and digits >= policy.uncued_phone_digits(country)
        and phones.national(number, country.value)
    )


def _digits(text: str) -> int:
    return sum(char.isdigit() for char in text)


def _cued(folded: MappedText, original_start: int) -> bool:
    """A contact word shortly before ``original_start``, with no order word in between."""
    index = next((i for i, start in enumerate(folded.starts) if start >= original_start), len(folded.text))
    before = folded.text[max(0, index - 40) : index]
    cue = _CUE_BEFORE.search(before)
    if cue is None:
        return False
    context = folded.text[max(0, index - len(before) + cue.start() - 20) : index]
    return _ORDER_WORD.search(context) is None


# ----------------------------------------------------------------------------- bare domains


def _sentence_not_domain(view: MappedText, match: re.Match[str], text: str) -> bool:
    """A bare ``name.tld`` that is really a missing space after a full stop or an
    abbreviation: ``"llegó.Es muy bonito"``, ``"Gracias.Me llegó"``, ``"ok.mx"``, ``"etc.es"``.

    Judged on what the sender typed (``text``): for a TLD that is also a word (``es``,
    ``me``), written capitalised like a sentence start after a lower-case letter, or after
    an accented word; for any TLD, a single name that is a common abbreviation or short word."""
    name = view.text[match.start() : match.start("tld") - 1]
    if "." not in name and name in lexicon.NOT_DOMAIN_LABELS:
        return True
    if match.group("tld") not in lexicon.WORD_TLDS:
        return False
    typed_name = text[slice(*view.original_span(match.start(), match.start("tld") - 1))]
    typed_tld = text[slice(*view.original_span(match.start("tld"), match.end("tld")))]
    if any(not char.isascii() for char in typed_name):
        return True
    return typed_tld[:1].isupper() and typed_tld[1:].islower() and typed_name[-1:].islower()


def _bare_domains(view: MappedText, text: str, allowed: frozenset[str]) -> Iterator[Finding]:
    """Bare ccTLD domains that no other link rule found (``www.x.com.mx`` stays a ``link``)."""
    links = [(match.start(), match.end()) for match in _LINK.finditer(view.text)]
    for match in _BARE_DOMAIN.finditer(view.text):
        if any(start < match.end() and match.start() < end for start, end in links):
            continue
        if any(domain in match.group() for domain in allowed) or _sentence_not_domain(view, match, text):
            continue
        yield Finding(*view.original_span(match.start(), match.end()), FindingKind.LINK, "bare-domain")


# ----------------------------------------------------------------------------- the screen


def _keywords(
    view: MappedText, text: str, abuse: re.Pattern[str] | None, allowed: frozenset[str]
) -> Iterator[Finding]:
    rules: list[tuple[re.Pattern[str], FindingKind, str]] = list(_KEYWORD_RULES)
    if abuse is not None:
        rules.append((abuse, FindingKind.ABUSE, "abusive-term"))
    for pattern, kind, rule in rules:
        for match in pattern.finditer(view.text):
            if match.end() == match.start():
                continue
            if kind is FindingKind.LINK and any(domain in match.group() for domain in allowed):
                continue
            yield Finding(*view.original_span(match.start(), match.end()), kind, rule)
    yield from _bare_domains(view, text, allowed)


def _tidy(findings: Sequence[Finding]) -> tuple[Finding, ...]:
    """Sorted, without duplicates, without a finding inside another one (the wider says more:
    ``"juan arroba gmail punto com"`` is an e-mail, not also a link and a handle)."""
    unique = sorted(set(findings), key=lambda f: (f.start, -f.end, f.kind.value, f.rule))
    kept: list[Finding] = []
    for finding in unique:
        if any(
            other.contains(finding)
            and (other.kind is finding.kind or (other.start, other.end) != (finding.start, finding.end))
            for other in kept
        ):
            continue
        kept.append(finding)
    return tuple(sorted(kept))


def screen(
    text: str,
    phones: PhoneNumberFinder,
    policy: ScreeningPolicy = DEFAULT_POLICY,
    country: CountryCode | None = None,
) -> Screening:
    """Everything in ``text`` that takes the deal off the platform, or abuses someone
    (``country``: the conversation's, for the length of an uncued national number)."""
    folded = fold(text)
    abuse = _abuse_pattern(_all_terms(policy))
    allowed = frozenset(domain.lower() for domain in policy.allowed_domains)
    findings: list[Finding] = []
    for view in (folded, _collapsed(folded), _leet(folded)):
        findings.extend(_keywords(view, text, abuse, allowed))
    numeric = _masked(spell_digits(_digit_lookalikes(folded)))
    findings.extend(_phones(numeric, folded, phones, policy, country))
    return Screening(_tidy(findings))


@dataclass(frozen=True, slots=True)
class Screener:
    """:func:`screen` with its phone finder and policy bound (what use cases are given)."""

    phones: PhoneNumberFinder
    policy: ScreeningPolicy = DEFAULT_POLICY

    def screen(self, text: str, country: CountryCode | None = None) -> Screening:
        return screen(text, self.phones, self.policy, country)
