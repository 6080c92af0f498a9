"""Screening vocabulary, as data: patterns over *folded* text (lower case, no accents).

Every pattern here is a regular-expression fragment matched with word boundaries by
:mod:`domain.messaging.screening`; the lists are per language where the words are.
Changing what is blocked is editing these tuples (and the corpus in
``tests/data/messaging_corpus.jsonl``, which says whether the change made things better).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

# ----------------------------------------------------------------------------- our own formats

TRACKING_CODE: Final = r"sos[-\s]?trk[-\s]?\d{8}"
"""Tracking codes of the marketplace's own couriers: ``SOS-TRK-12345678`` (8 digits)."""

ORDER_NUMBER: Final = r"(?:mx|co|br|ar|cl|pe|es|us|kw)-\d{8}"
"""Order numbers as parties see them: the order's country and 8 digits, ``MX-48213377``."""

FULL_NATIONAL_NUMBER_DIGITS: Final[Mapping[str, int]] = MappingProxyType({"KW": 8})
"""Countries whose full national phone numbers have fewer digits than screening asks of an
uncued number elsewhere (9): Kuwait's mobiles and landlines have 8 (``9876 5432``)."""

PLATFORM_ID: Final = r"[a-z]{2,5}_[0-9a-z]{8,40}"
"""Internal ids (``ord_0190a1b2c3d4...``, ``dsp_...``), pasted by support or from a screen."""

MAX_PHONE_SEPARATOR: Final = 8
"""The longest run of separators typed between a phone number's groups: ``"55 -- 1234"``,
``"11 . . . 98765"``, ``"5    5    1"`` (longer, and two numbers in a list are not one)."""

# ----------------------------------------------------------------------------- messaging apps and handles

HANDLE_LIKE: Final = (
    r"(?:@[a-z0-9_][a-z0-9_.]{1,29}"
    r"|[a-z_](?=[a-z0-9_.]*(?:[0-9_]|[a-z]\.[a-z]))[a-z0-9_.]{2,29})(?![a-z0-9_@])"
)
"""A user name as people type one: ``@anything``, or a word with a digit, an underscore or an
inner dot (``juanito88``, ``juan_p``, ``dulces.sofi``) - not a plain word like "busy"."""
_PROFILE_LEAD: Final = (
    r"mi|my|meu|minha|en|on|no|na|pelo|pela|por|via|in|at|agregame\s+en|agregame\s+a|add\s+me\s+on"
    r"|me\s+adiciona\s+no"
)
_WORD_APPS: Final = r"(?:x|line|snap|threads)"
_COPULA: Final = r"is|es|e|eh|:|=|-"

MESSAGING_APPS: Final[tuple[str, ...]] = (
    # WhatsApp and its nicknames (es: wasap, guasap, wsp; pt: zap, zapzap, wpp)
    r"w+h*a+t*s+\s?a+p+s?",
    r"wh?atsap+",
    r"whats(?!\s+(?:the|up|going|wrong|happening|happened|that|this|it|your|my|a|an|in|on|with|new|next"
    r"|taking|left|missing|included|inside))",
    r"guas+a+p+",
    r"uats+a+p+",
    r"wa+s+a+p+",
    r"wsp",
    r"wpp",
    r"wapp",
    r"zap\s?zap",
    r"zap",
    r"wa\s?\.\s?me",
    # Telegram
    r"telegram",
    r"tlgrm",
    r"t\s?\.\s?me",
    # Instagram, Facebook and the rest
    r"instagram",
    r"instagran",
    r"insta",
    r"ig",
    r"facebook",
    r"fb",
    r"(?:no|pelo|meu|mi|por|en)\s+face",
    r"snap\s+me",
    r"messenger",
    r"m\.me",
    r"snapchat",
    # Twitter/X, Kik: the names are not words, a mention is enough (as for Instagram)
    r"tw(?:i|ee)tt?er",
    r"tuiter",
    r"kik",
    # X, LINE, Snap, Threads are also ordinary words ("x" a letter, "online", "snap" a verb,
    # "threads" of fabric): only as a profile, "mi line: juanito88", "my snap is @juanito88"
    rf"(?:{_PROFILE_LEAD})\s+{_WORD_APPS}(?:\s+id)?(?:\s*(?:{_COPULA})\s*|\s+){HANDLE_LIKE}",
    rf"{_WORD_APPS}(?:\s+id)?\s*:\s*{HANDLE_LIKE}",
    rf"line\s+id\s*(?:{_COPULA})\s*@?[a-z0-9_.]{{3,30}}",
    r"tik\s?tok",
    r"discord",
    r"skype",
    r"viber",
    r"wechat",
    r"imessage",
    r"(?:por|pelo|via|on)\s+signal",
    r"signal\s+app",
    r"dm",
    r"mensaje\s+directo",
    r"mensagem\s+direta",
    r"direct\s+message",
    r"inbox",
    r"(?:al|por|en|no|pelo|pro|in)\s+(?:privado|pv|priv)",
    r"(?:sigueme|seguime|siganme|follow\s+me|add\s+me\s+on|hit\s+me\s+up\s+on|buscame\s+(?:en|como)"
    r"|me\s+procura\s+(?:no|como)|me\s+segue\s+no|me\s+sigue\s+no|find\s+me\s+on)",
    r"(?:mi|my|meu|minha)\s+(?:usuario|user(?:name)?|perfil|profile|handle|nick|arroba)",
    r"arroba\s+[a-z0-9_.]{3,}",
)
"""Off-platform messaging: app names (with the usual misspellings), app links, "DM me"."""

HANDLE: Final = r"(?<![\w@.])@[a-z0-9_][a-z0-9_.]{1,29}(?![\w@]|\.[a-z])"
"""``@handle`` (an e-mail address is matched as an e-mail instead)."""

# ----------------------------------------------------------------------------- e-mail and links

_SPELLED_AT: Final = r"\(\s*(?:at|arroba|a)\s*\)|\[\s*(?:at|arroba|a)\s*\]|\{\s*(?:at|arroba)\s*\}|\barroba\b"
"""``at`` written so that it can only mean the sign: ``arroba``, ``(at)``, ``[a]``, ``{at}``."""
AT: Final = rf"(?:@|{_SPELLED_AT}|\bat\b)"
_SPELLED_DOT: Final = (
    r"\(\s*(?:dot|punto|ponto|\.)\s*\)|\[\s*(?:dot|punto|ponto|\.)\s*\]|\bdot\b|\bpunto\b|\bponto\b"
)
"""``dot``, ``punto``, ``ponto``, ``(.)``, ``[dot]``: a dot written out."""
DOT: Final = rf"(?:\.|{_SPELLED_DOT})"
EMAIL_TLDS: Final = r"(?:com|net|org|edu|gov|es|mx|co|br|ar|cl|pe|us|io|me|info|biz|uy|pt|app)"
MAIL_PROVIDERS: Final = (
    r"(?:gmail|googlemail|hotmail|outlook|yahoo|ymail|live|icloud|proton(?:mail)?|uol|bol|terra|msn"
    r"|aol|gmx|zoho|yandex)"
)

_LABEL: Final = r"[a-z0-9-]{1,63}"
"""One label of a domain. Every part of an address is bounded (a label 63 characters, the
local part 64, at most 9 labels), as in DNS and RFC 5321, so that no message makes the
patterns backtrack for seconds (a 2,000-character ``a.b.a.b...`` took 1.5 s unbounded)."""
_ANY_TLD: Final = r"[a-z]{2,24}"
"""Any ending (``.it``, ``.design``, ``.tech``): the ending is not what makes an address."""
_ADDRESS_DOT: Final = rf"(?:\.(?!\s)|\s+\.\s*|\s*(?:{_SPELLED_DOT})\s*)"
"""A dot inside an address: ``.`` with no space after it unless there is one before it too
(``studio . design``), or spelled out - never a full stop ending a sentence (``casa. Mañana``)."""
_WORD_DOT: Final = rf"\s*(?:{_SPELLED_DOT})\s*"
_NOT_A_NAME: Final = (
    r"(?:the|a|an|this|that|these|those|my|your|ur|his|her|our|their|its|it|him|them|me|you|us|some|any"
    r"|each|every|one|all|least|last|first|most|el|la|lo|los|las|un|una|mi|tu|su|o|os|as|um|uma|meu"
    r"|minha|seu|sua|este|esta|ese|esa|esse|essa)"
)
"""Words after a plain "at" that start a phrase, not a domain ("look at the dot on the box")."""
_NOT_A_TLD: Final = (
    r"(?:on|in|is|of|at|to|and|or|the|an|it|as|by|for|from|with|near|next|here|there|was|are|be|if|so"
    r"|de|del|en|que|da|do|na|no|se|por|para|pra|con|em|final|matrix|dot|punto|ponto)"
)
"""Words after a spelled-out "dot" that go on a sentence, not an address ("a dot on the box")."""

EMAIL_PATTERNS: Final[tuple[str, ...]] = (
    # an address with the sign, any ending: "maria.lopez@empresa.it", "ana @ studio . design"
    rf"[a-z0-9][a-z0-9._%+-]{{0,63}}(?:@\s*|\s+@\s+){_LABEL}(?:{_ADDRESS_DOT}{_LABEL}){{0,8}}{_ADDRESS_DOT}{_ANY_TLD}",
    # "arroba", "(at)", "[a]": any ending too, "ventas arroba floreria punto tech"
    rf"[a-z0-9][a-z0-9._%+-]{{0,63}}\s*(?:{_SPELLED_AT})\s*{_LABEL}(?:{_ADDRESS_DOT}{_LABEL}){{0,8}}{_ADDRESS_DOT}{_ANY_TLD}",
    # a plain "at" is an English word: any ending only with a spelled-out "dot" and neither a
    # phrase after "at" nor a sentence after "dot" ("maria at studio dot design")
    rf"[a-z0-9][a-z0-9._%+-]{{0,63}}\s*\bat\b\s*(?!{_NOT_A_NAME}\b){_LABEL}(?:{_WORD_DOT}{_LABEL}){{0,8}}{_WORD_DOT}"
    rf"(?!{_NOT_A_TLD}\b){_ANY_TLD}",
    # any "at" and a common ending, "mike.jones at gmail dot com", "juan arroba hotmail punto com"
    rf"[a-z0-9][a-z0-9._%+-]{{0,63}}\s*{AT}\s*{_LABEL}(?:\s*{DOT}\s*{_LABEL}){{0,8}}\s*{DOT}\s*{EMAIL_TLDS}\b",
    rf"[a-z0-9][a-z0-9._%+-]{{0,63}}\s*{AT}\s*{MAIL_PROVIDERS}\b",
    r"(?:gmail|googlemail|hotmail|outlook\s?\.\s?com|yahoo|icloud|protonmail)",
)
"""Addresses, with ``at``/``arroba``/``dot``/``punto`` spelled out; a mail provider's name."""

LINK_PATTERNS: Final[tuple[str, ...]] = (
    r"https?\s*:\s*/\s*/\s*\S+",
    r"www\s?\.\s?[a-z0-9-]{1,63}(?:\.[a-z0-9-]{1,63}){0,8}(?:/\S*)?",
    r"[a-z0-9][a-z0-9-]{0,62}(?:\.[a-z0-9-]{1,63}){0,8}\.(?:com|net|org|info|biz|io|app|dev|xyz|site|online|store|shop"
    r"|link|page|club|ly|gl|ee|gd|cc)(?:\.[a-z]{2})?(?:/\S*)?",
    r"[a-z0-9][a-z0-9-]{0,62}(?:\.[a-z0-9-]{1,63}){0,8}\.(?:mx|co|br|ar|cl|pe|es|us|me|to|tv)/\S*",
    r"(?:bit\s?\.\s?ly|goo\s?\.\s?gl|linktr\s?\.\s?ee|tinyurl|shorturl\s?\.\s?at|cutt\s?\.\s?ly|wa\s?\.\s?me"
    r"|t\.me|m\.me|fb\.me|lnkd\.in|is\.gd|ow\.ly)(?:/\S*)?",
    r"[a-z0-9][a-z0-9-]{1,62}\s*(?:\(|\[)?\s*(?:punto|ponto|dot)\s*(?:\)|\])?\s*(?:com|net|org|co|mx|br|ar|cl|pe"
    r"|es|io|me)",
    r"[a-z0-9][a-z0-9-]{1,62}\s+\.\s*(?:com|net|org)(?:\s*\.\s*(?:mx|br|ar|co|pe|cl))?",
)
"""URLs, bare domains of the common generic TLDs, shorteners, ``"tienda punto com"``."""

MARKET_CCTLDS: Final = r"(?:mx|co|br|ar|cl|pe|es|me)"
"""The marketplace's country-code TLDs (and ``.me``), blocked as bare domains too."""

BARE_CCTLD_DOMAIN: Final = (
    rf"(?=[a-z0-9-]{{0,62}}[a-z])[a-z0-9][a-z0-9-]{{0,62}}(?:\.[a-z0-9-]{{1,63}}){{0,8}}"
    rf"\.(?P<tld>{MARKET_CCTLDS})(?!\.?[a-z0-9])"
)
"""``floreriaelsol.mx``, ``tienda.regalosmaru.cl``: a bare domain, no scheme, no ``www``, no
path. Screening lets through what is a missing space after a full stop or an abbreviation
(see :data:`WORD_TLDS` and :data:`NOT_DOMAIN_LABELS`)."""

WORD_TLDS: Final = frozenset({"es", "me"})
"""TLDs that are also words ("llegó.Es muy bonito", "gracias.Me llegó"): as bare domains they
are not links when written like a sentence start (``Es``, ``Me``) or after an accented word."""

NOT_DOMAIN_LABELS: Final = frozenset(
    {
        # abbreviations that end in a full stop
        "etc", "sr", "sra", "srta", "dr", "dra", "lic", "ing", "arq", "prof", "av", "avda", "col", "no",
        "nro", "num", "ud", "uds", "vd", "tel", "cel", "aprox", "pag", "pags", "min", "max", "hrs", "seg",
        "edo", "mpio", "depto", "dpto", "esq", "cdmx", "cia", "ltda", "obs", "ps", "pd",
        # short words that end a sentence
        "ok", "okay", "oki", "si", "sim", "nao", "ya", "ja", "va", "vale", "dale", "listo", "bueno", "bien",
        "gracias", "hola", "ola", "claro", "perfecto", "obrigado", "obrigada", "valeu", "beleza", "ta",
        "yes", "yep", "thanks", "thx", "sure",
    }
)  # fmt: skip
"""Words before a full stop that are not a domain's name even when a TLD-like word follows."""

# ----------------------------------------------------------------------------- paying outside the platform

PAYMENT_INSTRUMENTS: Final[tuple[str, ...]] = (
    r"pix",
    r"chave\s+(?:do\s+)?pix",
    r"nequi",
    r"daviplata",
    r"yape(?:o|ar|ame|me)?",
    r"plin",
    r"zelle",
    r"pay\s?pal+",
    r"venmo",
    r"cash\s?app",
    r"bizum",
    r"western\s+union",
    r"moneygram",
    r"mercado\s?pago",
    r"binance",
    r"bitcoins?",
    r"btc",
    r"usdt",
    r"tether",
    r"ethereum",
    r"cripto(?:moneda|moeda)?s?",
    r"crypto(?:currency|currencies)?",
    r"cbu",
    r"cvu",
    r"clabe",
    r"iban",
    r"spei",
    r"efecty",
    r"baloto",
    r"picpay",
    r"skrill",
    r"payoneer",
    r"revolut",
    r"uala",
)
"""Payment means that are never the marketplace's checkout (cards only): any mention blocks."""

PAYMENT_PHRASES: Final[tuple[str, ...]] = (
    # bank details and transfers
    r"transferencia\s+bancaria",
    r"transferencia\s+(?:a|para|pra|en|na)\s+(?:mi|tu|su|minha|sua)\s+(?:cuenta|conta)",
    r"transferencia\s+(?:directa|direta|por\s+fuera|por\s+fora)",
    r"deposito\s+(?:bancario|a\s+(?:mi|tu)\s+cuenta|en\s+(?:mi|tu)\s+cuenta|na\s+(?:minha|sua)\s+conta"
    r"|en\s+oxxo)",
    r"(?:numero|n)\s+de\s+cuenta",
    r"cuenta\s+(?:bancaria|de\s+ahorros?|corriente|rut|vista)",
    r"conta\s+(?:bancaria|corrente|poupanca)",
    r"agencia\s+e\s+conta",
    r"datos\s+bancarios",
    r"dados\s+bancarios",
    r"bank\s+(?:transfer|account|details|deposit|wire)",
    r"wire\s+(?:transfer|the\s+money|you|me)",
    r"account\s+number",
    r"routing\s+number",
    r"sort\s+code",
    # second person: "I pay you", "pay me"
    r"te\s+(?:transfiero|transfiera|deposito|deposite|consigno|consigne|giro|pago|yapeo|nequeo|transfiro|pago)",
    r"te\s+hago\s+(?:una|la|el|un)\s+(?:transferencia|deposito|consignacion|giro)",
    r"te\s+(?:mando|envio|paso|giro|deposito|mandei|passo)\s+(?:el|la|los|o|a)?\s*(?:dinero|plata|lana|pago"
    r"|billete|dinheiro|grana|pagamento)",
    r"te\s+faco\s+(?:uma|a|um|o)\s+(?:transferencia|deposito|pix)",
    r"(?:transfiereme|transferime|depositame|consigname|consignarme|pagame|pagueme|transfereme)",
    r"me\s+(?:transfieres|transferis|transfiere|depositas|consignas|pagas|giras|yapeas)",
    r"me\s+(?:pasas|mandas|envias|manda|passa|envia)\s+(?:el|la|o|a)?\s*(?:plata|lana|dinero|dinheiro|grana)",
    r"me\s+(?:paga|transfere|deposita)\s+(?:direto|diretamente|por\s+fora|em\s+dinheiro|na\s+mao|antes)",
    r"(?:i\s*'?ll|i\s+will|i\s+can|let\s+me|ill)\s+(?:pay|transfer|send|venmo|zelle|wire)\s+you",
    r"pay\s+me\s+(?:directly|direct|in\s+cash|cash|outside|instead|via|through|on|with|first|upfront)",
    r"send\s+(?:me\s+)?the\s+money",
    r"send\s+money\s+to",
    r"transfer\s+(?:me\s+)?the\s+money",
    r"(?:pago|pagar|pagarte|pagas|pagame|pagamento|pagarlo|pagarla|paga|pague|pay|paying|pagando)\s+"
    r"(?:\w+\s+){0,2}"
    r"(?:por|con|via|com|by|with|por\s+medio\s+de|atraves\s+de)\s+(?:una\s+|uma\s+|um\s+)?"
    r"(?:transferencia|deposito|consignacion|bank\s+transfer|wire|ted|doc|giro)",
    r"(?:acepto|aceptas|aceptan|aceito|aceita|aceitam|accept|accepts|do\s+you\s+take|tomas|recibes)\s+"
    r"(?:\w+\s+)?(?:transferencias?|depositos?|consignacion(?:es)?|efectivo|cash|dinheiro|transfers?|ted|doc)",
    r"(?:mandame|enviame|pasame|manda|envia|passa|send)\s+(?:me\s+)?(?:el|la|o|a|the)?\s*"
    r"(?:dinero|plata|lana|dinheiro|grana|money)",
    r"(?:faz|faco|fazer|manda|mando|faca)\s+(?:um|uma|o|a)\s+(?:ted|doc|transferencia|deposito)",
    r"boleto\s+bancario",
    r"(?:gero|gerar|mando|mandar|emito|emitir|te\s+mando)\s+(?:um|o)\s+boleto",
    r"apple\s+(?:pay|cash)\s+(?:me|you)",
    r"e-?transfer",
    r"deposito\s+en\s+cuenta",
    r"(?:plata|dinero|dinheiro|money|cash|efectivo)\s+(?:en\s+la\s+mano|na\s+mao|in\s+hand)",
    r"(?:pag\w*|pay\w*|cobr\w*|money|dinero|plata|dinheiro)\s+(?:\w+\s+){0,3}"
    r"(?:entre\s+nosotros|entre\s+nos|between\s+us)",
    # cash
    r"en\s+efectivo",
    r"(?:pago|pagar|pagas|pagame|cobro|cobrar|plata)\s+(?:en\s+)?cash",
    r"contra\s?entrega",
    r"em\s+(?:dinheiro|especie)",
    r"dinheiro\s+vivo",
    r"(?:pag\w*|cobr\w*)\s+na\s+entrega",
    r"in\s+cash",
    r"(?:pay|tip|paying|pays)\s+(?:you\s+|me\s+)?cash",
    r"cash\s+(?:on\s+delivery|only|payment)",
    # outside the platform, without its fee
    r"(?:fuera|afuera)\s+de\s+la\s+(?:app|aplicacion|plataforma|pagina)",
    r"fora\s+d[oa]\s+(?:app|aplicativo|plataforma|site)",
    r"(?:outside|off)\s+(?:of\s+)?(?:the\s+)?(?:app|platform|site)",
    r"sin\s+(?:la\s+)?comision",
    r"sem\s+(?:a\s+)?(?:taxa|comissao)",
    r"(?:without|no|skip|avoid|save)\s+(?:the\s+)?(?:app\s+)?(?:fees?|commission)",
    r"(?:ahorrar\w*|evitar|saltar\w*|nos\s+ahorramos)\s+(?:la\s+)?comision",
    r"(?:economizar|fugir\s+d[ae])\s+(?:a\s+)?(?:taxa|comissao)",
    r"(?:pag\w*|cobr\w*|pay\w*|transf\w*)\s+(?:\w+\s+){0,3}(?:por\s+fuera|por\s+fora|directo|directamente"
    r"|direto|diretamente|directly|privately)",
)
"""Asking or offering to pay outside the platform, in es/pt/en."""

# ----------------------------------------------------------------------------- asking for contact details

_CONTACT_NUMBER: Final = (
    r"(?:numero|num|cel|celular|telefono|tel|movil|fono|fone|telefone|number|phone|cell|mobile|whats\w*|zap)"
)
_CONTACT_ID: Final = r"(?:correo|mail|email|e-mail|contacto|contato|contact|socials|insta\w*|ig|face\w*)"
_CONTACT_THING: Final = rf"(?:{_CONTACT_NUMBER}|{_CONTACT_ID})"
_NUMBER_FOLLOWS: Final = (
    r"(?=\s*[:\-]?\s*(?:\+|\(|\d|cero|uno|dos|tres|cuatro|cinco|seis|siete|ocho|nueve|zero|um|dois|quatro"
    r"|sete|oito|nove|one|two|three|four|five|six|seven|eight|nine|el|o\b|the\s+same|el\s+mismo|o\s+mesmo))"
)
"""What must follow "my number is" for it to be giving a number (not "my phone is dead")."""
_NOT_CONTACT: Final = (
    r"(?!\s+(?:de|do|da|del)\s+(?:pedido|orden|guia|seguimiento|rastreo|rastreio|tracking|compra|casa"
    r"|apartamento|apto|depto|departamento|piso|puerta|referencia|factura|reclamo|caso|ticket|encomenda"
    r"|nota|protocolo|chamado|identificacion|documento))"
    r"(?!\s+(?:order|tracking|case|ticket|invoice|reference|apartment|apt|unit|house|floor))"
)

CONTACT_REQUESTS: Final[tuple[str, ...]] = (
    rf"(?:pasame|pasa|dame|mandame|enviame|regalame|compartime|compartir|cual\s+es|me\s+das|me\s+pasas"
    rf"|me\s+mandas|me\s+envias|me\s+compartes|me\s+regalas|tienes|tenes|dejame|anota|agenda|guarda)\s+"
    rf"(?:tu|su|el|un|mi)\s+{_CONTACT_THING}{_NOT_CONTACT}",
    rf"(?:mi|nuestro)\s+{_CONTACT_ID}{_NOT_CONTACT}\s+(?:es|:)",
    rf"(?:mi|nuestro)\s+{_CONTACT_NUMBER}{_NOT_CONTACT}\s+(?:es|:){_NUMBER_FOLLOWS}",
    rf"(?:me\s+passa|me\s+manda|me\s+envia|qual\s+(?:e\s+)?(?:o\s+|a\s+)?|anota|salva|passa)\s*"
    rf"(?:o\s+|a\s+)?(?:seu|sua|teu|tua|meu|minha)\s+{_CONTACT_THING}{_NOT_CONTACT}",
    rf"(?:meu|minha)\s+{_CONTACT_ID}{_NOT_CONTACT}\s+(?:e|eh|:)",
    rf"(?:meu|minha)\s+{_CONTACT_NUMBER}{_NOT_CONTACT}\s+(?:e|eh|:){_NUMBER_FOLLOWS}",
    rf"(?:what\s*'?s|whats|what\s+is|send\s+me|give\s+me|share|drop|can\s+i\s+(?:get|have)|gimme|text\s+me)"
    rf"\s+(?:your|ur|yr)\s+{_CONTACT_THING}{_NOT_CONTACT}",
    rf"my\s+{_CONTACT_ID}{_NOT_CONTACT}\s+(?:is|:)",
    rf"my\s+{_CONTACT_NUMBER}{_NOT_CONTACT}\s+(?:is|:){_NUMBER_FOLLOWS}",
    r"reach\s+me\s+(?:at|on)",
    r"(?:call|text)\s+me\s+(?:at|on)",
    r"(?:llamame|marcame|escribeme|textea?me)\s+(?:al|a\s+este|a\s+mi)",
    r"(?:me\s+liga|liga\s+pra\s+mim|me\s+chama)\s+(?:no|neste|nesse|pelo)",
)
"""Asking for, or giving, a phone number, an e-mail or a social profile (without one yet)."""

CONTACT_CUES: Final = (
    r"(?:tel|telefono|telefone|fono|fone|cel|celular|movil|mobile|phone|cell|numero|num|nro|number|contacto"
    r"|contato|llamame|llama|marcame|marca|ligue|liga|call|text|escribeme|whats\w*|wsp|wpp|zap|guasap"
    r"|wasap)"
)
"""Words that, just before a run of 7+ digits, make it a phone number even if it is a local one."""

ORDER_WORDS: Final = (
    r"(?:pedido|orden|order|encomenda|guia|seguimiento|rastreo|rastreio|tracking|factura|invoice|nota|compra"
    r"|ticket|caso|case|reclamo|protocolo|cep|cp|postal|zip|codigo)"
)
"""Words that, between a cue and the digits, say the digits are something else."""

# ----------------------------------------------------------------------------- abuse

ABUSIVE_TERMS: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        "es": (
            "idiota", "imbecil", "estupido", "estupida", "pendejo", "pendeja", "cabron", "cabrona",
            "hijo de puta", "hija de puta", "hijueputa", "hdp", "puta", "puto", "maricon", "gonorrea",
            "malparido", "malparida", "gilipollas", "subnormal", "culero", "culera", "pelotudo",
            "pelotuda", "conchatumadre", "concha de tu madre", "chinga tu madre", "hijo de la chingada",
            "vete a la mierda", "pedazo de mierda", "come mierda", "te voy a matar", "te mato",
            "eres una basura", "eres un inutil", "eres una inutil", "eres una rata", "lacra", "escoria",
        ),
        "pt": (
            "idiota", "imbecil", "otario", "otaria", "babaca", "filho da puta", "filha da puta", "fdp",
            "vagabundo", "vagabunda", "desgracado", "desgracada", "arrombado", "arrombada", "corno",
            "viado", "vai se foder", "vai se fuder", "vai tomar no cu", "vtnc", "vsf", "cuzao",
            "seu merda", "seu lixo", "seu inutil", "sua inutil", "seu verme", "vou te matar",
            "te mato", "puta que te pariu",
        ),
        "en": (
            "idiot", "moron", "imbecile", "fuck you", "fuck off", "f u", "stfu", "motherfucker",
            "asshole", "bitch", "bastard", "cunt", "dumbass", "retard", "retarded", "piece of shit",
            "son of a bitch", "scumbag", "whore", "slut", "i will kill you", "i'll kill you",
            "go to hell", "you are useless", "you're useless", "you are stupid", "you're stupid",
            "you are trash", "you're trash", "kill yourself", "kys",
        ),
    }
)  # fmt: skip
"""Harassment, insults and threats per language (folded: lower case, no accents).

Deliberately narrow: rude frustration about an order ("this is ridiculous") is not
harassment; insults and threats aimed at a person are. Configurable per deployment
through :class:`domain.messaging.screening.ScreeningPolicy`.
"""
