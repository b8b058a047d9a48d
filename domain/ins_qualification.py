"""INS qualification rules: compare a local identity with an INSi answer, apply it, verify it, count statuses."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Protocol

from domain.errors import InvalidInput, PermissionDenied
from domain.identity import (
    OID_INS_NIA,
    Identity,
    IdentitySource,
    IdentityStatus,
    IdentityTraits,
    IdentityUpdate,
    Ins,
    QualificationMode,
    Sex,
    StatusChange,
)
from domain.insi import InsHistoryEntry, InsiAnswer, InsiCode, InsiIdentity, VitaleBeneficiary
from domain.practice import IdentityDocumentType
from domain.text import normalize_trait

VERIFICATION_PERIOD_YEARS = 4
"""Identities récupérées/qualifiées are verified again with INSi after this many years (DSR §3.2.1)."""

INSI_HELP_URL = "https://esante.gouv.fr/produits-services/referentiel-ins"
"""Where the 01/02 messages send the user for advice on INSi searches."""


class Concordance(StrEnum):
    """How one trait of the local identity compares with INSi's."""

    EQUAL = "identique"
    DIFFERENT = "different"
    NEW = "nouveau"
    """The local identity has no value (no INS yet): INSi brings it, nothing contradicts it."""
    NOT_APPLICABLE = "sans_objet"

    @property
    def label_fr(self) -> str:
        """French word shown next to the row (the comparison is never shown by colour alone)."""
        return {
            "identique": "Identique",
            "different": "Différent",
            "nouveau": "Apporté par l'INSi",
            "sans_objet": "Sans objet",
        }[self.value]

    @property
    def mark(self) -> str:
        """A mark readable without colour."""
        return {"identique": "✔", "different": "✖", "nouveau": "+", "sans_objet": "—"}[self.value]


COMPARED_TRAITS = (
    ("matricule", "Matricule INS"),
    ("nir", "NIR de la carte Vitale"),
    ("birth_name", "Nom de naissance"),
    ("first_given_name", "1er prénom de naissance"),
    ("given_names", "Prénoms de naissance"),
    ("birth_date", "Date de naissance"),
    ("sex", "Sexe"),
    ("birth_place_code", "Lieu de naissance"),
)
"""The rows of the comparison, in display order (DSR §3.2.1: matricule INS, NIR, traits)."""


@dataclass(frozen=True, slots=True)
class TraitComparison:
    """One row of the comparison: the local value, INSi's, and whether they agree."""

    key: str
    label: str
    local: str
    insi: str
    concordance: Concordance


@dataclass(frozen=True, slots=True)
class IdentityComparison:
    """Local identity vs the one identity INSi returned."""

    rows: tuple[TraitComparison, ...]
    insi: InsiIdentity

    @property
    def divergences(self) -> tuple[TraitComparison, ...]:
        """Rows where the local value contradicts INSi's."""
        return tuple(r for r in self.rows if r.concordance is Concordance.DIFFERENT)

    @property
    def all_concordant(self) -> bool:
        """No divergence at all: the INS may be retrieved automatically (DSR §3.2.1)."""
        return not self.divergences

    def row(self, key: str) -> TraitComparison:
        """The row of ``key`` (KeyError when absent)."""
        for row in self.rows:
            if row.key == key:
                return row
        raise KeyError(key)


PlaceLabel = Callable[[str, dt.date | None], str]
"""Returns the French label of a COG code at a date ("Reims (51)"), or the code itself."""


def _code_only(code: str, day: dt.date | None) -> str:
    return code


def format_date_fr(day: dt.date | None) -> str:
    """JJ/MM/AAAA, or "" for None."""
    return day.strftime("%d/%m/%Y") if day else ""


_INSI_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


def parse_insi_date(text: str) -> dt.date:
    """Parse an INSi birth date (AAAA-MM-JJ).

    Raises:
        InvalidInput: rule 11, "00" as day or month (a "date lunaire"), or not a date at all.
    """
    match = _INSI_DATE.match(text.strip())
    if not match:
        raise InvalidInput({"birth_date": f"Date de naissance INSi illisible : « {text[:20]} »."})
    year, month, day = (int(g) for g in match.groups())
    if month == 0 or day == 0:
        raise InvalidInput(
            {
                "birth_date": "La date de naissance renvoyée par l'INSi contient « 00 » (jour ou mois inconnu) : "
                "l'INS ne peut pas être importée (règle 11)."
            }
        )
    try:
        return dt.date(year, month, day)
    except ValueError:
        raise InvalidInput({"birth_date": f"Date de naissance INSi impossible : {text}."}) from None


def insi_given_names(identity: InsiIdentity) -> tuple[str, ...]:
    """The ordered birth first names of an INSi answer (ListePrenom, else the first name alone)."""
    names = tuple(n for n in identity.given_names if n.strip())
    if len(names) == 1 and " " in names[0].strip():
        names = tuple(names[0].split())
    if not names and identity.first_given_name.strip():
        names = (identity.first_given_name.strip(),)
    return names


def importable_traits(identity: InsiIdentity, *, used_name: str = "", used_given_name: str = "") -> IdentityTraits:
    """The local traits an INSi identity gives (rule 6), after rules 11 and 12.

    The 1er prénom de naissance is the first of INSi's list; INSi's ``Prenom`` must agree with it (rule 6).

    Raises:
        InvalidInput: rule 11 ("00" day or month), rule 12 (empty nom, prénoms or sexe), an unreadable trait,
            or a first name inconsistent with the list. Nothing may be imported then.
    """
    errors: dict[str, str] = {}
    birth_date: dt.date | None = None
    try:
        birth_date = parse_insi_date(identity.birth_date)
    except InvalidInput as exc:
        errors.update(exc.field_errors)

    def trait(value: str, key: str, label: str) -> str:
        try:
            text = normalize_trait(value, label=label)
        except ValueError as exc:
            errors[key] = f"Réponse INSi : {exc}"
            return ""
        if not text and key not in errors:
            errors[key] = f"{label} vide dans la réponse INSi : l'INS ne peut pas être importée (règle 12)."
        return text

    birth_name = trait(identity.birth_name, "birth_name", "Nom de naissance")
    given = tuple(trait(n, "birth_given_names", "Prénoms de naissance") for n in insi_given_names(identity))
    given = tuple(g for part in given for g in part.split(" ") if g)
    if not given and "birth_given_names" not in errors:
        errors["birth_given_names"] = (
            "Prénoms de naissance vides dans la réponse INSi : l'INS ne peut pas être importée (règle 12)."
        )
    first = identity.first_given_name.strip()
    if given and first:
        try:
            first_norm = normalize_trait(first, label="1er prénom")
        except ValueError:
            first_norm = ""
        if first_norm != given[0]:
            errors["birth_given_names"] = (
                f"Réponse INSi incohérente : le 1er prénom « {first} » n'est pas le premier de la liste "
                f"« {' '.join(given)} » (règle 6)."
            )
    sex: Sex | None = None
    sex_text = identity.sex.strip().upper()
    if not sex_text:
        errors["sex"] = "Sexe vide dans la réponse INSi : l'INS ne peut pas être importée (règle 12)."
    else:
        try:
            sex = Sex(sex_text)
        except ValueError:
            errors["sex"] = f"Sexe inconnu dans la réponse INSi : « {sex_text[:5]} »."
    place = identity.birth_place_code.strip().upper()
    if not re.fullmatch(r"[0-9][0-9AB][0-9]{3}", place):
        errors["birth_place_code"] = f"Lieu de naissance INSi invalide : « {place[:10]} »."
    if errors:
        raise InvalidInput(errors)
    return IdentityTraits(
        birth_name=birth_name,
        birth_given_names=given,
        birth_date=birth_date,
        sex=sex,
        birth_place_code=place,
        used_name=used_name,
        used_given_name=used_given_name,
    )


def insi_ins(identity: InsiIdentity) -> Ins:
    """The INS (matricule + OID) of an INSi answer.

    Raises:
        InvalidInput: the matricule's key is wrong or the OID is unknown.
    """
    try:
        return Ins(identity.matricule, identity.oid)
    except ValueError as exc:
        raise InvalidInput({"matricule": f"INS renvoyé par l'INSi inutilisable : {exc}"}) from None


def compare_identity(
    local: Identity | None,
    answer: InsiIdentity,
    *,
    beneficiary: VitaleBeneficiary | None = None,
    place_label: PlaceLabel = _code_only,
) -> IdentityComparison:
    """Compare the local identity with INSi's, trait by trait (DSR §3.2.1, SC.INS.19).

    Values are compared in their RNIV form (upper case, no accents). A local value that is absent (no INS yet,
    no carte Vitale read) is "apporté par l'INSi", not a divergence.
    """
    traits = local.traits if local is not None else None
    insi_given = insi_given_names(answer)
    try:
        insi_date: dt.date | None = parse_insi_date(answer.birth_date)
        insi_date_text = format_date_fr(insi_date)
    except InvalidInput:
        insi_date = None
        insi_date_text = answer.birth_date
    rows: list[TraitComparison] = []

    def add(key: str, local_value: str, insi_value: str, *, local_shown: str = "", insi_shown: str = "") -> None:
        label = dict(COMPARED_TRAITS)[key]
        if not insi_value:
            concordance = Concordance.NOT_APPLICABLE if not local_value else Concordance.DIFFERENT
        elif not local_value:
            concordance = Concordance.NEW
        else:
            concordance = Concordance.EQUAL if local_value == insi_value else Concordance.DIFFERENT
        rows.append(TraitComparison(key, label, local_shown or local_value, insi_shown or insi_value, concordance))

    local_matricule = local.ins.matricule if local is not None and local.ins is not None else ""
    add("matricule", local_matricule, answer.matricule.strip())
    if beneficiary is not None:
        card_nir = (beneficiary.nir + beneficiary.nir_key).strip()
        rows.append(
            TraitComparison(
                "nir",
                dict(COMPARED_TRAITS)["nir"],
                card_nir,
                answer.matricule.strip(),
                Concordance.EQUAL if card_nir == answer.matricule.strip() else Concordance.DIFFERENT,
            )
        )
    add("birth_name", traits.birth_name if traits else "", _norm(answer.birth_name))
    add(
        "first_given_name",
        traits.first_birth_given_name if traits else "",
        _norm(insi_given[0] if insi_given else answer.first_given_name),
    )
    add(
        "given_names",
        " ".join(traits.birth_given_names) if traits else "",
        " ".join(_norm(n) for n in insi_given),
    )
    local_date = traits.birth_date if traits else None
    add(
        "birth_date",
        local_date.isoformat() if local_date else "",
        insi_date.isoformat() if insi_date else answer.birth_date,
        local_shown=format_date_fr(local_date),
        insi_shown=insi_date_text,
    )
    local_sex = traits.sex.value if traits and traits.sex else ""
    insi_sex = answer.sex.strip().upper()
    add(
        "sex",
        local_sex,
        insi_sex,
        local_shown=_sex_label(local_sex),
        insi_shown=_sex_label(insi_sex),
    )
    local_place = traits.birth_place_code if traits else ""
    insi_place = answer.birth_place_code.strip().upper()
    add(
        "birth_place_code",
        local_place,
        insi_place,
        local_shown=place_label(local_place, local_date) if local_place else "",
        insi_shown=place_label(insi_place, insi_date) if insi_place else "",
    )
    return IdentityComparison(rows=tuple(rows), insi=answer)


def _norm(value: str) -> str:
    try:
        return normalize_trait(value, label="Trait")
    except ValueError:
        return value.strip().upper()


def _sex_label(code: str) -> str:
    try:
        return Sex(code).label_fr
    except ValueError:
        return code


def _status_change(
    before: Identity, after: Identity, *, actor: str, at: dt.datetime, reason: str
) -> StatusChange | None:
    if before.status is after.status:
        return None
    return StatusChange(
        before=before.status,
        after=after.status,
        at=at,
        actor=actor,
        reason=reason,
        qualification=after.qualification_mode if after.status is IdentityStatus.QUALIFIED else None,
    )


def apply_insi_identity(
    current: Identity,
    answer: InsiIdentity,
    *,
    source: IdentitySource,
    actor: str,
    at: dt.datetime,
) -> IdentityUpdate:
    """Retrieve the INS: the traits come from INSi (rule 6), the INS is stored, the identity is "from INSi".

    A high-trust document already recorded makes it "qualifiée"; without one it is "récupérée". An identity
    coming from the appli carte Vitale is qualified on arrival (DSR §3.2.1). Used name and first name are kept.

    Raises:
        PermissionDenied: the identity is douteuse or fictive (rule 25: INSi must not be used).
        InvalidInput: rules 11/12 or an unusable INS; the identity is unchanged.
    """
    if not current.may_call_insi:
        raise PermissionDenied(
            "Identité douteuse ou fictive : l'INS ne peut pas être récupérée (retirez d'abord l'attribut)."
        )
    traits = importable_traits(
        answer, used_name=current.traits.used_name, used_given_name=current.traits.used_given_name
    )
    ins = insi_ins(answer)
    changed = tuple(
        name
        for name in ("birth_name", "birth_given_names", "birth_date", "sex", "birth_place_code")
        if getattr(current.traits, name) != getattr(traits, name)
    )
    updated = replace(current, traits=traits, ins=ins, from_insi=True, source=source)
    reason = f"INS récupérée par le {source.label_fr}"
    if source is IdentitySource.APCV:
        reason = "Identité reçue de l'appli carte Vitale (qualifiée d'emblée)"
    notes: list[str] = []
    if current.ins is not None and current.ins != ins:
        notes.append(f"Le matricule INS change : {current.ins.matricule} → {ins.matricule}.")
    return IdentityUpdate(
        identity=updated,
        changed_strict_traits=changed,
        status_change=_status_change(current, updated, actor=actor, at=at, reason=reason),
        notes=tuple(notes),
    )


def new_identity_from_insi(
    answer: InsiIdentity,
    *,
    source: IdentitySource,
    actor: str,
    at: dt.datetime,
    used_name: str = "",
    used_given_name: str = "",
) -> tuple[Identity, StatusChange]:
    """Create an identity in one step from an INSi answer (Sentinelle, SENTINELLE.20).

    Raises:
        InvalidInput: rules 11/12 or an unusable INS.
    """
    traits = importable_traits(answer, used_name=used_name, used_given_name=used_given_name)
    identity = Identity(traits=traits, ins=insi_ins(answer), from_insi=True, source=source)
    reason = f"Création à partir du {source.label_fr}"
    status = identity.status
    return identity, StatusChange(
        before=None,
        after=status,
        at=at,
        actor=actor,
        reason=reason,
        qualification=identity.qualification_mode if status is IdentityStatus.QUALIFIED else None,
    )


def record_identity_check(
    current: Identity,
    *,
    document: IdentityDocumentType | None = None,
    transitional: bool = False,
    actor: str,
    at: dt.datetime,
) -> IdentityUpdate:
    """Record that the person was identified: on a high-trust document (its type), or by the transitional procedure.

    The "procédure spécifique transitoire" needs an INS retrieved by reading the patient's carte Vitale.

    Raises:
        InvalidInput: no document given, a low-trust or deactivated document, or the transitional procedure
            without an INS from the carte Vitale.
    """
    if document is None and not transitional:
        raise InvalidInput({"document": "Choisissez le type de pièce d'identité présentée."})
    if document is not None:
        if not document.active:
            raise InvalidInput({"document": f"« {document.label} » n'est plus acceptée par le cabinet."})
        if not document.high_trust:
            raise InvalidInput(
                {
                    "document": f"« {document.label} » n'est pas une pièce à haut niveau de confiance : "
                    "elle ne permet pas de qualifier l'identité."
                }
            )
        updated = replace(current, high_trust_document=document.code)
        reason = f"Identité contrôlée sur pièce à haut niveau de confiance : {document.label}"
    else:
        if not (current.from_insi and current.source is IdentitySource.INSI_VITALE):
            raise InvalidInput(
                {
                    "document": "La procédure spécifique transitoire suppose une INS récupérée par lecture de la "
                    "carte Vitale du patient."
                }
            )
        updated = replace(current, transitional_qualification=True)
        reason = "Identité qualifiée par la procédure spécifique transitoire (patient connu du professionnel)"
    return IdentityUpdate(
        identity=updated,
        changed_strict_traits=(),
        status_change=_status_change(current, updated, actor=actor, at=at, reason=reason),
    )


# -- verification (rules 46 to 51) ------------------------------------------------------------------------


class VerificationResult(StrEnum):
    """Result of a verification of a stored INS."""

    OK = "ok"
    KO = "ko"
    ERROR = "erreur"
    """Technical failure (service unavailable…): nothing concluded, verified again later."""

    @property
    def label_fr(self) -> str:
        """French label."""
        return {"ok": "INS confirmée", "ko": "INS non confirmée", "erreur": "vérification impossible"}[self.value]


class VerificationReason(StrEnum):
    """Why a verification is due."""

    PERIODIC = "periodique"
    NIA_EVENT = "nia_evenement"
    RECEIVED = "recue"
    MANUAL = "manuelle"


@dataclass(frozen=True, slots=True)
class VerificationState:
    """When the INS of a patient was last retrieved and verified, and with what result."""

    retrieved_at: dt.datetime | None = None
    verified_at: dt.datetime | None = None
    result: VerificationResult | None = None


def is_nia(identity: Identity) -> bool:
    """The INS is a NIA (temporary number: verified again at the next event)."""
    return identity.ins is not None and identity.ins.oid == OID_INS_NIA


def verification_due(identity: Identity, state: VerificationState, today: dt.date, *, event: bool = False) -> bool:
    """Whether the stored INS must be verified now (DSR §3.2.1).

    Due for a récupérée/qualifiée identity whose last retrieval or verification is 4 years old or more, and for
    a NIA matricule at each new event (``event``: the file is opened, a card is inserted).
    """
    if identity.ins is None or not identity.status.protects_strict_traits:
        return False
    if event and is_nia(identity):
        return True
    last = state.verified_at or state.retrieved_at
    if last is None:
        return True
    return last.date() <= add_years(today, -VERIFICATION_PERIOD_YEARS)


def add_years(day: dt.date, years: int) -> dt.date:
    """``day`` shifted by whole years (29 February → 28 February)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def verification_outcome(stored: Identity, answer: InsiAnswer) -> tuple[VerificationResult, str]:
    """Compare a traits search made with the stored traits against the stored INS.

    The INSi WSDL 1.5.0 has no "vérification" operation: the verification is a ``rechercherInsAvecTraitsIdentite``
    with the stored traits, confirmed when INSi returns exactly the stored matricule, OID and strict traits.

    Returns:
        The result and a French explanation.
    """
    if stored.ins is None:
        return VerificationResult.KO, "Aucune INS enregistrée."
    if answer.code is not InsiCode.FOUND or answer.identity is None:
        return VerificationResult.KO, f"Réponse INSi {answer.code.value} : {answer.code.label_fr}"
    found = answer.identity
    if found.matricule != stored.ins.matricule or found.oid != stored.ins.oid:
        return (
            VerificationResult.KO,
            f"L'INSi renvoie un autre INS ({found.matricule}, OID {found.oid}) que celui enregistré.",
        )
    try:
        traits = importable_traits(found)
    except InvalidInput as exc:
        return VerificationResult.KO, f"Réponse INSi inexploitable : {exc.message_fr}"
    different = [
        label
        for name, label in (
            ("birth_name", "nom de naissance"),
            ("birth_given_names", "prénoms"),
            ("birth_date", "date de naissance"),
            ("sex", "sexe"),
            ("birth_place_code", "lieu de naissance"),
        )
        if getattr(traits, name) != getattr(stored.traits, name)
    ]
    if different:
        return VerificationResult.KO, "Traits différents de ceux de l'INSi : " + ", ".join(different) + "."
    return VerificationResult.OK, "INS confirmée par l'INSi."


def invalidate_after_failed_verification(
    current: Identity, *, actor: str, at: dt.datetime, explanation: str
) -> IdentityUpdate:
    """Rule 49: a failed verification of an existing identity invalidates matricule + OID and demotes it.

    RECUP → PROV, QUAL → VALI when a document was checked (the transitional procedure rested on the INS).
    """
    updated = replace(current, ins=None, from_insi=False, source=None, transitional_qualification=False)
    reason = f"Vérification INSi en échec, INS invalidée : {explanation}"
    return IdentityUpdate(
        identity=updated,
        changed_strict_traits=(),
        status_change=_status_change(current, updated, actor=actor, at=at, reason=reason),
        ins_invalidated=current.ins is not None,
        notes=(reason,),
    )


def history_entries(answer: InsiIdentity) -> tuple[InsHistoryEntry, ...]:
    """The INS history to store: the active INS first, then INSi's former ones (INSHISTO)."""
    active = InsHistoryEntry(matricule=answer.matricule, oid=answer.oid)
    others = tuple(h for h in answer.history if (h.matricule, h.oid) != (answer.matricule, answer.oid))
    return (active, *others)


# -- indicators (TBB.INS.02) ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SeenPatient:
    """A patient whose file a user opened or changed in a period (the "patients vus" of the indicator)."""

    patient_id: int
    actor: str
    at: dt.datetime


@dataclass(frozen=True, slots=True)
class StatusCounts:
    """Identities per status for one month (and one practitioner, or everybody)."""

    month: str
    practitioner: str
    patients: int
    provisional: int = 0
    retrieved: int = 0
    validated: int = 0
    qualified: int = 0
    qualified_transitional: int = 0

    def as_dict(self) -> dict[str, object]:
        """JSON-friendly form with rates (percentages of the patients seen)."""

        def rate(n: int, of: int) -> float:
            return round(100.0 * n / of, 1) if of else 0.0

        return {
            "mois": self.month,
            "praticien": self.practitioner,
            "patients_vus": self.patients,
            "provisoire": self.provisional,
            "recuperee": self.retrieved,
            "validee": self.validated,
            "qualifiee": self.qualified,
            "qualifiee_procedure_transitoire": self.qualified_transitional,
            "taux": {
                "provisoire": rate(self.provisional, self.patients),
                "recuperee": rate(self.retrieved, self.patients),
                "validee": rate(self.validated, self.patients),
                "qualifiee": rate(self.qualified, self.patients),
                "qualifiee_procedure_transitoire_parmi_qualifiees": rate(self.qualified_transitional, self.qualified),
            },
        }


ALL_PRACTITIONERS = "*"


def month_key(moment: dt.datetime | dt.date) -> str:
    """AAAA-MM."""
    return f"{moment.year:04d}-{moment.month:02d}"


def status_counts(
    seen: Iterable[SeenPatient],
    history: Mapping[int, Sequence[StatusChange]],
    *,
    month_end: Callable[[str], dt.datetime],
) -> list[StatusCounts]:
    """Count the patients seen each month, per practitioner and for everybody, by status at the end of the month.

    A patient seen several times in a month counts once per practitioner (and once in the "*" line). The status
    is the last one of the history at the end of the month; "qualifiée par la procédure transitoire" when that
    change reached "qualifiée" through the transitional procedure.
    """
    pairs: dict[tuple[str, str], set[int]] = {}
    for item in seen:
        month = month_key(item.at)
        pairs.setdefault((month, item.actor), set()).add(item.patient_id)
        pairs.setdefault((month, ALL_PRACTITIONERS), set()).add(item.patient_id)
    result: list[StatusCounts] = []
    for (month, actor), patients in sorted(pairs.items(), key=lambda kv: (kv[0][0], kv[0][1] != "*", kv[0][1])):
        end = month_end(month)
        counts = dict.fromkeys(IdentityStatus, 0)
        transitional = 0
        for pid in patients:
            last = _status_at(history.get(pid, ()), end)
            if last is None:
                continue
            counts[last.after] += 1
            if last.after is IdentityStatus.QUALIFIED and last.qualification is QualificationMode.TRANSITIONAL:
                transitional += 1
        result.append(
            StatusCounts(
                month=month,
                practitioner=actor,
                patients=sum(counts.values()),
                provisional=counts[IdentityStatus.PROVISIONAL],
                retrieved=counts[IdentityStatus.RETRIEVED],
                validated=counts[IdentityStatus.VALIDATED],
                qualified=counts[IdentityStatus.QUALIFIED],
                qualified_transitional=transitional,
            )
        )
    return result


def _status_at(changes: Sequence[StatusChange], end: dt.datetime) -> StatusChange | None:
    last: StatusChange | None = None
    for change in changes:
        if change.at <= end:
            last = change
    return last


def month_bounds(month: str) -> tuple[dt.datetime, dt.datetime]:
    """First instant of the month and first instant of the next one (UTC).

    Raises:
        InvalidInput: ``month`` is not AAAA-MM.
    """
    match = re.fullmatch(r"(\d{4})-(\d{2})", month.strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise InvalidInput({"mois": f"Mois attendu sous la forme AAAA-MM : « {month[:20]} »."})
    year, mon = int(match.group(1)), int(match.group(2))
    start = dt.datetime(year, mon, 1, tzinfo=dt.UTC)
    nxt = dt.datetime(year + (mon == 12), 1 if mon == 12 else mon + 1, 1, tzinfo=dt.UTC)
    return start, nxt


# -- storage port -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueuedVerification:
    """A patient waiting for the verification of its INS."""

    patient_id: int
    reason: VerificationReason
    queued_at: dt.datetime
    attempts: int = 0
    last_error: str = ""
    next_attempt_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class KnownIns:
    """A local patient found by its INS (Sentinelle: a received document names a known patient)."""

    patient_id: int
    status: IdentityStatus
    matched_on_history: bool = False
    notes: tuple[str, ...] = field(default=())


class InsRepository(Protocol):
    """INS history, verification dates and queue, and the data of the INS indicators."""

    def history(self, patient_id: int) -> list[InsHistoryEntry]:
        """The INS history of a patient, active INS first."""
        ...

    def replace_history(self, patient_id: int, entries: Sequence[InsHistoryEntry], at: dt.datetime) -> None:
        """Store the INS history INSi returned (replacing the previous one)."""
        ...

    def clear_history(self, patient_id: int) -> None:
        """Forget the INS history (the INS was invalidated)."""
        ...

    def verification_state(self, patient_id: int) -> VerificationState:
        """Retrieval and verification dates of the patient's INS."""
        ...

    def set_retrieved(self, patient_id: int, at: dt.datetime) -> None:
        """The INS was (re)retrieved from INSi now."""
        ...

    def set_verified(self, patient_id: int, at: dt.datetime, result: VerificationResult) -> None:
        """A verification ended with ``result``."""
        ...

    def due_for_verification(self, before: dt.datetime, limit: int) -> list[int]:
        """Récupérée/qualifiée patients whose last retrieval/verification is older than ``before``."""
        ...

    def enqueue(self, patient_id: int, reason: VerificationReason, at: dt.datetime) -> bool:
        """Queue a verification (once per patient); True when it was not queued yet."""
        ...

    def queued(self, now: dt.datetime, limit: int) -> list[QueuedVerification]:
        """Queued verifications whose next attempt is due, oldest first."""
        ...

    def dequeue(self, patient_id: int) -> None:
        """Remove the patient from the queue."""
        ...

    def postpone(self, patient_id: int, error: str, next_attempt_at: dt.datetime) -> None:
        """Record a failed attempt and when to try again."""
        ...

    def queue_length(self) -> int:
        """How many verifications wait."""
        ...

    def patients_by_matricule(self, matricule: str) -> list[tuple[int, str]]:
        """(patient id, OID) of the patients whose active INS has this matricule."""
        ...

    def patients_by_former_ins(self, matricule: str, oid: str) -> list[int]:
        """Patients whose INS history holds this matricule with this OID."""
        ...

    def seen_patients(self, start: dt.datetime, end: dt.datetime) -> list[SeenPatient]:
        """Patients whose identity a user read or changed between ``start`` (included) and ``end`` (excluded)."""
        ...

    def status_histories(self, patient_ids: Sequence[int]) -> dict[int, list[StatusChange]]:
        """The status histories of these patients, oldest first."""
        ...
