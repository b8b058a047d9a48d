"""The clinical record: observations, structured lists (allergies, treatments, history, vaccinations), drafts."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Protocol

from domain.errors import InvalidInput

MAX_OBSERVATION_LENGTH = 100_000
"""Longest free-text observation kept (about 30 pages); longer text is refused with a message, never cut."""

MAX_LABEL_LENGTH = 200


class EntryKind(StrEnum):
    """The structured lists of the record."""

    ALLERGY = "allergie"
    TREATMENT = "traitement"
    HISTORY = "antecedent"
    VACCINATION = "vaccination"

    @property
    def label_fr(self) -> str:
        """French name of the list."""
        return {
            "allergie": "Allergies et intolérances",
            "traitement": "Traitements en cours",
            "antecedent": "Antécédents",
            "vaccination": "Vaccinations",
        }[self.value]


@dataclass(frozen=True, slots=True)
class RecordEntry:
    """A line of a structured list.

    ``label`` is what the user typed (substance, medicine, condition, vaccine); ``code`` a normalised code
    when known (vaccine valences from the schedule, ``penicillines``…); ``start`` is the date of a vaccination,
    the start of a treatment, the onset of a condition; ``end`` closes a treatment.
    """

    id: int | None
    patient_id: int
    kind: EntryKind
    label: str
    code: str = ""
    detail: str = ""
    start: dt.date | None = None
    end: dt.date | None = None
    active: bool = True
    recorded_at: dt.datetime | None = None
    recorded_by: str = ""

    def is_current(self, today: dt.date) -> bool:
        """Active and not ended before ``today``."""
        return self.active and (self.end is None or self.end >= today)


def validate_entry(entry: RecordEntry, today: dt.date) -> RecordEntry:
    """Check a structured-list line and return it trimmed.

    Raises:
        InvalidInput: keyed by field, French messages.
    """
    errors: dict[str, str] = {}
    label = " ".join(entry.label.split())
    if not label:
        errors["label"] = {
            EntryKind.ALLERGY: "Indiquez la substance ou le produit en cause.",
            EntryKind.TREATMENT: "Indiquez le médicament ou le traitement.",
            EntryKind.HISTORY: "Indiquez l'antécédent.",
            EntryKind.VACCINATION: "Indiquez le vaccin.",
        }[entry.kind]
    elif len(label) > MAX_LABEL_LENGTH:
        errors["label"] = f"{MAX_LABEL_LENGTH} caractères au plus."
    if len(entry.detail) > 2000:
        errors["detail"] = "Précisions : 2000 caractères au plus."
    if entry.start and entry.start > today:
        errors["start"] = "La date ne peut pas être dans le futur."
    if entry.start and entry.end and entry.end < entry.start:
        errors["end"] = "La date de fin précède la date de début."
    if entry.kind is EntryKind.VACCINATION and entry.start is None:
        errors["start"] = "Indiquez la date de la vaccination."
    if any(ord(ch) < 32 for ch in label) or any(ord(ch) < 32 and ch not in "\n\t" for ch in entry.detail):
        errors["label"] = "Caractères de contrôle non admis."
    if errors:
        raise InvalidInput(errors)
    return replace(entry, label=label, code=entry.code.strip().lower(), detail=entry.detail.strip())


class ObservationKind(StrEnum):
    """Free text or a form."""

    TEXT = "texte"
    FORM = "formulaire"


@dataclass(frozen=True, slots=True)
class Observation:
    """A written observation: free text, or the answers of a form with the template version it used."""

    id: int | None
    patient_id: int
    at: dt.datetime
    author_login: str
    author: str
    profession: str
    kind: ObservationKind
    title: str
    text: str = ""
    template_key: str = ""
    template_version: int = 0
    values: Mapping[str, object] = field(default_factory=dict)
    summary: str = ""


class TimelineSource(StrEnum):
    """What a timeline line stands for (the filter of the timeline offers each)."""

    OBSERVATION = "observation"
    DOCUMENT = "document"
    PRESCRIPTION = "prescription"
    APPOINTMENT = "rendez-vous"

    @property
    def label_fr(self) -> str:
        """French name, as in the timeline filter."""
        return {
            "observation": "Observations",
            "document": "Documents",
            "prescription": "Prescriptions",
            "rendez-vous": "Rendez-vous",
        }[self.value]


@dataclass(frozen=True, slots=True)
class ObservationLine:
    """One line of the timeline (no body: the timeline of 5 years of history opens at once).

    Most lines are observations; documents, prescriptions and appointments of the patient are lines too, with
    their ``source`` (``id`` is then the document row or the appointment id) — see domain/timeline.py.
    """

    id: int
    at: dt.datetime
    author: str
    kind: ObservationKind
    title: str
    summary: str
    template_key: str
    source: TimelineSource = TimelineSource.OBSERVATION


def check_observation_text(text: str) -> str:
    """Check a free-text observation and return it without trailing blanks.

    Raises:
        InvalidInput: empty, too long, or binary content.
    """
    body = text.rstrip()
    if not body.strip():
        raise InvalidInput({"text": "L'observation est vide."})
    if len(body) > MAX_OBSERVATION_LENGTH:
        raise InvalidInput(
            {
                "text": f"L'observation dépasse {MAX_OBSERVATION_LENGTH:,} caractères ({len(body):,}) : "
                "scindez-la ou joignez le texte comme document. Votre brouillon est conservé.".replace(",", "\u202f")
            }
        )
    if "\x00" in body or any(ord(ch) < 32 and ch not in "\n\t\r" for ch in body):
        raise InvalidInput({"text": "Le texte contient des caractères de contrôle (contenu binaire collé ?)."})
    return body


def summarize_text(text: str, limit: int = 160) -> str:
    """First words of a free-text observation, on one line."""
    flat = re.sub(r"\s+", " ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


@dataclass(frozen=True, slots=True)
class Draft:
    """Work in progress of one author on one patient, saved automatically (nothing typed is lost)."""

    patient_id: int
    author_login: str
    text: str = ""
    template_key: str = ""
    template_version: int = 0
    values: Mapping[str, object] = field(default_factory=dict)
    updated_at: dt.datetime | None = None

    @property
    def is_empty(self) -> bool:
        """Nothing worth keeping."""
        return not self.text.strip() and not any(v not in (None, "", []) for v in self.values.values())


@dataclass(frozen=True, slots=True)
class StoredTemplate:
    """One version of a form template as stored (the body is the template's JSON text)."""

    key: str
    version: int
    origin: str  # "ressource" (shipped) or "utilisateur" (copy edited in the application)
    body: str
    created_at: dt.datetime
    author: str = ""


@dataclass(frozen=True, slots=True)
class Dismissal:
    """A decision-support alert the practitioner set aside, with the reason (traced)."""

    patient_id: int
    alert_key: str
    reason: str
    at: dt.datetime
    actor: str


@dataclass(frozen=True, slots=True)
class FormFact:
    """The answers of one form observation, as decision rules and dashboards read them."""

    patient_id: int
    at: dt.datetime
    template_key: str
    values: Mapping[str, object]


@dataclass(frozen=True, slots=True)
class Demographics:
    """What the dashboard needs of every patient."""

    patient_id: int
    birth_date: dt.date
    sex: str
    status: str
    display_name: str


class RecordRepository(Protocol):
    """Storage of the clinical record (inside the unit of work, with the patients and the traces)."""

    def add_observation(self, observation: Observation) -> int:
        """Store an observation; return its id."""
        ...

    def add_observations(self, observations: Sequence[Observation]) -> None:
        """Store many observations at once (imports, demo data)."""
        ...

    def observation(self, observation_id: int) -> Observation:
        """One observation with its body. Raises NotFound."""
        ...

    def timeline(self, patient_id: int, limit: int = 5000) -> list[ObservationLine]:
        """The patient's observations, most recent first, without their bodies."""
        ...

    def form_facts(self, patient_id: int, template_prefixes: Sequence[str] = ()) -> list[FormFact]:
        """Form answers of a patient (all templates, or those whose key starts with a prefix), oldest first."""
        ...

    def entries(self, patient_id: int) -> list[RecordEntry]:
        """The structured lists of a patient."""
        ...

    def add_entry(self, entry: RecordEntry) -> int:
        """Store a structured-list line; return its id."""
        ...

    def add_entries(self, entries: Sequence[RecordEntry]) -> None:
        """Store many lines at once (imports of a vaccination history, demo data)."""
        ...

    def set_entry_active(self, entry_id: int, active: bool, end: dt.date | None) -> RecordEntry:
        """Close (or reopen) a line. Raises NotFound."""
        ...

    def draft(self, patient_id: int, author_login: str) -> Draft | None:
        """The author's draft for this patient."""
        ...

    def save_draft(self, draft: Draft) -> None:
        """Replace the author's draft."""
        ...

    def delete_draft(self, patient_id: int, author_login: str) -> None:
        """Forget the draft (after the observation is saved)."""
        ...

    def macros(self, owner_login: str) -> list[tuple[int, str, str, str, str]]:
        """(id, owner, trigger, label, body) of the shared macros and of this user's."""
        ...

    def save_macro(self, macro_id: int | None, owner: str, trigger: str, label: str, body: str) -> int:
        """Add or replace a macro; return its id."""
        ...

    def delete_macro(self, macro_id: int) -> None:
        """Remove a macro."""
        ...

    def template(self, key: str, version: int) -> StoredTemplate | None:
        """One stored template version."""
        ...

    def templates(self) -> list[StoredTemplate]:
        """Every stored template version."""
        ...

    def add_template(self, template: StoredTemplate) -> None:
        """Store a template version (never replaced: versions are immutable)."""
        ...

    def dismissals(self, patient_id: int) -> list[Dismissal]:
        """The alerts set aside for this patient."""
        ...

    def add_dismissal(self, dismissal: Dismissal) -> None:
        """Set an alert aside."""
        ...

    # -- practice-wide reads for the dashboards ---------------------------------------------------------------
    def demographics(self) -> list[Demographics]:
        """Birth date, sex, identity status and name of every patient."""
        ...

    def birth_dates(self) -> list[tuple[int, dt.date, str]]:
        """(patient id, birth date, identity status) of every patient, as fast as the store allows."""
        ...

    def display_names(self, patient_ids: Sequence[int]) -> dict[int, str]:
        """Display names (used name or birth name, first name) of some patients."""
        ...

    def last_observation_by_patient(self, since: dt.datetime, author_login: str | None) -> dict[int, dt.datetime]:
        """Date of each patient's last observation since ``since`` (by this author, or anyone)."""
        ...

    def all_vaccinations(self) -> list[tuple[int, str, str, dt.date]]:
        """(patient id, code, label, date) of every active vaccination line (the label may be left empty)."""
        ...

    def all_form_facts(self, template_prefixes: Sequence[str], since: dt.datetime) -> list[FormFact]:
        """Form answers of every patient since ``since`` for these templates, oldest first."""
        ...

    def all_dismissed_keys(self) -> set[tuple[int, str]]:
        """(patient id, alert key) of every dismissed alert."""
        ...


class AttachmentStore(Protocol):
    """Files attached to form answers (photos of wounds…), stored by content hash."""

    def put(self, name: str, data: bytes) -> tuple[str, str]:
        """Store the bytes; return (sha256, media type). Raises InvalidInput for a bad or too large file."""
        ...

    def get(self, sha256: str) -> bytes:
        """The stored bytes. Raises NotFound."""
        ...
