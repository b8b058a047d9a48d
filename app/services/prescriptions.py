"""Prescription use cases: search within the user's scope, drafts, validation into a health document, renewal."""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from app.services.documents import DocumentService, OpenedDocument
from domain.audit import AuditAction, AuditEvent
from domain.decision import AllergyClasses, ProductLine, allergy_alerts, parse_allergy_classes
from domain.documents import document_kind, prescription_lines_json
from domain.errors import ConflictError, InvalidInput, PermissionDenied
from domain.ports import Clock, UnitOfWork, UnitOfWorkFactory
from domain.practice import UserAccount
from domain.prescriptions import (
    ACT_PREFIX,
    CIS_PREFIX,
    PRODUCTS_KIND,
    ActRule,
    MedicineDatabase,
    Prescription,
    PrescriptionLine,
    PrescriptionStatus,
    Product,
    Scope,
    ScopeBook,
    check_prescription,
    classify,
    fold,
    matches,
    parse_products,
    parse_scopes,
    verdict_for,
)
from domain.security import Permission, can, require

log = logging.getLogger("lgc.prescriptions")

SEARCH_LIMIT = 40


@dataclass(frozen=True, slots=True)
class ProductChoice:
    """One search result: the product, whether the user's profession may prescribe it, and why not."""

    product: Product
    allowed: bool
    reason: str = ""
    source: str = ""
    conditions: str = ""
    category_label: str = ""


@dataclass(frozen=True, slots=True)
class ScopeInfo:
    """What the editor needs to know about the signed-in user's scope."""

    profession_label: str
    kinds: tuple[tuple[str, str], ...]
    """(document type code, French label) the user may produce, products first."""
    acts: tuple[ActRule, ...]
    categories: tuple[tuple[str, str, str], ...]
    """(label, source, conditions) of every product category of the scope."""
    medicines_database: bool
    """True when the BDPM files are installed (the search then covers every medicine)."""
    notes: str = ""


class PrescriptionCatalog:
    """The scopes and the shipped product list (``resources/prescription``), read on first use."""

    def __init__(self, directory: Path, allergy_classes: Path | None = None) -> None:
        self.directory = directory
        self._allergy_file = allergy_classes or directory.parent / "record" / "classes_allergies.json"
        self._lock = threading.Lock()
        self._loaded: tuple[ScopeBook, dict[str, Product], list[tuple[re.Pattern[str], str]]] | None = None
        self._classes: AllergyClasses | None = None

    def _load(self) -> tuple[ScopeBook, dict[str, Product], list[tuple[re.Pattern[str], str]]]:
        with self._lock:
            if self._loaded is None:
                book = parse_scopes(_read_json(self.directory / "champs_de_prescription.json"))
                products, rules = parse_products(_read_json(self.directory / "produits.json"))
                unknown = sorted({p.category for p in products} - set(book.category_labels))
                if unknown:
                    raise InvalidInput(f"Liste des produits : catégories inconnues : {', '.join(unknown)}.")
                self._loaded = (book, {p.key: p for p in products}, list(rules))
            return self._loaded

    @property
    def book(self) -> ScopeBook:
        """Every profession's scope."""
        return self._load()[0]

    @property
    def products(self) -> dict[str, Product]:
        """The shipped products by key."""
        return self._load()[1]

    @property
    def bdpm_rules(self) -> list[tuple[re.Pattern[str], str]]:
        """(pattern, category) rules classifying BDPM medicines."""
        return self._load()[2]

    @property
    def allergy_classes(self) -> AllergyClasses:
        """The substance classes decision support uses (shared with the clinical record)."""
        with self._lock:
            if self._classes is None:
                self._classes = parse_allergy_classes(_read_json(self._allergy_file))
            return self._classes


class PrescriptionService:
    """Prescriptions within each profession's legal scope; validated ones become health documents."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        documents: DocumentService,
        clock: Clock,
        current_user: Callable[[], UserAccount],
        catalog: PrescriptionCatalog,
        medicines: MedicineDatabase | None = None,
    ) -> None:
        self._uow = uow
        self._documents = documents
        self._clock = clock
        self._current_user = current_user
        self.catalog = catalog
        self._medicines = medicines

    # -- scope and search ---------------------------------------------------------------------------------------
    def can_read(self) -> bool:
        """Whether the signed-in user's profile reads care records (the tab is greyed out otherwise)."""
        return can(self._current_user(), Permission.READ_CLINICAL)

    def _scope(self, user: UserAccount) -> Scope:
        return self.catalog.book.scope_of(user.profession.value if user.profession else None)

    def scope_info(self) -> ScopeInfo:
        """The signed-in user's scope. Raises PermissionDenied when the user may not prescribe."""
        user = self._current_user()
        scope = self._scope(user)
        book = self.catalog.book
        kinds = tuple((code, document_kind(code).display_name) for code in scope.kinds)
        categories = tuple(
            (book.category_label(rule.key), rule.source, rule.conditions) for rule in scope.categories.values()
        )
        return ScopeInfo(
            scope.label,
            kinds,
            tuple(scope.acts.values()),
            categories,
            self._medicines_available(),
            scope.notes,
        )

    def _medicines_available(self) -> bool:
        return self._medicines is not None and self._medicines.available()

    def search_products(self, query: str, limit: int = SEARCH_LIMIT) -> list[ProductChoice]:
        """Products matching ``query`` (shipped list, plus the BDPM when installed): those the user's profession may
        prescribe first, then the others with the reason and the source of the refusal."""
        user = self._current_user()
        scope = self._scope(user)
        book = self.catalog.book
        text = query.strip()
        if len(text) > 100:
            raise InvalidInput({"query": "Recherche : 100 caractères au plus."})
        found: list[Product] = [
            p
            for p in self.catalog.products.values()
            if not text or matches(p.label, text) or matches(book.category_label(p.category), text)
        ]
        if text and self._medicines_available() and self._medicines is not None:
            known_cis = {p.cis for p in found if p.cis}
            for medicine in self._medicines.search(text, limit):
                if medicine.cis not in known_cis:
                    found.append(self._medicine_product(medicine.cis, medicine.label, medicine.presentations))
        choices: list[ProductChoice] = []
        for product in found:
            verdict = verdict_for(scope, book, product)
            choices.append(
                ProductChoice(
                    product,
                    verdict.allowed,
                    verdict.reason,
                    verdict.source,
                    verdict.conditions,
                    book.category_label(product.category),
                )
            )
        # Products named like the query before those found by their category, each group allowed-first.
        choices.sort(
            key=lambda c: (
                not c.allowed,
                bool(text) and not matches(c.product.label, text),
                c.product.origin != "liste",
                fold(c.product.label),
            )
        )
        return choices[:limit]

    def _medicine_product(self, cis: str, label: str, presentations: Sequence[tuple[str, str]]) -> Product:
        category = classify(label, self.catalog.bdpm_rules)
        cip13 = presentations[0][0] if len(presentations) == 1 else ""
        return Product(CIS_PREFIX + cis, label, category, cis=cis, cip13=cip13, origin="bdpm")

    def resolve(self, key: str) -> Product | None:
        """The product of a ``liste:``/``cis:`` key (None: unknown)."""
        if key in self.catalog.products:
            return self.catalog.products[key]
        if key.startswith(CIS_PREFIX):
            cis = key.removeprefix(CIS_PREFIX)
            listed = next((p for p in self.catalog.products.values() if p.cis == cis), None)
            if listed is not None:
                return listed
            if self._medicines_available() and self._medicines is not None:
                medicine = self._medicines.by_cis(cis)
                if medicine is not None:
                    return self._medicine_product(medicine.cis, medicine.label, medicine.presentations)
        return None

    def line_for(self, choice: ProductChoice | ActRule) -> PrescriptionLine:
        """A new line for a chosen product or act, pre-filled (posologie hint, codes)."""
        if isinstance(choice, ActRule):
            return PrescriptionLine(choice.label, ACT_PREFIX + choice.key, category="acte")
        if not choice.allowed:
            raise InvalidInput({"item": choice.reason + (f" Source : {choice.source}." if choice.source else "")})
        p = choice.product
        return PrescriptionLine(
            p.label, p.key, p.category, p.cis, p.cip13, p.atc, p.lpp, dosage=p.dosage_hint, renewals=0
        )

    def allergy_warnings(self, patient_id: int, lines: Sequence[PrescriptionLine]) -> list[str]:
        """French warnings for lines that match a recorded allergy (same rule as decision support; advisory)."""
        require(self._current_user(), Permission.READ_CLINICAL)
        with self._uow() as uow:
            entries = uow.record.entries(patient_id)
        products = [ProductLine(line.label, "ligne de prescription") for line in lines if not line.is_act]
        alerts = allergy_alerts(self.catalog.allergy_classes, entries, products)
        return [f"{alert.title} : {alert.explanation}" for alert in alerts]

    # -- list and read --------------------------------------------------------------------------------------------
    def list_prescriptions(self, patient_id: int) -> list[Prescription]:
        """The patient's prescriptions, newest first."""
        require(self._current_user(), Permission.READ_CLINICAL)
        with self._uow() as uow:
            uow.patients.get(patient_id)
            return uow.prescriptions.for_patient(patient_id)

    def get(self, prescription_id: int) -> Prescription:
        """One prescription."""
        require(self._current_user(), Permission.READ_CLINICAL)
        with self._uow() as uow:
            return uow.prescriptions.get(prescription_id)

    # -- write --------------------------------------------------------------------------------------------------
    def save_draft(
        self,
        patient_id: int,
        kind: str,
        lines: Sequence[PrescriptionLine],
        mentions: str = "",
        *,
        prescription_id: int | None = None,
        row_version: int = 0,
    ) -> Prescription:
        """Create or replace a draft after checking every line against the ranges and the user's scope.

        Raises:
            InvalidInput: keyed by line and field (nothing saved). PermissionDenied: not a prescriber, or the
                draft is validated / someone else's. ConflictError: changed elsewhere.
        """
        user = self._current_user()
        require(user, Permission.WRITE_CLINICAL)
        scope = self._scope(user)
        try:
            checked, text = check_prescription(scope, self.catalog.book, kind, lines, mentions, self.resolve)
        except InvalidInput as exc:
            log.info("Prescription refused: %s", "; ".join(exc.field_errors)[:300])
            raise
        now = self._clock.now()
        with self._uow() as uow:
            uow.patients.get(patient_id)
            if prescription_id is None:
                draft = Prescription(
                    id=None,
                    patient_id=patient_id,
                    kind=kind,
                    author_login=user.login,
                    author=user.actor,
                    profession=scope.profession,
                    created_at=now,
                    lines=checked,
                    mentions=text,
                )
                saved_id = uow.prescriptions.add(draft)
                self._trace(uow, user, patient_id, {"brouillon": saved_id, "type": kind, "lignes": len(checked)})
            else:
                current = uow.prescriptions.get(prescription_id)
                self._require_own_draft(current, user, patient_id)
                saved_id = (
                    uow.prescriptions.update(
                        replace(current, kind=kind, lines=checked, mentions=text, row_version=row_version)
                    ).id
                    or prescription_id
                )
                self._trace(uow, user, patient_id, {"modification": saved_id, "lignes": len(checked)})
            uow.commit()
            return uow.prescriptions.get(saved_id)

    def validate(self, prescription_id: int, row_version: int) -> Prescription:
        """Validate a draft: the lines are checked again, the health document is produced through the document
        pipeline (PDF/A and CDA, no INS datamatrix on a prescription), and the prescription is frozen.

        Raises:
            InvalidInput: a line no longer passes (scope, ranges) or the document lacks a field.
            PermissionDenied / ConflictError: as for editing.
        """
        user = self._current_user()
        require(user, Permission.WRITE_CLINICAL)
        scope = self._scope(user)
        with self._uow() as uow:
            current = uow.prescriptions.get(prescription_id)
        self._require_own_draft(current, user, current.patient_id)
        if current.row_version != row_version:
            raise ConflictError(
                "Cette prescription a été modifiée sur un autre poste depuis son ouverture : rouvrez-la."
            )
        checked, text = check_prescription(
            scope, self.catalog.book, current.kind, current.lines, current.mentions, self.resolve
        )
        values = document_values(current.kind, checked, text)
        now = self._clock.now()
        with self._uow() as uow:
            # One unit of work: the document and the frozen prescription are stored together, or neither is.
            latest = uow.prescriptions.get(prescription_id)
            if latest.row_version != row_version:
                raise ConflictError(
                    "Cette prescription a été modifiée sur un autre poste depuis son ouverture : rouvrez-la."
                )
            document = self._documents.produce_in(uow, current.patient_id, current.kind, values)
            validated = replace(
                latest,
                lines=checked,
                mentions=text,
                status=PrescriptionStatus.VALIDATED,
                validated_at=now,
                document_row_id=document.id,
                row_version=row_version,
            )
            uow.prescriptions.update(validated)
            self._trace(
                uow,
                user,
                current.patient_id,
                {"validation": prescription_id, "document": document.document_id, "type": current.kind},
            )
            uow.commit()
            saved = uow.prescriptions.get(prescription_id)
        log.info("Prescription %s validated (document %s)", prescription_id, document.id)
        return saved

    def renew(self, prescription_id: int) -> Prescription:
        """A new draft copying the lines of a prescription (checked again against the user's scope)."""
        user = self._current_user()
        require(user, Permission.WRITE_CLINICAL)
        scope = self._scope(user)
        with self._uow() as uow:
            source = uow.prescriptions.get(prescription_id)
        checked, text = check_prescription(
            scope, self.catalog.book, source.kind, source.lines, source.mentions, self.resolve
        )
        with self._uow() as uow:
            draft = Prescription(
                id=None,
                patient_id=source.patient_id,
                kind=source.kind,
                author_login=user.login,
                author=user.actor,
                profession=scope.profession,
                created_at=self._clock.now(),
                lines=checked,
                mentions=text,
                renews_id=prescription_id,
            )
            new_id = uow.prescriptions.add(draft)
            self._trace(uow, user, source.patient_id, {"renouvellement": prescription_id, "brouillon": new_id})
            uow.commit()
            return uow.prescriptions.get(new_id)

    def open_document(self, prescription_id: int) -> OpenedDocument:
        """The produced document (PDF first) of a validated prescription."""
        prescription = self.get(prescription_id)
        if prescription.document_row_id is None:
            raise InvalidInput("Cette prescription n'est pas encore validée : validez-la pour produire l'ordonnance.")
        return self._documents.open_document(prescription.document_row_id)

    # -- helpers --------------------------------------------------------------------------------------------------
    @staticmethod
    def _require_own_draft(current: Prescription, user: UserAccount, patient_id: int) -> None:
        if current.patient_id != patient_id:
            raise PermissionDenied("Cette prescription concerne un autre patient.")
        if current.status is PrescriptionStatus.VALIDATED:
            raise PermissionDenied(
                "Cette prescription est validée : elle ne change plus. Renouvelez-la pour en faire une nouvelle."
            )
        if current.author_login != user.login:
            raise PermissionDenied("Seul l'auteur d'un brouillon de prescription peut le modifier.")

    def _trace(self, uow: UnitOfWork, user: UserAccount, patient_id: int, detail: dict[str, object]) -> None:
        uow.audit.append(
            AuditEvent(
                at=self._clock.now(),
                actor=user.actor,
                action=AuditAction.PRESCRIPTION_WRITE,
                patient_id=patient_id,
                detail=detail,
            )
        )


def document_values(kind: str, lines: Sequence[PrescriptionLine], mentions: str) -> dict[str, str]:
    """The fields of the health document of a prescription: readable text, and the structured lines for products."""
    readable = "\n".join(f"{n}. {line.text()}" for n, line in enumerate(lines, start=1))
    document_kind(kind)  # InvalidInput for an unknown type, before anything is produced
    if kind == PRODUCTS_KIND:
        lignes = prescription_lines_json(line.document_line() for line in lines)
        return {"produits": readable, "mentions": mentions, "lignes": lignes}
    durations = sorted({line.duration_days for line in lines if line.duration_days})
    values = {"prescription": readable, "mentions": mentions}
    if durations:
        values["duree"] = ", ".join(f"{d} jours" for d in durations)
    return values


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"Fichier de référence illisible : {path.name} ({exc}).") from exc
