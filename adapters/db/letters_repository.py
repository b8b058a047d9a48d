"""SQL repository of letters, letter templates and the correspondents book."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import and_, delete, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from adapters.db.models_letters import CorrespondentRow, LetterRow, LetterTemplateRow, PatientCorrespondentRow
from domain.errors import ConflictError, NotFound
from domain.letters import Civility, Correspondent, Letter, LetterLine, LetterStatus, LetterTemplate
from domain.patient import CareRole
from domain.text import search_key

_CONFLICT = "Ce courrier a été modifié sur un autre poste depuis son ouverture : rouvrez-le."


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _correspondent(row: CorrespondentRow) -> Correspondent:
    try:
        civility = Civility(row.civility)
    except ValueError:
        civility = Civility.NONE
    return Correspondent(
        id=row.id,
        family_name=row.family_name,
        given_name=row.given_name,
        civility=civility,
        profession=row.profession,
        rpps=row.rpps,
        address=row.address,
        phone=row.phone,
        mssante_address=row.mssante_address,
        notes=row.notes,
        active=row.active,
    )


def _fill_correspondent(row: CorrespondentRow, c: Correspondent) -> None:
    row.civility = c.civility.value
    row.family_name = c.family_name
    row.given_name = c.given_name
    row.profession = c.profession
    row.rpps = c.rpps
    row.address = c.address
    row.phone = c.phone
    row.mssante_address = c.mssante_address
    row.notes = c.notes
    row.active = c.active
    row.sort_key = search_key(f"{c.family_name} {c.given_name}")[:120]
    row.search_text = c.search_text[:400]


def _letter(row: LetterRow) -> Letter:
    return Letter(
        id=row.id,
        patient_id=row.patient_id,
        title=row.title,
        subject=row.subject,
        recipient=row.recipient,
        body_html=row.body_html,
        author_login=row.author_login,
        author=row.author,
        created_at=_utc(row.created_at),
        updated_at=_utc(row.updated_at),
        template_key=row.template_key,
        correspondent_id=row.correspondent_id,
        status=LetterStatus(row.status),
        validated_at=_utc(row.validated_at) if row.validated_at else None,
        document_row_id=row.document_row_id,
        row_version=row.row_version,
    )


def _fill_letter(row: LetterRow, letter: Letter) -> None:
    row.patient_id = letter.patient_id
    row.title = letter.title
    row.subject = letter.subject
    row.recipient = letter.recipient
    row.body_html = letter.body_html
    row.author_login = letter.author_login
    row.author = letter.author
    row.created_at = letter.created_at
    row.updated_at = letter.updated_at
    row.template_key = letter.template_key
    row.correspondent_id = letter.correspondent_id
    row.status = letter.status.value
    row.validated_at = letter.validated_at
    row.document_row_id = letter.document_row_id


class SqlLetterRepository:
    """Letters, letter templates and the correspondents book in the SQL store."""

    def __init__(self, session: Session) -> None:
        self._s = session

    # -- correspondents book -------------------------------------------------------------------------------
    def add_correspondent(self, correspondent: Correspondent) -> int:
        """Store a new correspondent; return its id."""
        row = CorrespondentRow()
        _fill_correspondent(row, correspondent)
        self._s.add(row)
        self._s.flush()
        return row.id

    def update_correspondent(self, correspondent: Correspondent) -> None:
        """Replace a correspondent."""
        row = self._s.get(CorrespondentRow, correspondent.id) if correspondent.id is not None else None
        if row is None:
            raise NotFound("Ce correspondant n'existe pas (ou plus).")
        _fill_correspondent(row, correspondent)
        self._s.flush()

    def correspondent(self, correspondent_id: int) -> Correspondent:
        """One correspondent."""
        row = self._s.get(CorrespondentRow, correspondent_id)
        if row is None:
            raise NotFound(f"Le correspondant n° {correspondent_id} n'existe pas (ou plus).")
        return _correspondent(row)

    def search_correspondents(self, words: Sequence[str], limit: int = 200) -> list[Correspondent]:
        """Active correspondents whose search text contains every folded word, by name."""
        query = select(CorrespondentRow).where(CorrespondentRow.active.is_(True))
        for word in words:
            key = search_key(word)
            if key:
                query = query.where(CorrespondentRow.search_text.contains(key, autoescape=True))
        query = query.order_by(CorrespondentRow.sort_key, CorrespondentRow.id).limit(limit)
        return [_correspondent(row) for row in self._s.scalars(query)]

    def link(self, patient_id: int, correspondent_id: int, role: CareRole) -> None:
        """Link a correspondent to a patient (the role replaces a previous one)."""
        row = self._s.get(PatientCorrespondentRow, (patient_id, correspondent_id))
        if row is None:
            self._s.add(
                PatientCorrespondentRow(patient_id=patient_id, correspondent_id=correspondent_id, role=role.value)
            )
        else:
            row.role = role.value
        self._s.flush()

    def unlink(self, patient_id: int, correspondent_id: int) -> None:
        """Remove a link."""
        self._s.execute(
            delete(PatientCorrespondentRow).where(
                and_(
                    PatientCorrespondentRow.patient_id == patient_id,
                    PatientCorrespondentRow.correspondent_id == correspondent_id,
                )
            )
        )

    def links(self, patient_id: int) -> list[tuple[Correspondent, CareRole]]:
        """The correspondents linked to a patient, by name."""
        query = (
            select(CorrespondentRow, PatientCorrespondentRow.role)
            .join(PatientCorrespondentRow, PatientCorrespondentRow.correspondent_id == CorrespondentRow.id)
            .where(PatientCorrespondentRow.patient_id == patient_id)
            .order_by(CorrespondentRow.sort_key, CorrespondentRow.id)
        )
        return [(_correspondent(row), CareRole(role)) for row, role in self._s.execute(query)]

    # -- letters -------------------------------------------------------------------------------------------
    def add_letter(self, letter: Letter) -> int:
        """Store a new letter; return its id."""
        row = LetterRow()
        _fill_letter(row, letter)
        self._s.add(row)
        self._s.flush()
        return row.id

    def update_letter(self, letter: Letter) -> Letter:
        """Save a letter (optimistic locking on ``row_version``)."""
        row = self._s.get(LetterRow, letter.id) if letter.id is not None else None
        if row is None:
            raise NotFound("Ce courrier n'existe pas (ou plus).")
        if row.row_version != letter.row_version:
            raise ConflictError(_CONFLICT)
        _fill_letter(row, letter)
        try:
            self._s.flush()
        except StaleDataError as exc:
            raise ConflictError(_CONFLICT) from exc
        return _letter(row)

    def letter(self, letter_id: int) -> Letter:
        """One letter with its body."""
        row = self._s.get(LetterRow, letter_id)
        if row is None:
            raise NotFound(f"Le courrier n° {letter_id} n'existe pas (ou plus).")
        return _letter(row)

    def letters(self, patient_id: int) -> list[LetterLine]:
        """The patient's letters, most recently changed first (no body)."""
        query = (
            select(
                LetterRow.id,
                LetterRow.title,
                LetterRow.recipient,
                LetterRow.status,
                LetterRow.updated_at,
                LetterRow.author,
                LetterRow.document_row_id,
            )
            .where(LetterRow.patient_id == patient_id)
            .order_by(LetterRow.updated_at.desc(), LetterRow.id.desc())
        )
        return [
            LetterLine(
                id=r.id,
                title=r.title,
                recipient=r.recipient.split("\n", 1)[0],
                status=LetterStatus(r.status),
                updated_at=_utc(r.updated_at),
                author=r.author,
                document_row_id=r.document_row_id,
            )
            for r in self._s.execute(query)
        ]

    # -- templates -----------------------------------------------------------------------------------------
    def templates(self) -> list[LetterTemplate]:
        """Every stored template version."""
        rows = self._s.scalars(select(LetterTemplateRow).order_by(LetterTemplateRow.key, LetterTemplateRow.version))
        return [
            LetterTemplate(
                key=r.key,
                title=r.title,
                subject=r.subject,
                body_html=r.body,
                description=r.description,
                version=r.version,
                origin=r.origin,
                created_at=_utc(r.created_at),
                author=r.author,
            )
            for r in rows
        ]

    def add_template(self, template: LetterTemplate) -> None:
        """Store a new template version."""
        self._s.add(
            LetterTemplateRow(
                key=template.key,
                version=template.version,
                origin=template.origin,
                title=template.title,
                subject=template.subject,
                description=template.description,
                body=template.body_html,
                created_at=template.created_at or dt.datetime.now(dt.UTC),
                author=template.author,
            )
        )
        self._s.flush()
