"""INS qualification use cases: INSi lookup, comparison, retrieval, qualification, Sentinelle, verification, TBB.

Each public method does one kind of work so that the UI can run it in the right lane: methods that read or
write the store (``Lane.DB``) never call the network, methods that call INSi (``Lane.NET``) never touch the
store. ``VerificationJob`` chains them through the task runner.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Protocol

from app.dto import PatientFile
from app.tasks import Lane, TaskRunner
from domain.audit import AuditAction, AuditEvent
from domain.cog import CogReferential
from domain.errors import ConflictError, DomainError, InvalidInput, NotFound, PermissionDenied
from domain.identity import (
    Identity,
    IdentitySource,
    IdentityStatus,
    IdentityTraits,
    IdentityUpdate,
)
from domain.ins_qualification import (
    INSI_HELP_URL,
    IdentityComparison,
    KnownIns,
    StatusCounts,
    VerificationReason,
    VerificationResult,
    add_years,
    apply_insi_identity,
    compare_identity,
    history_entries,
    importable_traits,
    invalidate_after_failed_verification,
    month_bounds,
    month_key,
    new_identity_from_insi,
    record_identity_check,
    status_counts,
    verification_due,
    verification_outcome,
)
from domain.insi import (
    InsiAnswer,
    InsiCallContext,
    InsiCode,
    VitaleBeneficiary,
)
from domain.patient import Contact, Patient
from domain.ports import Clock, UnitOfWork, UnitOfWorkFactory
from domain.practice import UserAccount

log = logging.getLogger("lgc.ins")

ADVICE_NOT_FOUND = (
    "Aucune identité ne correspond aux traits envoyés. Vérifiez-les sur une pièce d'identité (nom de naissance, "
    "premier prénom de naissance, date et lieu de naissance), puis relancez la recherche ; la lecture de la "
    "carte Vitale du patient est la méthode à privilégier."
)
ADVICE_SEVERAL = (
    "Plusieurs identités correspondent aux traits envoyés. Ajoutez les autres prénoms de naissance figurant sur la "
    "pièce d'identité et vérifiez le lieu de naissance, ou utilisez la carte Vitale du patient."
)
RETRY_DELAY = dt.timedelta(hours=1)
"""A verification that could not reach INSi is tried again after this delay."""


class InsiLookup(Protocol):
    """The INSi lookup strategy (traits without the COG first, then with it on 02; one query per first name).

    ``app.services.insi_lookup.InsiLookupService`` implements it and traces every call.
    """

    def by_traits(self, traits: IdentityTraits, context: InsiCallContext) -> InsiAnswer:
        """Search by the identity traits of a local identity."""
        ...

    def by_vitale(self, beneficiary: VitaleBeneficiary, context: InsiCallContext) -> InsiAnswer:
        """Search with a carte Vitale beneficiary."""
        ...


@dataclass(frozen=True, slots=True)
class LookupOutcome:
    """What an INSi lookup gave, ready to show: the answer, the comparison, and the message for 01/02.

    Attributes:
        problem: a French explanation when the answer cannot be imported (rules 11/12), else "".
    """

    patient_id: int | None
    patient_version: int | None
    answer: InsiAnswer
    source: IdentitySource
    comparison: IdentityComparison | None = None
    beneficiary: VitaleBeneficiary | None = None
    message: str = ""
    advice: str = ""
    help_url: str = ""
    problem: str = ""

    @property
    def found(self) -> bool:
        """One identity, importable."""
        return self.answer.code is InsiCode.FOUND and self.comparison is not None and not self.problem

    @property
    def automatic(self) -> bool:
        """Everything concords: the INS is retrieved without asking (DSR §3.2.1)."""
        return (
            self.found
            and self.patient_id is not None
            and self.comparison is not None
            and (self.comparison.all_concordant)
        )


class OpenAction(StrEnum):
    """What to do in the background when a patient file is opened."""

    NONE = "rien"
    LOOKUP = "recherche"
    VERIFY = "verification"


@dataclass(frozen=True, slots=True)
class VerificationReport:
    """The outcome of one verification."""

    patient_id: int
    result: VerificationResult
    explanation: str
    status_before: IdentityStatus
    status_after: IdentityStatus
    retrieved_again: bool = False


@dataclass(frozen=True, slots=True)
class VerificationRun:
    """What one pass of the verification job did."""

    queued: int = 0
    reports: tuple[VerificationReport, ...] = ()
    errors: tuple[str, ...] = field(default=())


class QualificationService:
    """INSi lookups, retrieval and qualification of identities, Sentinelle creation, verification, indicators."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        lookup: InsiLookup,
        clock: Clock,
        current_user: Callable[[], UserAccount],
        cog: CogReferential,
        open_file: Callable[[int], PatientFile],
    ) -> None:
        self._uow = uow
        self._lookup = lookup
        self._clock = clock
        self._current_user = current_user
        self._cog = cog
        self._open_file = open_file

    def with_lookup(self, lookup: InsiLookup) -> QualificationService:
        """The same service over another INSi lookup (the command line's ``--endpoint``, the demo stand-in)."""
        return QualificationService(self._uow, lookup, self._clock, self._current_user, self._cog, self._open_file)

    # -- when a file is opened (DB lane) ---------------------------------------------------------------
    def action_on_open(self, patient_id: int) -> OpenAction:
        """Decide what the background does for an opened file (DSR §3.2.1).

        An identity neither récupérée nor qualifiée gets an automatic INSi lookup (unless douteuse/fictive); a
        NIA matricule or an INS unverified for 4 years gets a verification.
        """
        with self._uow() as uow:
            patient = uow.patients.get(patient_id)
            state = uow.ins.verification_state(patient_id)
        identity = patient.identity
        if not identity.status.protects_strict_traits:
            return OpenAction.LOOKUP if identity.may_call_insi else OpenAction.NONE
        if verification_due(identity, state, self._clock.today(), event=True):
            return OpenAction.VERIFY
        return OpenAction.NONE

    def patient(self, patient_id: int) -> Patient:
        """The stored patient (DB lane), to hand to a lookup."""
        with self._uow() as uow:
            return uow.patients.get(patient_id)

    # -- lookups (NET lane) ----------------------------------------------------------------------------
    def lookup_patient(self, patient: Patient) -> LookupOutcome:
        """Search INSi with the local traits of ``patient`` and compare (NET lane: no store access).

        Raises:
            PermissionDenied: douteuse/fictive identity (rule 25). RemoteServiceError, AuthenticationRequired.
        """
        identity = patient.identity
        if not identity.may_call_insi:
            raise PermissionDenied("Identité douteuse ou fictive : le téléservice INSi ne doit pas être interrogé.")
        answer = self._lookup.by_traits(identity.traits, self._context(patient.id))
        return self._outcome(patient, answer, IdentitySource.INSI_TRAITS, None)

    def lookup_vitale(self, beneficiary: VitaleBeneficiary, patient: Patient | None) -> LookupOutcome:
        """Search INSi with a carte Vitale beneficiary and compare with ``patient`` when one is open (NET lane)."""
        answer = self._lookup.by_vitale(beneficiary, self._context(patient.id if patient is not None else None))
        return self._outcome(patient, answer, IdentitySource.INSI_VITALE, beneficiary)

    def lookup_traits(self, traits: IdentityTraits) -> LookupOutcome:
        """Search INSi for an identity that is not in the practice yet (Sentinelle; NET lane)."""
        answer = self._lookup.by_traits(traits, self._context())
        return self._outcome(None, answer, IdentitySource.INSI_TRAITS, None)

    def _outcome(
        self,
        patient: Patient | None,
        answer: InsiAnswer,
        source: IdentitySource,
        beneficiary: VitaleBeneficiary | None,
    ) -> LookupOutcome:
        pid = patient.id if patient is not None else None
        version = patient.version if patient is not None else None
        if answer.code is InsiCode.NOT_FOUND:
            return LookupOutcome(
                pid, version, answer, source, message=InsiCode.NOT_FOUND.label_fr, advice=ADVICE_NOT_FOUND,
                help_url=INSI_HELP_URL, beneficiary=beneficiary,
            )  # fmt: skip
        if answer.code is InsiCode.SEVERAL:
            return LookupOutcome(
                pid, version, answer, source, message=InsiCode.SEVERAL.label_fr, advice=ADVICE_SEVERAL,
                help_url=INSI_HELP_URL, beneficiary=beneficiary,
            )  # fmt: skip
        if answer.identity is None:
            return LookupOutcome(pid, version, answer, source, message="Réponse INSi sans identité.", problem="vide")
        comparison = compare_identity(
            patient.identity if patient is not None else None,
            answer.identity,
            beneficiary=beneficiary,
            place_label=self._place_label,
        )
        problem = ""
        try:
            importable_traits(answer.identity)
        except InvalidInput as exc:
            problem = exc.message_fr
            log.warning("INSi answer not importable (rules 11/12): %s", ", ".join(exc.field_errors))
        return LookupOutcome(
            pid,
            version,
            answer,
            source,
            comparison=comparison,
            beneficiary=beneficiary,
            message=InsiCode.FOUND.label_fr,
            problem=problem,
        )

    def _place_label(self, code: str, day: dt.date | None) -> str:
        place = self._cog.get(code, day)
        return place.display if place is not None else code

    def _context(self, patient_id: int | None = None) -> InsiCallContext:
        user = self._current_user()
        return InsiCallContext(
            actor=user.actor,
            structure_id=str(user.structure_id or ""),
            practitioner_id=f"8{user.rpps}" if user.rpps else "",
            practitioner_name=user.display_name,
            profession_code=user.profession.value.split("-")[0] if user.profession else "",
            patient_id=patient_id,
        )

    # -- retrieval and qualification (DB lane) ---------------------------------------------------------
    def retrieve(
        self,
        outcome: LookupOutcome,
        *,
        automatic: bool = False,
        document_code: str | None = None,
        transitional: bool = False,
    ) -> PatientFile:
        """Retrieve the INS into the open identity ("Récupérer l'INS" / "Valider"), optionally qualifying it.

        Traits are replaced by INSi's (rule 6), matricule + OID + INS history stored, the status becomes
        "récupérée" ("qualifiée" with a high-trust document, given now or earlier); everything is traced.

        Raises:
            InvalidInput: no single importable identity (rules 11/12), unknown or low-trust document.
            ConflictError: the file changed since the lookup. PermissionDenied: douteuse/fictive identity.
        """
        if outcome.patient_id is None:
            raise InvalidInput("Aucun dossier patient ouvert pour y récupérer l'INS.")
        if outcome.answer.code is not InsiCode.FOUND or outcome.answer.identity is None:
            raise InvalidInput("La réponse de l'INSi ne contient pas une identité unique : rien à récupérer.")
        if automatic and not outcome.automatic:
            raise InvalidInput("Des divergences existent : la récupération doit être validée par l'utilisateur.")
        found = outcome.answer.identity
        user = self._current_user()
        now = self._clock.now()
        pid = outcome.patient_id
        with self._uow() as uow:
            current = uow.patients.get(pid)
            if outcome.patient_version is not None and current.version != outcome.patient_version:
                raise ConflictError("Le dossier a été modifié depuis la recherche INSi : relancez la recherche.")
            try:
                update = apply_insi_identity(current.identity, found, source=outcome.source, actor=user.actor, at=now)
            except InvalidInput as exc:
                self._trace(
                    uow,
                    user,
                    AuditAction.INS_RETRIEVAL,
                    pid,
                    {"refus": exc.message_fr, "matricule": found.matricule},
                    outcome="refus",
                )
                uow.commit()
                raise
            updates = [update]
            if document_code is not None or transitional:
                document = None
                if document_code is not None:
                    document = next(
                        (d for d in uow.practice.identity_document_types() if d.code == document_code), None
                    )
                    if document is None:
                        raise InvalidInput({"document": "Type de pièce d'identité inconnu."})
                updates.append(
                    record_identity_check(
                        update.identity, document=document, transitional=transitional, actor=user.actor, at=now
                    )
                )
            final = updates[-1].identity
            uow.patients.update(replace(current, identity=final))
            uow.ins.replace_history(pid, history_entries(found), now)
            uow.ins.set_retrieved(pid, now)
            uow.ins.dequeue(pid)
            self._trace(
                uow,
                user,
                AuditAction.INS_RETRIEVAL,
                pid,
                {
                    "mode": "automatique" if automatic else "validation",
                    "source": outcome.source.value,
                    "code": outcome.answer.code.value,
                    "matricule": found.matricule,
                    "oid": found.oid,
                    "traits_modifies": list(update.changed_strict_traits),
                    "historique": [h.matricule for h in found.history],
                    "message_id": outcome.answer.message_id,
                },
            )
            self._record_changes(uow, user, pid, current.identity, updates)
            uow.commit()
        log.info("INS retrieved for patient %s (%s)", pid, final.status.value)
        return self._open_file(pid)

    def qualify(
        self, patient_id: int, version: int, *, document_code: str | None = None, transitional: bool = False
    ) -> PatientFile:
        """Record the identity check: high-trust document (its type, from the practice's list) or transitional.

        Raises:
            InvalidInput: unknown, deactivated or low-trust document type; transitional procedure without a
                carte Vitale INS. ConflictError: the file changed meanwhile.
        """
        user = self._current_user()
        now = self._clock.now()
        with self._uow() as uow:
            current = uow.patients.get(patient_id)
            if current.version != version:
                raise ConflictError("Ce dossier a été modifié sur un autre poste depuis son ouverture : rouvrez-le.")
            document = None
            if document_code is not None:
                document = next((d for d in uow.practice.identity_document_types() if d.code == document_code), None)
                if document is None:
                    raise InvalidInput({"document": "Type de pièce d'identité inconnu."})
            update = record_identity_check(
                current.identity, document=document, transitional=transitional, actor=user.actor, at=now
            )
            uow.patients.update(replace(current, identity=update.identity))
            self._record_changes(uow, user, patient_id, current.identity, [update])
            uow.commit()
        return self._open_file(patient_id)

    def _record_changes(
        self, uow: UnitOfWork, user: UserAccount, patient_id: int, before: Identity, updates: Sequence[IdentityUpdate]
    ) -> None:
        after = updates[-1].identity
        detail: dict[str, object] = {"statut": after.status.value}
        changed = sorted({name for u in updates for name in u.changed_strict_traits})
        if changed:
            detail["traits_stricts_modifies"] = changed
        if after.high_trust_document != before.high_trust_document:
            detail["piece_identite"] = after.high_trust_document
        if after.transitional_qualification and not before.transitional_qualification:
            detail["procedure_transitoire"] = True
        self._trace(uow, user, AuditAction.IDENTITY_UPDATE, patient_id, detail)
        for update in updates:
            change = update.status_change
            if change is None:
                continue
            uow.patients.add_status_change(patient_id, change)
            self._trace(
                uow,
                user,
                AuditAction.IDENTITY_STATUS,
                patient_id,
                {
                    "avant": change.before.value if change.before else None,
                    "apres": change.after.value,
                    "motif": change.reason,
                    "qualification": change.qualification.value if change.qualification else None,
                },
            )

    # -- Sentinelle ------------------------------------------------------------------------------------
    def create_from_insi(
        self,
        outcome: LookupOutcome,
        *,
        used_name: str = "",
        used_given_name: str = "",
        document_code: str | None = None,
        contact: Contact | None = None,
    ) -> PatientFile:
        """Create a patient in one step from an INSi answer (SENTINELLE.20): traits, INS and history from INSi.

        Raises:
            InvalidInput: not one importable identity (rules 11/12), or this INS is already in the practice.
        """
        if outcome.answer.code is not InsiCode.FOUND or outcome.answer.identity is None:
            raise InvalidInput("La réponse de l'INSi ne contient pas une identité unique : rien à créer.")
        found = outcome.answer.identity
        user = self._current_user()
        now = self._clock.now()
        identity, first = new_identity_from_insi(
            found,
            source=outcome.source,
            actor=user.actor,
            at=now,
            used_name=used_name.strip().upper(),
            used_given_name=used_given_name.strip().upper(),
        )
        with self._uow() as uow:
            existing = uow.ins.patients_by_matricule(found.matricule)
            if existing:
                raise InvalidInput(
                    f"Cette INS est déjà celle du dossier n° {existing[0][0]} : ouvrez-le plutôt que d'en créer un."
                )
            updates: list[IdentityUpdate] = []
            if document_code is not None:
                document = next((d for d in uow.practice.identity_document_types() if d.code == document_code), None)
                if document is None:
                    raise InvalidInput({"document": "Type de pièce d'identité inconnu."})
                updates.append(record_identity_check(identity, document=document, actor=user.actor, at=now))
                identity = updates[-1].identity
            pid = uow.patients.add(Patient(id=None, identity=identity, contact=contact or Contact()))
            uow.patients.add_status_change(pid, first)
            for update in updates:
                if update.status_change is not None:
                    uow.patients.add_status_change(pid, update.status_change)
            uow.ins.replace_history(pid, history_entries(found), now)
            uow.ins.set_retrieved(pid, now)
            self._trace(
                uow,
                user,
                AuditAction.IDENTITY_CREATE,
                pid,
                {
                    "statut": identity.status.value,
                    "source": outcome.source.value,
                    "matricule": found.matricule,
                    "oid": found.oid,
                },
            )
            uow.commit()
        log.info("Patient %s created from INSi (%s)", pid, identity.status.value)
        return self._open_file(pid)

    def find_by_ins(self, matricule: str, oid: str) -> KnownIns | None:
        """Find the local patient a received document names by its INS (Sentinelle; documents, MSSanté).

        The active matricule must match with the same OID; a former matricule (INS history) also finds the
        patient, flagged so that the caller checks the identity. Returns None when nobody matches (the caller
        then creates the identity without the matricule, or verifies the INS first: rules 51 to 55).
        """
        with self._uow() as uow:
            active = [pid for pid, stored_oid in uow.ins.patients_by_matricule(matricule) if stored_oid == oid]
            if active:
                patient = uow.patients.get(active[0])
                notes: tuple[str, ...] = ()
                if len(active) > 1:
                    notes = (f"{len(active)} dossiers portent cette INS : doublon à traiter.",)
                return KnownIns(active[0], patient.identity.status, notes=notes)
            former = uow.ins.patients_by_former_ins(matricule, oid)
            if former:
                patient = uow.patients.get(former[0])
                return KnownIns(
                    former[0],
                    patient.identity.status,
                    matched_on_history=True,
                    notes=("INS trouvée dans l'historique des matricules : vérifiez l'identité.",),
                )
        return None

    # -- verification ----------------------------------------------------------------------------------
    def enqueue_due(self, limit: int = 500) -> int:
        """Queue the identities whose INS was retrieved or verified 4 years ago or more (DB lane)."""
        now = self._clock.now()
        before = dt.datetime.combine(add_years(now.date(), -4), dt.time(), tzinfo=dt.UTC) + dt.timedelta(days=1)
        with self._uow() as uow:
            ids = uow.ins.due_for_verification(before, limit)
            added = sum(uow.ins.enqueue(pid, VerificationReason.PERIODIC, now) for pid in ids)
            uow.commit()
        return added

    def enqueue(self, patient_id: int, reason: VerificationReason) -> bool:
        """Queue a verification for one patient (NIA at an event, received INS, user request)."""
        with self._uow() as uow:
            added = uow.ins.enqueue(patient_id, reason, self._clock.now())
            uow.commit()
        return added

    def queued(self, limit: int = 20) -> list[int]:
        """Patients whose verification is due now (DB lane)."""
        with self._uow() as uow:
            return [q.patient_id for q in uow.ins.queued(self._clock.now(), limit)]

    def queue_length(self) -> int:
        """How many verifications wait."""
        with self._uow() as uow:
            return uow.ins.queue_length()

    def verification_search(self, patient: Patient) -> InsiAnswer:
        """The verification call (NET lane).

        The INSi WSDL 1.5.0 has no verification operation: the stored INS is verified by a traits search
        (``rechercherInsAvecTraitsIdentite``) with the stored traits, compared with the stored INS afterwards.
        """
        return self._lookup.by_traits(patient.identity.traits, self._context(patient.id))

    def record_verification(
        self, patient: Patient, answer: InsiAnswer | None, error: BaseException | None = None
    ) -> VerificationReport:
        """Conclude a verification (DB lane): trace it, and on failure invalidate, demote and retrieve again.

        Rule 48: every verification call and its result are traced. Rule 49: a KO invalidates matricule + OID
        and demotes (RECUP → PROV, QUAL → VALI). On failure a retrieval with the local traits follows (the same
        traits search: its answer is reused); it is applied only when everything concords.
        """
        assert patient.id is not None
        pid = patient.id
        user = self._current_user()
        actor = f"{user.actor} — vérification INS automatique"
        now = self._clock.now()
        before = patient.identity.status
        with self._uow() as uow:
            current = uow.patients.get(pid)
            if error is not None or answer is None:
                message = error.message_fr if isinstance(error, DomainError) else "erreur inattendue"
                uow.ins.postpone(pid, message, now + RETRY_DELAY)
                self._trace(
                    uow,
                    user,
                    AuditAction.INS_VERIFICATION,
                    pid,
                    {"resultat": VerificationResult.ERROR.value, "erreur": message},
                    outcome="erreur",
                    actor=actor,
                )
                uow.commit()
                return VerificationReport(pid, VerificationResult.ERROR, message, before, before)
            if current.version != patient.version or current.identity.ins != patient.identity.ins:
                # Someone changed the identity while INSi answered: verify the new state later.
                uow.ins.postpone(pid, "dossier modifié pendant la vérification", now)
                uow.commit()
                return VerificationReport(
                    pid, VerificationResult.ERROR, "Dossier modifié pendant la vérification.", before, before
                )
            result, explanation = verification_outcome(current.identity, answer)
            detail: dict[str, object] = {
                "resultat": result.value,
                "code": answer.code.value,
                "matricule_enregistre": current.identity.ins.matricule if current.identity.ins else None,
                "matricule_insi": answer.identity.matricule if answer.identity else None,
                "explication": explanation,
                "message_id": answer.message_id,
                "operation": "rechercherInsAvecTraitsIdentite (pas d'opération de vérification dans le WSDL 1.5.0)",
            }
            self._trace(uow, user, AuditAction.INS_VERIFICATION, pid, detail, outcome=result.value, actor=actor)
            uow.ins.set_verified(pid, now, result)
            uow.ins.dequeue(pid)
            after = current.identity.status
            retrieved = False
            if result is VerificationResult.KO:
                update = invalidate_after_failed_verification(
                    current.identity, actor=actor, at=now, explanation=explanation
                )
                updates = [update]
                demoted = update.identity
                # Retrieval with the local traits: the answer of the same traits search.
                if answer.code is InsiCode.FOUND and answer.identity is not None:
                    comparison = compare_identity(demoted, answer.identity)
                    if comparison.all_concordant:
                        try:
                            again = apply_insi_identity(
                                demoted, answer.identity, source=IdentitySource.INSI_TRAITS, actor=actor, at=now
                            )
                        except (InvalidInput, DomainError):
                            again = None
                        if again is not None:
                            updates.append(again)
                            retrieved = True
                final = updates[-1].identity
                uow.patients.update(replace(current, identity=final))
                if retrieved and answer.identity is not None:
                    uow.ins.replace_history(pid, history_entries(answer.identity), now)
                    uow.ins.set_retrieved(pid, now)
                    uow.ins.set_verified(pid, now, result)
                else:
                    uow.ins.clear_history(pid)
                self._record_changes(uow, user, pid, current.identity, updates)
                after = final.status
            uow.commit()
        log.info("INS verification of patient %s: %s", pid, result.value)
        return VerificationReport(pid, result, explanation, before, after, retrieved_again=retrieved)

    # -- indicators ------------------------------------------------------------------------------------
    def stats(self, first_month: str, last_month: str, practitioner: str | None = None) -> list[StatusCounts]:
        """Identities per status of the patients seen each month, per practitioner and overall (TBB.INS.02).

        Args:
            first_month: AAAA-MM. last_month: AAAA-MM (included).
            practitioner: a login to keep that practitioner's lines only (and the overall ones).

        Raises:
            InvalidInput: bad months or more than 36 of them.
        """
        start, _ = month_bounds(first_month)
        _, end = month_bounds(last_month)
        if end <= start:
            raise InvalidInput({"mois": "Le dernier mois doit suivre le premier."})
        if (end - start).days > 36 * 31:
            raise InvalidInput({"mois": "36 mois au plus à la fois."})
        result: list[StatusCounts] = []
        with self._uow() as uow:
            actors = {u.actor: u for u in uow.practice.users()}
            month_start = start
            while month_start < end:
                _, month_end = month_bounds(month_key(month_start))
                seen = uow.ins.seen_patients(month_start, month_end)
                histories = uow.ins.status_histories(sorted({s.patient_id for s in seen}))
                result.extend(status_counts(seen, histories, month_end=_constant(month_end)))
                month_start = month_end
        if practitioner:
            wanted = {a for a, u in actors.items() if u.login == practitioner}
            if not wanted:
                raise NotFound(f"Aucun compte « {practitioner} » dans ce cabinet.")
            result = [r for r in result if r.practitioner in wanted or r.practitioner == "*"]
        return result

    # -- helpers ---------------------------------------------------------------------------------------
    def _trace(
        self,
        uow: UnitOfWork,
        user: UserAccount,
        action: AuditAction,
        patient_id: int | None,
        detail: dict[str, object],
        *,
        outcome: str = "ok",
        actor: str | None = None,
    ) -> None:
        uow.audit.append(
            AuditEvent(
                at=self._clock.now(),
                actor=actor or user.actor,
                action=action,
                outcome=outcome,
                patient_id=patient_id,
                detail=detail,
            )
        )


class VerificationJob:
    """The background verification: queue what is due, then verify each queued INS, lane by lane.

    One pass: DB (queue the identities unverified for 4 years, pick the due ones) → for each, DB (load) →
    NET (traits search) → DB (conclude). Passes never overlap; ``on_done`` receives the summary.
    """

    def __init__(self, service: QualificationService, tasks: TaskRunner, batch: int = 20) -> None:
        self._service = service
        self._tasks = tasks
        self._batch = batch
        self._running = False

    @property
    def running(self) -> bool:
        """A pass is under way."""
        return self._running

    def run_once(self, on_done: Callable[[VerificationRun], None] | None = None) -> bool:
        """Start one pass; False when one is already running."""
        if self._running:
            return False
        self._running = True
        service = self._service

        def pick() -> tuple[int, list[int]]:
            return service.enqueue_due(), service.queued(self._batch)

        self._tasks.submit(
            pick,
            lane=Lane.DB,
            on_success=lambda picked: self._next(list(picked[1]), VerificationRun(queued=picked[0]), on_done),
            on_error=lambda exc: self._finish(VerificationRun(errors=(_message(exc),)), on_done),
        )
        return True

    def _next(
        self, pending: list[int], run: VerificationRun, on_done: Callable[[VerificationRun], None] | None
    ) -> None:
        if not pending:
            self._finish(run, on_done)
            return
        pid = pending.pop(0)
        service = self._service

        def failed(exc: BaseException) -> None:
            log.warning("Verification of patient %s failed: %s", pid, type(exc).__name__)
            self._next(pending, replace(run, errors=(*run.errors, _message(exc))), on_done)

        def loaded(patient: Patient) -> None:
            self._tasks.submit(
                lambda: service.verification_search(patient),
                lane=Lane.NET,
                on_success=lambda answer: conclude(patient, answer, None),
                on_error=lambda exc: conclude(patient, None, exc),
            )

        def conclude(patient: Patient, answer: InsiAnswer | None, error: BaseException | None) -> None:
            self._tasks.submit(
                lambda: service.record_verification(patient, answer, error),
                lane=Lane.DB,
                on_success=lambda report: self._next(pending, replace(run, reports=(*run.reports, report)), on_done),
                on_error=failed,
            )

        self._tasks.submit(lambda: service.patient(pid), lane=Lane.DB, on_success=loaded, on_error=failed)

    def _finish(self, run: VerificationRun, on_done: Callable[[VerificationRun], None] | None) -> None:
        self._running = False
        if on_done is not None:
            on_done(run)


def _message(exc: BaseException) -> str:
    return exc.message_fr if isinstance(exc, DomainError) else f"Erreur inattendue ({type(exc).__name__})"


def month_range_default(today: dt.date) -> tuple[str, str]:
    """The current year up to the current month (the dashboard's default period)."""
    return f"{today.year:04d}-01", month_key(today)


def _constant(moment: dt.datetime) -> Callable[[str], dt.datetime]:
    return lambda _month: moment
