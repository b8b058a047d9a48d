"""The document ports implemented with lxml, reportlab and pikepdf: renderer and reader of health documents."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lxml import etree

from adapters.cda import builder, reader, xdm
from adapters.cda.validation import KIT_DIR, CdaValidator, require_valid_xsd
from domain.document_ports import ReceivedCda
from domain.documents import HealthDocument
from domain.errors import InvalidInput

STYLESHEET = KIT_DIR / "lgc-cda-html.xsl"


class CdaDocumentRenderer:
    """Renders documents: PDF/A-1b, CDA N1/N3, IHE XDM, and CDA → HTML with the project's stylesheet."""

    def __init__(self, *, application_version: str = "", stylesheet: Path = STYLESHEET) -> None:
        self._version = application_version
        self._stylesheet_path = stylesheet
        self._xslt: Any = None
        self._lock = threading.Lock()

    def pdf(self, document: HealthDocument, *, rgpd_footer: str) -> bytes:
        """The PDF/A-1b."""
        from adapters.pdf.producer import render_pdf

        return render_pdf(document, rgpd_footer=rgpd_footer)

    def cda_n1(self, document: HealthDocument, pdf: bytes) -> bytes:
        """The CDA R2 N1."""
        return builder.build_n1(document, pdf)

    def cda_n3(self, document: HealthDocument, pdf: bytes) -> bytes:
        """The CDA R2 N3 of the document's model."""
        return builder.build_n3(document, pdf)

    def xdm(self, items: Sequence[tuple[HealthDocument, bytes, str]], *, sender: str) -> bytes:
        """An IHE_XDM.ZIP of the given CDA files."""
        if not items:
            raise InvalidInput("Aucun document à mettre dans l'archive XDM.")
        first = items[0][0]
        author = first.author
        source = builder.local_patient_root(author.structure_id if author else "lgc")
        return xdm.build_xdm(
            [xdm.XdmDocument(doc, cda, rendering) for doc, cda, rendering in items],
            sender=xdm.Sender(
                name=sender,
                organization=author.structure_name if author else "",
                address=author.address if author else "",
                application="LGC",
                version=self._version,
            ),
            submitted=dt.datetime.now(dt.UTC),
            source_oid=source,
        )

    def html(self, cda: bytes) -> str:
        """The CDA rendered to HTML (header, identity, sections; embedded PDF shown as a mention)."""
        root = reader.parse_xml(cda, what="Le document CDA")
        with self._lock:
            if self._xslt is None:
                self._xslt = etree.XSLT(etree.parse(str(self._stylesheet_path)))
            transform = self._xslt
        try:
            result = transform(root.getroottree())
        except etree.XSLTApplyError as exc:
            raise InvalidInput(f"Le document CDA ne peut pas être affiché ({exc}).") from exc
        return str(result)


class CdaDocumentReader:
    """Reads received files defensively and checks them before anything is integrated."""

    def __init__(self, validator: CdaValidator | None = None) -> None:
        self._validator = validator or CdaValidator()

    @property
    def validator(self) -> CdaValidator:
        """The XSD/schematron validator."""
        return self._validator

    def read_cda(self, data: bytes) -> ReceivedCda:
        """Parse, check against the XSD, extract header and PDF."""
        root = reader.parse_xml(data, what="Le document CDA")
        header = reader.read_header(root)
        require_valid_xsd(self._validator, root)
        pdf = reader.embedded_pdf(root)
        if not header.structured and pdf is None:
            raise InvalidInput("Ce document CDA non structuré ne contient pas de PDF lisible : il n'est pas intégré.")
        return ReceivedCda(
            document_id=header.document_id,
            set_id=header.set_id,
            version=header.version,
            type_code=header.type_code,
            type_system=header.type_system,
            type_display=header.type_display,
            title=header.title,
            act_date_iso=header.act_date.isoformat() if header.act_date else "",
            confidentiality=header.confidentiality,
            patient=header.patient,
            author_name=header.author_name,
            replaces_document_id=header.replaces_document_id,
            model=header.model,
            structured=header.structured,
            cda=data,
            pdf=pdf,
        )

    def read_xdm(self, data: bytes) -> list[tuple[str, bytes]]:
        """The CDA files of a checked XDM archive."""
        return xdm.read_xdm(data)

    def check_pdf(self, data: bytes) -> None:
        """Refuse anything that is not a readable PDF."""
        reader.check_pdf(data)

    def validate(self, data: bytes) -> list[tuple[str, str, str, str]]:
        """XSD + JDV_J07 + generic schematrons + the model's schematron."""
        report = self._validator.validate_bytes(data)
        return [(f.severity, f.source, f.location, f.message) for f in report.findings]
