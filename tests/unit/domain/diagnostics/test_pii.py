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
    id_document_name,
    is_redaction_marker,
    phone_name,
    scan_document,
    secret_name,
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


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("https://x.io/sms?to=%2B525512345678&x=1", PiiKind.PHONE, "%2B525512345678"),
        ("tel%3A%2B52%2055%201234%205678 end", PiiKind.PHONE, "%2B52%2055%201234%205678"),
        ("/v1/users?email=ana%40acme.io&x=1", PiiKind.EMAIL, "ana%40acme.io"),
        ("q=card%3D4111111111111111", PiiKind.CARD_NUMBER, "4111111111111111"),
    ],
)
def test_percent_encoded_leaks_are_found_where_they_are_written(text: str, kind: PiiKind, value: str) -> None:
    (match,) = DETECTOR.matches(text)
    assert match.kind is kind
    assert (match.start, match.end) == (text.index(value), text.index(value) + len(value))


@pytest.mark.parametrize(
    "text",
    [
        "https://x.io/a%20b?q=hello%20world&page=2",
        "to=%2B52%20**%20****%205678",  # a masked number, encoded
        "email=%3Cemail%3E",
        "50%25 of 1234 ms",
        "bad escape %ZZ and %",
    ],
)
def test_percent_encoded_placeholders_and_text_are_not_leaks(text: str) -> None:
    assert DETECTOR.matches(text) == []


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
        ("$.password", 0, PiiKind.SECRET, False),
    }
    assert all(f.file == "trace.json" for f in findings)


def test_integers_are_phone_numbers_only_under_a_phone_name() -> None:
    document = {
        "customer.msisdn": 525512345678,
        "buyer": {"phoneNumber": 34612345678, "WhatsApp": "525512345678"},
        "contacts": {"phones": [525512345678]},
        "amount_minor": 525512345678,
        "id": 525512345678,
        "ts": 1714564800123,
        "order_id": 34612345678,
        "phone_verified_at": 1714564800,
        "phone_count": 525512345678,
        "cell_id": 525512345678,
        "mobile": 42,
    }
    findings = list(scan_document(document, "trace.json", DETECTOR))
    assert {(f.json_path, f.offset, f.length, f.kind) for f in findings} == {
        ('$["customer.msisdn"]', 0, 12, PiiKind.PHONE),
        ("$.buyer.phoneNumber", 0, 11, PiiKind.PHONE),
        ("$.buyer.WhatsApp", 0, 12, PiiKind.PHONE),
        ("$.contacts.phones[0]", 0, 12, PiiKind.PHONE),
    }
    assert all("5512345678" not in f.preview for f in findings)


def test_phone_names() -> None:
    for name in ("customer.msisdn", "phoneNumber", "buyer_phone", "Mobile", "tel", "WhatsApp",
                 "cellPhone", "telephone_no", "teléfono", "phones", "MSISDN"):  # fmt: skip
        assert phone_name(name), name
    for name in ("hotel", "phone_verified_at", "phone_count", "cell_id", "amount_minor", "id", "ts"):
        assert not phone_name(name), name


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


# ----------------------------------------------------------------------------- secrets by name

BASIC = "dXNlcjpwYXNz"  # base64("user:pass")
HEX_KEY = "3f9a8b7c6d5e4f3a2b1c"
PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\\n"
    "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\\n"
    "-----END RSA PRIVATE KEY-----"
)

SECRETS = [
    pytest.param(
        f'http.request.header.authorization: "Basic {BASIC}..."',
        PiiKind.BASIC_AUTH,
        f"Basic {BASIC}",
        id="basic-truncated-in-a-trace",
    ),
    pytest.param(
        "Authorization: basic dXNlcm5hbWU6cGFzc3dvcmQ=",
        PiiKind.BASIC_AUTH,
        "basic dXNlcm5hbWU6cGFzc3dvcmQ=",
        id="basic-padded",
    ),
    pytest.param(f"http.request.header.x-api-key: {HEX_KEY}", PiiKind.SECRET, HEX_KEY, id="x-api-key-header"),
    pytest.param(f"X-Api-Key={HEX_KEY} ok", PiiKind.SECRET, HEX_KEY, id="x-api-key-pair"),
    pytest.param(
        "GET https://api.acme.io/v1/orders?limit=50&access_token=abc123DEF456ghi HTTP/1.1",
        PiiKind.SECRET,
        "abc123DEF456ghi",
        id="query-access-token",
    ),
    pytest.param(
        "GET /v1/x?token=tk_0a1b2c3d4e5f&limit=5", PiiKind.SECRET, "tk_0a1b2c3d4e5f", id="query-token"
    ),
    pytest.param(
        "GET /v1/x?api_key=0a1b2c3d4e5f6a7b", PiiKind.SECRET, "0a1b2c3d4e5f6a7b", id="query-api-key"
    ),
    pytest.param("GET /v1/x?apikey=0a1b2c3d4e5f6a7b", PiiKind.SECRET, "0a1b2c3d4e5f6a7b", id="query-apikey"),
    pytest.param(
        "GET /maps/geocode?address=x&key=Q2xpZW50S2V5MTIzNDU2",
        PiiKind.SECRET,
        "Q2xpZW50S2V5MTIzNDU2",
        id="query-key",
    ),
    pytest.param("GET /x?secret=s3cr3tvalue1", PiiKind.SECRET, "s3cr3tvalue1", id="query-secret"),
    pytest.param("POST /login?user=ana&password=hunter22", PiiKind.SECRET, "hunter22", id="query-password"),
    pytest.param(
        f"GET /o?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature={HEX_KEY}",
        PiiKind.SECRET,
        HEX_KEY,
        id="query-signature",
    ),
    pytest.param(
        "POST /oauth/token?client_secret=cs_9f8e7d6c5b4a",
        PiiKind.SECRET,
        "cs_9f8e7d6c5b4a",
        id="query-client-secret",
    ),
    pytest.param(
        "POST /oauth/token?grant_type=refresh_token&refresh_token=rt_1a2b3c4d5e6f",
        PiiKind.SECRET,
        "rt_1a2b3c4d5e6f",
        id="query-refresh-token",
    ),
    pytest.param(
        "https://app.acme.io/cb#id_token=it_1a2b3c4d5e6f&state=x",
        PiiKind.SECRET,
        "it_1a2b3c4d5e6f",
        id="fragment",
    ),
    pytest.param(
        "GET /oauth/callback?code=SplxlOBeZQQYbYS6WxSbIA&state=xyz",
        PiiKind.SECRET,
        "SplxlOBeZQQYbYS6WxSbIA",
        id="oauth-code-beside-state",
    ),
    pytest.param(
        "GET /v1/x?access_token=abc%2B123%2Fdef456",
        PiiKind.SECRET,
        "abc%2B123%2Fdef456",
        id="query-url-encoded",
    ),
    pytest.param("retry with api_key=ab12cd34ef56 now", PiiKind.SECRET, "ab12cd34ef56", id="pair-api-key"),
    pytest.param(
        "level=info msg=login password=hunter2 user=ana", PiiKind.SECRET, "hunter2", id="pair-password"
    ),
    pytest.param('db passwd="Tr0ub4dor&3" host=db', PiiKind.SECRET, "Tr0ub4dor&3", id="pair-quoted"),
    pytest.param('{"event":"login","pwd":"hunter22"}', PiiKind.SECRET, "hunter22", id="pair-json-text"),
    pytest.param(
        '{\\"client_secret\\": \\"s3cr3tValue99\\"}', PiiKind.SECRET, "s3cr3tValue99", id="pair-escaped-json"
    ),
    pytest.param(
        "accessToken: ya29a0AfH6SMBx3 next", PiiKind.SECRET, "ya29a0AfH6SMBx3", id="pair-camel-case"
    ),
    pytest.param(
        "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLE",
        PiiKind.SECRET,
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLE",
        id="pair-aws-secret",
    ),
    pytest.param(
        'Authorization: Digest username="ana", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093"',
        PiiKind.SECRET,
        'Digest username="ana", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093"',
        id="authorization-header-line",
    ),
    pytest.param(
        "Cookie: sid=s%3Aab12cd34; theme=dark", PiiKind.SECRET, "sid=s%3Aab12cd34; theme=dark", id="cookie"
    ),
    pytest.param(
        "Set-Cookie: session_token=abc123def456; Path=/",
        PiiKind.SECRET,
        "session_token=abc123def456; Path=/",
        id="set-cookie",
    ),
    pytest.param(
        f"key: {PEM} end",
        PiiKind.API_KEY,
        PEM,
        id="pem-private-key",
    ),
]


@pytest.mark.parametrize(("text", "kind", "value"), SECRETS)
def test_secrets_are_found_by_their_names_at_the_values_offset(text: str, kind: PiiKind, value: str) -> None:
    (match,) = DETECTOR.matches(text)
    assert match.kind is kind
    assert (match.start, match.end) == (text.index(value), text.index(value) + len(value))
    assert value not in match.preview


def test_a_bearer_or_basic_header_is_one_finding_of_its_scheme_not_also_a_secret_header() -> None:
    for text, kind in [
        ("Authorization: Bearer abcDEF123456ghiJKL", PiiKind.BEARER_TOKEN),
        (f"Authorization: Basic {BASIC}", PiiKind.BASIC_AUTH),
        (f"?access_token={JWT}", PiiKind.JWT),
        ("api_key=sk_live_51HabcdefGHIJKLmnop", PiiKind.API_KEY),
    ]:
        assert [m.kind for m in DETECTOR.matches(text)] == [kind], text


REDACTED_SECRETS = [
    "password=[REDACTED]",
    "password=***",
    "password=",
    "password: ''",
    'password: "<redacted>"',
    "api_key=********",
    "api_key=<your-api-key>",
    "api_key=[REDACTED:SECRET]",
    "client_secret=${CLIENT_SECRET}",
    "token={{ token }}",
    "DB_PASSWORD=$DB_PASSWORD",
    "secret=[FILTERED]",
    "secret=sk_****abcd",
    "x-api-key: xxxxxxxxxxxxxxxx",
    "Authorization: Basic [REDACTED]",
    "Authorization: Basic ***",
    "Authorization: Bearer [REDACTED:BEARER_TOKEN]",
    "Authorization: <redacted>",
    "Authorization: REDACTED",
    "Cookie: [REDACTED]",
    "Basic xxxxxxxxxxxx",
    f"Basic {'dXNlcjpbUkVEQUNURURd'}",  # base64("user:[REDACTED]")
    "GET /x?access_token=[REDACTED]&token=***&api_key=",
    "GET /x?password=%5BREDACTED%5D",
    "-----BEGIN PRIVATE KEY-----[REDACTED]-----END PRIVATE KEY-----",
]


@pytest.mark.parametrize("text", REDACTED_SECRETS)
def test_redacted_secrets_are_not_leaks(text: str) -> None:
    assert DETECTOR.matches(text) == []


HARMLESS_NAMES = [
    "token_count=12345678 tokens_used=99999999",
    "password_changed_at=2026-03-01T12:00:00Z",
    "password_reset_required=true",
    "api_key_id=key_0123456789 api_key_name=partner-prod",
    "next_page_token=CiAKGjBpNDd2Nmp2Zml2 pageToken=CiAKGjBpNDd2Nmp2Zml2",
    "GET /v1/x?page_token=abc123def456&next_token=abc123def456",
    "max_tokens=4096 prompt_tokens=123456789 tokenizer=cl100k_base",
    "token_type=Bearer expires_in=3600",
    "idempotency_key=ik_0123456789abcdef cache_key=orders:123456",
    "token: expired",
    "token: refreshed",
    "password: changed",
    "password changed successfully",
    "token refresh failed: invalid_grant",
    "if token == expected_token:",
    "Token::parse(input)",
    "has_password=true secret=false",
    "GET /errors?code=GATEWAY_TIMEOUT_1234",  # no state: not an OAuth callback
    "Basic auth is required",
    "basic plan costs 12 dollars",
    "PWD=/home/support/app OLDPWD=/home/support",
    "Authorization: required",
    "circuit breaker open for 30000 ms",
]


@pytest.mark.parametrize("text", HARMLESS_NAMES)
def test_names_that_only_look_like_secrets_are_not_leaks(text: str) -> None:
    assert DETECTOR.matches(text) == []


# ----------------------------------------------------------------------------- national ids

NATIONAL_IDS = [
    pytest.param("cuil 20-30123456-3 ok", "20-30123456-3", "CUIL", id="cuil"),
    pytest.param("titular 20-30123456-3", "20-30123456-3", "CUIL", id="cuil-unlabelled"),
    pytest.param("emisor 30-71234567-1.", "30-71234567-1", "CUIT", id="cuit-company"),
    pytest.param("CUIT: 20301234563", "20301234563", "CUIT", id="cuit-plain-labelled"),
    pytest.param("holder 536-90-4399 ok", "536-90-4399", "SSN", id="ssn"),
    pytest.param("SSN 536904399", "536904399", "SSN", id="ssn-plain-labelled"),
    pytest.param("paid to 900.123.456-8 today", "900.123.456-8", "NIT", id="nit"),
    pytest.param("NIT: 9001234568", "9001234568", "NIT", id="nit-plain-labelled"),
    pytest.param("C.C. 1.020.304.050 ok", "1.020.304.050", "CEDULA", id="cedula-cc"),
    pytest.param("cédula de ciudadanía Nº 52.123.456", "52.123.456", "CEDULA", id="cedula-label"),
    pytest.param("CÉDULA: 1020304050", "1020304050", "CEDULA", id="cedula-upper"),
    pytest.param("cliente con DNI Nº 30.123.456", "30.123.456", "DNI", id="dni-argentina"),
    pytest.param("customer_dni=10117410 ok", "10117410", "DNI", id="dni-peru"),
    pytest.param("dni: 10117410-2", "10117410-2", "DNI", id="dni-peru-check-character"),
    pytest.param("numero_documento=1020304050", "1020304050", "DOCUMENT", id="documento"),
    pytest.param("national id 12345678", "12345678", "NATIONAL_ID", id="national-id"),
    pytest.param("RUC 10054148289", "10054148289", "RUC", id="ruc"),
    pytest.param("civil id 288020122596", "288020122596", "CIVIL_ID", id="kuwait-labelled"),
    pytest.param("holder 288020122596 ok", "288020122596", "CIVIL_ID", id="kuwait-unlabelled"),
]


@pytest.mark.parametrize(("text", "value", "detail"), NATIONAL_IDS)
def test_national_ids_of_every_marketplace_country(text: str, value: str, detail: str) -> None:
    (match,) = DETECTOR.matches(text)
    assert (match.kind, match.detail) == (PiiKind.NATIONAL_ID, detail)
    assert (match.start, match.end) == (text.index(value), text.index(value) + len(value))
    assert value not in match.preview


@pytest.mark.parametrize(
    "text",
    [
        "order 30123456789 at 1714564800123",  # 11 and 13 digits, no label
        "order ord_20260301123456 created 20260301123456",
        "shipment 1020304050 weight 30123456 g",  # cédula/DNI-sized, but nothing says so
        "ref 288020122597",  # Kuwait-shaped, check digit wrong
        "ref 20-30123456-4",  # CUIL-shaped, check digit wrong
        "ref 000-12-3456 666-12-3456 900-12-3456 536-00-4399 536-90-0000 078-05-1120",  # no SSN
        "ref 900.123.456-7",  # NIT check digit wrong
        "cuit 20301234564",  # labelled, check digit wrong
        "dni 123",  # labelled, too short
        "documento fiscal 1020304050",  # the label is not followed by the number
        "dni_hash=8f14e45fceea167a ssn_last4=4399 tipo_documento=CC",
        "unit 1234567 init 99999999 construct 1234567 dnis 12345678",
        "dni=00000000 cc=1111111111",  # placeholders
        "550e8400-e29b-41d4-a716-446655440000 2026-03-01 12:30:45",
    ],
)
def test_order_ids_timestamps_and_failed_checks_are_not_national_ids(text: str) -> None:
    assert DETECTOR.matches(text) == []


# ----------------------------------------------------------------------------- JSON: by key


def test_json_values_are_judged_by_their_keys() -> None:
    document = {
        "spans": [
            {
                "attributes": {
                    "http.request.header.authorization": f"Basic {BASIC}...",
                    "http.request.header.x-api-key": HEX_KEY,
                    "http.url": "https://api.acme.io/v1/orders?limit=50&access_token=abc123DEF456ghi",
                    "http.request.header.cookie": "sid=s%3Aab12cd34",
                    "token_count": "12345678",
                    "tokens_used": 1234,
                    "password_changed_at": "2026-03-01T12:00:00Z",
                    "api_key_id": "key_0123456789",
                }
            }
        ],
        "headers": {"Authorization": ["Digest username=ana, response=6629fae49393a05397450978507c4ef1"]},
        "customer": {
            "dni": "30.123.456",
            "cedula": 1020304050,
            "national_id": "12345678",
            "ssn": "536904399",
            "cuil": "20301234563",
            "ruc": 10054148289,
            "documento": "[REDACTED]",
            "order_id": 30123456,
            "cc": "none",
            "tipo_documento": "CC",
        },
        "password": "[REDACTED]",
        "client_secret": "***",
        "refresh_token": "<redacted>",
        "cookie": "",
    }
    found = {
        (f.json_path, f.offset, f.kind, f.detail) for f in scan_document(document, "trace.json", DETECTOR)
    }
    attributes = "$.spans[0].attributes"
    assert found == {
        (f'{attributes}["http.request.header.authorization"]', 0, PiiKind.BASIC_AUTH, "basic"),
        (
            f'{attributes}["http.request.header.x-api-key"]',
            0,
            PiiKind.SECRET,
            "field http.request.header.x-api-key",
        ),
        (f'{attributes}["http.url"]', 52, PiiKind.SECRET, "query access_token"),
        (
            f'{attributes}["http.request.header.cookie"]',
            0,
            PiiKind.SECRET,
            "field http.request.header.cookie",
        ),
        ("$.headers.Authorization[0]", 0, PiiKind.SECRET, "field Authorization"),
        ("$.customer.dni", 0, PiiKind.NATIONAL_ID, "DNI"),
        ("$.customer.cedula", 0, PiiKind.NATIONAL_ID, "CEDULA"),
        ("$.customer.national_id", 0, PiiKind.NATIONAL_ID, "NATIONAL_ID"),
        ("$.customer.ssn", 0, PiiKind.NATIONAL_ID, "SSN"),
        ("$.customer.cuil", 0, PiiKind.NATIONAL_ID, "CUIL"),
        ("$.customer.ruc", 0, PiiKind.NATIONAL_ID, "RUC"),
    }


def test_secret_and_document_names() -> None:
    assert secret_name("http.request.header.authorization") == "header"
    assert secret_name("Proxy-Authorization") == "header"
    assert secret_name("Set-Cookie") == "header"
    assert secret_name("http.request.header.x-api-key") == "token"
    assert secret_name("XApiKey") == "token"
    assert secret_name("private_key") == "token"
    assert secret_name("userPassword") == "password"
    for harmless in ["token_count", "tokens_used", "password_changed_at", "api_key_id", "cache_key"]:
        assert secret_name(harmless) is None, harmless
    for harmless in ["next_page_token", "nextPageToken", "tokenizer", "secretary", "key"]:
        assert secret_name(harmless) is None, harmless
    assert id_document_name("customer.dni") == "DNI"
    assert id_document_name("numero_documento") == "DOCUMENT"
    assert id_document_name("document_number") == "DOCUMENT"
    assert id_document_name("cedula_de_ciudadania") == "CEDULA"
    assert id_document_name("nationalId") == "NATIONAL_ID"
    for harmless in ["document", "dni_hash", "ssn_last4", "order_id", "accent"]:
        assert id_document_name(harmless) is None, harmless


def test_streaming_finds_named_secrets_split_across_chunks_once() -> None:
    filler = " lorem ipsum dolor sit amet" * 40 + " "
    leaks = ["ab12cd34ef56gh78", "abc123DEF456ghi", "20301234563"]
    text = f"{filler}api_key={leaks[0]}{filler}GET /x?access_token={leaks[1]} {filler}cuil {leaks[2]}"
    expected = sorted((text.index(v), len(v)) for v in leaks)
    for chunk in (1, 7, 64, 333, len(text)):
        found = _stream(text, chunk, window=256, overlap=64, max_buffer=4096)
        assert sorted((f.offset, f.length) for f in found) == expected, chunk


def test_the_new_kinds_are_counted_in_priority_order() -> None:
    collector = FindingCollector()
    for kind in (PiiKind.NATIONAL_ID, PiiKind.SECRET, PiiKind.BASIC_AUTH, PiiKind.SECRET):
        collector.add(PiiFinding("f", None, 0, 5, kind, "x", "**"))
    assert list(collector.summary().by_kind.items()) == [("BASIC_AUTH", 1), ("SECRET", 2), ("NATIONAL_ID", 1)]
