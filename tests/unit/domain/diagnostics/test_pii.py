"""Each kind of personal data is found, located exactly; each redaction placeholder is not."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from domain.diagnostics.pii import (
    FindingCollector,
    PiiDetector,
    PiiFinding,
    PiiKind,
    StreamingTextScanner,
    child_path,
    is_redaction_marker,
    scan_document,
)

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
    "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
)


class PlusNumbers:
    """A stand-in for the phonenumbers adapter: ``+<digits and spaces>`` of 10-15 digits."""

    def __init__(self) -> None:
        self.regions: list[str | None] = []

    def find(self, text: str, region: str | None) -> Iterator[tuple[int, int]]:
        self.regions.append(region)
        for match in re.finditer(r"\+\d[\d ]{8,18}\d", text):
            yield match.start(), match.end()


DETECTOR = PiiDetector(PlusNumbers(), region="MX")

LEAKS = [
    pytest.param("mail john.doe@acme.io now", PiiKind.EMAIL, "john.doe@acme.io", id="email"),
    pytest.param("call +52 55 1234 5678 today", PiiKind.PHONE, "+52 55 1234 5678", id="phone"),
    pytest.param("card 4111 1111 1111 1111 ok", PiiKind.CARD_NUMBER, "4111 1111 1111 1111", id="card-spaced"),
    pytest.param("card=5555555555554444;", PiiKind.CARD_NUMBER, "5555555555554444", id="card-plain"),
    pytest.param("amex 3782-822463-10005.", PiiKind.CARD_NUMBER, "3782-822463-10005", id="card-amex"),
    pytest.param(
        "iban ES91 2100 0418 4502 0005 1332 paid", PiiKind.IBAN, "ES91 2100 0418 4502 0005 1332", id="iban"
    ),
    pytest.param("to GB82WEST12345698765432.", PiiKind.IBAN, "GB82WEST12345698765432", id="iban-compact"),
    pytest.param("cpf 529.982.247-25 ok", PiiKind.NATIONAL_ID, "529.982.247-25", id="cpf"),
    pytest.param("cpf 52998224725 ok", PiiKind.NATIONAL_ID, "52998224725", id="cpf-plain"),
    pytest.param("rut 12.345.678-5 ok", PiiKind.NATIONAL_ID, "12.345.678-5", id="rut"),
    pytest.param("curp BOXW310820HNERXN09 ok", PiiKind.NATIONAL_ID, "BOXW310820HNERXN09", id="curp"),
    pytest.param("dni 12345678Z ok", PiiKind.NATIONAL_ID, "12345678Z", id="dni"),
    pytest.param("nie X1234567L ok", PiiKind.NATIONAL_ID, "X1234567L", id="nie"),
    pytest.param(
        "Authorization: Bearer abcDEF123456ghiJKL",
        PiiKind.BEARER_TOKEN,
        "Bearer abcDEF123456ghiJKL",
        id="bearer",
    ),
    pytest.param(
        "key sk_live_51HabcdefGHIJKLmnop x", PiiKind.API_KEY, "sk_live_51HabcdefGHIJKLmnop", id="sk-live"
    ),
    pytest.param("aws AKIAIOSFODNN7EXAMPLE x", PiiKind.API_KEY, "AKIAIOSFODNN7EXAMPLE", id="aws"),
    pytest.param(
        f"partner sos_co_key_01H_{'ab' * 32} x",
        PiiKind.API_KEY,
        f"sos_co_key_01H_{'ab' * 32}",
        id="supportos-key",
    ),
    pytest.param(f"session {JWT} end", PiiKind.JWT, JWT, id="jwt"),
    pytest.param("from 201.141.12.9:443", PiiKind.IP_ADDRESS, "201.141.12.9", id="ipv4"),
    pytest.param("peer 10.0.3.4 internal", PiiKind.IP_ADDRESS, "10.0.3.4", id="ipv4-private"),
    pytest.param(
        "from 2a00:1450:4001:81b::200e now", PiiKind.IP_ADDRESS, "2a00:1450:4001:81b::200e", id="ipv6"
    ),
    pytest.param("v6 ::ffff:201.141.12.9 now", PiiKind.IP_ADDRESS, "::ffff:201.141.12.9", id="ipv4-mapped"),
]


@pytest.mark.parametrize(("text", "kind", "value"), LEAKS)
def test_each_kind_is_found_at_its_exact_offset(text: str, kind: PiiKind, value: str) -> None:
    (match,) = DETECTOR.matches(text)
    assert match.kind is kind
    assert (match.start, match.end) == (text.index(value), text.index(value) + len(value))
    assert value not in match.preview  # the report never repeats the value


PLACEHOLDERS = [
    "[REDACTED]",
    "***",
    "<email>",
    "<phone>",
    "xxxx-xxxx-xxxx-1234",
    "**** **** **** 4242",
    "card ending 1234",
    "j***@gmail.com",
    "***@***.com",
    "redacted@redacted.com",
    "someone@example.com",
    "user@mail.example",
    "Bearer [REDACTED]",
    "Bearer ***",
    "Bearer <token>",
    "Bearer REDACTED",
    "Bearer xxxxxxxxxxxxxxxx",
    "bearer authentication is required",
    "sk_live_xxxxxxxxxxxxxxxx",
    "sk_live_****",
    "sk_live_[REDACTED]",
    "***.***.***-25",
    "**.***.***-5",
    "ES91 **** **** **** **** 1332",
    "192.168.x.x",
    "203.0.113.*",
    "+52 55 **** 5678",
    "127.0.0.1",
    "0.0.0.0",
    "::1",
    "203.0.113.7",
    "2001:db8::1",
]


@pytest.mark.parametrize("text", PLACEHOLDERS)
def test_redaction_placeholders_are_not_leaks(text: str) -> None:
    assert DETECTOR.matches(f"value: {text} end") == []


@pytest.mark.parametrize(
    "text",
    [
        "2026-03-01T12:00:00.123Z took 1234 ms",
        "request 550e8400-e29b-41d4-a716-446655440000 done",
        "epoch 1714564800123 ms",
        "version 1.2.3.4.5 build 20260301",
        "12:30:45 retry 3 of 5",
        "std::vector and Class::method",
        "4111111111111112",  # Luhn-invalid
        "529.982.247-26",  # CPF check digits wrong
        "12.345.678-4",  # RUT verifier wrong
        "BOXW310820HNERXN08",  # CURP check digit wrong
        "12345678A",  # DNI letter wrong
        "GB82WEST12345698765433",  # IBAN checksum wrong
    ],
)
def test_ordinary_text_and_failed_checksums_are_not_leaks(text: str) -> None:
    assert DETECTOR.matches(text) == []


def test_overlaps_keep_one_finding_by_priority() -> None:
    text = f"Authorization: Bearer {JWT}"
    (match,) = DETECTOR.matches(text)
    assert match.kind is PiiKind.BEARER_TOKEN
    assert (match.start, match.end) == (15, len(text))


def test_several_findings_come_in_order() -> None:
    text = "a@acme.io then 4111111111111111 then 8.8.8.8"
    assert [m.kind for m in DETECTOR.matches(text)] == [
        PiiKind.EMAIL,
        PiiKind.CARD_NUMBER,
        PiiKind.IP_ADDRESS,
    ]


def test_phone_numbers_are_asked_for_in_the_bundles_region() -> None:
    finder = PlusNumbers()
    PiiDetector(finder, region="BR").matches("+55 11 91234 5678")
    assert finder.regions == ["BR"]


def test_markers() -> None:
    assert is_redaction_marker("[REDACTED]")
    assert is_redaction_marker("***")
    assert is_redaction_marker("<email>")
    assert is_redaction_marker("xxxx")
    assert not is_redaction_marker("abc123")


# ----------------------------------------------------------------------------- JSON documents


def test_json_paths_offsets_keys_and_integers() -> None:
    document = {
        "spans": [
            {"name": "ok", "attributes": {"http.url": "https://x.invalid/?to=ana@acme.io", "n": 1}},
            {"attributes": {"card": 4111111111111111, "ana@acme.io": True}},
        ],
        "password": "hunter2hunter2",
        "token": "[REDACTED]",
    }
    findings = list(scan_document(document, "trace.json", DETECTOR))
    located = {(f.json_path, f.offset, f.kind, f.in_key) for f in findings}
    assert located == {
        ('$.spans[0].attributes["http.url"]', 22, PiiKind.EMAIL, False),
        ("$.spans[1].attributes.card", 0, PiiKind.CARD_NUMBER, False),
        ('$.spans[1].attributes["ana@acme.io"]', 0, PiiKind.EMAIL, True),
        ("$.password", 0, PiiKind.API_KEY, False),
    }
    assert all(f.file == "trace.json" for f in findings)


def test_child_paths() -> None:
    assert child_path("$", "spans") == "$.spans"
    assert child_path("$.spans", 3) == "$.spans[3]"
    assert child_path("$.a", 'we"ird key') == '$.a["we\\"ird key"]'


# ----------------------------------------------------------------------------- streaming text


def _stream(text: str, chunk: int, **sizes: int) -> list[PiiFinding]:
    found: list[PiiFinding] = []
    scanner = StreamingTextScanner(DETECTOR, "logs/app.log", found.append, **sizes)
    for index in range(0, len(text), chunk):
        scanner.feed(text[index : index + chunk])
    scanner.finish()
    return found


def test_streaming_finds_leaks_split_across_chunks_once_at_file_offsets() -> None:
    filler = " lorem ipsum dolor sit amet" * 40 + " "
    leaks = ["ana@acme.io", "4111 1111 1111 1111", JWT, "12345678Z", "201.141.12.9"]
    text = filler.join(["", *leaks, ""])
    expected = sorted((text.index(leak), len(leak)) for leak in leaks)
    for chunk in (1, 7, 64, 333, len(text)):
        found = _stream(text, chunk, window=256, overlap=64, max_buffer=4096)
        assert sorted((f.offset, f.length) for f in found) == expected, chunk
        assert all(f.json_path is None for f in found)


def test_streaming_defers_a_match_longer_than_the_overlap() -> None:
    long_token = "sk_live_" + "a1" * 200  # 408 characters, far more than the overlap
    text = "x " * 300 + long_token + " y" * 300
    found = _stream(text, 50, window=128, overlap=32, max_buffer=8192)
    assert [(f.offset, f.length, f.kind) for f in found] == [(600, len(long_token), PiiKind.API_KEY)]


def test_streaming_memory_is_bounded_by_max_buffer() -> None:
    seen: list[PiiFinding] = []
    scanner = StreamingTextScanner(DETECTOR, "f", seen.append, window=128, overlap=32, max_buffer=1024)
    for _ in range(1000):
        scanner.feed("sk_live_" + "a" * 100)  # one endless "token": never a complete match
        assert len(scanner._buffer) <= 1024 + 128 + 108
    scanner.finish()


def test_collector_counts_everything_and_keeps_the_first_n() -> None:
    collector = FindingCollector(limit=3)
    for offset in range(10):
        collector.add(PiiFinding("f", None, offset, 5, PiiKind.EMAIL, "email", "**"))
    collector.add(PiiFinding("f", None, 99, 5, PiiKind.JWT, "jwt", "**"))
    summary = collector.summary()
    assert summary.total == 11
    assert summary.truncated
    assert [f.offset for f in summary.findings] == [0, 1, 2]
    assert summary.by_kind == {"JWT": 1, "EMAIL": 10}
