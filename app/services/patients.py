"""Patient use cases: search (rule 17), open, create and edit a patient file with its RNIV identity."""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import replace

from app.dto import PatientFile, PatientForm, SearchResult
from domain.audit import AuditAction, AuditEvent
from domain.cog import CogReferential, cog_problem
from domain.errors import ConflictError, InvalidInput
from domain.identity import (
    IdentityTraits,
    Sex,
    StatusChange,
    change_identity,
    new_identity,
    parse_given_names,
    validate_traits,
)
from domain.patient import CareTeamMember, Contact, Patient, validate_care_team, validate_contact
from domain.ports import Clock, UnitOfWork, UnitOfWorkFactory
from domain.practice import IdentityDocumentType, UserAccount
from domain.search import SearchQuery, parse_query
from domain.security import Permission, can

log = logging.getLogger("lgc.patients")

_DATE_FR = re.compile(r"^\s*(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})\s*$")


def parse_date_fr(text: str, label: str = "Date") -> dt.date | None:
    """Parse a JJ/MM/AAAA date typed by a user; None for a blank field.

    Raises:
        InvalidInput: the text is not a date or the date does not exist (31/02…).
    """
    if not text.strip() or text.strip() in ("//", "__/__/____"):
        return None
    match = _DATE_FR.match(text)
    if not match:
        raise ValueError(f"{label} : format attendu JJ/MM/AAAA.")
    day, month, year = (int(g) for g in match.groups())
    try:
        return dt.date(year, month, day)
    except ValueError as exc:
        raise ValueError(f"{label} : cette date n'existe pas ({text.strip()}).") from exc


class PatientService:
    """Search, read, create and edit patient files; every read and change of an identity is traced."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        cog: CogReferential,
        clock: Clock,
        current_user: Callable[[], UserAccount],
        search_limit: int = 200,
    ) -> None:
        self._uow = uow
        self._cog = cog
        self._clock = clock
        self._current_user = current_user
        self._search_limit = search_limit

    # -- search -----------------------------------------------------------------------------------
    def search(self, text: str, request_id: int = 0, limit: int | None = None) -> SearchResult:
        """Type-ahead search: names (birth, used, every first name), birth date, year, or full matricule.

        Raises:
            InvalidInput: the text cannot be a search (pasted file, impossible date, bad matricule key).
        """
        query = parse_query(text)
        return self.search_query(query, request_id=request_id, limit=limit)

    def search_query(self, query: SearchQuery, request_id: int = 0, limit: int | None = None) -> SearchResult:
        """Run an already-built anteriority search."""
        cap = limit or self._search_limit
        if query.is_empty and query.incomplete:
            # Only a half-typed date or matricule: listing everybody would be noise.
            rows = []
        else:
            with self._uow() as uow:
                rows = uow.patients.search(query, cap + 1)
        hint = ""
        if query.incomplete:
            hint = "Saisie incomplète ignorée : date attendue JJ/MM/AAAA, matricule INS sur 15 caractères."
        return SearchResult(request_id=request_id, rows=tuple(rows[:cap]), truncated=len(rows) > cap, hint=hint)

    # -- read -------------------------------------------------------------------------------------
    def open_patient(self, patient_id: int) -> PatientFile:
        """Load a patient file for display; traced as a read of the identity."""
        user = self._current_user()
        with self._uow() as uow:
            patient = uow.patients.get(patient_id)
            history = uow.patients.status_history(patient_id)
            doc_types = uow.practice.identity_document_types()
            self._trace(uow, user, AuditAction.IDENTITY_READ, patient_id)
            uow.commit()
        return self._file(patient, history, doc_types, user)

    # -- create -----------------------------------------------------------------------------------
    def create_patient(self, form: PatientForm) -> PatientFile:
        """Create a patient; only the five INS rule-5 fields are mandatory.

        Raises:
            InvalidInput: every problem, keyed by field, in French; nothing is saved.
        """
        user = self._current_user()
        now = self._clock.now()
        with self._uow() as uow:
            doc_types = uow.practice.identity_document_types()
            traits, contact, team, document = self._check_form(form, doc_types)
            identity, first_status = new_identity(
                traits,
                high_trust_document=document,
                doubtful=form.doubtful,
                fictitious=form.fictitious,
                homonym=form.homonym,
                actor=user.actor,
                at=now,
            )
            patient = Patient(id=None, identity=identity, contact=contact, care_team=team)
            patient_id = uow.patients.add(patient)
            uow.patients.add_status_change(patient_id, first_status)
            self._trace(
                uow,
                user,
                AuditAction.IDENTITY_CREATE,
                patient_id,
                {"statut": identity.status.value, "traits": _trace_traits(traits)},
            )
            uow.commit()
            stored = uow.patients.get(patient_id)
            history = uow.patients.status_history(patient_id)
        log.info("Patient %s created (status %s)", patient_id, identity.status.value)
        return self._file(stored, history, doc_types, user)

    # -- edit -------------------------------------------------------------------------------------
    def update_patient(self, patient_id: int, version: int, form: PatientForm) -> PatientFile:
        """Save an edited patient file (rules 26/27: protected strict traits, demotion, history).

        Raises:
            InvalidInput: bad field values; PermissionDenied: strict trait of a protected identity changed
            by a non-administrator; ConflictError: the file changed on another workstation. Nothing is saved.
        """
        user = self._current_user()
        now = self._clock.now()
        with self._uow() as uow:
            doc_types = uow.practice.identity_document_types()
            current = uow.patients.get(patient_id)
            if current.version != version:
                raise ConflictError("Ce dossier a été modifié sur un autre poste depuis son ouverture : rouvrez-le.")
            traits, contact, team, document = self._check_form(form, doc_types)
            result = change_identity(
                current.identity,
                traits=traits,
                high_trust_document=document,
                doubtful=form.doubtful,
                fictitious=form.fictitious,
                homonym=form.homonym,
                actor=user.actor,
                actor_is_admin=can(user, Permission.EDIT_PROTECTED_TRAITS),
                at=now,
            )
            updated = replace(current, identity=result.identity, contact=contact, care_team=team)
            uow.patients.update(updated)
            detail: dict[str, object] = {"statut": result.identity.status.value}
            if result.changed_strict_traits:
                detail["traits_stricts_modifies"] = list(result.changed_strict_traits)
                detail["avant"] = _trace_traits(current.identity.traits)
                detail["apres"] = _trace_traits(traits)
            if result.ins_invalidated:
                detail["ins_invalide"] = current.identity.ins.matricule if current.identity.ins else True
            self._trace(uow, user, AuditAction.IDENTITY_UPDATE, patient_id, detail)
            if result.status_change is not None:
                uow.patients.add_status_change(patient_id, result.status_change)
                self._trace(
                    uow,
                    user,
                    AuditAction.IDENTITY_STATUS,
                    patient_id,
                    {
                        "avant": result.status_change.before.value if result.status_change.before else None,
                        "apres": result.status_change.after.value,
                        "motif": result.status_change.reason,
                    },
                )
            uow.commit()
            stored = uow.patients.get(patient_id)
            history = uow.patients.status_history(patient_id)
        return self._file(stored, history, doc_types, user)

    def identity_document_types(self) -> list[IdentityDocumentType]:
        """The identity document types the practice accepts."""
        with self._uow() as uow:
            return uow.practice.identity_document_types()

    # -- helpers ----------------------------------------------------------------------------------
    def _check_form(
        self, form: PatientForm, doc_types: list[IdentityDocumentType]
    ) -> tuple[IdentityTraits, Contact, tuple[CareTeamMember, ...], str | None]:
        errors: dict[str, str] = {}
        birth_date: dt.date | None = None
        try:
            birth_date = parse_date_fr(form.birth_date, "Date de naissance")
        except ValueError as exc:
            errors["birth_date"] = str(exc)
        sex: Sex | None = None
        if form.sex.strip():
            try:
                sex = Sex(form.sex.strip().upper())
            except ValueError:
                errors["sex"] = "Sexe : F, M ou I."
        raw_traits = IdentityTraits(
            birth_name=form.birth_name,
            birth_given_names=parse_given_names(form.birth_given_names),
            birth_date=birth_date,
            sex=sex,
            birth_place_code=form.birth_place_code,
            used_name=form.used_name,
            used_given_name=form.used_given_name,
        )
        traits = raw_traits
        try:
            traits = validate_traits(
                raw_traits,
                today=self._clock.today(),
                cog_validator=lambda code, day: cog_problem(self._cog, code, day),
            )
        except InvalidInput as exc:
            for key, message in exc.field_errors.items():
                errors.setdefault(key, message)
        if "birth_date" in errors and "sex" not in errors and sex is None:
            errors["sex"] = "Le sexe est obligatoire."
        contact = Contact()
        try:
            contact = validate_contact(
                Contact(
                    address_lines=form.address_lines,
                    postal_code=form.postal_code,
                    city=form.city,
                    phones=form.phones,
                    email=form.email,
                )
            )
        except InvalidInput as exc:
            errors.update(exc.field_errors)
        team: tuple[CareTeamMember, ...] = ()
        try:
            team = validate_care_team(form.care_team)
        except InvalidInput as exc:
            errors.update(exc.field_errors)
        document: str | None = form.high_trust_document.strip() or None
        if document is not None:
            known = {d.code: d for d in doc_types}
            doc = known.get(document)
            if doc is None or not doc.active:
                errors["high_trust_document"] = "Type de pièce d'identité inconnu ou désactivé."
            elif not doc.high_trust:
                errors["high_trust_document"] = (
                    f"« {doc.label} » n'est pas une pièce à haut niveau de confiance : "
                    "elle ne permet pas de valider l'identité."
                )
        if errors:
            log.info("Patient form refused: %s", ", ".join(sorted(errors)))
            raise InvalidInput(errors)
        return traits, contact, team, document

    def _file(
        self,
        patient: Patient,
        history: Sequence[StatusChange],
        doc_types: list[IdentityDocumentType],
        user: UserAccount,
    ) -> PatientFile:
        traits = patient.identity.traits
        place = self._cog.get(traits.birth_place_code, traits.birth_date)
        label = place.display if place else traits.birth_place_code
        doc_label = ""
        if patient.identity.high_trust_document:
            doc_label = next(
                (d.label for d in doc_types if d.code == patient.identity.high_trust_document),
                patient.identity.high_trust_document,
            )
        status = patient.identity.status
        return PatientFile(
            patient=patient,
            status=status,
            status_history=tuple(history),
            birth_place_label=label,
            strict_traits_editable=can(user, Permission.EDIT_PROTECTED_TRAITS) or not status.protects_strict_traits,
            document_type_label=doc_label,
        )

    def _trace(
        self,
        uow: UnitOfWork,
        user: UserAccount,
        action: AuditAction,
        patient_id: int | None,
        detail: dict[str, object] | None = None,
    ) -> None:
        uow.audit.append(
            AuditEvent(
                at=self._clock.now(),
                actor=user.actor,
                action=action,
                patient_id=patient_id,
                detail=detail or {},
            )
        )


def _trace_traits(traits: IdentityTraits) -> dict[str, object]:
    return {
        "nom_naissance": traits.birth_name,
        "prenoms_naissance": " ".join(traits.birth_given_names),
        "date_naissance": traits.birth_date.isoformat() if traits.birth_date else None,
        "sexe": traits.sex.value if traits.sex else None,
        "lieu_naissance": traits.birth_place_code,
    }
