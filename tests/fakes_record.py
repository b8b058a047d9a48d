"""In-memory RecordRepository (same contract as the SQL one), plugged into FakeUnitOfWork as ``uow.record``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from domain.errors import NotFound, StorageError
from domain.record import (
    Demographics,
    Dismissal,
    Draft,
    EntryKind,
    FormFact,
    Observation,
    ObservationKind,
    ObservationLine,
    RecordEntry,
    StoredTemplate,
)


@dataclass
class FakeRecordData:
    """What the fake record stores (lives in the FakeStore, copied per unit of work)."""

    observations: dict[int, Observation] = field(default_factory=dict)
    entries: dict[int, RecordEntry] = field(default_factory=dict)
    drafts: dict[tuple[int, str], Draft] = field(default_factory=dict)
    macros: dict[int, tuple[int, str, str, str, str]] = field(default_factory=dict)
    templates: dict[tuple[str, int], StoredTemplate] = field(default_factory=dict)
    dismissals: list[Dismissal] = field(default_factory=list)
    next_id: int = 1


class FakeRecordRepository:
    """Dictionaries behind the RecordRepository protocol."""

    def __init__(self, store: Any) -> None:
        if not hasattr(store, "record_data"):
            store.record_data = FakeRecordData()
        self.store = store
        self.data: FakeRecordData = store.record_data

    def _id(self) -> int:
        self.data.next_id += 1
        return self.data.next_id - 1

    def add_observation(self, observation: Observation) -> int:
        oid = self._id()
        self.data.observations[oid] = replace(observation, id=oid, values=dict(observation.values))
        return oid

    def add_observations(self, observations: Sequence[Observation]) -> None:
        for observation in observations:
            self.add_observation(observation)

    def observation(self, observation_id: int) -> Observation:
        try:
            return self.data.observations[observation_id]
        except KeyError:
            raise NotFound(f"L'observation n° {observation_id} n'existe pas (ou plus).") from None

    def timeline(self, patient_id: int, limit: int = 5000) -> list[ObservationLine]:
        rows = sorted(
            (o for o in self.data.observations.values() if o.patient_id == patient_id),
            key=lambda o: (o.at, o.id or 0),
            reverse=True,
        )[:limit]
        return [ObservationLine(o.id or 0, o.at, o.author, o.kind, o.title, o.summary, o.template_key) for o in rows]

    def form_facts(self, patient_id: int, template_prefixes: Sequence[str] = ()) -> list[FormFact]:
        return [
            f
            for f in self._facts(template_prefixes, dt.datetime.min.replace(tzinfo=dt.UTC))
            if f.patient_id == patient_id
        ]

    def _facts(self, prefixes: Sequence[str], since: dt.datetime) -> list[FormFact]:
        rows = sorted(self.data.observations.values(), key=lambda o: (o.at, o.id or 0))
        return [
            FormFact(o.patient_id, o.at, o.template_key, dict(o.values))
            for o in rows
            if o.kind is ObservationKind.FORM
            and o.at >= since
            and (not prefixes or any(o.template_key.startswith(p) for p in prefixes))
        ]

    def entries(self, patient_id: int) -> list[RecordEntry]:
        return [e for _, e in sorted(self.data.entries.items()) if e.patient_id == patient_id]

    def add_entry(self, entry: RecordEntry) -> int:
        eid = self._id()
        self.data.entries[eid] = replace(entry, id=eid)
        return eid

    def add_entries(self, entries: Sequence[RecordEntry]) -> None:
        for entry in entries:
            self.add_entry(entry)

    def set_entry_active(self, entry_id: int, active: bool, end: dt.date | None) -> RecordEntry:
        if entry_id not in self.data.entries:
            raise NotFound("Cette ligne n'existe plus (supprimée sur un autre poste ?).")
        entry = replace(self.data.entries[entry_id], active=active, end=end)
        self.data.entries[entry_id] = entry
        return entry

    def draft(self, patient_id: int, author_login: str) -> Draft | None:
        return self.data.drafts.get((patient_id, author_login))

    def save_draft(self, draft: Draft) -> None:
        self.data.drafts[(draft.patient_id, draft.author_login)] = draft

    def delete_draft(self, patient_id: int, author_login: str) -> None:
        self.data.drafts.pop((patient_id, author_login), None)

    def macros(self, owner_login: str) -> list[tuple[int, str, str, str, str]]:
        return sorted((m for m in self.data.macros.values() if m[1] in ("", owner_login)), key=lambda m: (m[2], m[1]))

    def save_macro(self, macro_id: int | None, owner: str, trigger: str, label: str, body: str) -> int:
        if macro_id is not None and macro_id in self.data.macros:
            owner = self.data.macros[macro_id][1]
        else:
            macro_id = self._id()
        if any(m[1] == owner and m[2] == trigger and m[0] != macro_id for m in self.data.macros.values()):
            raise StorageError("Enregistrement refusé par la base (contrainte) : mot-clé en double.")
        self.data.macros[macro_id] = (macro_id, owner, trigger, label, body)
        return macro_id

    def delete_macro(self, macro_id: int) -> None:
        self.data.macros.pop(macro_id, None)

    def template(self, key: str, version: int) -> StoredTemplate | None:
        return self.data.templates.get((key, version))

    def templates(self) -> list[StoredTemplate]:
        return [t for _, t in sorted(self.data.templates.items())]

    def add_template(self, template: StoredTemplate) -> None:
        if (template.key, template.version) in self.data.templates:
            raise StorageError("Enregistrement refusé par la base (contrainte) : version de modèle en double.")
        self.data.templates[(template.key, template.version)] = template

    def dismissals(self, patient_id: int) -> list[Dismissal]:
        return [d for d in self.data.dismissals if d.patient_id == patient_id]

    def add_dismissal(self, dismissal: Dismissal) -> None:
        self.data.dismissals.append(dismissal)

    def demographics(self) -> list[Demographics]:
        result = []
        for pid, patient in self.store.patients.items():
            traits = patient.identity.traits
            name = f"{traits.used_name or traits.birth_name} {traits.used_given_name or traits.first_birth_given_name}"
            sex = traits.sex.value if traits.sex else ""
            result.append(Demographics(pid, traits.birth_date, sex, patient.identity.status.value, name.strip()))
        return result

    def birth_dates(self) -> list[tuple[int, dt.date, str]]:
        return [(d.patient_id, d.birth_date, d.status) for d in self.demographics()]

    def display_names(self, patient_ids: Sequence[int]) -> dict[int, str]:
        wanted = set(patient_ids)
        return {d.patient_id: d.display_name for d in self.demographics() if d.patient_id in wanted}

    def last_observation_by_patient(self, since: dt.datetime, author_login: str | None) -> dict[int, dt.datetime]:
        last: dict[int, dt.datetime] = {}
        for o in self.data.observations.values():
            if o.at >= since and (author_login is None or o.author_login == author_login):
                last[o.patient_id] = max(o.at, last.get(o.patient_id, o.at))
        return last

    def all_vaccinations(self) -> list[tuple[int, str, str, dt.date]]:
        return [
            (e.patient_id, e.code, e.label, e.start)
            for e in self.data.entries.values()
            if e.kind is EntryKind.VACCINATION and e.active and e.start is not None
        ]

    def all_form_facts(self, template_prefixes: Sequence[str], since: dt.datetime) -> list[FormFact]:
        return self._facts(template_prefixes, since)

    def all_dismissed_keys(self) -> set[tuple[int, str]]:
        return {(d.patient_id, d.alert_key) for d in self.data.dismissals}
