"""Ports of the health-document area: storage, renderers, and the reader/validator of received documents."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from domain.documents import DocumentKey, DocumentRow, HealthDocument, PatientSnapshot, StoredContent


class DocumentRepository(Protocol):
    """Health documents of the patients' records."""

    def add(self, document: HealthDocument, content: StoredContent) -> int:
        """Store a new document (one version) and its bytes; return its row id."""
        ...

    def update(self, document: HealthDocument, content: StoredContent | None = None) -> HealthDocument:
        """Save a changed document whose ``row_version`` is the one read; return it with the new one.

        Raises ConflictError when another workstation saved it in between, NotFound when it is gone.
        """
        ...

    def get(self, row_id: int) -> HealthDocument:
        """One document. Raises NotFound."""
        ...

    def content(self, row_id: int) -> StoredContent:
        """The stored bytes of a document (empty when none were stored)."""
        ...

    def rows(self, patient_id: int) -> list[DocumentRow]:
        """The patient's document list, newest act first (no content read)."""
        ...

    def related_keys(self, patient_id: int, document_id: str, set_id: str) -> list[tuple[int, DocumentKey]]:
        """Row ids and keys of the patient's documents with this id or this setId (duplicate rules)."""
        ...

    def mark_superseded(self, row_ids: Sequence[int]) -> None:
        """Flag documents for which a newer version is in the record."""
        ...

    def documents(self, patient_id: int, type_code: str | None = None) -> list[HealthDocument]:
        """The patient's documents (optionally of one type), newest act first."""
        ...


@dataclass(frozen=True, slots=True)
class ReceivedCda:
    """What the reader extracted from a received CDA, already checked (well-formed, safe, XSD)."""

    document_id: str
    set_id: str
    version: int
    type_code: str
    type_system: str
    type_display: str
    title: str
    act_date_iso: str
    """ISO 8601 act date ("" when the CDA gives none)."""
    confidentiality: str
    patient: PatientSnapshot
    author_name: str
    replaces_document_id: str
    model: str
    structured: bool
    cda: bytes
    pdf: bytes | None


class DocumentRenderer(Protocol):
    """Produces the renderings of a document from its single source of data."""

    def pdf(self, document: HealthDocument, *, rgpd_footer: str) -> bytes:
        """The PDF/A-1b."""
        ...

    def cda_n1(self, document: HealthDocument, pdf: bytes) -> bytes:
        """The CDA R2 N1 with the PDF in base64."""
        ...

    def cda_n3(self, document: HealthDocument, pdf: bytes) -> bytes:
        """The CDA R2 N3 of the kind's model, with the "Copie du document" PDF section."""
        ...

    def xdm(self, items: Sequence[tuple[HealthDocument, bytes, str]], *, sender: str) -> bytes:
        """An IHE_XDM.ZIP of (document, CDA bytes, rendering "n1" or model name) items."""
        ...

    def html(self, cda: bytes) -> str:
        """The CDA rendered to HTML by the project's stylesheet."""
        ...


class DocumentReader(Protocol):
    """Reads and checks received files (never trusts them)."""

    def read_cda(self, data: bytes) -> ReceivedCda:
        """Parse (hardened), check against the CDA XSD, extract the header and the embedded PDF.

        Raises InvalidInput with a French message.
        """
        ...

    def read_xdm(self, data: bytes) -> list[tuple[str, bytes]]:
        """The CDA files of a checked XDM archive. Raises InvalidInput."""
        ...

    def check_pdf(self, data: bytes) -> None:
        """Raise InvalidInput unless ``data`` is a readable PDF."""
        ...

    def validate(self, data: bytes) -> list[tuple[str, str, str, str]]:
        """Full conformity check: (severity, source, location, message) findings. Raises InvalidInput."""
        ...
