"""SQL repository of the clinical record (observations, lists, drafts, macros, templates, dismissals)."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, delete, func, insert, or_, select
from sqlalchemy.orm import Session

from adapters.db.models import PatientRowModel
from adapters.db.models_record import (
    AlertDismissalRow,
    DraftRow,
    FormTemplateRow,
    MacroRow,
    ObservationRow,
    RecordEntryRow,
)
from domain.errors import NotFound
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


def _utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _aware(value: dt.datetime) -> dt.datetime:
    # SQLite returns naive datetimes for timezone-aware columns; this repository only writes UTC.
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _loads(text: str) -> dict[str, Any]:
    value = json.loads(text or "{}")
    return value if isinstance(value, dict) else {}


def _dumps(values: object) -> str:
    return json.dumps(values, ensure_ascii=False, sort_keys=True, default=str)


class SqlRecordRepository:
    """The clinical record in the SQL store (one session = the caller's unit of work)."""

    def __init__(self, session: Session) -> None:
        self._s = session

    # -- observations -----------------------------------------------------------------------------------------
    def _observation_values(self, observation: Observation) -> dict[str, Any]:
        return {
            "patient_id": observation.patient_id,
            "at": _utc(observation.at),
            "author_login": observation.author_login,
            "author": observation.author,
            "profession": observation.profession,
            "kind": observation.kind.value,
            "title": observation.title[:200],
            "summary": observation.summary[:300],
            "text": observation.text,
            "template_key": observation.template_key,
            "template_version": observation.template_version,
            "values_json": _dumps(dict(observation.values)),
        }

    def add_observation(self, observation: Observation) -> int:
        """Store an observation; return its id."""
        row = ObservationRow(**self._observation_values(observation))
        self._s.add(row)
        self._s.flush()
        return row.id

    def add_observations(self, observations: Sequence[Observation]) -> None:
        """Store many observations with one executemany."""
        if observations:
            self._s.execute(insert(ObservationRow), [self._observation_values(o) for o in observations])

    def observation(self, observation_id: int) -> Observation:
        """One observation with its body."""
        row = self._s.get(ObservationRow, observation_id)
        if row is None:
            raise NotFound(f"L'observation n° {observation_id} n'existe pas (ou plus).")
        return Observation(
            id=row.id,
            patient_id=row.patient_id,
            at=_aware(row.at),
            author_login=row.author_login,
            author=row.author,
            profession=row.profession,
            kind=ObservationKind(row.kind),
            title=row.title,
            text=row.text,
            template_key=row.template_key,
            template_version=row.template_version,
            values=_loads(row.values_json),
            summary=row.summary,
        )

    def timeline(self, patient_id: int, limit: int = 5000) -> list[ObservationLine]:
        """The patient's observations, most recent first, without bodies (index on patient, date)."""
        o = ObservationRow
        rows = self._s.execute(
            select(o.id, o.at, o.author, o.kind, o.title, o.summary, o.template_key)
            .where(o.patient_id == patient_id)
            .order_by(o.at.desc(), o.id.desc())
            .limit(limit)
        ).all()
        return [ObservationLine(r[0], _aware(r[1]), r[2], ObservationKind(r[3]), r[4], r[5], r[6]) for r in rows]

    def form_facts(self, patient_id: int, template_prefixes: Sequence[str] = ()) -> list[FormFact]:
        """Form answers of a patient, oldest first."""
        o = ObservationRow
        query = select(o.patient_id, o.at, o.template_key, o.values_json).where(
            o.patient_id == patient_id, o.kind == ObservationKind.FORM.value
        )
        if template_prefixes:
            query = query.where(or_(*(o.template_key.startswith(p) for p in template_prefixes)))
        rows = self._s.execute(query.order_by(o.at, o.id)).all()
        return [FormFact(r[0], _aware(r[1]), r[2], _loads(r[3])) for r in rows]

    # -- structured lists -------------------------------------------------------------------------------------
    def entries(self, patient_id: int) -> list[RecordEntry]:
        """The structured lists of a patient."""
        rows = self._s.scalars(
            select(RecordEntryRow).where(RecordEntryRow.patient_id == patient_id).order_by(RecordEntryRow.id)
        ).all()
        return [_entry(r) for r in rows]

    def add_entry(self, entry: RecordEntry) -> int:
        """Store a structured-list line; return its id."""
        row = RecordEntryRow(
            patient_id=entry.patient_id,
            kind=entry.kind.value,
            label=entry.label,
            code=entry.code,
            detail=entry.detail,
            start=entry.start,
            end=entry.end,
            active=entry.active,
            recorded_at=_utc(entry.recorded_at or dt.datetime.now(dt.UTC)),
            recorded_by=entry.recorded_by,
        )
        self._s.add(row)
        self._s.flush()
        return row.id

    def add_entries(self, entries: Sequence[RecordEntry]) -> None:
        """Store many lines with one executemany."""
        if entries:
            now = dt.datetime.now(dt.UTC)
            self._s.execute(
                insert(RecordEntryRow),
                [
                    {
                        "patient_id": e.patient_id,
                        "kind": e.kind.value,
                        "label": e.label,
                        "code": e.code,
                        "detail": e.detail,
                        "start": e.start,
                        "end": e.end,
                        "active": e.active,
                        "recorded_at": _utc(e.recorded_at or now),
                        "recorded_by": e.recorded_by,
                    }
                    for e in entries
                ],
            )

    def set_entry_active(self, entry_id: int, active: bool, end: dt.date | None) -> RecordEntry:
        """Close (or reopen) a line."""
        row = self._s.get(RecordEntryRow, entry_id)
        if row is None:
            raise NotFound("Cette ligne n'existe plus (supprimée sur un autre poste ?).")
        row.active = active
        row.end = end
        self._s.flush()
        return _entry(row)

    # -- drafts -----------------------------------------------------------------------------------------------
    def draft(self, patient_id: int, author_login: str) -> Draft | None:
        """The author's draft for this patient."""
        row = self._s.scalars(
            select(DraftRow).where(DraftRow.patient_id == patient_id, DraftRow.author_login == author_login)
        ).first()
        if row is None:
            return None
        return Draft(
            patient_id=row.patient_id,
            author_login=row.author_login,
            text=row.text,
            template_key=row.template_key,
            template_version=row.template_version,
            values=_loads(row.values_json),
            updated_at=_aware(row.updated_at),
        )

    def save_draft(self, draft: Draft) -> None:
        """Replace the author's draft."""
        row = self._s.scalars(
            select(DraftRow).where(DraftRow.patient_id == draft.patient_id, DraftRow.author_login == draft.author_login)
        ).first()
        if row is None:
            row = DraftRow(patient_id=draft.patient_id, author_login=draft.author_login)
            self._s.add(row)
        row.text = draft.text
        row.template_key = draft.template_key
        row.template_version = draft.template_version
        row.values_json = _dumps(dict(draft.values))
        row.updated_at = _utc(draft.updated_at or dt.datetime.now(dt.UTC))
        self._s.flush()

    def delete_draft(self, patient_id: int, author_login: str) -> None:
        """Forget the draft."""
        self._s.execute(
            delete(DraftRow).where(DraftRow.patient_id == patient_id, DraftRow.author_login == author_login)
        )

    # -- macros -----------------------------------------------------------------------------------------------
    def macros(self, owner_login: str) -> list[tuple[int, str, str, str, str]]:
        """Shared macros and this user's."""
        rows = self._s.execute(
            select(MacroRow.id, MacroRow.owner, MacroRow.trigger, MacroRow.label, MacroRow.body)
            .where(or_(MacroRow.owner == "", MacroRow.owner == owner_login))
            .order_by(MacroRow.trigger, MacroRow.owner)
        ).all()
        return [(r[0], r[1], r[2], r[3], r[4]) for r in rows]

    def save_macro(self, macro_id: int | None, owner: str, trigger: str, label: str, body: str) -> int:
        """Add or replace a macro."""
        row = self._s.get(MacroRow, macro_id) if macro_id is not None else None
        if row is None:
            row = MacroRow(owner=owner)
            self._s.add(row)
        row.trigger, row.label, row.body = trigger, label, body
        self._s.flush()
        return row.id

    def delete_macro(self, macro_id: int) -> None:
        """Remove a macro."""
        self._s.execute(delete(MacroRow).where(MacroRow.id == macro_id))

    # -- templates --------------------------------------------------------------------------------------------
    def template(self, key: str, version: int) -> StoredTemplate | None:
        """One stored template version."""
        row = self._s.get(FormTemplateRow, (key, version))
        return None if row is None else _template(row)

    def templates(self) -> list[StoredTemplate]:
        """Every stored template version."""
        rows = self._s.scalars(select(FormTemplateRow).order_by(FormTemplateRow.key, FormTemplateRow.version)).all()
        return [_template(r) for r in rows]

    def add_template(self, template: StoredTemplate) -> None:
        """Store a template version (the primary key refuses a second copy of a version)."""
        self._s.add(
            FormTemplateRow(
                key=template.key,
                version=template.version,
                origin=template.origin,
                body=template.body,
                created_at=_utc(template.created_at),
                author=template.author,
            )
        )
        self._s.flush()

    # -- dismissals -------------------------------------------------------------------------------------------
    def dismissals(self, patient_id: int) -> list[Dismissal]:
        """The alerts set aside for this patient."""
        rows = self._s.scalars(
            select(AlertDismissalRow).where(AlertDismissalRow.patient_id == patient_id).order_by(AlertDismissalRow.id)
        ).all()
        return [Dismissal(r.patient_id, r.alert_key, r.reason, _aware(r.at), r.actor) for r in rows]

    def add_dismissal(self, dismissal: Dismissal) -> None:
        """Set an alert aside."""
        self._s.add(
            AlertDismissalRow(
                patient_id=dismissal.patient_id,
                alert_key=dismissal.alert_key[:300],
                reason=dismissal.reason[:500],
                at=_utc(dismissal.at),
                actor=dismissal.actor,
            )
        )
        self._s.flush()

    # -- practice-wide reads ----------------------------------------------------------------------------------
    def _driver_rows(self, sql: str) -> Sequence[Any]:
        """Rows of a parameterless query as the DB-API driver returns them (plain tuples), on the session's
        connection and transaction. For practice-wide reads of 100,000 rows: SQLAlchemy's result rows and type
        processing would cost more than the query itself (0.1 s per 100,000 rows on SQLite)."""
        cursor = self._s.connection().connection.cursor()
        try:
            cursor.execute(sql)
            return cursor.fetchall()
        finally:
            cursor.close()

    def demographics(self) -> list[Demographics]:
        """Birth date, sex, status and display name of every patient (one scan)."""
        p = PatientRowModel
        rows = self._s.execute(
            select(
                p.id, p.birth_date, p.sex, p.status, p.used_name, p.birth_name, p.used_given_name, p.first_given_name
            )
        ).all()
        return [Demographics(r[0], r[1], r[2], r[3], f"{r[4] or r[5]} {r[6] or r[7]}".strip()) for r in rows]

    def birth_dates(self) -> list[tuple[int, dt.date, str]]:
        """Every patient's birth date and status; dates read as ISO text (much faster than the ORM's parser)."""
        rows = self._driver_rows("SELECT id, CAST(birth_date AS VARCHAR(10)), status FROM patient")
        parse = dt.date.fromisoformat
        return [(r[0], parse(r[1]), r[2]) for r in rows]

    def display_names(self, patient_ids: Sequence[int]) -> dict[int, str]:
        """Display names of some patients (in chunks: SQL parameter limits)."""
        p = PatientRowModel
        names: dict[int, str] = {}
        ids = list(dict.fromkeys(patient_ids))
        for start in range(0, len(ids), 500):
            rows = self._s.execute(
                select(p.id, p.used_name, p.birth_name, p.used_given_name, p.first_given_name).where(
                    p.id.in_(ids[start : start + 500])
                )
            ).all()
            names.update({r[0]: f"{r[1] or r[2]} {r[3] or r[4]}".strip() for r in rows})
        return names

    def last_observation_by_patient(self, since: dt.datetime, author_login: str | None) -> dict[int, dt.datetime]:
        """Date of each patient's last observation since ``since``."""
        o = ObservationRow
        query = select(o.patient_id, func.max(o.at)).where(o.at >= _utc(since))
        if author_login is not None:
            query = query.where(o.author_login == author_login)
        rows = self._s.execute(query.group_by(o.patient_id)).all()
        return {r[0]: _aware(r[1]) for r in rows}

    def all_vaccinations(self) -> list[tuple[int, str, str, dt.date]]:
        """Every active vaccination line (plain driver rows, dates read as ISO text: tens of thousands of lines)."""
        rows = self._driver_rows(
            "SELECT patient_id, code, '', CAST(start AS VARCHAR(10)) FROM record_entry "
            "WHERE kind = 'vaccination' AND active AND start IS NOT NULL"
        )
        parse = dt.date.fromisoformat
        return [(r[0], r[1], r[2], parse(r[3])) for r in rows]

    def all_form_facts(self, template_prefixes: Sequence[str], since: dt.datetime) -> list[FormFact]:
        """Form answers of every patient since ``since`` for these templates, oldest first."""
        o = ObservationRow
        query = select(o.patient_id, o.at, o.template_key, o.values_json).where(
            o.kind == ObservationKind.FORM.value, o.at >= _utc(since)
        )
        if template_prefixes:
            query = query.where(or_(*(self._key_starts_with(p) for p in template_prefixes)))
        rows = self._s.execute(query.order_by(o.at, o.id)).all()
        return [FormFact(r[0], _aware(r[1]), r[2], _loads(r[3])) for r in rows]

    def _key_starts_with(self, prefix: str) -> ColumnElement[bool]:
        """``template_key`` starts with ``prefix``, in a form the index on (template_key, at) serves.

        SQLite only turns a case-sensitive GLOB prefix into an index range (its LIKE ignores case: a scan of the
        whole observation table, bodies included); PostgreSQL's LIKE is case-sensitive already. Template keys are
        lower case (``parse_template`` checks it), so both match the same rows.
        """
        column = ObservationRow.template_key
        if self._s.get_bind().dialect.name == "sqlite":
            return column.op("GLOB", is_comparison=True)(re.sub(r"([*?\[])", r"[\1]", prefix) + "*")
        return column.startswith(prefix, autoescape=True)

    def all_dismissed_keys(self) -> set[tuple[int, str]]:
        """(patient id, alert key) of every dismissed alert."""
        rows = self._s.execute(select(AlertDismissalRow.patient_id, AlertDismissalRow.alert_key)).all()
        return {(r[0], r[1]) for r in rows}


def _entry(row: RecordEntryRow) -> RecordEntry:
    return RecordEntry(
        id=row.id,
        patient_id=row.patient_id,
        kind=EntryKind(row.kind),
        label=row.label,
        code=row.code,
        detail=row.detail,
        start=row.start,
        end=row.end,
        active=row.active,
        recorded_at=_aware(row.recorded_at),
        recorded_by=row.recorded_by,
    )


def _template(row: FormTemplateRow) -> StoredTemplate:
    return StoredTemplate(row.key, row.version, row.origin, row.body, _aware(row.created_at), row.author)
