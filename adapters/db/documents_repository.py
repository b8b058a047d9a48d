"""SQL storage of health documents: metadata rows, JSON source of data, content apart from the list."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from adapters.db.models_documents import DocumentContentRow, DocumentRowModel
from domain.documents import (
    AuthorInfo,
    Confidentiality,
    ConfidentialityFlag,
    DocumentKey,
    DocumentRow,
    DocumentStatus,
    HealthDocument,
    PatientSnapshot,
    Provenance,
    StoredContent,
)
from domain.errors import ConflictError, NotFound


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _data(doc: HealthDocument) -> str:
    p = doc.patient
    payload: dict[str, Any] = {
        "fields": [list(pair) for pair in doc.fields],
        "patient": {
            "record_id": p.record_id,
            "birth_name": p.birth_name,
            "birth_given_names": list(p.birth_given_names),
            "sex": p.sex,
            "birth_date": p.birth_date.isoformat() if p.birth_date else None,
            "birth_place_code": p.birth_place_code,
            "used_name": p.used_name,
            "used_given_name": p.used_given_name,
            "identity_status": p.identity_status,
            "ins_matricule": p.ins_matricule,
            "ins_oid": p.ins_oid,
            "address_lines": list(p.address_lines),
            "postal_code": p.postal_code,
            "city": p.city,
        },
        "author": None,
    }
    if doc.author is not None:
        a = doc.author
        payload["author"] = {
            "national_id": a.national_id,
            "given_name": a.given_name,
            "family_name": a.family_name,
            "profession_code": a.profession_code,
            "profession_label": a.profession_label,
            "structure_id": a.structure_id,
            "structure_name": a.structure_name,
            "structure_kind": a.structure_kind,
            "address": a.address,
            "phone": a.phone,
        }
    return json.dumps(payload, ensure_ascii=False)


def _document(row: DocumentRowModel) -> HealthDocument:
    payload = json.loads(row.data)
    p = payload["patient"]
    patient = PatientSnapshot(
        record_id=p["record_id"],
        birth_name=p["birth_name"],
        birth_given_names=tuple(p["birth_given_names"]),
        sex=p["sex"],
        birth_date=dt.date.fromisoformat(p["birth_date"]) if p["birth_date"] else None,
        birth_place_code=p["birth_place_code"],
        used_name=p["used_name"],
        used_given_name=p["used_given_name"],
        identity_status=p["identity_status"],
        ins_matricule=p["ins_matricule"],
        ins_oid=p["ins_oid"],
        address_lines=tuple(p["address_lines"]),
        postal_code=p["postal_code"],
        city=p["city"],
    )
    author = AuthorInfo(**payload["author"]) if payload.get("author") else None
    return HealthDocument(
        id=row.id,
        patient_id=row.patient_id,
        type_code=row.type_code,
        type_system=row.type_system,
        type_display=row.type_display,
        title=row.title,
        patient=patient,
        author=author,
        act_date=_aware(row.act_date),
        fields=tuple((k, v) for k, v in payload["fields"]),
        document_id=row.document_id,
        set_id=row.set_id,
        version=row.version,
        created_at=_aware(row.created_at),
        confidentiality=Confidentiality(row.confidentiality),
        flags=tuple(ConfidentialityFlag(f) for f in row.flags.split(",") if f),
        provenance=Provenance(row.provenance),
        status=DocumentStatus(row.status),
        validated_at=_aware(row.validated_at) if row.validated_at else None,
        validated_by=row.validated_by,
        replaces_document_id=row.replaces_document_id,
        author_name=row.author_name,
        sent_dmp=row.sent_dmp,
        sent_mss=row.sent_mss,
        superseded=row.superseded,
        source_format=row.source_format,
        model=row.model,
        row_version=row.row_version,
    )


def _fill(row: DocumentRowModel, doc: HealthDocument) -> None:
    row.patient_id = doc.patient_id
    row.document_id = doc.document_id
    row.set_id = doc.set_id
    row.version = doc.version
    row.type_code = doc.type_code
    row.type_system = doc.type_system
    row.type_display = doc.type_display[:200]
    row.title = doc.title[:250]
    row.act_date = doc.act_date
    row.created_at = doc.created_at or doc.act_date
    row.author_name = (doc.author.display_name if doc.author else doc.author_name)[:250]
    row.provenance = doc.provenance.value
    row.status = doc.status.value
    row.confidentiality = doc.confidentiality.value
    row.flags = ",".join(f.value for f in doc.flags)
    row.source_format = doc.source_format
    row.model = doc.model
    row.structured = bool(doc.model) or doc.source_format == "n3"
    row.replaces_document_id = doc.replaces_document_id
    row.superseded = doc.superseded
    row.sent_dmp = doc.sent_dmp
    row.sent_mss = doc.sent_mss
    row.validated_at = doc.validated_at
    row.validated_by = doc.validated_by
    row.data = _data(doc)


class SqlDocumentRepository:
    """Health documents in the SQL store."""

    def __init__(self, session: Session) -> None:
        self._s = session

    def add(self, document: HealthDocument, content: StoredContent) -> int:
        """Store a new document and its bytes; return its row id (Core inserts: imports add thousands)."""
        row = DocumentRowModel()
        _fill(row, document)
        values = {c.key: getattr(row, c.key) for c in DocumentRowModel.__table__.columns if c.key != "id"}
        values["row_version"] = 1
        row_id = int(
            self._s.execute(insert(DocumentRowModel).values(**values).returning(DocumentRowModel.id)).scalar_one()
        )
        self._s.execute(insert(DocumentContentRow).values(document_pk=row_id, cda=content.cda, pdf=content.pdf))
        return row_id

    def update(self, document: HealthDocument, content: StoredContent | None = None) -> HealthDocument:
        """Save a changed document (optimistic locking on ``row_version``)."""
        if document.id is None:
            raise NotFound("Document sans identifiant.")
        row = self._s.get(DocumentRowModel, document.id)
        if row is None:
            raise NotFound("Ce document n'existe pas (ou plus).")
        if row.row_version != document.row_version:
            raise ConflictError("Ce document a été modifié sur un autre poste depuis son ouverture : rouvrez-le.")
        _fill(row, document)
        if content is not None:
            stored = self._s.get(DocumentContentRow, document.id)
            if stored is None:
                self._s.add(DocumentContentRow(document_pk=document.id, cda=content.cda, pdf=content.pdf))
            else:
                stored.cda, stored.pdf = content.cda, content.pdf
        try:
            self._s.flush()
        except StaleDataError as exc:
            raise ConflictError(
                "Ce document a été modifié sur un autre poste depuis son ouverture : rouvrez-le."
            ) from exc
        return _document(row)

    def get(self, row_id: int) -> HealthDocument:
        """One document."""
        row = self._s.get(DocumentRowModel, row_id)
        if row is None:
            raise NotFound(f"Le document n° {row_id} n'existe pas (ou plus).")
        return _document(row)

    def content(self, row_id: int) -> StoredContent:
        """The stored bytes."""
        stored = self._s.get(DocumentContentRow, row_id)
        if stored is None:
            return StoredContent()
        return StoredContent(cda=stored.cda, pdf=stored.pdf)

    def rows(self, patient_id: int) -> list[DocumentRow]:
        """The list, newest act first; only the metadata columns are read."""
        m = DocumentRowModel
        result = self._s.execute(
            select(
                m.id,
                m.type_code,
                m.type_display,
                m.title,
                m.act_date,
                m.author_name,
                m.provenance,
                m.status,
                m.version,
                m.superseded,
                m.sent_dmp,
                m.sent_mss,
                m.structured,
                m.confidentiality,
            )
            .where(m.patient_id == patient_id)
            .order_by(m.act_date.desc(), m.id.desc())
        )
        provenances = {p.value: p for p in Provenance}
        statuses = {st.value: st for st in DocumentStatus}
        levels = {c.value: c for c in Confidentiality}
        # Plain tuples: named attribute access on 1,000 rows costs more than the query itself.
        return [
            DocumentRow(
                id=row_id,
                type_code=type_code,
                type_display=type_display,
                title=title,
                act_date=act_date if act_date.tzinfo else act_date.replace(tzinfo=dt.UTC),
                author=author,
                provenance=provenances[provenance],
                status=statuses[status],
                version=version,
                superseded=superseded,
                sent_dmp=sent_dmp,
                sent_mss=sent_mss,
                has_structured_body=structured,
                confidentiality=levels[confidentiality],
            )
            for (
                row_id,
                type_code,
                type_display,
                title,
                act_date,
                author,
                provenance,
                status,
                version,
                superseded,
                sent_dmp,
                sent_mss,
                structured,
                confidentiality,
            ) in result.tuples()
        ]

    def related_keys(self, patient_id: int, document_id: str, set_id: str) -> list[tuple[int, DocumentKey]]:
        """Documents with this id or this setId in the patient's record."""
        m = DocumentRowModel
        columns = (m.id, m.document_id, m.set_id, m.version)
        by_id = select(*columns).where(m.patient_id == patient_id, m.document_id == document_id)
        by_set = select(*columns).where(m.set_id == set_id, m.patient_id == patient_id)
        found: dict[int, DocumentKey] = {}
        for query in (by_id, by_set):  # two index lookups (an OR would scan the patient's documents)
            for row_id, doc_id, doc_set, version in self._s.execute(query).tuples():
                found[row_id] = DocumentKey(doc_id, doc_set, version)
        return list(found.items())

    def mark_superseded(self, row_ids: Sequence[int]) -> None:
        """Flag older versions."""
        if row_ids:
            self._s.execute(
                update(DocumentRowModel)
                .where(DocumentRowModel.id.in_(list(row_ids)))
                .values(superseded=True, row_version=DocumentRowModel.row_version + 1)
                .execution_options(synchronize_session=False)
            )

    def documents(self, patient_id: int, type_code: str | None = None) -> list[HealthDocument]:
        """The patient's documents, optionally of one type."""
        query = select(DocumentRowModel).where(DocumentRowModel.patient_id == patient_id)
        if type_code:
            query = query.where(DocumentRowModel.type_code == type_code)
        rows = self._s.execute(query.order_by(DocumentRowModel.act_date.desc(), DocumentRowModel.id.desc())).scalars()
        return [_document(r) for r in rows]
