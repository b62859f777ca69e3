"""Business cards as OCR text with character-offset gold spans: generated and hand-written.

Why a generator of our own: the example must run offline and reproduce bit for bit, so the
corpus is made rather than downloaded.  The same arguments always give the same bytes, so the
raw objects hash the same on every run and the pipeline's caching can skip work.

What a card looks like is what OCR makes of a printed card: lines in varied layouts and field
orders, field labels ("Tel.", "Mobile:", "E-mail", "Fax") that are not entities, punctuation
stuck to words ("Tel.:+49", "GmbH,"), honorifics, hyphenated and multi-word names, company
suffixes (GmbH, K.K., Ltd., S.A.), the address and phone formats of several countries (Faker
locales), and OCR noise: dropped, merged (lost spaces) and confused characters ("O"/"0",
"rn"/"m").  A record is one JSON line::

    {"id", "text", "entities": [{"type", "start", "end"}], "locale", "layout", "noise"}

with ``start``/``end`` character offsets (end exclusive) into the noisy ``text``.  Honorifics
and name suffixes belong to the ``PER`` span; labels and separators are outside every span.

Two profiles: :data:`TRAIN` (training and the in-distribution test set) and :data:`SHIFTED`
(locales, layouts, field labels and noise levels that training never sees).  The third test
set is written by hand (``handwritten_cards.txt``, :func:`handwritten`).
"""

from __future__ import annotations

import json
import random
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from faker import Faker

#: Entity types on a card, in the order of the label list (stable: the model's label ids).
ENTITY_TYPES = ("PER", "ORG", "TITLE", "ADDR", "PHONE", "EMAIL", "URL")
LABELS = ["O"] + [f"{p}-{t}" for t in ENTITY_TYPES for p in ("B", "I")]
HANDWRITTEN = Path(__file__).resolve().parent / "handwritten_cards.txt"


@dataclass(frozen=True)
class Profile:
    """Which locales, layouts, field labels and noise rates a set of cards is drawn from."""

    name: str
    locales: tuple[str, ...]
    layouts: tuple[str, ...]
    noise: tuple[float, float]  # per-character OCR error rate, drawn uniformly per card
    labels: dict[str, tuple[str, ...]]
    taglines: float = 0.0  # the share of cards with a line of text that is no entity
    merged_lines: float = 0.0  # the share of cards where two adjacent lines run together


TRAIN = Profile(
    name="train",
    locales=(
        *("en_US", "en_GB", "en_CA", "en_IE", "de_DE", "de_AT", "fr_FR"),
        *("es_ES", "es_MX", "it_IT", "da_DK", "cs_CZ", "ja_JP", "en_IN"),
        *("pt_PT", "en_NZ", "nl_BE", "fr_CH", "no_NO", "fi_FI", "es_AR", "es_CO"),
        *("es_CL", "ro_RO", "hu_HU", "sk_SK", "sl_SI", "hr_HR", "id_ID"),
    ),
    layouts=("stacked", "header", "compact", "banner", "signature", "form"),
    noise=(0.0, 0.035),
    taglines=0.25,
    merged_lines=0.3,
    labels={
        "office": (
            *("Tel.", "Tel:", "T:", "T", "Phone:", "Phone", "Office:", "Direct", "Tel"),
            *("Direct:", "D:", "O:", "Main:", "P:", "Tlf.", "Puh.", "Tel. No.", "Office"),
        ),
        "mobile": (
            *("Mobile:", "Mobile", "Mob.", "M:", "Cell:", "Handy", "Cell", "C:", "GSM:"),
            *("Mobile phone:", "Cellular:", "Móvil:", "Cellulare"),
        ),
        "fax": ("Fax", "Fax:", "F:", "F", "Facsimile:", "Fax No.", "Fx:"),
        "email": ("E-mail", "E-mail:", "Email:", "E:", "Mail:", "E-mail address:", "Correo:"),
        "url": ("Web:", "Web", "W:", "Website:", "URL:", "Homepage:", "Webseite:"),
    },
)

SHIFTED = Profile(
    name="shifted",
    locales=("en_AU", "nl_NL", "sv_SE", "de_CH", "pl_PL", "pt_BR"),
    layouts=("prose", "reversed", "two_column"),
    noise=(0.04, 0.06),
    labels={
        "office": ("Ph:", "Ph.", "Telefon", "Tél.", "tel", "Telephone:"),
        "mobile": ("Mob:", "Cel.", "Mobil:", "Portable", "mobile"),
        "fax": ("Telefax", "Fax.", "fax:"),
        "email": ("e-mail:", "Mail", "E-Mail:", "email"),
        "url": ("Internet:", "www:", "Site:"),
    },
)

_HONORIFICS = {
    "en": ("Dr.", "Mr.", "Ms.", "Mrs.", "Prof.", "Dr"),
    "de": ("Dr.", "Prof. Dr.", "Dipl.-Ing.", "Dr.-Ing.", "Herr", "Frau"),
    "fr": ("M.", "Mme", "Dr", "Pr."),
    "es": ("Sr.", "Sra.", "Dr.", "Dra."),
    "it": ("Dott.", "Dott.ssa", "Ing.", "Avv."),
    "ja": ("Mr.", "Ms.", "Dr."),
    "da": ("Dr.", "cand. jur.", "Prof."),
    "cs": ("Ing.", "Mgr.", "MUDr.", "JUDr.", "doc."),
    "nl": ("dhr.", "mevr.", "Dr.", "ir."),
    "sv": ("Dr.", "Prof."),
    "pl": ("dr", "mgr inż.", "prof."),
    "pt": ("Sr.", "Sra.", "Dr.", "Dra."),
    "no": ("Dr.", "Prof."),
    "fi": ("Dr.", "Prof.", "DI"),
    "ro": ("Dl.", "Dna.", "Dr.", "Ing."),
    "hu": ("Dr.", "Prof."),
    "sk": ("Ing.", "Mgr.", "MUDr.", "Bc."),
    "sl": ("dr.", "mag.", "Prof."),
    "hr": ("dr. sc.", "mr.", "Prof."),
    "id": ("Bpk.", "Ibu", "Dr.", "Ir."),
}
_NAME_SUFFIXES = ("Jr.", "PhD", "MBA", "III", "M.Sc.", "Ph.D.")
_SUFFIXES = {
    "en_US": ("Inc.", "LLC", "Corp.", "Co."),
    "en_GB": ("Ltd.", "Ltd", "PLC", "LLP"),
    "de_DE": ("GmbH", "AG", "GmbH & Co. KG", "KG"),
    "fr_FR": ("S.A.", "SARL", "SAS"),
    "es_ES": ("S.A.", "S.L.", "S.L.U."),
    "it_IT": ("S.p.A.", "S.r.l.", "Srl"),
    "ja_JP": ("K.K.", "Co., Ltd.", "Inc."),
    "en_CA": ("Inc.", "Ltd.", "Corp.", "ULC"),
    "en_IE": ("Ltd.", "DAC", "Teoranta", "Ltd"),
    "de_AT": ("GmbH", "AG", "OG", "KG"),
    "es_MX": ("S.A. de C.V.", "S. de R.L.", "S.C."),
    "da_DK": ("ApS", "A/S", "I/S"),
    "cs_CZ": ("s.r.o.", "a.s.", "v.o.s."),
    "en_IN": ("Pvt. Ltd.", "Ltd.", "LLP"),
    "en_AU": ("Pty Ltd", "Pty. Ltd.", "Ltd"),
    "nl_NL": ("B.V.", "N.V.", "BV"),
    "sv_SE": ("AB", "HB", "Aktiebolag"),
    "de_CH": ("AG", "GmbH", "SA"),
    "pl_PL": ("Sp. z o.o.", "S.A.", "sp.j."),
    "pt_BR": ("Ltda.", "S.A.", "ME"),
    "pt_PT": ("Lda.", "S.A.", "Unipessoal Lda."),
    "en_NZ": ("Ltd", "Limited", "Ltd."),
    "nl_BE": ("NV", "BV", "BVBA", "CVBA"),
    "fr_CH": ("SA", "Sàrl", "AG"),
    "no_NO": ("AS", "ASA", "ANS"),
    "fi_FI": ("Oy", "Oyj", "Ky"),
    "es_AR": ("S.A.", "S.R.L.", "S.A.S."),
    "es_CO": ("S.A.S.", "Ltda.", "S.A."),
    "es_CL": ("SpA", "Ltda.", "S.A."),
    "ro_RO": ("SRL", "S.R.L.", "SA"),
    "hu_HU": ("Kft.", "Zrt.", "Bt.", "Nyrt."),
    "sk_SK": ("s.r.o.", "a.s.", "k.s."),
    "sl_SI": ("d.o.o.", "d.d.", "s.p."),
    "hr_HR": ("d.o.o.", "d.d.", "j.d.o.o."),
    "id_ID": ("PT", "Tbk", "CV"),
}
_TRADES = (
    "Logistics", "Consulting", "Systems", "Trading", "Engineering", "Partners", "Holdings",
    "Software", "Medical", "Foods", "Design", "Analytics", "Energy", "Capital", "Robotics",
    "Shoji", "Seisakusho", "Industries", "Group", "Labs", "Marine", "Textiles",
)  # fmt: skip
_TITLES = (
    "Managing Director", "Head of Procurement", "Sales Manager", "CEO", "CTO", "CFO",
    "Key Account Manager", "Senior Software Engineer", "Marketing Director", "Partner",
    "Project Manager", "Head of Sales, EMEA", "Founder & CEO", "VP Engineering",
    "Business Development Manager", "Research Scientist", "Chief Operating Officer",
)  # fmt: skip
_TLDS = {
    "en_US": ("com", "us", "io"), "en_GB": ("co.uk", "com", "uk"), "de_DE": ("de", "com"),
    "fr_FR": ("fr", "com"), "es_ES": ("es", "com"), "it_IT": ("it", "com"),
    "ja_JP": ("co.jp", "jp", "com"), "en_CA": ("ca", "com"), "en_IE": ("ie", "com"),
    "de_AT": ("at", "co.at"), "es_MX": ("com.mx", "mx"), "da_DK": ("dk", "com"),
    "cs_CZ": ("cz", "com"), "en_IN": ("in", "co.in"), "en_AU": ("com.au", "au"),
    "nl_NL": ("nl", "com"), "sv_SE": ("se", "com"), "de_CH": ("ch", "com"),
    "pl_PL": ("pl", "com.pl"), "pt_BR": ("com.br", "br"), "pt_PT": ("pt", "com.pt"),
    "en_NZ": ("co.nz", "nz"), "nl_BE": ("be", "com"), "fr_CH": ("ch", "com"),
    "no_NO": ("no", "com"), "fi_FI": ("fi", "com"), "es_AR": ("com.ar", "ar"),
    "es_CO": ("com.co", "co"), "es_CL": ("cl", "com"), "ro_RO": ("ro", "com"),
    "hu_HU": ("hu", "com"), "sk_SK": ("sk", "com"), "sl_SI": ("si", "com"),
    "hr_HR": ("hr", "com"), "id_ID": ("co.id", "id"),
}  # fmt: skip
# Romanised Japanese addresses (Faker's ja_JP writes kanji, the back of a card is romaji).
_JP_WARDS = (
    ("Chiyoda-ku", "Marunouchi"), ("Minato-ku", "Shiba"), ("Shibuya-ku", "Jingumae"),
    ("Chuo-ku", "Nihonbashi"), ("Shinjuku-ku", "Nishi-Shinjuku"), ("Kita-ku", "Umeda"),
)  # fmt: skip
_JP_CITIES = ("Tokyo", "Osaka", "Yokohama", "Nagoya")
#: Departments and regions after a title ("Head of Sales, EMEA").
_UNITS = (
    "EMEA", "APAC", "DACH", "Europe", "Overseas Sales", "North America", "Retail", "R&D",
    "Operations", "Nordics", "Key Accounts", "Public Sector", "Latin America", "Benelux",
)  # fmt: skip
#: Trade words that begin a company name.
_TRADES_FIRST = (
    "Transportes", "Distribuidora", "Officine", "Bäckerei", "Electro", "Construcciones", "Auto",
    "Hotel", "Café", "Clinica", "Studio", "Agence", "Institut", "Autohaus", "Tischlerei",
    "Imprimerie", "Farmacia", "Ferretería", "Brauerei", "Garage", "Atelier", "Laboratorios",
    "Maschinenbau", "Transporte", "Editorial", "Steuerberatung", "Pharma", "Metalúrgica",
)  # fmt: skip
_FIELDS = (
    "Tropical Medicine", "Applied Physics", "Economic Research", "Marine Biology", "Energy",
    "Public Health", "Data Science", "Materials Research", "Urban Planning",
)  # fmt: skip
_INSTITUTIONS = (
    "Institute for {field}", "University of {city}", "Port of {city} Authority",
    "{city} City Council", "Hospital {name}", "{city} Chamber of Commerce",
    "Technische Hochschule {city}", "Universidad de {city}", "Mairie de {city}",
    "The {name} Foundation", "{name} & {city} Partners",
)  # fmt: skip
_COUNTRIES = {
    "en_US": ("USA", "United States"), "en_GB": ("United Kingdom", "UK"),
    "en_CA": ("Canada",), "en_IE": ("Ireland",), "de_DE": ("Germany", "Deutschland"),
    "de_AT": ("Austria", "Österreich"), "fr_FR": ("France",), "es_ES": ("Spain", "España"),
    "es_MX": ("México", "Mexico"), "it_IT": ("Italy", "Italia"), "da_DK": ("Denmark", "Danmark"),
    "cs_CZ": ("Czech Republic", "Česko"), "ja_JP": ("Japan",), "en_IN": ("India",),
    "pt_PT": ("Portugal",), "en_NZ": ("New Zealand",), "nl_BE": ("Belgium", "België"),
    "fr_CH": ("Suisse", "Switzerland"), "no_NO": ("Norway", "Norge"), "fi_FI": ("Finland", "Suomi"),
    "es_AR": ("Argentina",), "es_CO": ("Colombia",), "es_CL": ("Chile",),
    "ro_RO": ("Romania", "România"), "hu_HU": ("Hungary", "Magyarország"),
    "sk_SK": ("Slovakia", "Slovensko"), "sl_SI": ("Slovenia", "Slovenija"),
    "hr_HR": ("Croatia", "Hrvatska"), "id_ID": ("Indonesia",), "en_AU": ("Australia",),
    "nl_NL": ("Netherlands", "Nederland"), "sv_SE": ("Sweden", "Sverige"),
    "de_CH": ("Schweiz", "Switzerland"), "pl_PL": ("Poland", "Polska"),
    "pt_BR": ("Brasil", "Brazil"),
}  # fmt: skip
#: Cities for the locales whose Faker cities are not reproducible (see _city).
_CITIES = {"it_IT": ("Milano", "Torino", "Bologna", "Firenze", "Napoli", "Verona", "Genova")}
#: Lines before a signature's name that are no entity.
_SIGN_OFFS = (
    "Best regards,", "Kind regards", "Regards,", "Mit freundlichen Grüßen", "Cordialement,",
    "Saludos,", "Cordiali saluti", "Med vänlig hälsning", "Thanks,", "--", "Sent from my phone",
    "Atentamente,", "Vriendelijke groet,", "Ystävällisin terveisin",
)  # fmt: skip
#: Field labels of a contact form (no entities).
_FORM_LABELS = {
    "name": ("Name", "Full name", "Contact person", "Nombre", "Nom", "Ansprechpartner"),
    "title": ("Position", "Job title", "Role", "Function", "Cargo", "Funktion"),
    "org": ("Company", "Organisation", "Organization", "Firma", "Empresa", "Société"),
    "addr": ("Address", "Postal address", "Anschrift", "Dirección", "Adresse"),
}
#: What OCR confuses: each character with the ones it is misread as.
#: Printed text on a card that is no entity: taglines, services, certifications.
_TAGLINES = (
    "Since 1987", "Quality · Service · Trust", "Your partner in logistics", "ISO 9001 certified",
    "Member of the Chamber of Commerce", "Architecture & Interiors", "Wholesale and retail",
    "Excellence in engineering", "Family owned", "Ihr Partner vor Ort", "Conseil et formation",
    "Import - Export", "24/7 support", "Est. 1952", "Tax · Audit · Advisory", "by appointment",
    "Please recycle", "Branch office", "Head office", "Sales & Service",
)  # fmt: skip
_CONFUSIONS = {
    "O": "0D", "0": "OD", "o": "0c", "l": "1I|", "1": "lI", "I": "l1", "i": "l", "S": "5",
    "5": "S", "B": "8", "8": "B", "e": "c", "c": "e", "a": "o", "n": "h", "h": "n", "u": "v",
    "m": "rn", "g": "q", "Z": "2", "2": "Z", ".": ",", ",": ".", "-": "~", "@": "a",
}  # fmt: skip

Segment = tuple[str, str | None]  # (text, entity type or None)


def _slug(text: str) -> str:
    """``"Müller & Söhne"`` -> ``"mullersohne"``: what a name looks like in a domain."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "", ascii_text.lower()) or "office"


def _city(fake: Faker, locale: str, rng: random.Random) -> str:
    """A city of the locale.  Faker's it_IT cities come from a set, so their order (and the
    city a seed picks) changes with each process's hash seed; ours keep the corpus stable."""
    if locale in _CITIES:
        return rng.choice(_CITIES[locale])
    return " ".join(fake.city().split())


class _Card:
    """The fields of one person's card for one locale, before layout and noise."""

    def __init__(self, fake: Faker, locale: str, rng: random.Random) -> None:
        lang = locale[:2]
        if locale == "ja_JP":
            first, last = fake.first_romanized_name(), fake.last_romanized_name()
        else:
            first, last = fake.first_name(), fake.last_name()
        if rng.random() < 0.15:
            last = f"{last}-{fake.last_name() if locale != 'ja_JP' else fake.last_romanized_name()}"
        if rng.random() < 0.1:
            first = f"{first} {rng.choice('ABCDEFGHJKLMNPRSTW')}."
        name = f"{first} {last}" if rng.random() < 0.9 else f"{last.upper()}, {first}"
        if rng.random() < 0.25:
            name = f"{rng.choice(_HONORIFICS[lang])} {name}"
        if rng.random() < 0.08:
            name = f"{name}{rng.choice([', ', ' '])}{rng.choice(_NAME_SUFFIXES)}"
        self.name = name
        self.title = rng.choice(_TITLES) if rng.random() < 0.5 else " ".join(fake.job().split())
        if rng.random() < 0.15:  # "General Manager, Overseas Sales"
            self.title = f"{self.title}{rng.choice([', ', ' - ', ' '])}{rng.choice(_UNITS)}"
        base = fake.last_romanized_name() if locale == "ja_JP" else fake.last_name()
        style = rng.random()
        if locale == "ja_JP" or style < 0.35:
            self.company = f"{base} {rng.choice(_TRADES)} {rng.choice(_SUFFIXES[locale])}"
        elif style < 0.55:  # the trade first: "Transportes Rio Claro Ltda."
            place = base if rng.random() < 0.5 else _city(fake, locale, rng)
            self.company = f"{rng.choice(_TRADES_FIRST)} {place} {rng.choice(_SUFFIXES[locale])}"
        elif style < 0.65:  # institutions: "Institute for Tropical Medicine"
            self.company = rng.choice(_INSTITUTIONS).format(
                city=_city(fake, locale, rng), name=base, field=rng.choice(_FIELDS)
            )
        else:
            self.company = fake.company()
        self.company = " ".join(self.company.split())  # Faker's values may carry stray spaces
        tld = rng.choice(_TLDS[locale])
        trade = rng.choice(["", "-" + _slug(rng.choice(_TRADES))])
        domain = f"{_slug(self.company.split()[0])}{trade}.{tld}"
        user = rng.choice(
            [f"{first}.{last}", f"{first[0]}{last}", first, f"{first}_{last}", "info", "contact"]
        )
        self.email = f"{'.'.join(_slug(part) for part in user.split('.'))}@{domain}"
        self.url = rng.choice(
            [
                domain,
                f"www.{domain}/{_slug(rng.choice(_TRADES))}",
                f"www.{domain}",
                f"https://{domain}",
                f"https://www.{domain}",
                f"{domain}/{_slug(last)}",
            ]
        )
        if locale == "ja_JP":
            ward, town = rng.choice(_JP_WARDS)
            postcode = f"{rng.randint(100, 699)}-{rng.randint(0, 9999):04d}"
            self.address = [
                f"{rng.randint(1, 4)}-{rng.randint(1, 12)}-{rng.randint(1, 30)} {town}",
                f"{ward}, {rng.choice(_JP_CITIES)} {postcode}",
            ]
            self.phones = {
                k: f"+81 {rng.randint(3, 90)}-{rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}"
                for k in ("office", "mobile", "fax")
            }
        else:
            self.address = [" ".join(line.split()) for line in fake.address().split("\n")]
            self.address = [line for line in self.address if line]
            self.phones = {k: fake.phone_number() for k in ("office", "mobile", "fax")}
        if rng.random() < 0.25:  # the country, on its own line or after the city
            country = rng.choice(_COUNTRIES.get(locale, ("",)))
            if country and rng.random() < 0.5:
                self.address.append(country)
            elif country:
                self.address[-1] = f"{self.address[-1]}, {country}"
        chance = {"office": 0.9, "mobile": 0.5, "fax": 0.3}
        self.phone_kinds = [k for k in chance if rng.random() < chance[k]] or ["office"]


def _contact(card: _Card, kind: str, profile: Profile, rng: random.Random) -> list[Segment]:
    """One labelled (or bare) contact field: a phone, the email or the URL."""
    value, entity = {
        "email": (card.email, "EMAIL"),
        "url": (card.url, "URL"),
    }.get(kind, (card.phones.get(kind, ""), "PHONE"))
    if rng.random() < (0.35 if kind in ("email", "url") else 0.15):
        return [(value, entity)]
    label = rng.choice(profile.labels[kind])
    glue = rng.choice([" ", " ", "  ", ""] if label[-1] in ".:" else [" ", "  ", ": ", " : "])
    return [(label + glue, None), (value, entity)]


def _join(parts: list[list[Segment]], sep: str) -> list[Segment]:
    out: list[Segment] = []
    for i, part in enumerate(parts):
        if i:
            out.append((sep, None))
        out.extend(part)
    return out


def _layout(card: _Card, layout: str, profile: Profile, rng: random.Random) -> list[list[Segment]]:
    """The card's lines, each a list of segments."""
    name, title, org = [(card.name, "PER")], [(card.title, "TITLE")], [(card.company, "ORG")]
    # An address is one entity, over several lines or joined on one.
    address = [[("\n".join(card.address), "ADDR")]]
    joined = [(rng.choice([", ", " - ", " "]).join(card.address), "ADDR")]
    kinds = [*card.phone_kinds, "email"] + (["url"] if rng.random() < 0.8 else [])
    contacts = [_contact(card, k, profile, rng) for k in kinds]
    if rng.random() < 0.5:
        rng.shuffle(contacts)
    if layout == "stacked":  # name / title / company / address / one contact a line
        head = [name, title, org] if rng.random() < 0.6 else [org, name, title]
        if rng.random() < 0.3:
            head[1], head[2] = head[2], head[1]
        where = rng.random()  # the address under the head, at the bottom or on top
        if where < 0.2:
            return address + head + contacts
        return head + address + contacts if where < 0.7 else head + contacts + address
    if layout == "header":  # company first, "Name, Title", address on one line, contacts paired
        pairs = [
            _join(contacts[i : i + 2], rng.choice([" | ", "   ", " / "]))
            for i in range(0, len(contacts), 2)
        ]
        return [org, _join([name, title], rng.choice([", ", " - ", " | "])), joined, *pairs]
    if layout == "compact":  # "Name | Title" / company, address / all contacts on one line
        first = _join([name, title], rng.choice([" | ", ", ", "  "]))
        second = _join([org, joined], rng.choice([", ", " · "]))
        return [first, second, _join(contacts, rng.choice([" · ", "  ", " | ", ", "]))]
    if layout == "banner":  # every field on one or two lines, separated by bars or dots
        sep = rng.choice([" | ", " · ", " • ", " / ", " - ", "   "])
        fields = [name, title, org, joined]
        if rng.random() < 0.5:
            return [_join(fields, sep), _join(contacts, sep)]
        return [_join(fields + contacts, sep)]
    if layout == "signature":  # an e-mail signature: sign-off, name, "Title, Company", contacts
        lines = [[(rng.choice(_SIGN_OFFS), None)]] if rng.random() < 0.6 else []
        lines.append(name)
        if rng.random() < 0.6:
            joiner = rng.choice(
                [", ", " | ", " - ", " – ", " / ", " at ", " @ ", " bei ", " chez "]
            )
            lines.append(_join([title, org], joiner))
        else:
            lines += [title, org]
        lines += contacts if rng.random() < 0.5 else [_join(contacts, rng.choice([" | ", "  "]))]
        return [*lines, joined] if rng.random() < 0.7 else lines
    if layout == "form":  # a contact form or CRM export: every field after its own label

        def field(key: str, value: list[Segment]) -> list[Segment]:
            label = rng.choice(_FORM_LABELS[key])
            return [(label + rng.choice([" ", ": ", ":", "  "]), None), *value]

        lines = [field("name", name), field("title", title), field("org", org)]
        lines.append(field("addr", joined) if rng.random() < 0.5 else field("addr", address[0]))
        return lines + contacts
    if layout == "prose":  # OCR flattened to one sentence
        lead = rng.choice(["Contact ", "Contact: ", "", "Attn. "])
        head = [(lead, None), *name, (", ", None), *title, (rng.choice([" at ", ", "]), None), *org]
        return [_join([head, joined, *contacts], ", ")]
    if layout == "reversed":  # contacts on top, the name at the bottom
        return contacts + address + [org, name, title]
    if layout == "two_column":  # left and right columns read across
        left, right = [name, title, org], contacts
        lines = []
        for i in range(max(len(left), len(right))):
            parts = [col[i] for col in (left, right) if i < len(col)]
            lines.append(_join(parts, " " * rng.randint(3, 8)))
        return [*lines, joined]  # the address across the bottom
    raise ValueError(f"unknown layout {layout!r}")


def _noisy(text: str, rate: float, rng: random.Random) -> str:
    """OCR errors at ``rate`` per character: dropped, merged ("rn" read as "m", a lost space)
    and confused ("O"/"0") characters.

    A segment's first and last characters are never dropped or merged away, so an entity's
    span and the boundary between a label and its value stay well defined.
    """
    if rate <= 0 or not text:
        return text
    out = []
    last = len(text) - 1
    i = 0
    while i <= last:
        ch = text[i]
        i += 1
        if ch == "\n" or rng.random() >= rate:
            out.append(ch)
            continue
        inner = 0 < i - 1 < last
        op = rng.random()
        if ch == " ":
            out.append("" if 0 < i - 1 < last else ch)  # merged words
        elif op < 0.3 and inner and len(text) > 3:
            continue  # dropped
        elif op < 0.5 and ch == "r" and text[i : i + 1] == "n" and i < last:
            out.append("m")  # merged letters
            i += 1
        elif ch in _CONFUSIONS:
            out.append(rng.choice(_CONFUSIONS[ch]) if ch != "m" else "rn")
        else:
            out.append(ch)
    return "".join(out)


def render(lines: list[list[Segment]], rate: float, rng: random.Random) -> tuple[str, list[dict]]:
    """Text and character spans of the laid-out card, with OCR noise applied per segment."""
    text: list[str] = []
    entities: list[dict] = []
    pos = 0
    for n, line in enumerate(lines):
        if n:
            text.append("\n")
            pos += 1
        for segment, entity in line:
            noisy = _noisy(segment, rate, rng)
            if entity is not None and noisy.strip():
                entities.append({"type": entity, "start": pos, "end": pos + len(noisy)})
            text.append(noisy)
            pos += len(noisy)
    return "".join(text), entities


def generate(profile: Profile, seed: int, count: int, start_id: int = 0) -> Iterator[dict]:
    """``count`` cards drawn from ``profile``; the same arguments always give the same cards."""
    rng = random.Random(seed)
    fakers = {}
    for i, locale in enumerate(profile.locales):
        fakers[locale] = Faker(locale)
        fakers[locale].seed_instance(seed * 100 + i)
    for i in range(count):
        locale = rng.choice(profile.locales)
        layout = rng.choice(profile.layouts)
        rate = round(rng.uniform(*profile.noise), 4)
        card = _Card(fakers[locale], locale, rng)
        lines = _layout(card, layout, profile, rng)
        if profile.taglines > 0 and rng.random() < profile.taglines:
            lines.insert(rng.randint(0, len(lines)), [(rng.choice(_TAGLINES), None)])
        if profile.merged_lines > 0 and len(lines) > 2 and rng.random() < profile.merged_lines:
            at = rng.randrange(len(lines) - 1)  # two lines that OCR read as one
            lines[at : at + 2] = [_join(lines[at : at + 2], rng.choice(["   ", "  ", " | ", ", "]))]
        text, entities = render(lines, rate, rng)
        yield {
            "id": f"{profile.name}-{start_id + i:06d}",
            "text": text,
            "entities": entities,
            "locale": locale,
            "layout": layout,
            "noise": rate,
        }


# -- the hand-written cards --------------------------------------------------------------------

_MARK = re.compile(r"\[(PER|ORG|TITLE|ADDR|PHONE|EMAIL|URL)\|([^\]]+)\]")


def parse_marked(marked: str) -> tuple[str, list[dict]]:
    """``"[PER|Jane Roe], [TITLE|CTO]"`` -> the plain text and its entity spans."""
    text: list[str] = []
    entities: list[dict] = []
    pos = 0
    last = 0
    for m in _MARK.finditer(marked):
        before = marked[last : m.start()]
        if "[" in before or "]" in before:
            raise ValueError(f"malformed markup before {m.group(0)!r}: {before!r}")
        text.append(before)
        pos += len(before)
        entities.append({"type": m.group(1), "start": pos, "end": pos + len(m.group(2))})
        text.append(m.group(2))
        pos += len(m.group(2))
        last = m.end()
    tail = marked[last:]
    if "[" in tail or "]" in tail:
        raise ValueError(f"malformed markup: {tail!r}")
    text.append(tail)
    return "".join(text), entities


def handwritten(path: Path = HANDWRITTEN) -> list[dict]:
    """The hand-written cards: blocks separated by a ``---`` line, entities marked inline."""
    records = []
    blocks = re.split(r"^---\s*$", path.read_text(encoding="utf-8"), flags=re.M)
    for block in blocks:
        lines = [line for line in block.strip("\n").split("\n") if not line.startswith("#")]
        marked = "\n".join(lines).strip("\n")
        if not marked.strip():
            continue
        text, entities = parse_marked(marked)
        records.append(
            {"id": f"hand-{len(records):06d}", "text": text, "entities": entities,
             "locale": "hand", "layout": "hand", "noise": 0.0}
        )  # fmt: skip
    return records


def dump(records: Iterator[dict] | list[dict]) -> bytes:
    """JSON lines with sorted keys: the same records always give the same bytes."""
    return "".join(
        json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n" for r in records
    ).encode()


def corpus(seed: int, n_train: int, n_test: int) -> dict[str, bytes]:
    """The raw corpus as JSON-lines files.

    ``train.jsonl`` and ``test.jsonl`` (in-distribution) come from :data:`TRAIN` with
    different seeds, ``shifted.jsonl`` from :data:`SHIFTED`, ``handwritten.jsonl`` from the
    checked-in cards.  Growing ``n_train`` does not change the test sets.
    """
    return {
        "train.jsonl": dump(generate(TRAIN, seed * 3 + 1, n_train)),
        "test.jsonl": dump(generate(TRAIN, seed * 3 + 2, n_test, start_id=1_000_000)),
        "shifted.jsonl": dump(generate(SHIFTED, seed * 3 + 3, n_test, start_id=2_000_000)),
        "handwritten.jsonl": dump(handwritten()),
    }
