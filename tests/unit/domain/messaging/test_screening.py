"""Screening: each blocked form and each allowed form of issue 7, one by one.

The phone finder is the real adapter: ``phonenumbers`` is a pure library (no I/O).
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from adapters.screening import MarketplacePhoneFinder
from domain.messaging.screening import (
    Finding,
    FindingKind,
    Screener,
    ScreeningPolicy,
    screen,
)
from domain.shared.country import CountryCode

SCREENER = Screener(MarketplacePhoneFinder())
K = FindingKind


def kinds(text: str) -> set[FindingKind]:
    return set(SCREENER.screen(text).kinds)


def excerpts(text: str, kind: FindingKind) -> list[str]:
    return [f.excerpt(text) for f in SCREENER.screen(text).findings if f.kind is kind]


# --------------------------------------------------------------------------- phones


@pytest.mark.parametrize(
    ("text", "number"),
    [
        # digits with spaces, dots, dashes, brackets
        ("escríbeme al 315 555 1234", "315 555 1234"),
        ("me chama no 21.99876.5432", "21.99876.5432"),
        ("call 415-555-0188 later", "415-555-0188"),
        ("Llámame: (55) 8765-4321", "(55) 8765-4321"),
        ("cel 300 – 555 – 0011 ok", "300 – 555 – 0011"),
        ("mi cel 311/555/2020", "311/555/2020"),
        ("3 1 0 - 5 5 5 - 0 1 9 9 ese", "3 1 0 - 5 5 5 - 0 1 9 9"),
        # country codes, international prefixes, every marketplace country
        ("+52 55 1234 5678", "+52 55 1234 5678"),  # MX
        ("whatsapp +52 1 55 2345 6789", "+52 1 55 2345 6789"),  # MX with the retired mobile 1
        ("+57 320 555 4433 ahí", "+57 320 555 4433"),  # CO
        ("0057 3205554433", "0057 3205554433"),  # CO, 00 prefix
        ("+55 (31) 9 9123-4567, chama", "+55 (31) 9 9123-4567"),  # BR
        ("+54 9 11 4567-8901", "+54 9 11 4567-8901"),  # AR
        ("mi fono es +56 9 8765 4321", "+56 9 8765 4321"),  # CL
        ("(+51) 987 654 321 es mi número", "+51) 987 654 321"),  # PE
        ("tel: +34 612 34 56 78", "+34 612 34 56 78"),  # ES
        ("call me: +1 646 555 0123", "+1 646 555 0123"),  # US
        # national formats without a country code
        ("me chama no 11 98765-4321", "11 98765-4321"),
        ("Escribime al 11 4567-8901", "11 4567-8901"),
        ("número de la tienda: 998 765 432", "998 765 432"),
        ("llama al 91 123 45 67", "91 123 45 67"),
        ("text me at (212) 555-0199", "(212) 555-0199"),
    ],
)
def test_phone_numbers_in_common_formats_are_blocked(text: str, number: str) -> None:
    assert number in excerpts(text, K.PHONE) or any(number in e for e in excerpts(text, K.PHONE))


@pytest.mark.parametrize(
    "text",
    [
        "tres uno cinco cinco cinco cinco uno dos tres cuatro",  # es, digit by digit
        "márcame al tres uno cinco, cinco cinco cinco, doce treinta y cuatro",  # es, pairs
        "trescientos quince, quinientos cincuenta y cinco, doce treinta y cuatro",  # es, hundreds
        "número: tres 1 cinco 5 cinco 5 uno 2 tres 4",  # mixed words and digits
        "mi número: nueve ocho siete seis cinco cuatro tres dois um",  # PE, es/pt mixed
        "meu cel é onze nove oito sete seis cinco quatro três dois um",  # pt
        "me liga: vinte e um, nove nove oito sete seis, cinco quatro três dois",  # pt, tens with "e"
        "onze, nove nove oito sete meia, cinco quatro três dois",  # pt "meia" is six
        "three oh five, five five five, zero one four seven",  # en, "oh" for zero
        "double five, one two three four, five six seven eight",  # en, "double"
        "Three one five. Five five five. One two three four.",
    ],
)
def test_spelled_out_digits_in_spanish_portuguese_and_english_are_blocked(text: str) -> None:
    assert K.PHONE in kinds(text)


@pytest.mark.parametrize(
    "text",
    [
        "Mi numero es 3l5 555 l234",  # look-alike letters
        "cualquier cosa 310 555 O199",
        "3️⃣1️⃣5️⃣ 5️⃣5️⃣5️⃣ 1️⃣2️⃣3️⃣4️⃣",  # keycap emoji
        "３１５ ５５５ １２３４",  # fullwidth digits
        "3\u200b1\u200b5 555 1234",  # zero-width spaces
        "mi numero es 4567-8901",  # a local number right after a contact word
        "whats: 555 0199 0",
    ],
)
def test_obfuscated_and_local_numbers_are_blocked(text: str) -> None:
    assert K.PHONE in kinds(text)


@pytest.mark.parametrize(
    "text",
    [
        "55 -- 1234 -- 5678",
        "55 ... 1234 ... 5678",
        "11 . . . 98765 . . . 4321",
        "5    5    1    2    3    4    5    6    7    8",
        "cinco cinco -- uno dos tres cuatro -- cinco seis siete ocho",
        "mi cel: 315 - - - 555 - - - 1234",
    ],
)
def test_numbers_with_long_runs_of_separators_are_blocked(text: str) -> None:
    assert K.PHONE in kinds(text)


@pytest.mark.parametrize(
    ("text", "run"),
    [
        ("55 -- 1234 -- 5678", "55 1234 5678"),
        ("11 . . . 98765 . . . 4321", "11 98765 4321"),
        ("5    5    1    2    3    4    5", "5 5 1 2 3 4 5"),
    ],
)
def test_long_separator_runs_reach_the_port_as_single_spaces(text: str, run: str) -> None:
    finder = EveryRun()
    screen(text, finder)
    assert finder.seen == [run]


@pytest.mark.parametrize(
    "text",
    [
        "4821 ---- 4822 ---- 4823",  # order numbers in a list: no valid phone
        "12/05 ---- 13/05 ---- 14/05",  # dates
        "Llegó el 05-03-2026 ---- 06-03-2026",
        "entre 8:00 ... 12:00 ... 15:00 llego",  # times
        "R$ 89,90 .... R$ 99,90 .... R$ 120,00",  # amounts
        "Son 2 cajas ... 12 rosas ... 24 cupcakes",  # quantities
        "1 . . . 2 . . . 3 . . . 4 . . . 5 . . . 6 . . . 7",
        "315 12/05 555 1234",  # a masked date is not a long separator
    ],
)
def test_long_separator_runs_between_dates_amounts_and_quantities_pass(text: str) -> None:
    assert SCREENER.screen(text).findings == ()


def test_a_phone_finding_points_at_the_words_the_sender_typed() -> None:
    text = "ok, mi número es tres 1 cinco cinco cinco cinco uno dos tres cuatro gracias"
    (phone,) = [f for f in screen(text, MarketplacePhoneFinder()).findings if f.kind is K.PHONE]
    assert phone.excerpt(text) == "tres 1 cinco cinco cinco cinco uno dos tres cuatro"
    assert phone.rule == "phone-number"


# --------------------------------------------------------------------------- e-mail, links, handles


@pytest.mark.parametrize(
    "text",
    [
        "mi correo es ana.flores@gmail.com",
        "escríbeme a juanperez arroba hotmail punto com",
        "mi mail: carla punto ruiz arroba gmail punto com",
        "contacto[at]floreriaelsol[punto]com",
        "mejor por correo: anita93 @ hotmail . com",
        "me manda no e-mail marina arroba bol ponto com ponto br",
        "email me at mike.jones at gmail dot com",
        "send it to tom(at)yahoo(dot)com",
        "mandame un mail a lucho arroba gmail",
        "ｊｕａｎ＠ｇｍａｉｌ．ｃｏｍ",
    ],
)
def test_email_addresses_and_their_at_dot_spellings_are_blocked(text: str) -> None:
    assert K.EMAIL in kinds(text)


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("maria.lopez@empresa.it", "maria.lopez@empresa.it"),
        ("contact me at maria@studio.design", "maria@studio.design"),
        ("juan@empresa.ca", "juan@empresa.ca"),
        ("maria@studio.uk", "maria@studio.uk"),
        ("juan@empresa.ai", "juan@empresa.ai"),
        ("mi correo ventas@floreria.tech", "ventas@floreria.tech"),
        ("maria at studio dot design", "maria at studio dot design"),
        ("escribe a ana @ studio . design", "ana @ studio . design"),
        ("ventas arroba floreria punto tech", "ventas arroba floreria punto tech"),
        ("maria [at] studio [dot] design", "maria [at] studio [dot] design"),
        ("meu email: bia(a)doces(ponto)com(ponto)it", "bia(a)doces(ponto)com(ponto)it"),
    ],
)
def test_email_addresses_are_blocked_whatever_their_ending(text: str, address: str) -> None:
    assert excerpts(text, K.EMAIL) == [address]


@pytest.mark.parametrize(
    "text",
    [
        "meet at the park. Dot matrix printer",
        "look at the dot on the box",
        "I'm at the door. Dot said hi",
        "the polka dot at the top dot is missing",
        "nos vemos @ casa. Mañana temprano",  # "@" for "at", then a full stop
        "Estoy en el punto de encuentro",
        "llego a las 5 en punto",
        "o entregador está no ponto de ônibus",
    ],
)
def test_at_and_dot_in_ordinary_sentences_are_not_an_email(text: str) -> None:
    assert SCREENER.screen(text).findings == ()


def test_a_handle_with_an_inner_dot_stays_a_handle() -> None:
    assert kinds("búscame como @dulces.sofi") == {K.HANDLE}


@pytest.mark.parametrize(
    "text",
    [
        "https://bit.ly/3xYz12",
        "mira www.floresdelvalle.com.mx",
        "compra en mitiendita.shop",
        "linktr.ee/regalosmaru",
        "acessa lojadaana.com.br",
        "mira mi página floreriaelsol punto com",
        "te mando el enlace: www . tortaslaabuela . com",
    ],
)
def test_links_are_blocked(text: str) -> None:
    assert K.LINK in kinds(text)


@pytest.mark.parametrize(
    "text",
    [
        "hablemos por WhatsApp",
        "te escribo por guasap",
        "me chama no zap",
        "mejor por wpp",
        "W.h.a.t.s.a.p.p?",
        "w h a t s a p p",
        "wh4ts4pp mejor",
        "wa.me/5215512345678",
        "vamos falar pelo telegram",
        "t.me/regalosmx",
        "sígueme en instagram",
        "mi ig: regalosmaru",
        "búscame como @dulces.sofi",
        "message me on Telegram @mike_gifts",
        "DM me",
        "me adiciona no face",
        "snap me later",
    ],
)
def test_messaging_apps_and_handles_are_blocked(text: str) -> None:
    assert kinds(text) & {K.HANDLE, K.LINK}


@pytest.mark.parametrize(
    ("text", "domain"),
    [
        ("compra directo en floreriaelsol.mx y te sale mas barato", "floreriaelsol.mx"),
        ("entra a regalosmaru.cl", "regalosmaru.cl"),
        ("dulcesdeana.pe", "dulcesdeana.pe"),
        ("tortaslaabuela.es", "tortaslaabuela.es"),
        ("giftsbymike.co", "giftsbymike.co"),
        ("compra direto em docesdabia.br", "docesdabia.br"),
        ("más barato en regalitos.ar.", "regalitos.ar"),
        ("check out cakesbyana.me", "cakesbyana.me"),
        ("mira tienda.globosfiesta.mx", "tienda.globosfiesta.mx"),
        ("TORTASLAABUELA.ES", "TORTASLAABUELA.ES"),  # shouted, still a domain
    ],
)
def test_bare_domains_on_the_marketplaces_country_tlds_are_links(text: str, domain: str) -> None:
    findings = [f for f in SCREENER.screen(text).findings if f.kind is K.LINK]
    assert [(f.excerpt(text), f.rule) for f in findings] == [(domain, "bare-domain")]


@pytest.mark.parametrize(
    "text",
    [
        "Ya llegó.Es muy bonito",  # a missing space after a full stop, before a capital
        "Gracias.Me llegó todo bien",
        "ya lo recibí.me encantó",  # after an accented word
        "Muchas gracias.me llegó bien",  # a short word that ends sentences
        "Chegou tudo certo.Me avisa",
        "ok.mx sigo esperando",  # abbreviations and short words
        "rosas, tulipanes, etc.es todo",
        "Sr.Es usted muy amable",
        "pesa 2.5.es",
        "el total fue 1.250.mx",
    ],
)
def test_a_full_stop_without_its_space_is_not_a_bare_domain(text: str) -> None:
    assert SCREENER.screen(text).findings == ()


def test_a_bare_domain_inside_a_url_or_an_email_keeps_its_own_finding() -> None:
    assert [(f.kind, f.rule) for f in SCREENER.screen("www.floresdelvalle.com.mx").findings] == [
        (K.LINK, "link")
    ]
    assert [f.kind for f in SCREENER.screen("ventas@floreria.mx").findings] == [K.EMAIL]
    policy = ScreeningPolicy(allowed_domains=frozenset({"supportos.mx"}))
    assert not screen("ayuda en supportos.mx", MarketplacePhoneFinder(), policy).blocked


@pytest.mark.parametrize(
    "text",
    [
        "my twitter is juanito88",
        "mi twitter juanito88",
        "sígueme en tuiter",
        "my snap is juanito88",
        "mi snap es regalos_maru",
        "my kik is juanito88",
        "agregame en line: juanito88",
        "my line id is mikeflowers",
        "mi threads es juanito88",
        "meu threads é doces.bia",
        "estoy en x: dulces_sofi",
        "mi x es juanito88",
        "my x is @juanito",
        "snap: juan_88",
        "l1ne: juanito88",  # leet
    ],
)
def test_handles_on_twitter_x_kik_line_snap_and_threads_are_blocked(text: str) -> None:
    assert K.HANDLE in kinds(text)


@pytest.mark.parametrize(
    "text",
    [
        "lo compré online",
        "el repartidor aparece en línea",
        "the courier is waiting in line at the gate",
        "my line is busy, write here",
        "la caja mide 20 x 30, talla XL",
        "2 x 3 metros",
        "Oh snap, I forgot the card",
        "snap a photo of the box please",
        "my snap is broken",  # a garment's snap, no handle
        "the threads on the ribbon came loose",
        "my threads are loose",
        "los hilos del moño se soltaron",
        "line 2 of the invoice is wrong",
    ],
)
def test_line_x_snap_and_threads_as_ordinary_words_pass(text: str) -> None:
    assert SCREENER.screen(text).findings == ()


# --------------------------------------------------------------------------- paying outside


@pytest.mark.parametrize(
    "text",
    [
        "te hago una transferencia bancaria",  # bank transfer, es
        "faz uma transferência bancária",  # pt
        "bank transfer is fine",  # en
        "faz um pix",  # Pix
        "minha chave pix é meu cpf",
        "te pago por Nequi",  # Nequi
        "aceptas Zelle?",  # Zelle
        "send me the money on PayPal",  # PayPal
        "te pago por Mercado Pago",  # Mercado Pago
        "págame en efectivo",  # cash, es
        "te pago em dinheiro na entrega",  # cash, pt
        "I'll pay you cash",  # cash, en
        "acepto bitcoin o USDT",  # crypto
        "I accept crypto",
        "pásame tu CBU y te transfiero",
        "si me pagas por fuera te hago descuento",
        "hagámoslo fuera de la app y nos ahorramos la comisión",
        "sem taxa se for por fora do app",
        "let's do this outside the app to avoid the fees",
    ],
)
def test_requests_to_pay_outside_the_platform_are_blocked(text: str) -> None:
    assert K.PAYMENT in kinds(text)


@pytest.mark.parametrize(
    "text",
    [
        "pásame tu número",
        "me passa seu número?",
        "what's your number?",
        "dame tu correo",
        "qual é o seu zap?",
    ],
)
def test_asking_for_contact_details_is_blocked(text: str) -> None:
    assert K.CONTACT_REQUEST in kinds(text)


# --------------------------------------------------------------------------- abuse


@pytest.mark.parametrize(
    "text", ["eres un idiota", "pendejo, contesta", "vai se foder", "seu lixo", "fuck you", "you're an idiot"]
)
def test_abusive_terms_are_blocked(text: str) -> None:
    assert K.ABUSE in kinds(text)


def test_the_abusive_terms_are_configurable_per_language() -> None:
    policy = ScreeningPolicy(abusive_terms={"es": ("zoquete",)})
    assert screen("eres un zoquete", MarketplacePhoneFinder(), policy).kinds == {K.ABUSE}
    assert not screen("eres un idiota", MarketplacePhoneFinder(), policy).blocked
    with pytest.raises(ValueError, match="two-letter language"):
        ScreeningPolicy(abusive_terms={"spanish": ("x",)})


# --------------------------------------------------------------------------- allowed


@pytest.mark.parametrize(
    "text",
    [
        # order numbers (ours: the country and 8 digits), and internal ids
        "¿a qué hora llega mi pedido MX-48213377?",
        "número de pedido CO-55512345",
        "order US-77812345",
        "pedido ord_0190a1b2c3d4e5f6a7b8",
        "Pedido #4821 y #4822",
        # tracking codes of our couriers
        "El código de seguimiento es SOS-TRK-48213377",
        "rastreio SOS TRK 10293847",
        # prices and amounts
        "Pagué $1.250.000 y me cobraron dos veces",
        "Total: R$ 1.250,00",
        "S/ 120.00 fue lo que pagué",
        "me cobraron 2 veces $459.00 MXN",
        "cuesta 350 pesos",
        "$ 35.990 CLP",
        "It's $35 plus delivery",
        # dates and times
        "¿Pueden entregar el 15/03/2026?",
        "Entrega programada: 2026-05-10 entre 8:00 y 12:00",
        "Llegó el 05-03-2026 a las 7:30 pm",
        "o entregador chega entre 14h e 16h",
        "Mañana 12/05 a las 10",
        # street addresses and postal codes
        "Calle 93 # 11-27, apto 502, Bogotá",
        "Av. Insurgentes Sur 1602, piso 4, CP 03940, CDMX",
        "Av. Paulista 1578, 12º andar, CEP 01310-200",
        "350 Fifth Avenue, Apt 12B, New York, NY 10118",
        "Diagonal 25 G # 95 A - 55, Bogotá",
        # quantities
        "Son 2 cajas de chocolates y 12 rosas rojas",
        "Pedí 24 cupcakes y llegaron 18",
        "el paquete pesa 2,5 kg",
        # identity numbers in their official shapes, when asked for an invoice
        "O CPF pra nota é 123.456.789-09",
        "Mi DNI es 12345678",
        # words that merely look like the blocked ones
        "el reembolso será efectivo en 5 días",
        "la caja venía rota por fuera",
        "¿me pueden transferir con un supervisor?",
        "Whats the status of my order?",
        "There's no signal in the elevator",
        "I'm at the front gate",
        "My phone is almost dead so I'm writing here",
        "Hola, soy el repartidor, ¿me confirma el número de casa?",
        "la instalación del globo",
        "Ya pagué con tarjeta en la app",
    ],
)
def test_ordinary_order_talk_is_not_blocked(text: str) -> None:
    assert SCREENER.screen(text).findings == ()


def test_links_to_allowed_domains_pass() -> None:
    policy = ScreeningPolicy(allowed_domains=frozenset({"help.supportos.example"}))
    assert not screen("see https://help.supportos.example/refunds", MarketplacePhoneFinder(), policy).blocked
    assert screen("see https://other.example.com/x", MarketplacePhoneFinder(), policy).blocked


# --------------------------------------------------------------------------- Kuwait: 8-digit numbers


KW = CountryCode("KW")


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("9876 5432", "9876 5432"),  # a mobile, as Kuwaitis group it
        ("write to 6555 1234 tonight", "6555 1234"),
        ("the shop: 2255-1234", "2255-1234"),  # a landline
        ("50123456 after six", "50123456"),
        (
            "\u0669\u0668\u0667\u0666 \u0665\u0664\u0663\u0662",
            "\u0669\u0668\u0667\u0666 \u0665\u0664\u0663\u0662",
        ),
    ],
    ids=["mobile-spaced", "mobile-in-a-sentence", "landline-dashed", "mobile-plain", "arabic-indic-digits"],
)
def test_a_kuwaiti_number_without_a_contact_word_is_blocked_in_a_kuwaiti_conversation(
    text: str, number: str
) -> None:
    result = SCREENER.screen(text, KW)
    assert [f.excerpt(text) for f in result.findings if f.kind is K.PHONE] == [number]
    # elsewhere 8 digits with no contact word are not a full national number (a Lima
    # landline, a Peruvian DNI): the same text passes in a Mexican or Peruvian conversation
    assert not SCREENER.screen(text, CountryCode("MX")).blocked
    assert not SCREENER.screen(text, CountryCode("PE")).blocked
    assert not SCREENER.screen(text).blocked


@pytest.mark.parametrize(
    "text",
    [
        "1234 5678",  # 8 digits, but no Kuwaiti line starts with 1
        "the total was 12345678 fils",
        "order KW-98213377 is late",  # our own order number
        "delivered on 2026-12-07 at 14:30",
        "4 boxes, 3 bouquets",
    ],
)
def test_eight_digits_that_are_not_a_kuwaiti_number_pass_in_a_kuwaiti_conversation(text: str) -> None:
    assert not SCREENER.screen(text, KW).blocked


def test_an_international_kuwaiti_number_is_blocked_in_every_conversation() -> None:
    for country in (KW, CountryCode("MX"), None):
        assert K.PHONE in SCREENER.screen("+965 9876 5432", country).kinds
        assert K.PHONE in SCREENER.screen("00965 98765432", country).kinds


def test_the_uncued_length_per_country_is_policy() -> None:
    policy = ScreeningPolicy(uncued_phone_digits_by_country={})
    assert not Screener(MarketplacePhoneFinder(), policy).screen("9876 5432", KW).blocked
    assert ScreeningPolicy().uncued_phone_digits(KW) == 8
    assert ScreeningPolicy().uncued_phone_digits(CountryCode("MX")) == 9
    assert ScreeningPolicy().uncued_phone_digits(None) == 9
    with pytest.raises(ValueError, match="uncued phone digits"):
        ScreeningPolicy(uncued_phone_digits_by_country={"KW": 6})
    with pytest.raises(ValueError, match="uncued phone digits"):
        ScreeningPolicy(uncued_phone_digits_by_country={"kuwait": 8})


# --------------------------------------------------------------------------- shape of the result


class NoPhones:
    def find(self, text: str) -> Sequence[tuple[int, int]]:
        return []

    def national(self, number: str, region: str) -> bool:
        return False


class EveryRun:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def find(self, text: str) -> Sequence[tuple[int, int]]:
        self.seen.append(text)
        return [(0, len(text))]

    def national(self, number: str, region: str) -> bool:
        return True


def test_the_port_gets_normalised_runs_of_digits_only() -> None:
    finder = EveryRun()
    screen("llámame al tres, uno; cinco 5 5 5 * 1 2 3 4 o al 12", finder)
    assert finder.seen == ["3 1 5 5 5 5 1 2 3 4"]
    finder = EveryRun()
    screen("pedido MX-48213377 el 15/03/2026 a las 14:30 por $1.250.000", finder)
    assert finder.seen == []  # our codes, dates, times and amounts are masked first


def test_without_the_library_a_cued_local_number_is_still_blocked() -> None:
    result = screen("mi cel es 4567 8901", NoPhones())
    assert [(f.kind, f.rule) for f in result.findings if f.kind is K.PHONE] == [
        (K.PHONE, "digits-after-contact-word")
    ]
    assert not screen("pedido 4567 8901", NoPhones()).blocked


def test_findings_name_kind_and_span_sorted_and_without_nested_duplicates() -> None:
    text = "escríbeme a juan arroba gmail punto com o al 315 555 1234 y te pago por nequi"
    result = SCREENER.screen(text)
    assert result.blocked
    assert [(f.kind, f.excerpt(text)) for f in result.findings] == [
        (K.EMAIL, "juan arroba gmail punto com"),
        (K.PHONE, "315 555 1234"),
        (K.PAYMENT, "te pago"),
        (K.PAYMENT, "nequi"),
    ]
    assert list(result.findings) == sorted(result.findings)
    assert result.findings[0].to_canonical() == {"kind": "EMAIL", "start": 12, "end": 39, "rule": "email"}


def test_a_finding_needs_a_span() -> None:
    with pytest.raises(ValueError, match="non-empty span"):
        Finding(3, 3, K.PHONE, "x")
