"""In-memory DocumentRepository for service tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from domain.documents import DocumentKey, DocumentRow, HealthDocument, StoredContent
from domain.errors import ConflictError, NotFound


class FakeDocumentRepository:
    """Documents in a dict of the fake store (same contract as the SQL repository)."""

    def __init__(self, store: Any) -> None:
        self.store = store

    @property
    def _docs(self) -> dict[int, tuple[HealthDocument, StoredContent]]:
        docs: dict[int, tuple[HealthDocument, StoredContent]] = self.store.health_documents
        return docs

    def add(self, document: HealthDocument, content: StoredContent) -> int:
        for doc, _ in self._docs.values():
            if doc.patient_id == document.patient_id and doc.document_id == document.document_id:
                raise ConflictError("Document déjà présent (contrainte d'unicité).")
        row_id = max(self._docs, default=0) + 1
        self._docs[row_id] = (replace(document, id=row_id, row_version=1), content)
        return row_id

    def update(self, document: HealthDocument, content: StoredContent | None = None) -> HealthDocument:
        if document.id is None or document.id not in self._docs:
            raise NotFound("Ce document n'existe pas (ou plus).")
        current, stored = self._docs[document.id]
        if current.row_version != document.row_version:
            raise ConflictError("Ce document a été modifié sur un autre poste depuis son ouverture : rouvrez-le.")
        saved = replace(document, row_version=document.row_version + 1)
        self._docs[document.id] = (saved, content if content is not None else stored)
        return saved

    def get(self, row_id: int) -> HealthDocument:
        try:
            return self._docs[row_id][0]
        except KeyError:
            raise NotFound(f"Le document n° {row_id} n'existe pas (ou plus).") from None

    def content(self, row_id: int) -> StoredContent:
        return self._docs[row_id][1] if row_id in self._docs else StoredContent()

    def rows(self, patient_id: int) -> list[DocumentRow]:
        docs = [d for d, _ in self._docs.values() if d.patient_id == patient_id]
        docs.sort(key=lambda d: (d.act_date, d.id or 0), reverse=True)
        return [
            DocumentRow(
                id=d.id or 0,
                type_code=d.type_code,
                type_display=d.type_display,
                title=d.title,
                act_date=d.act_date,
                author=d.author_display,
                provenance=d.provenance,
                status=d.status,
                version=d.version,
                superseded=d.superseded,
                sent_dmp=d.sent_dmp,
                sent_mss=d.sent_mss,
                has_structured_body=bool(d.model) or d.source_format == "n3",
                confidentiality=d.confidentiality,
            )
            for d in docs
        ]

    def related_keys(self, patient_id: int, document_id: str, set_id: str) -> list[tuple[int, DocumentKey]]:
        return [
            (row_id, d.key)
            for row_id, (d, _) in self._docs.items()
            if d.patient_id == patient_id and (d.document_id == document_id or d.set_id == set_id)
        ]

    def mark_superseded(self, row_ids: Sequence[int]) -> None:
        for row_id in row_ids:
            doc, content = self._docs[row_id]
            self._docs[row_id] = (replace(doc, superseded=True, row_version=doc.row_version + 1), content)

    def documents(self, patient_id: int, type_code: str | None = None) -> list[HealthDocument]:
        docs = [
            d
            for d, _ in self._docs.values()
            if d.patient_id == patient_id and (not type_code or d.type_code == type_code)
        ]
        return sorted(docs, key=lambda d: (d.act_date, d.id or 0), reverse=True)
