"""Prescriptions: each profession's legal scope (as data), structured lines, checks with French reasons."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Protocol

from domain.decision import ProductLine
from domain.documents import PrescriptionLine as DocumentLine
from domain.errors import InvalidInput, PermissionDenied

PRODUCTS_KIND = "57833-6"
"""LOINC "Prescription de produits de santé" (eP-MED-DM)."""

MAX_DURATION_DAYS = 365
MAX_RENEWALS = 12
"""Upper bounds of the form. A prescription of medicines covers twelve months at most (CSP R.5132-21), so the
renewals of a line are also bounded by ``duration × (1 + renewals) <= 365`` days; categories may set less."""
MAX_LINES = 30
MAX_LABEL = 300
MAX_DOSAGE = 1000
MAX_QUANTITY = 100
MAX_MENTIONS = 2000

ACT_PREFIX = "acte:"
LIST_PREFIX = "liste:"
CIS_PREFIX = "cis:"


class PrescriptionStatus(StrEnum):
    """A prescription is a draft until it is validated (then its document exists and it never changes)."""

    DRAFT = "brouillon"
    VALIDATED = "valide"

    @property
    def label_fr(self) -> str:
        """French label."""
        return {"brouillon": "Brouillon", "valide": "Validée"}[self.value]


@dataclass(frozen=True, slots=True)
class Product:
    """A product that can be put on a prescription line (from the shipped list or from the BDPM files)."""

    key: str
    """``liste:<id>`` for the shipped list, ``cis:<CIS>`` for a BDPM medicine."""
    label: str
    category: str
    """Category key of the scopes ("pansements", "vaccins"…); "" when unknown (never in any scope)."""
    cis: str = ""
    cip13: str = ""
    atc: str = ""
    lpp: str = ""
    otc: bool = False
    """Not subject to compulsory medical prescription (médicament ou DM non soumis à PMO)."""
    dosage_hint: str = ""
    origin: str = "liste"
    """"liste" (resources/prescription/produits.json) or "bdpm" (the ANSM files)."""


@dataclass(frozen=True, slots=True)
class CategoryRule:
    """A category of products one profession may prescribe, with the legal text it comes from."""

    key: str
    source: str
    conditions: str = ""
    """Conditions the software cannot check, shown to the prescriber (e.g. "renouvellement uniquement")."""
    max_duration_days: int | None = None
    max_renewals: int | None = None
    otc_only: bool = False
    """Only products not subject to compulsory prescription (IPA: médicaments non soumis à PMO)."""


@dataclass(frozen=True, slots=True)
class ActRule:
    """An act one profession may prescribe (or renew), on a document of type ``kind``."""

    key: str
    label: str
    kind: str
    source: str
    conditions: str = ""


@dataclass(frozen=True, slots=True)
class Scope:
    """What one profession may prescribe."""

    profession: str
    label: str
    categories: Mapping[str, CategoryRule]
    acts: Mapping[str, ActRule]
    basis: str = ""
    """The texts that define what this profession may prescribe (cited when something is refused)."""
    notes: str = ""

    @property
    def kinds(self) -> tuple[str, ...]:
        """Document types this profession may produce as prescriptions (products first)."""
        kinds = [PRODUCTS_KIND] if self.categories else []
        for act in self.acts.values():
            if act.kind not in kinds:
                kinds.append(act.kind)
        return tuple(kinds)

    @property
    def prescribes(self) -> bool:
        """True when the profession may prescribe anything."""
        return bool(self.categories or self.acts)


@dataclass(frozen=True, slots=True)
class ScopeBook:
    """Every profession's scope, the category labels and the rules classifying BDPM medicines."""

    scopes: Mapping[str, Scope]
    category_labels: Mapping[str, str]

    def scope_of(self, profession: str | None) -> Scope:
        """The scope of a profession code (TRE_G15: "60", "60-IPA", "50"…).

        Raises:
            PermissionDenied: no profession (secretary, administrator) or a profession without any scope.
        """
        if not profession:
            raise PermissionDenied("Seul un professionnel de santé peut rédiger une prescription.")
        scope = self.scopes.get(profession)
        if scope is None or not scope.prescribes:
            raise PermissionDenied("Votre profession ne permet pas de rédiger de prescription dans ce logiciel.")
        return scope

    def category_label(self, key: str) -> str:
        """French label of a product category."""
        return self.category_labels.get(key, key or "catégorie inconnue")


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a product may be prescribed by a profession, and why not."""

    allowed: bool
    reason: str = ""
    source: str = ""
    conditions: str = ""


def verdict_for(scope: Scope, book: ScopeBook, product: Product) -> Verdict:
    """May ``scope``'s profession prescribe ``product``? The refusal names the reason and the legal source."""
    rule = scope.categories.get(product.category)
    if rule is None:
        if not product.category:
            return Verdict(
                False,
                f"« {product.label} » n'appartient à aucune catégorie de produits que la profession "
                f"{scope.label} peut prescrire (médicament non classé).",
                scope.basis,
            )
        return Verdict(
            False,
            f"« {product.label} », de la catégorie « {book.category_label(product.category)} », n'est pas dans le "
            f"champ de prescription de la profession {scope.label}.",
            scope.basis,
        )
    if rule.otc_only and not product.otc:
        return Verdict(
            False,
            f"« {product.label} » est soumis à prescription médicale obligatoire : la profession {scope.label} ne "
            "peut prescrire dans cette catégorie que des produits non soumis à prescription obligatoire.",
            rule.source,
        )
    return Verdict(True, "", rule.source, rule.conditions)


@dataclass(frozen=True, slots=True)
class PrescriptionLine:
    """One line: a product (with its codes when known) or an act, and how it is to be taken or done."""

    label: str
    item_key: str = ""
    """``liste:<id>``, ``cis:<CIS>`` or ``acte:<key>``: what was chosen (free text is refused)."""
    category: str = ""
    cis: str = ""
    cip13: str = ""
    atc: str = ""
    lpp: str = ""
    dosage: str = ""
    """Posologie (or, for an act, the rhythm and number of sessions)."""
    duration_days: int | None = None
    quantity: str = ""
    renewals: int = 0
    non_substitutable: bool = False
    ald: bool = False
    """In relation to the patient's affection de longue durée (ordonnance bizone, upper zone)."""

    @property
    def is_act(self) -> bool:
        """True for an act line."""
        return self.item_key.startswith(ACT_PREFIX)

    def text(self) -> str:
        """The line as printed on the prescription."""
        parts = [self.label]
        if self.quantity:
            parts.append(f"quantité : {self.quantity}")
        if self.dosage:
            parts.append(self.dosage)
        if self.duration_days:
            parts.append(f"pendant {self.duration_days} jour{'s' if self.duration_days > 1 else ''}")
        if self.renewals:
            parts.append(f"à renouveler {self.renewals} fois")
        if self.non_substitutable:
            parts.append("non substituable")
        if self.ald:
            parts.append("en rapport avec l'ALD")
        return " — ".join(parts)

    def document_line(self) -> DocumentLine:
        """The line as the health document carries it (the ``lignes`` field read by the eP-MED-DM builder)."""
        return DocumentLine(
            libelle=self.label,
            cis=self.cis,
            cip13=self.cip13,
            atc=self.atc,
            lpp=self.lpp,
            posologie=self.dosage,
            duree_jours=self.duration_days,
            quantite=self.quantity,
            renouvellements=self.renewals,
            non_substituable=self.non_substitutable,
            ald=self.ald,
        )

    def as_json(self) -> dict[str, object]:
        """The line as the document field ``lignes`` carries it (keys fixed by ``domain.documents.LINE_KEYS``)."""
        return self.document_line().as_json()


@dataclass(frozen=True, slots=True)
class Prescription:
    """A prescription of products (57833-6) or of acts (PRESC-KINE, PRESC-BIO…) for one patient."""

    id: int | None
    patient_id: int
    kind: str
    author_login: str
    author: str
    profession: str
    created_at: dt.datetime
    lines: tuple[PrescriptionLine, ...]
    status: PrescriptionStatus = PrescriptionStatus.DRAFT
    mentions: str = ""
    validated_at: dt.datetime | None = None
    document_row_id: int | None = None
    renews_id: int | None = None
    """The prescription this one renews (its lines were copied)."""
    row_version: int = 0

    @property
    def is_products(self) -> bool:
        """True for a prescription of health products."""
        return self.kind == PRODUCTS_KIND

    def summary(self, limit: int = 120) -> str:
        """The labels of the lines on one line."""
        text = " ; ".join(line.label for line in self.lines)
        return text if len(text) <= limit else text[: limit - 1] + "…"

    def end_of(self, line: PrescriptionLine) -> dt.date | None:
        """Last day covered by a line (with its renewals); None when no duration was given."""
        if line.duration_days is None:
            return None
        start = (self.validated_at or self.created_at).date()
        return start + dt.timedelta(days=line.duration_days * (1 + line.renewals) - 1)


def current_product_lines(prescriptions: Iterable[Prescription], today: dt.date) -> list[ProductLine]:
    """Product lines decision support must check (allergy against a prescription line).

    Validated prescriptions count while a line runs (a line without duration for 90 days); drafts count too: the
    alert is most useful while the prescription is being written.
    """
    lines: list[ProductLine] = []
    for presc in prescriptions:
        if not presc.is_products:
            continue
        if presc.status is PrescriptionStatus.DRAFT:
            origin = "prescription en cours de rédaction"
        else:
            origin = f"prescription du {(presc.validated_at or presc.created_at).strftime('%d/%m/%Y')}"
        for line in presc.lines:
            end = presc.end_of(line)
            if presc.status is PrescriptionStatus.VALIDATED:
                if end is None:
                    end = (presc.validated_at or presc.created_at).date() + dt.timedelta(days=90)
                if end < today:
                    continue
            lines.append(ProductLine(line.label, origin))
    return lines


# --------------------------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------------------------

_CODES = {
    "cis": (re.compile(r"[0-9]{8}"), "Code CIS : 8 chiffres."),
    "cip13": (re.compile(r"3400[0-9]{9}"), "Code CIP13 : 13 chiffres commençant par 3400."),
    "atc": (re.compile(r"[A-Z][0-9]{2}([A-Z]([A-Z]([0-9]{2})?)?)?"), "Code ATC : forme attendue N02BE01."),
    "lpp": (re.compile(r"[0-9]{7}"), "Code LPP : 7 chiffres."),
}


def check_line_shape(line: PrescriptionLine, position: int) -> tuple[PrescriptionLine, dict[str, str]]:
    """Trim a line and check its values (ranges, lengths, codes). Returns the cleaned line and the errors keyed
    ``ligne<position>.<field>`` (positions from 1, as the user sees them)."""
    errors: dict[str, str] = {}
    where = f"Ligne {position}"
    key = f"ligne{position}"
    label = " ".join(line.label.split())
    dosage = _clean(line.dosage)
    quantity = " ".join(line.quantity.split())
    if not label:
        errors[f"{key}.label"] = f"{where} : la ligne est vide (choisissez un produit ou un acte)."
    elif len(label) > MAX_LABEL:
        errors[f"{key}.label"] = f"{where} : libellé de {MAX_LABEL} caractères au plus."
    if not line.item_key:
        errors[f"{key}.item"] = (
            f"{where} : « {label} » n'a pas été choisi dans la liste des produits ou des actes : "
            "recherchez-le et sélectionnez-le (la saisie libre n'est pas acceptée)."
        )
    if not dosage and not line.is_act and label:
        errors[f"{key}.dosage"] = f"{where} : indiquez la posologie ou le mode d'emploi de « {label} »."
    if len(dosage) > MAX_DOSAGE:
        errors[f"{key}.dosage"] = f"{where} : posologie de {MAX_DOSAGE} caractères au plus."
    if len(quantity) > MAX_QUANTITY:
        errors[f"{key}.quantity"] = f"{where} : quantité de {MAX_QUANTITY} caractères au plus."
    if line.duration_days is not None and not 1 <= line.duration_days <= MAX_DURATION_DAYS:
        errors[f"{key}.duration_days"] = (
            f"{where} : durée de {line.duration_days} jours ; elle doit être comprise entre 1 et "
            f"{MAX_DURATION_DAYS} jours."
        )
    if not 0 <= line.renewals <= MAX_RENEWALS:
        errors[f"{key}.renewals"] = (
            f"{where} : {line.renewals} renouvellements ; ils doivent être compris entre 0 et {MAX_RENEWALS}."
        )
    elif (
        line.duration_days is not None
        and 1 <= line.duration_days <= MAX_DURATION_DAYS
        and line.duration_days * (1 + line.renewals) > MAX_DURATION_DAYS
    ):
        errors[f"{key}.renewals"] = (
            f"{where} : {line.duration_days} jours renouvelés {line.renewals} fois couvrent "
            f"{line.duration_days * (1 + line.renewals)} jours ; une prescription couvre douze mois au plus "
            "(CSP R.5132-21)."
        )
    codes = {name: getattr(line, name).strip().upper() for name in _CODES}
    for name, (pattern, message) in _CODES.items():
        if codes[name] and not pattern.fullmatch(codes[name]):
            errors[f"{key}.{name}"] = f"{where} : {message}"
    if any(ord(ch) < 32 for ch in label + quantity) or any(ord(ch) < 32 and ch not in "\n\t" for ch in dosage):
        errors[f"{key}.label"] = f"{where} : caractères de contrôle non admis."
    cleaned = replace(line, label=label, dosage=dosage, quantity=quantity, **codes)
    return cleaned, errors


def check_prescription(
    scope: Scope,
    book: ScopeBook,
    kind: str,
    lines: Sequence[PrescriptionLine],
    mentions: str,
    resolve: Callable[[str], Product | None],
) -> tuple[tuple[PrescriptionLine, ...], str]:
    """Check a whole prescription against the values' ranges and the profession's scope.

    ``resolve`` finds the product of a ``liste:``/``cis:`` key (None: unknown product). Product lines take their
    category and codes from the product found, never from the caller.

    Returns:
        The cleaned lines and mentions.

    Raises:
        InvalidInput: keyed ``kind``, ``lines``, ``mentions`` or ``ligne<n>.<field>``; every message in French,
            a refusal for scope names the reason and the legal source.
    """
    errors: dict[str, str] = {}
    if kind not in scope.kinds:
        errors["kind"] = f"La profession {scope.label} ne peut pas rédiger ce type de prescription ({kind})."
    if not lines:
        errors["lines"] = "La prescription ne comporte aucune ligne."
    elif len(lines) > MAX_LINES:
        errors["lines"] = f"{MAX_LINES} lignes au plus par prescription."
    text = _clean(mentions)
    if len(text) > MAX_MENTIONS:
        errors["mentions"] = f"Mentions : {MAX_MENTIONS} caractères au plus."
    cleaned: list[PrescriptionLine] = []
    for position, raw in enumerate(lines[:MAX_LINES], start=1):
        line, line_errors = check_line_shape(raw, position)
        errors.update(line_errors)
        if line_errors or "kind" in errors:
            cleaned.append(line)
            continue
        key = f"ligne{position}.item"
        if kind == PRODUCTS_KIND:
            if line.is_act:
                errors[key] = f"Ligne {position} : « {line.label} » est un acte, pas un produit de santé."
                cleaned.append(line)
                continue
            product = resolve(line.item_key)
            if product is None:
                errors[key] = (
                    f"Ligne {position} : produit inconnu (« {line.label} ») : il n'est ni dans la liste des produits "
                    "ni dans la base des médicaments."
                )
                cleaned.append(line)
                continue
            verdict = verdict_for(scope, book, product)
            if not verdict.allowed:
                errors[key] = f"Ligne {position} : {verdict.reason}" + (
                    f" Source : {verdict.source}." if verdict.source else ""
                )
                cleaned.append(line)
                continue
            rule = scope.categories[product.category]
            line = replace(
                line,
                label=product.label if not line.label else line.label,
                category=product.category,
                cis=product.cis,
                cip13=line.cip13 or product.cip13,
                atc=product.atc,
                lpp=product.lpp,
            )
            limit_errors = _rule_limits(rule, line, position, book)
            errors.update(limit_errors)
        else:
            act = scope.acts.get(line.item_key.removeprefix(ACT_PREFIX)) if line.is_act else None
            if act is None or act.kind != kind:
                errors[key] = (
                    f"Ligne {position} : « {line.label} » n'est pas un acte que la profession {scope.label} peut "
                    "prescrire sur ce type de prescription."
                )
            else:
                line = replace(line, label=act.label if not line.label else line.label, category="acte")
        cleaned.append(line)
    if errors:
        raise InvalidInput(errors)
    return tuple(cleaned), text


def _rule_limits(rule: CategoryRule, line: PrescriptionLine, position: int, book: ScopeBook) -> dict[str, str]:
    errors: dict[str, str] = {}
    what = book.category_label(rule.key)
    if rule.max_duration_days is not None and (line.duration_days or 0) > rule.max_duration_days:
        errors[f"ligne{position}.duration_days"] = (
            f"Ligne {position} : {what} : {rule.max_duration_days} jours au plus pour votre profession "
            f"(source : {rule.source})."
        )
    if rule.max_renewals is not None and line.renewals > rule.max_renewals:
        errors[f"ligne{position}.renewals"] = (
            f"Ligne {position} : {what} : {rule.max_renewals} renouvellement(s) au plus pour votre profession "
            f"(source : {rule.source})."
        )
    return errors


def _clean(text: str) -> str:
    cleaned = text.replace("\r\n", "\n").replace("\r", "\n")
    return "".join(ch for ch in cleaned if ch in "\n\t" or ord(ch) >= 32).strip()


# --------------------------------------------------------------------------------------------------------------
# Reference data (resources/prescription/*.json), parsed here so that the rules stay testable without files
# --------------------------------------------------------------------------------------------------------------


def parse_scopes(data: object) -> ScopeBook:
    """Read ``champs_de_prescription.json``.

    Raises:
        InvalidInput: malformed file (French message naming what is wrong).
    """
    root = _mapping(data, "champs de prescription")
    categories = _mapping(root.get("categories"), "categories")
    labels: dict[str, str] = {}
    for key, value in categories.items():
        labels[key] = str(_mapping(value, f"catégorie {key}").get("libelle", key))
    scopes: dict[str, Scope] = {}
    for code, raw in _mapping(root.get("professions"), "professions").items():
        entry = _mapping(raw, f"profession {code}")
        rules: dict[str, CategoryRule] = {}
        for cat_key, cat_raw in _mapping(entry.get("categories", {}), f"{code}.categories").items():
            if cat_key not in labels:
                raise InvalidInput(f"Champs de prescription : catégorie inconnue « {cat_key} » ({code}).")
            cat = _mapping(cat_raw, f"{code}.{cat_key}")
            source = str(cat.get("source", "")).strip()
            if not source:
                raise InvalidInput(f"Champs de prescription : source manquante pour {code}/{cat_key}.")
            rules[cat_key] = CategoryRule(
                key=cat_key,
                source=source,
                conditions=str(cat.get("conditions", "")),
                max_duration_days=_optional_int(cat.get("duree_max_jours")),
                max_renewals=_optional_int(cat.get("renouvellements_max")),
                otc_only=bool(cat.get("hors_pmo_uniquement", False)),
            )
        acts: dict[str, ActRule] = {}
        for act_key, act_raw in _mapping(entry.get("actes", {}), f"{code}.actes").items():
            act = _mapping(act_raw, f"{code}.actes.{act_key}")
            source = str(act.get("source", "")).strip()
            if not source:
                raise InvalidInput(f"Champs de prescription : source manquante pour l'acte {code}/{act_key}.")
            acts[act_key] = ActRule(
                key=act_key,
                label=str(act.get("libelle", act_key)),
                kind=str(act.get("type", "")),
                source=source,
                conditions=str(act.get("conditions", "")),
            )
        basis = str(entry.get("fondement", "")).strip()
        if (rules or acts) and not basis:
            raise InvalidInput(f"Champs de prescription : fondement juridique manquant pour la profession {code}.")
        scopes[code] = Scope(
            profession=code,
            label=str(entry.get("libelle", code)),
            categories=rules,
            acts=acts,
            basis=basis,
            notes=str(entry.get("notes", "")),
        )
    return ScopeBook(scopes, labels)


def parse_products(data: object) -> tuple[list[Product], list[tuple[re.Pattern[str], str]]]:
    """Read ``produits.json``: the shipped product list and the rules that put BDPM medicines in a category.

    Raises:
        InvalidInput: malformed file, duplicate id, or a code of the wrong shape (codes are never guessed).
    """
    root = _mapping(data, "liste des produits")
    products: list[Product] = []
    seen: set[str] = set()
    for raw in _sequence(root.get("produits"), "produits"):
        item = _mapping(raw, "produit")
        ident = str(item.get("id", "")).strip()
        label = str(item.get("libelle", "")).strip()
        if not ident or not label or ident in seen:
            raise InvalidInput(f"Liste des produits : identifiant absent ou en double ({ident or label}).")
        seen.add(ident)
        product = Product(
            key=LIST_PREFIX + ident,
            label=label,
            category=str(item.get("categorie", "")),
            cis=str(item.get("cis", "")),
            cip13=str(item.get("cip13", "")),
            atc=str(item.get("atc", "")),
            lpp=str(item.get("lpp", "")),
            otc=bool(item.get("hors_pmo", False)),
            dosage_hint=str(item.get("posologie", "")),
        )
        _, errors = check_line_shape(
            PrescriptionLine(
                label, product.key, cis=product.cis, cip13=product.cip13, atc=product.atc, lpp=product.lpp
            ),
            1,
        )
        errors = {k: v for k, v in errors.items() if k.rsplit(".", 1)[-1] in _CODES}
        if errors:
            raise InvalidInput(f"Liste des produits : {label} : " + " ".join(errors.values()))
        products.append(product)
    rules: list[tuple[re.Pattern[str], str]] = []
    for raw in _sequence(root.get("classement_bdpm", []), "classement_bdpm"):
        rule = _mapping(raw, "règle de classement")
        try:
            rules.append((re.compile(str(rule["motif"]), re.IGNORECASE), str(rule["categorie"])))
        except (KeyError, re.error) as exc:
            raise InvalidInput(f"Liste des produits : règle de classement illisible ({exc}).") from exc
    return products, rules


def classify(label: str, rules: Sequence[tuple[re.Pattern[str], str]]) -> str:
    """The category of a BDPM medicine from its name (first matching rule; "" when none matches)."""
    folded = fold(label)
    for pattern, category in rules:
        if pattern.search(folded):
            return category
    return ""


def fold(text: str) -> str:
    """Lower case without accents (search and classification)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()


def matches(product_label: str, query: str) -> bool:
    """Every word of the query starts a word of the label (accents and case ignored)."""
    words = re.findall(r"[a-z0-9]+", fold(product_label))
    return all(any(w.startswith(q) for w in words) for q in re.findall(r"[a-z0-9]+", fold(query)))


def _mapping(value: object, what: str) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise InvalidInput(f"Données de prescription illisibles : {what} (objet attendu).")
    return value


def _sequence(value: object, what: str) -> Sequence[object]:
    if not isinstance(value, list):
        raise InvalidInput(f"Données de prescription illisibles : {what} (liste attendue).")
    return value


def _optional_int(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput("Données de prescription illisibles : nombre entier attendu.")
    return value


# --------------------------------------------------------------------------------------------------------------
# Ports
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Medicine:
    """One medicine of the public medicines database (BDPM): CIS and its presentations (CIP13)."""

    cis: str
    label: str
    form: str = ""
    routes: str = ""
    marketed: bool = True
    presentations: tuple[tuple[str, str], ...] = ()
    """(CIP13, label of the presentation)."""


class MedicineDatabase(Protocol):
    """The BDPM files when the practice installed them (``<data dir>/bdpm``); searched instead of the list."""

    def available(self) -> bool:
        """True when the files are present (they are read on first search)."""
        ...

    def search(self, query: str, limit: int) -> list[Medicine]:
        """Medicines whose name matches every word of ``query``, marketed ones first.

        Raises:
            InvalidInput: the files are present but unreadable (French message).
        """
        ...

    def by_cis(self, cis: str) -> Medicine | None:
        """One medicine by its CIS code."""
        ...


class PrescriptionRepository(Protocol):
    """Storage of prescriptions (inside the unit of work)."""

    def add(self, prescription: Prescription) -> int:
        """Store a new prescription with its lines; return its id."""
        ...

    def update(self, prescription: Prescription) -> Prescription:
        """Save a changed prescription read at ``row_version``; return it with the new version.

        Raises:
            NotFound: it no longer exists. ConflictError: changed elsewhere since it was read.
        """
        ...

    def get(self, prescription_id: int) -> Prescription:
        """One prescription. Raises NotFound."""
        ...

    def for_patient(self, patient_id: int) -> list[Prescription]:
        """The patient's prescriptions, newest first."""
        ...
