"""Letters: merge fields, the rich-text body sanitiser, letter templates, correspondents and their rules."""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from html.parser import HTMLParser
from typing import Protocol

from domain.documents import AuthorInfo, PatientSnapshot
from domain.errors import InvalidInput, PermissionDenied
from domain.patient import CareRole, CareTeamMember
from domain.text import search_key

LETTER_TYPE_CODE = "96349-6"
"""Every letter is produced as a "Lettre d'adressage" (JDV_J07, LOINC 96349-6): see docs/courriers.md."""

MAX_LETTER_CHARS = 90_000
"""Longest letter that may be validated (plain text, about 30 pages); longer drafts are kept but refused."""
MAX_DRAFT_HTML = 3_000_000
"""Longest sanitised body a draft may store (a pasted book is cut here, with a message)."""
MAX_PASTE_HTML = 6_000_000
"""Longest raw HTML the sanitiser reads; beyond it the paste is taken as plain text."""
MAX_TITLE = 200
MAX_SUBJECT = 300
MAX_RECIPIENT = 1_000

IMAGES_DROPPED = (
    "Les images collées ne sont pas conservées dans le courrier (texte seul) : joignez-les au dossier comme "
    "pièces jointes si nécessaire."
)
LINKS_DROPPED = "Les liens collés ont été retirés (le texte est conservé)."


# --------------------------------------------------------------------------------------------------------------
# Merge fields
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MergeField:
    """A field that a template or a letter may contain as ``{{key}}``."""

    key: str
    label: str


MERGE_FIELDS: tuple[MergeField, ...] = (
    MergeField("patient.civilite", "Patient : civilité (Madame, Monsieur)"),
    MergeField("patient.nom", "Patient : nom utilisé"),
    MergeField("patient.prenom", "Patient : prénom utilisé"),
    MergeField("patient.nom_naissance", "Patient : nom de naissance"),
    MergeField("patient.date_naissance", "Patient : date de naissance"),
    MergeField("patient.ins", "Patient : matricule INS (identité qualifiée seulement)"),
    MergeField("patient.adresse", "Patient : adresse"),
    MergeField("praticien.nom", "Praticien : prénom et nom"),
    MergeField("praticien.profession", "Praticien : profession"),
    MergeField("praticien.rpps", "Praticien : numéro RPPS"),
    MergeField("cabinet.nom", "Cabinet : nom"),
    MergeField("cabinet.adresse", "Cabinet : adresse"),
    MergeField("correspondant.nom", "Correspondant : prénom et nom"),
    MergeField("correspondant.titre", "Correspondant : titre (Docteur, Madame…)"),
    MergeField("correspondant.profession", "Correspondant : profession ou spécialité"),
    MergeField("correspondant.adresse", "Correspondant : adresse"),
    MergeField("date", "Date du jour (27/11/2026)"),
    MergeField("date_longue", "Date du jour en toutes lettres (27 novembre 2026)"),
    MergeField("lieu", "Ville du cabinet"),
)
KNOWN_FIELDS = frozenset(f.key for f in MERGE_FIELDS)

_FIELD = re.compile(r"\{\{\s*([^{}\s]*)\s*\}\}")
_MONTHS = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)


def fields_in(text: str) -> list[str]:
    """The merge fields named in ``text``, in order of first appearance."""
    return list(dict.fromkeys(m.group(1) for m in _FIELD.finditer(text)))


def unknown_fields(text: str) -> list[str]:
    """The merge fields of ``text`` that do not exist."""
    return [key for key in fields_in(text) if key not in KNOWN_FIELDS]


def check_fields(text: str, *, key: str = "corps") -> None:
    """Refuse a text naming merge fields that do not exist.

    Raises:
        InvalidInput: keyed by ``key``, French message listing the unknown fields.
    """
    unknown = unknown_fields(text)
    if unknown:
        names = ", ".join("{{" + name + "}}" for name in unknown)
        plural = "s" if len(unknown) > 1 else ""
        raise InvalidInput(
            {
                key: f"Champ{plural} de fusion inconnu{plural} : {names}. Utilisez le menu « Insérer un champ » "
                "pour choisir un champ existant."
            }
        )


def long_date(day: dt.date) -> str:
    """« 27 novembre 2026 » (« 1er » for the first day)."""
    first = "1er" if day.day == 1 else str(day.day)
    return f"{first} {_MONTHS[day.month - 1]} {day.year}"


def city_of(address: str) -> str:
    """The city of a French address ("12 rue X, 51100 Reims" → "Reims"); the last line or part otherwise."""
    parts = [p.strip() for p in re.split(r"[,\n]", address) if p.strip()]
    for part in reversed(parts):
        m = re.match(r"^\d{5}\s+(.+)$", part)
        if m:
            return m.group(1).strip()
    return parts[-1] if parts else ""


def merge_values(
    *,
    patient: PatientSnapshot | None,
    author: AuthorInfo | None,
    recipient: Recipient | None,
    today: dt.date,
) -> dict[str, str]:
    """The value of every merge field for a letter (fields without data are "")."""
    values = dict.fromkeys(KNOWN_FIELDS, "")
    values["correspondant.titre"] = "Madame, Monsieur"
    values["date"] = today.strftime("%d/%m/%Y")
    values["date_longue"] = long_date(today)
    if patient is not None:
        values["patient.civilite"] = {"F": "Madame", "M": "Monsieur"}.get(patient.sex, "")
        values["patient.nom"] = patient.used_name or patient.birth_name
        values["patient.prenom"] = (patient.used_given_name or patient.first_given_name).title()
        values["patient.nom_naissance"] = patient.birth_name
        values["patient.date_naissance"] = patient.birth_date.strftime("%d/%m/%Y") if patient.birth_date else ""
        # Rule 28: the INS is written only for a qualified identity.
        values["patient.ins"] = patient.ins_matricule if patient.qualified else ""
        address = [*patient.address_lines, f"{patient.postal_code} {patient.city}".strip()]
        values["patient.adresse"] = ", ".join(line for line in address if line)
    if author is not None:
        values["praticien.nom"] = author.display_name
        values["praticien.profession"] = author.profession_label
        values["praticien.rpps"] = author.national_id[1:] if author.national_id.startswith("8") else ""
        values["cabinet.nom"] = author.structure_name
        values["cabinet.adresse"] = author.address
        values["lieu"] = city_of(author.address)
    if recipient is not None:
        values["correspondant.nom"] = recipient.name
        values["correspondant.titre"] = recipient.title or "Madame, Monsieur"
        values["correspondant.profession"] = recipient.profession
        values["correspondant.adresse"] = recipient.address.replace("\n", ", ")
    return values


def expand(text: str, values: Mapping[str, str], *, escape_html: bool = True) -> str:
    """Replace every known ``{{field}}`` by its value (HTML-escaped for an HTML body); unknown fields stay."""

    def one(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            return match.group(0)
        value = values[key]
        return html.escape(value, quote=False) if escape_html else value

    return _FIELD.sub(one, text)


# --------------------------------------------------------------------------------------------------------------
# Rich-text body: a restricted subset stored as sanitised HTML
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Run:
    """A piece of text with its character format (a line break when ``text`` is "\\n")."""

    text: str
    bold: bool = False
    italic: bool = False
    underline: bool = False


@dataclass(frozen=True, slots=True)
class Block:
    """A paragraph, or one item of a bulleted (``ul``) or numbered (``ol``) list."""

    runs: tuple[Run, ...]
    list_kind: str = ""
    """"" for a paragraph, "ul" or "ol" for a list item."""


@dataclass(frozen=True, slots=True)
class SanitisedBody:
    """The body as stored, and what was removed from the input."""

    html: str
    blocks: tuple[Block, ...]
    images_dropped: int = 0
    links_dropped: int = 0
    truncated: bool = False

    @property
    def text(self) -> str:
        """Plain text (paragraphs on their own lines, list items with a bullet or their number)."""
        return plain_text(self.blocks)

    @property
    def notices(self) -> list[str]:
        """French sentences about what was not kept."""
        out = []
        if self.images_dropped:
            out.append(IMAGES_DROPPED)
        if self.links_dropped:
            out.append(LINKS_DROPPED)
        if self.truncated:
            out.append(
                f"Le texte collé dépasse {MAX_PASTE_HTML // 1_000_000} millions de caractères de mise en forme : "
                "il a été repris sans mise en forme."
            )
        return out


_BLOCK_TAGS = frozenset(
    {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "tr", "table", "section", "article"}
)
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_DROPPED_WITH_CONTENT = frozenset(
    {"script", "style", "head", "title", "object", "embed", "iframe", "noscript", "template", "svg", "math"}
)
_VOID = frozenset({"br", "img", "hr", "meta", "link", "input", "col", "wbr", "source", "area", "base", "param"})


class _Sanitiser(HTMLParser):
    """Reads any HTML (Qt's toHtml, a word processor's clipboard) into blocks of formatted runs."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[Block] = []
        self.runs: list[Run] = []
        self.stack: list[tuple[str, bool, bool, bool]] = []
        self.lists: list[str] = []
        self.in_item = False
        self.skip_depth = 0
        self.images = 0
        self.links = 0
        self.open_block = False

    # -- format state ----------------------------------------------------------------------------------------
    def _format(self) -> tuple[bool, bool, bool]:
        bold = italic = underline = False
        for _tag, b, i, u in self.stack:
            bold, italic, underline = bold or b, italic or i, underline or u
        return bold, italic, underline

    def _flush(self, *, keep_empty: bool = False) -> None:
        runs = _merge_runs(self.runs)
        while runs and runs[-1].text == "\n":
            runs.pop()
        if runs or keep_empty:
            kind = self.lists[-1] if (self.in_item and self.lists) else ""
            self.blocks.append(Block(tuple(runs), kind))
        self.runs = []

    # -- parser callbacks ------------------------------------------------------------------------------------
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.skip_depth:
            if tag in _DROPPED_WITH_CONTENT:
                self.skip_depth += 1
            return
        if tag in _DROPPED_WITH_CONTENT:
            self.skip_depth = 1
            return
        style = (dict(attrs).get("style") or "").lower().replace(" ", "")
        if tag == "img":
            self.images += 1
            return
        if tag == "br":
            self.runs.append(Run("\n"))
            return
        if tag in _VOID:
            return
        if tag == "a" and dict(attrs).get("href"):
            self.links += 1
        if tag in ("ul", "ol"):
            self._flush()
            self.lists.append(tag)
            self.in_item = False
        elif tag == "li":
            self._flush()
            self.in_item = True
        elif tag in _BLOCK_TAGS:
            self._flush()
            self.open_block = True
        elif tag in ("td", "th") and self.runs:
            self.runs.append(Run(" "))
        bold = tag in ("b", "strong") or tag in _HEADINGS or _style_bold(style)
        italic = tag in ("i", "em", "cite") or "font-style:italic" in style
        underline = tag in ("u", "ins") or ("text-decoration" in style and "underline" in style)
        self.stack.append((tag, bold, italic, underline))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID and not self.skip_depth:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if self.skip_depth:
            if tag in _DROPPED_WITH_CONTENT:
                self.skip_depth -= 1
            return
        if tag in _VOID:
            return
        if any(frame[0] == tag for frame in self.stack):
            while self.stack:
                frame = self.stack.pop()
                if frame[0] == tag:
                    break
        if tag in ("ul", "ol"):
            self._flush()
            if self.lists:
                self.lists.pop()
            self.in_item = bool(self.lists)
        elif tag == "li":
            self._flush()
        elif tag in _BLOCK_TAGS:
            # Qt writes an empty line as <p><br /></p>: keep it as an empty paragraph.
            empty_line = self.runs == [Run("\n")]
            self._flush(keep_empty=empty_line or (self.open_block and not self.runs and tag == "p"))
            self.open_block = False

    def handle_data(self, data: str) -> None:
        if self.skip_depth:
            return
        text = re.sub(r"\s+", " ", data.replace("\u00a0", " ").replace("\u2028", " "))
        text = "".join(ch for ch in text if ch == " " or (ord(ch) >= 32 and ord(ch) != 127))
        if not text:
            return
        if text == " " and (not self.runs or self.runs[-1].text.endswith((" ", "\n"))):
            return
        if not self.runs or self.runs[-1].text == "\n" or self.runs[-1].text.endswith(" "):
            text = text.lstrip(" ")  # HTML collapses the spaces between two pieces of text
            if not text:
                return
        bold, italic, underline = self._format()
        self.runs.append(Run(text, bold, italic, underline))

    def close(self) -> None:
        super().close()
        self._flush()


def _style_bold(style: str) -> bool:
    m = re.search(r"font-weight:(\w+)", style)
    if not m:
        return False
    value = m.group(1)
    return value in ("bold", "bolder") or (value.isdigit() and int(value) >= 600)


def _merge_runs(runs: list[Run]) -> list[Run]:
    merged: list[Run] = []
    for run in runs:
        if merged and run.text != "\n" and merged[-1].text != "\n":
            last = merged[-1]
            if (last.bold, last.italic, last.underline) == (run.bold, run.italic, run.underline):
                merged[-1] = replace(last, text=last.text + run.text)
                continue
        merged.append(run)
    if merged and merged[-1].text != "\n":
        merged[-1] = replace(merged[-1], text=merged[-1].text.rstrip(" "))
        if not merged[-1].text:
            merged.pop()
    return merged


def sanitise(raw: str) -> SanitisedBody:
    """Reduce any HTML to the letter subset: paragraphs, line breaks, bold, italic, underline, bulleted and
    numbered lists (one level). Scripts, styles and their content are dropped, links keep only their text,
    images are dropped and counted (see ``IMAGES_DROPPED``). The output is canonical: sanitising it again gives
    the same HTML.
    """
    truncated = False
    if len(raw) > MAX_PASTE_HTML:
        # Too large to parse as HTML without a noticeable wait: keep the words, lose the formatting.
        raw = html.escape(re.sub(r"<[^>]*>", " ", raw[: MAX_PASTE_HTML * 2]))
        truncated = True
    parser = _Sanitiser()
    parser.feed(raw)
    parser.close()
    blocks = tuple(parser.blocks)
    # Empty paragraphs at the start or end of the letter carry nothing.
    start, end = 0, len(blocks)
    while start < end and not blocks[start].runs:
        start += 1
    while end > start and not blocks[end - 1].runs:
        end -= 1
    blocks = blocks[start:end]
    return SanitisedBody(to_html(blocks), blocks, parser.images, parser.links, truncated)


def from_plain_text(text: str) -> SanitisedBody:
    """A body from plain text: one paragraph per line."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return sanitise("".join(f"<p>{html.escape(line)}</p>" for line in lines))


def to_html(blocks: Sequence[Block]) -> str:
    """The canonical HTML of blocks (what is stored)."""
    out: list[str] = []
    open_list = ""
    for block in blocks:
        if block.list_kind != open_list:
            if open_list:
                out.append(f"</{open_list}>")
            if block.list_kind:
                out.append(f"<{block.list_kind}>")
            open_list = block.list_kind
        inner = runs_markup(block.runs, br="<br/>")
        out.append(f"<li>{inner}</li>" if block.list_kind else f"<p>{inner}</p>")
    if open_list:
        out.append(f"</{open_list}>")
    return "".join(out)


def runs_markup(runs: Sequence[Run], *, br: str) -> str:
    """Runs as ``<b>``/``<i>``/``<u>`` markup (also what reportlab's Paragraph reads, with ``br="<br/>"``)."""
    parts: list[str] = []
    for run in runs:
        if run.text == "\n":
            parts.append(br)
            continue
        text = html.escape(run.text, quote=False)
        if run.underline:
            text = f"<u>{text}</u>"
        if run.italic:
            text = f"<i>{text}</i>"
        if run.bold:
            text = f"<b>{text}</b>"
        parts.append(text)
    return "".join(parts)


def plain_text(blocks: Sequence[Block]) -> str:
    """Plain text of blocks."""
    lines: list[str] = []
    number = 0
    for block in blocks:
        text = "".join(run.text for run in block.runs)
        if block.list_kind == "ol":
            number += 1
            text = f"{number}. {text}"
        else:
            number = 0
            if block.list_kind == "ul":
                text = f"• {text}"
        lines.append(text)
    return "\n".join(lines)


def html_to_text(body_html: str) -> str:
    """Plain text of a stored body."""
    return sanitise(body_html).text


# --------------------------------------------------------------------------------------------------------------
# Templates
# --------------------------------------------------------------------------------------------------------------

ORIGIN_RESOURCE = "ressource"
ORIGIN_USER = "utilisateur"


@dataclass(frozen=True, slots=True)
class LetterTemplate:
    """A letter template: title, subject and body with merge fields; shipped (ressource) or edited here."""

    key: str
    title: str
    subject: str
    body_html: str
    description: str = ""
    version: int = 1
    origin: str = ORIGIN_RESOURCE
    created_at: dt.datetime | None = None
    author: str = ""


def parse_letter_template(data: object, *, key: str) -> LetterTemplate:
    """A template from its JSON object ({"title", "subject", "body", "description"}).

    Raises:
        InvalidInput: not an object, a missing title or body, an unknown merge field (French, keyed by field).
    """
    if not isinstance(data, dict):
        raise InvalidInput({"modele": f"Modèle de courrier « {key} » : un objet JSON ({{ … }}) est attendu."})
    title = data.get("title")
    body = data.get("body")
    subject = data.get("subject", "")
    description = data.get("description", "")
    errors: dict[str, str] = {}
    if not isinstance(title, str) or not title.strip():
        errors["title"] = f"Modèle de courrier « {key} » : titre manquant."
    if not isinstance(body, str) or not body.strip():
        errors["body"] = f"Modèle de courrier « {key} » : corps manquant."
    if not isinstance(subject, str) or not isinstance(description, str):
        errors["subject"] = f"Modèle de courrier « {key} » : objet et description sont des textes."
    if errors:
        raise InvalidInput(errors)
    assert isinstance(title, str) and isinstance(body, str) and isinstance(subject, str)
    return make_template(key, title, subject, body, description=str(description))


def make_template(
    key: str,
    title: str,
    subject: str,
    body_html: str,
    *,
    description: str = "",
    version: int = 1,
    origin: str = ORIGIN_RESOURCE,
    created_at: dt.datetime | None = None,
    author: str = "",
) -> LetterTemplate:
    """A checked template (sanitised body, known merge fields only).

    Raises:
        InvalidInput: empty title or body, too long, unknown merge field.
    """
    title = " ".join(title.split())
    subject = " ".join(subject.split())
    if not re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,79}", key):
        raise InvalidInput({"key": "Identifiant de modèle : lettres minuscules, chiffres, « . », « _ » ou « - »."})
    if not title:
        raise InvalidInput({"title": "Le titre du modèle est obligatoire."})
    if len(title) > MAX_TITLE:
        raise InvalidInput({"title": f"Titre du modèle : {MAX_TITLE} caractères au plus."})
    if len(subject) > MAX_SUBJECT:
        raise InvalidInput({"subject": f"Objet : {MAX_SUBJECT} caractères au plus."})
    check_fields(subject, key="subject")
    body = sanitise(body_html)
    if not body.text.strip():
        raise InvalidInput({"body": "Le corps du modèle est vide."})
    if len(body.text) > MAX_LETTER_CHARS:
        raise InvalidInput({"body": f"Modèle trop long ({MAX_LETTER_CHARS} caractères au plus)."})
    check_fields(body.html, key="body")
    return LetterTemplate(key, title, subject, body.html, description, version, origin, created_at, author)


# --------------------------------------------------------------------------------------------------------------
# Correspondents
# --------------------------------------------------------------------------------------------------------------


class Civility(StrEnum):
    """How a correspondent is addressed."""

    DOCTOR = "dr"
    PROFESSOR = "pr"
    MADAME = "mme"
    MONSIEUR = "m"
    NONE = ""

    @property
    def short(self) -> str:
        """Abbreviation written before the name (« Dr », « Mme »)."""
        return {"dr": "Dr", "pr": "Pr", "mme": "Mme", "m": "M.", "": ""}[self.value]

    @property
    def long_form(self) -> str:
        """Long form used in a salutation (« Docteur », « Madame »)."""
        return {"dr": "Docteur", "pr": "Professeur", "mme": "Madame", "m": "Monsieur", "": ""}[self.value]


_MSSANTE = re.compile(r"^[A-Za-z0-9._%+'-]+@([A-Za-z0-9-]+\.)*mssante\.fr$", re.IGNORECASE)
_PHONE = re.compile(r"^\+?[0-9 .()-]{6,25}$")


def is_mssante_address(address: str) -> bool:
    """True for an address of the MSSanté space of trust (a domain under mssante.fr)."""
    return bool(_MSSANTE.match(address.strip()))


def rpps_key_ok(rpps: str) -> bool:
    """True when the 11-digit RPPS number's last digit is its Luhn key."""
    if not re.fullmatch(r"[0-9]{11}", rpps):
        return False
    total = 0
    for position, char in enumerate(reversed(rpps)):
        digit = int(char)
        if position % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


@dataclass(frozen=True, slots=True)
class Correspondent:
    """A professional of the practice's correspondents book."""

    id: int | None
    family_name: str
    given_name: str = ""
    civility: Civility = Civility.NONE
    profession: str = ""
    """Profession or speciality, free text (« Médecin généraliste », « Pharmacie »)."""
    rpps: str = ""
    address: str = ""
    """Postal address, several lines."""
    phone: str = ""
    mssante_address: str = ""
    notes: str = ""
    active: bool = True

    @property
    def name(self) -> str:
        """« Prénom NOM » (or the organisation's name)."""
        return f"{self.given_name} {self.family_name}".strip()

    @property
    def display_name(self) -> str:
        """« Dr Prénom NOM »."""
        return f"{self.civility.short} {self.name}".strip()

    @property
    def search_text(self) -> str:
        """Folded words the book is searched on (name, profession, city)."""
        words = f"{self.family_name} {self.given_name} {self.profession} {city_of(self.address)}"
        return " ".join(search_key(w) for w in words.split() if search_key(w))


def validate_correspondent(c: Correspondent) -> Correspondent:
    """A cleaned copy of a correspondent.

    Raises:
        InvalidInput: French messages keyed by field (family_name, rpps, mssante_address, phone…).
    """
    errors: dict[str, str] = {}
    family = " ".join(c.family_name.split())
    given = " ".join(c.given_name.split())
    rpps = re.sub(r"\s", "", c.rpps)
    mss = c.mssante_address.strip()
    phone = " ".join(c.phone.split())
    address = "\n".join(" ".join(line.split()) for line in c.address.splitlines() if line.strip())
    if not family:
        errors["family_name"] = "Le nom (ou la raison sociale) est obligatoire."
    elif len(family) > 100 or len(given) > 100:
        errors["family_name"] = "Nom et prénom : 100 caractères au plus chacun."
    if rpps and not re.fullmatch(r"[0-9]{11}", rpps):
        errors["rpps"] = "RPPS : 11 chiffres attendus."
    elif rpps and not rpps_key_ok(rpps):
        errors["rpps"] = "RPPS : la clé de contrôle ne correspond pas (vérifiez le numéro)."
    if mss and not is_mssante_address(mss):
        errors["mssante_address"] = "Adresse MSSanté : forme attendue prenom.nom@domaine.mssante.fr."
    if phone and not _PHONE.match(phone):
        errors["phone"] = "Téléphone : chiffres, espaces, points ou « + » seulement."
    if len(address) > 500:
        errors["address"] = "Adresse : 500 caractères au plus."
    if len(c.profession) > 100:
        errors["profession"] = "Profession : 100 caractères au plus."
    if len(c.notes) > 2_000:
        errors["notes"] = "Notes : 2 000 caractères au plus."
    if errors:
        raise InvalidInput(errors)
    return replace(
        c,
        family_name=family,
        given_name=given,
        rpps=rpps,
        mssante_address=mss,
        phone=phone,
        address=address,
        profession=" ".join(c.profession.split()),
        notes=c.notes.strip(),
    )


@dataclass(frozen=True, slots=True)
class Recipient:
    """Who a letter is addressed to: a correspondent of the book, or a member of the patient's care team."""

    name: str
    title: str = ""
    profession: str = ""
    address: str = ""
    rpps: str = ""
    mssante_address: str = ""
    role: CareRole | None = None
    correspondent_id: int | None = None

    @property
    def display_name(self) -> str:
        """Name with the abbreviated civility when known."""
        short = {"Docteur": "Dr", "Professeur": "Pr", "Madame": "Mme", "Monsieur": "M."}.get(self.title, "")
        return f"{short} {self.name}".strip() if short and not self.name.startswith(short + " ") else self.name

    @property
    def label(self) -> str:
        """One line for a picker: « Dr Jean DUPUIS — Médecin traitant — Médecin généraliste »."""
        parts = [self.display_name]
        if self.role is not None:
            parts.append(self.role.label_fr)
        if self.profession:
            parts.append(self.profession)
        return " — ".join(parts)

    @property
    def block(self) -> str:
        """The recipient block of the letter (name, profession, address lines)."""
        lines = [self.display_name]
        if self.profession:
            lines.append(self.profession)
        lines += [line for line in self.address.splitlines() if line.strip()]
        return "\n".join(lines)


def recipient_of(c: Correspondent, role: CareRole | None = None) -> Recipient:
    """The recipient made from a correspondent of the book."""
    return Recipient(
        name=c.name,
        title=c.civility.long_form,
        profession=c.profession,
        address=c.address,
        rpps=c.rpps,
        mssante_address=c.mssante_address,
        role=role,
        correspondent_id=c.id,
    )


def recipient_of_member(member: CareTeamMember) -> Recipient:
    """The recipient made from a member of the patient's care team (patient file, Identité tab)."""
    name = member.display_name
    title = ""
    for short, long in (("Dr ", "Docteur"), ("Pr ", "Professeur"), ("Mme ", "Madame"), ("M. ", "Monsieur")):
        if name.startswith(short):
            name, title = name[len(short) :], long
            break
    return Recipient(
        name=name,
        title=title,
        profession=member.profession,
        rpps=member.rpps,
        mssante_address=member.mssante_address,
        role=member.role,
    )


def patient_recipients(
    care_team: Sequence[CareTeamMember], links: Sequence[tuple[Correspondent, CareRole]]
) -> list[Recipient]:
    """The patient's correspondents: the care team of the patient file, completed by the book's entries linked
    to the patient. A care-team member found in the book (same RPPS, or same name) appears once, with the
    book's details (address, MSSanté) and the care team's role.
    """
    out: list[Recipient] = []
    used: set[int] = set()
    for member in care_team:
        plain = recipient_of_member(member)
        match = next(
            (
                (c, role)
                for c, role in links
                if (member.rpps and c.rpps == member.rpps) or search_key(c.name) == search_key(plain.name)
            ),
            None,
        )
        if match is not None and match[0].id is not None:
            used.add(match[0].id)
            out.append(recipient_of(match[0], member.role))
        else:
            out.append(plain)
    for c, role in links:
        if c.id not in used:
            out.append(recipient_of(c, role))
    return out


# --------------------------------------------------------------------------------------------------------------
# Letters
# --------------------------------------------------------------------------------------------------------------


class LetterStatus(StrEnum):
    """A letter is a draft (saved automatically) until it is validated into a health document."""

    DRAFT = "brouillon"
    VALIDATED = "valide"

    @property
    def label_fr(self) -> str:
        """French label."""
        return {"brouillon": "Brouillon", "valide": "Validé"}[self.value]


@dataclass(frozen=True, slots=True)
class Letter:
    """A letter about a patient."""

    id: int | None
    patient_id: int
    title: str
    subject: str
    recipient: str
    """The recipient block as printed (several lines), editable."""
    body_html: str
    author_login: str
    author: str
    created_at: dt.datetime
    updated_at: dt.datetime
    template_key: str = ""
    correspondent_id: int | None = None
    status: LetterStatus = LetterStatus.DRAFT
    validated_at: dt.datetime | None = None
    document_row_id: int | None = None
    """The health document (96349-6) produced at validation."""
    row_version: int = 0

    @property
    def text(self) -> str:
        """Plain text of the body."""
        return html_to_text(self.body_html)

    def edited(
        self,
        *,
        at: dt.datetime,
        title: str | None = None,
        subject: str | None = None,
        recipient: str | None = None,
        body_html: str | None = None,
        correspondent_id: int | None = None,
    ) -> tuple[Letter, SanitisedBody | None]:
        """A copy with changes (draft only); the body is sanitised. Long texts are kept (see ``problems``).

        Raises:
            PermissionDenied: validated. InvalidInput: a title, subject or recipient too long, a body beyond
                what a draft may hold.
        """
        if self.status is LetterStatus.VALIDATED:
            raise PermissionDenied("Ce courrier est validé : il ne peut plus être modifié.")
        changes: dict[str, object] = {"updated_at": at}
        errors: dict[str, str] = {}
        if title is not None:
            changes["title"] = " ".join(title.split())
            if len(str(changes["title"])) > MAX_TITLE:
                errors["title"] = f"Titre : {MAX_TITLE} caractères au plus."
        if subject is not None:
            changes["subject"] = " ".join(subject.split())
            if len(str(changes["subject"])) > MAX_SUBJECT:
                errors["subject"] = f"Objet : {MAX_SUBJECT} caractères au plus."
        if recipient is not None:
            cleaned = "\n".join(" ".join(line.split()) for line in recipient.splitlines() if line.strip())
            changes["recipient"] = cleaned
            if len(cleaned) > MAX_RECIPIENT:
                errors["recipient"] = f"Destinataire : {MAX_RECIPIENT} caractères au plus."
        body: SanitisedBody | None = None
        if body_html is not None:
            body = sanitise(body_html)
            if len(body.html) > MAX_DRAFT_HTML:
                errors["corps"] = (
                    f"Le courrier dépasse ce qu'un brouillon peut contenir ({MAX_DRAFT_HTML // 1_000_000} millions de "
                    "caractères avec la mise en forme) : rien n'a été enregistré ; raccourcissez le texte collé."
                )
            changes["body_html"] = body.html
        if correspondent_id is not None:
            changes["correspondent_id"] = correspondent_id or None
        if errors:
            raise InvalidInput(errors)
        return replace(self, **changes), body  # type: ignore[arg-type]

    def problems(self) -> dict[str, str]:
        """What prevents validation, keyed by field."""
        errors: dict[str, str] = {}
        if not self.title.strip():
            errors["title"] = "Le titre du courrier est obligatoire."
        if not self.recipient.strip():
            errors["recipient"] = "Choisissez ou saisissez le destinataire."
        if not self.subject.strip():
            errors["subject"] = "L'objet du courrier est obligatoire."
        text = self.text
        if not text.strip():
            errors["corps"] = "Le courrier est vide."
        elif len(text) > MAX_LETTER_CHARS:
            pages = len(text) // 3_000
            errors["corps"] = (
                f"Courrier trop long pour être validé : {len(text):,} caractères (environ {pages} pages) pour "
                f"{MAX_LETTER_CHARS:,} au plus (environ 30 pages). Le brouillon reste enregistré : raccourcissez-le "
                "ou joignez le document au dossier."
            ).replace(",", "\u202f")
        else:
            unknown = unknown_fields(self.body_html + " " + self.subject)
            if unknown:
                names = ", ".join("{{" + k + "}}" for k in unknown)
                errors["corps"] = f"Champ(s) de fusion inconnu(s) dans le courrier : {names}."
        return errors


@dataclass(frozen=True, slots=True)
class LetterLine:
    """One line of the patient's letter list (no body)."""

    id: int
    title: str
    recipient: str
    status: LetterStatus
    updated_at: dt.datetime
    author: str
    document_row_id: int | None = None


def new_letter(
    template: LetterTemplate,
    *,
    patient_id: int,
    values: Mapping[str, str],
    recipient: Recipient | None,
    author_login: str,
    author: str,
    at: dt.datetime,
) -> Letter:
    """A new draft from a template, merged with the patient's, the practitioner's and the recipient's data."""
    body = sanitise(expand(template.body_html, values))
    return Letter(
        id=None,
        patient_id=patient_id,
        title=template.title,
        subject=expand(template.subject, values, escape_html=False),
        recipient=recipient.block if recipient is not None else "",
        body_html=body.html,
        author_login=author_login,
        author=author,
        created_at=at,
        updated_at=at,
        template_key=template.key,
        correspondent_id=recipient.correspondent_id if recipient is not None else None,
    )


class LetterRepository(Protocol):
    """Storage of letters, letter templates and the correspondents book (inside the unit of work)."""

    # correspondents book
    def add_correspondent(self, correspondent: Correspondent) -> int:
        """Store a new correspondent; return its id."""
        ...

    def update_correspondent(self, correspondent: Correspondent) -> None:
        """Replace a correspondent. Raises NotFound."""
        ...

    def correspondent(self, correspondent_id: int) -> Correspondent:
        """One correspondent. Raises NotFound."""
        ...

    def search_correspondents(self, words: Sequence[str], limit: int = 200) -> list[Correspondent]:
        """Active correspondents whose folded search text contains every word (all when none), by name."""
        ...

    def link(self, patient_id: int, correspondent_id: int, role: CareRole) -> None:
        """Link a correspondent to a patient with a role (replacing the previous role)."""
        ...

    def unlink(self, patient_id: int, correspondent_id: int) -> None:
        """Remove a link (no error when absent)."""
        ...

    def links(self, patient_id: int) -> list[tuple[Correspondent, CareRole]]:
        """The correspondents linked to a patient with their role."""
        ...

    # letters
    def add_letter(self, letter: Letter) -> int:
        """Store a new letter; return its id."""
        ...

    def update_letter(self, letter: Letter) -> Letter:
        """Save a letter. Raises NotFound, ConflictError (row_version changed elsewhere)."""
        ...

    def letter(self, letter_id: int) -> Letter:
        """One letter with its body. Raises NotFound."""
        ...

    def letters(self, patient_id: int) -> list[LetterLine]:
        """The patient's letters, most recently changed first."""
        ...

    # templates edited in the application (shipped ones are files)
    def templates(self) -> list[LetterTemplate]:
        """Every stored template version."""
        ...

    def add_template(self, template: LetterTemplate) -> None:
        """Store a new template version."""
        ...
