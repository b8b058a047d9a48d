"""INSi lookup strategy (DSR: traits without the COG first, then with it; one query per first name) and its traces."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace

from app.tasks import Lane, TaskRunner
from domain.audit import AuditAction, AuditEvent
from domain.errors import DomainError, InvalidInput, PermissionDenied
from domain.identity import UNKNOWN_BIRTH_PLACE, IdentityTraits
from domain.insi import (
    InsiAnswer,
    InsiCallContext,
    InsiCode,
    InsiGateway,
    InsiIdentity,
    InsiQueryKind,
    InsiTraitsQuery,
    VitaleBeneficiary,
)
from domain.ports import Clock, UnitOfWorkFactory
from domain.practice import UserAccount

log = logging.getLogger("lgc.insi")

INSI_HELP_URL = "https://esante.gouv.fr/produits-services/referentiel-ins"
"""The ANS page on the INS (referential, guides, FAQ), linked from the 01/02 messages."""

ADVICE_NOT_FOUND = (
    "Aucune identité ne correspond aux traits envoyés. Vérifiez sur la pièce d'identité le nom de naissance, "
    "les prénoms de naissance, la date et le lieu de naissance et le sexe, ou interrogez INSi avec la carte "
    "Vitale du patient (méthode à privilégier)."
)
ADVICE_SEVERAL = (
    "Plusieurs identités correspondent aux traits envoyés. Ajoutez les autres prénoms de naissance figurant sur "
    "la pièce d'identité et vérifiez le lieu de naissance, ou interrogez INSi avec la carte Vitale du patient "
    "(méthode à privilégier)."
)
ADVICE_VITALE_NOT_FOUND = (
    "La carte Vitale n'a pas permis de retrouver l'identité de ce bénéficiaire. Vérifiez le bénéficiaire choisi, "
    "ou interrogez INSi avec les traits d'identité relevés sur la pièce d'identité."
)


@dataclass(frozen=True, slots=True)
class InsiCallRecord:
    """One call the strategy made: what was sent (for traits: the first name and whether the COG was sent)."""

    kind: InsiQueryKind
    code: InsiCode
    message_id: str
    given_name: str = ""
    with_birth_place: bool = False


@dataclass(frozen=True, slots=True)
class InsiLookupResult:
    """The outcome of a lookup, for the UI and the command line.

    Attributes:
        answer: The answer kept (the first 00; otherwise 02 if any call gave 02, else 01).
        calls: Every call made, in order.
        patient_id: The local file the lookup was made for, if any.
        message: The French label of the code.
        advice: What to do next on 01/02 (French), "" on 00.
        help_url: Where to learn more (the ANS INS page) on 01/02, "" on 00.
        import_problem: Why the identity found must not be imported (rules 11/12), else None.
    """

    answer: InsiAnswer
    calls: tuple[InsiCallRecord, ...]
    patient_id: int | None = None
    message: str = ""
    advice: str = ""
    help_url: str = ""
    import_problem: str | None = None

    @property
    def code(self) -> InsiCode:
        """The code kept."""
        return self.answer.code

    @property
    def identity(self) -> InsiIdentity | None:
        """The identity found (00), else None."""
        return self.answer.identity

    def to_json(self) -> dict[str, object]:
        """A JSON-ready dict (``lgc ins search --json``): code, matricule, cle, oid, traits, history, calls."""
        identity = self.identity
        data: dict[str, object] = {
            "code": self.code.value,
            "libelle": self.answer.label,
            "message": self.message,
            "conseil": self.advice,
            "aide": self.help_url,
            "type_requete": self.answer.kind.value,
            "message_id": self.answer.message_id,
            "patient_id": self.patient_id,
            "appels": [
                {
                    "type": c.kind.value,
                    "code": c.code.value,
                    "message_id": c.message_id,
                    "prenom": c.given_name,
                    "avec_lieu_naissance": c.with_birth_place,
                }
                for c in self.calls
            ],
            "matricule": None,
            "cle": None,
            "oid": None,
            "importable": None,
            "non_importable_motif": self.import_problem,
            "traits": None,
            "historique": [],
        }
        if identity is not None:
            data.update(
                {
                    "matricule": identity.matricule[:13],
                    "cle": identity.matricule[13:],
                    "matricule_ins": identity.matricule,
                    "oid": identity.oid,
                    "importable": identity.importable,
                    "traits": {
                        "nom_naissance": identity.birth_name,
                        "prenoms": list(identity.given_names),
                        "premier_prenom": identity.first_given_name,
                        "sexe": identity.sex,
                        "date_naissance": identity.birth_date,
                        "lieu_naissance": identity.birth_place_code,
                    },
                    "historique": [
                        {
                            "matricule": h.matricule,
                            "oid": h.oid,
                            "debut": h.valid_from.isoformat() if h.valid_from else None,
                            "fin": h.valid_to.isoformat() if h.valid_to else None,
                        }
                        for h in identity.history
                    ],
                }
            )
        return data


class InsiLookupService:
    """Queries INSi the way the DSR asks, and traces every call and everything it returned.

    Traits: one query per birth first name, in order, first without the birth place ("en 1ère intention sans
    le COG"); on 02 the same query again with the COG, without asking; stop at the first 00. Refuses to call
    for a douteuse/fictive identity (rule 25). Every call — answered, failed or refused — leaves a trace
    (``insi.appel`` / ``insi.refus``): who, when, patient, kind, code, matricule, message id, the traits sent
    and returned (rules 37/39).

    Also implements the ``InsiLookup`` port of ``app.services.qualification`` (``by_traits``/``by_vitale``).
    Runs on the NET lane; each trace is written in its own short unit of work, handed to the DB lane (the one
    writer of the store) when a task runner is given, and waited for: the trace is stored before the answer
    is returned.
    """

    def __init__(
        self,
        gateway: InsiGateway,
        uow: UnitOfWorkFactory,
        clock: Clock,
        current_user: Callable[[], UserAccount],
        tasks: TaskRunner | None = None,
    ) -> None:
        self._gateway = gateway
        self._uow = uow
        self._clock = clock
        self._current_user = current_user
        self._tasks = tasks

    @property
    def uow(self) -> UnitOfWorkFactory:
        """The unit-of-work factory the traces are written through."""
        return self._uow

    @property
    def tasks(self) -> TaskRunner | None:
        """The task runner whose DB lane writes the traces (None: written in the caller's thread)."""
        return self._tasks

    # -- DTO API (UI, command line) ------------------------------------------------------------------

    def search_traits(self, patient_id: int | None = None, traits: IdentityTraits | None = None) -> InsiLookupResult:
        """Search INSi by traits: those of the patient file ``patient_id``, or ``traits`` as given.

        Raises:
            InvalidInput: neither given, or a trait INSi needs is missing. PermissionDenied: douteuse/fictive
            identity (rule 25, traced). NotFound: no such patient. AuthenticationRequired, RemoteServiceError:
            from the gateway (traced).
        """
        context = self.context(patient_id)
        if patient_id is not None:
            with self._uow() as uow:
                patient = uow.patients.get(patient_id)
            if not patient.identity.may_call_insi:
                self._refuse(context, "identité douteuse ou fictive (règle 25)")
                raise PermissionDenied(
                    "Identité douteuse ou fictive : le téléservice INSi ne doit pas être interrogé (règle 25)."
                )
            traits = traits or patient.identity.traits
        if traits is None:
            raise InvalidInput("Indiquez un dossier patient ou des traits d'identité à rechercher.")
        answer, calls = self._traits_strategy(traits, context)
        return self._result(answer, calls, patient_id)

    def search_vitale(self, beneficiary: VitaleBeneficiary, patient_id: int | None = None) -> InsiLookupResult:
        """Search INSi with a carte Vitale beneficiary (same errors as :meth:`search_traits`)."""
        context = self.context(patient_id)
        answer = self._call_vitale(beneficiary, context)
        record = InsiCallRecord(InsiQueryKind.VITALE, answer.code, answer.message_id)
        return self._result(answer, (record,), patient_id)

    def context(self, patient_id: int | None = None) -> InsiCallContext:
        """The call context of the signed-in user (the practitioner's card identifier is ``8`` + RPPS)."""
        user = self._current_user()
        return InsiCallContext(
            actor=user.actor,
            structure_id=str(user.structure_id or ""),
            practitioner_id=f"8{user.rpps}" if user.rpps else "",
            practitioner_name=user.display_name,
            profession_code=user.profession.value.split("-")[0] if user.profession else "",
            patient_id=patient_id,
        )

    # -- the InsiLookup port of app.services.qualification ----------------------------------------------

    def by_traits(self, traits: IdentityTraits, context: InsiCallContext) -> InsiAnswer:
        """The strategy over traits; returns the answer kept (see the class docstring)."""
        return self._traits_strategy(traits, context)[0]

    def by_vitale(self, beneficiary: VitaleBeneficiary, context: InsiCallContext) -> InsiAnswer:
        """One carte Vitale call, traced."""
        return self._call_vitale(beneficiary, context)

    # -- internals -----------------------------------------------------------------------------------

    def _traits_strategy(
        self, traits: IdentityTraits, context: InsiCallContext
    ) -> tuple[InsiAnswer, tuple[InsiCallRecord, ...]]:
        if not traits.birth_name or traits.birth_date is None or traits.sex is None or not traits.birth_given_names:
            raise InvalidInput(
                "Nom de naissance, prénom de naissance, sexe et date de naissance sont nécessaires "
                "pour interroger INSi."
            )
        place = traits.birth_place_code.strip()
        if place == UNKNOWN_BIRTH_PLACE:
            place = ""  # "99999" says the place is unknown: sending it cannot narrow anything
        calls: list[InsiCallRecord] = []
        kept: InsiAnswer | None = None
        several: InsiAnswer | None = None
        for given in traits.birth_given_names:
            query = InsiTraitsQuery(traits.birth_name, given, traits.sex, traits.birth_date)
            answer = self._call_traits(query, context)
            calls.append(InsiCallRecord(InsiQueryKind.TRAITS, answer.code, answer.message_id, given, False))
            if answer.code is InsiCode.SEVERAL and place:
                answer = self._call_traits(replace(query, birth_place_code=place), context)
                calls.append(InsiCallRecord(InsiQueryKind.TRAITS, answer.code, answer.message_id, given, True))
            if answer.code is InsiCode.FOUND:
                kept = answer
                break
            if answer.code is InsiCode.SEVERAL and several is None:
                several = answer
            kept = kept or answer
        assert kept is not None  # at least one first name, so at least one call
        if kept.code is not InsiCode.FOUND and several is not None:
            kept = several
        log.info("INSi traits lookup: %d call(s), kept %s (%s)", len(calls), kept.code.value, kept.message_id)
        return kept, tuple(calls)

    def _call_traits(self, query: InsiTraitsQuery, context: InsiCallContext) -> InsiAnswer:
        sent: dict[str, object] = {
            "nom_naissance": query.birth_name,
            "prenom": query.given_name,
            "sexe": query.sex.value,
            "date_naissance": query.birth_date.isoformat(),
            "lieu_naissance": query.birth_place_code or None,
        }
        try:
            answer = self._gateway.search_by_traits(query, context)
        except DomainError as exc:
            self._trace_error(context, InsiQueryKind.TRAITS, sent, exc)
            raise
        self._trace_answer(context, answer, sent)
        return answer

    def _call_vitale(self, beneficiary: VitaleBeneficiary, context: InsiCallContext) -> InsiAnswer:
        sent: dict[str, object] = {
            "nir": beneficiary.nir + beneficiary.nir_key,
            "nom_naissance": beneficiary.birth_name,
            "date_naissance": beneficiary.birth_date,
            "rang_naissance": beneficiary.birth_rank,
        }
        try:
            answer = self._gateway.search_by_vitale(beneficiary, context)
        except DomainError as exc:
            self._trace_error(context, InsiQueryKind.VITALE, sent, exc)
            raise
        self._trace_answer(context, answer, sent)
        return answer

    def _result(
        self, answer: InsiAnswer, calls: tuple[InsiCallRecord, ...], patient_id: int | None
    ) -> InsiLookupResult:
        if answer.code is InsiCode.FOUND:
            problem = answer.identity.import_problem if answer.identity is not None else "Réponse INSi sans identité."
            return InsiLookupResult(answer, calls, patient_id, message=answer.code.label_fr, import_problem=problem)
        if answer.kind is InsiQueryKind.VITALE:
            advice = ADVICE_VITALE_NOT_FOUND if answer.code is InsiCode.NOT_FOUND else ADVICE_SEVERAL
        else:
            advice = ADVICE_NOT_FOUND if answer.code is InsiCode.NOT_FOUND else ADVICE_SEVERAL
        return InsiLookupResult(
            answer, calls, patient_id, message=answer.code.label_fr, advice=advice, help_url=INSI_HELP_URL
        )

    def _trace_answer(self, context: InsiCallContext, answer: InsiAnswer, sent: dict[str, object]) -> None:
        detail: dict[str, object] = {
            "type": answer.kind.value,
            "message_id": answer.message_id,
            "code": answer.code.value,
            "libelle": answer.label,
            "envoye": sent,
        }
        identity = answer.identity
        if identity is not None:
            detail.update(
                {
                    "matricule": identity.matricule,
                    "oid": identity.oid,
                    "historique": [[h.matricule, h.oid] for h in identity.history],
                    "traits": {
                        "nom_naissance": identity.birth_name,
                        "prenoms": " ".join(identity.given_names),
                        "premier_prenom": identity.first_given_name,
                        "sexe": identity.sex,
                        "date_naissance": identity.birth_date,
                        "lieu_naissance": identity.birth_place_code,
                    },
                }
            )
            if identity.import_problem:
                detail["non_importable"] = identity.import_problem
        self._append(context, AuditAction.INSI_CALL, "ok", detail)

    def _trace_error(
        self, context: InsiCallContext, kind: InsiQueryKind, sent: dict[str, object], exc: DomainError
    ) -> None:
        detail: dict[str, object] = {"type": kind.value, "envoye": sent, "erreur": exc.message_fr}
        self._append(context, AuditAction.INSI_CALL, "erreur", detail)

    def _refuse(self, context: InsiCallContext, reason: str) -> None:
        log.warning("INSi call refused for patient %s: %s", context.patient_id, reason)
        self._append(context, AuditAction.INSI_REFUSED, "refus", {"motif": reason})

    def _append(self, context: InsiCallContext, action: AuditAction, outcome: str, detail: dict[str, object]) -> None:
        event = AuditEvent(
            at=self._clock.now(),
            actor=context.actor,
            action=action,
            outcome=outcome,
            patient_id=context.patient_id,
            detail=detail,
        )

        def write() -> None:
            with self._uow() as uow:
                uow.audit.append(event)
                uow.commit()

        on_db_lane = threading.current_thread().name.startswith(f"lgc-{Lane.DB.value}")
        if self._tasks is None or on_db_lane:
            write()
        else:
            # SQLite has one writer: traces from NET-lane lookups queue behind the other writes of the DB lane.
            self._tasks.submit(write, lane=Lane.DB).result()
