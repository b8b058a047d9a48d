"""Reading received CDA documents safely: hardened parsing, size limits, header extraction, embedded PDF."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import io
import re
from dataclasses import dataclass
from typing import Any

from lxml import etree

from domain.documents import PatientSnapshot
from domain.errors import InvalidInput
from domain.identity import KNOWN_INS_OIDS

HL7 = "urn:hl7-org:v3"
NS = {"h": HL7, "xsi": "http://www.w3.org/2001/XMLSchema-instance"}

MAX_CDA_BYTES = 30 * 1024 * 1024
"""Largest CDA accepted (a PDF of ~22 MB in base64); a 200 MB file is refused before parsing."""
MAX_PDF_BYTES = 25 * 1024 * 1024

_PARSER_OPTIONS: dict[str, Any] = {
    "resolve_entities": False,
    "no_network": True,
    "huge_tree": False,
    "load_dtd": False,
    "dtd_validation": False,
    "remove_pis": False,
}

_MODELS = {
    "1.2.250.1.213.1.1.1.46": "VAC-NOTE_2023.01",
    "1.2.250.1.213.1.1.1.37": "VAC_2023.01",
    "1.2.250.1.213.1.1.1.39": "EP-MED-DM_2024.01",
    "1.2.250.1.213.1.1.1.59": "BIO-TROD_2024.01",
}
"""Model templateId → CI-SIS model whose schematron LGC runs."""


def parse_xml(data: bytes, *, what: str = "Le document") -> Any:
    """Parse untrusted XML: no DTD, no entity, no network, size limited.

    Raises:
        InvalidInput: too large, a DOCTYPE/ENTITY declaration, or not well-formed (French message).
    """
    if len(data) > MAX_CDA_BYTES:
        raise InvalidInput(
            f"{what} est trop volumineux ({len(data) / 1_048_576:.0f} Mo ; {MAX_CDA_BYTES // 1_048_576} Mo au plus) : "
            "il n'est pas intégré."
        )
    head = data[:4096]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in head[:200]:
        raise InvalidInput(f"{what} n'est pas un XML en UTF-8 : il n'est pas intégré.")
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise InvalidInput(
            f"{what} contient une déclaration DOCTYPE ou ENTITY (entités externes ou récursives) : refusé par sécurité."
        )
    parser = etree.XMLParser(**_PARSER_OPTIONS)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise InvalidInput(f"{what} n'est pas un XML bien formé ({_short(str(exc))}) : il n'est pas intégré.") from exc
    except ValueError as exc:
        raise InvalidInput(f"{what} n'est pas lisible ({_short(str(exc))}) : il n'est pas intégré.") from exc
    if root is None:
        raise InvalidInput(f"{what} est vide : il n'est pas intégré.")
    tree = root.getroottree()
    if tree.docinfo.doctype:
        raise InvalidInput(f"{what} contient une déclaration DOCTYPE : refusé par sécurité.")
    return root


def _short(text: str) -> str:
    return text if len(text) < 160 else text[:157] + "…"


@dataclass(frozen=True, slots=True)
class CdaHeader:
    """What LGC reads from a received CDA header to index, check and deduplicate it."""

    document_id: str
    set_id: str
    version: int
    type_code: str
    type_system: str
    type_display: str
    title: str
    created_at: dt.datetime | None
    act_date: dt.datetime | None
    confidentiality: str
    patient: PatientSnapshot
    author_name: str
    replaces_document_id: str
    model: str
    """CI-SIS model of a structured document ("" for N1 or an unknown model)."""
    structured: bool
    """True for a structuredBody (N3), False for a nonXMLBody (N1)."""
    template_ids: tuple[str, ...]


def _ii(node: Any) -> str:
    if node is None:
        return ""
    root = (node.get("root") or "").strip()
    ext = (node.get("extension") or "").strip()
    return f"{root}^{ext}" if ext else root


def parse_ts(value: str | None) -> dt.datetime | None:
    """A CDA TS (AAAA[MM[JJ[hh[mm[ss]]]]][+zzzz]) as an aware datetime; None when absent or invalid."""
    if not value:
        return None
    match = re.fullmatch(r"(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.\d+)?([+-]\d{4})?", value.strip())
    if not match:
        return None
    year, month, day, hour, minute, second, zone = match.groups()
    try:
        tz = dt.UTC
        if zone:
            sign = 1 if zone[0] == "+" else -1
            tz = dt.timezone(sign * dt.timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5])))
        elif hour is None:
            tz = dt.timezone(dt.timedelta(hours=1))
        return dt.datetime(
            int(year),
            int(month or 1),
            int(day or 1),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            tzinfo=tz,
        )
    except ValueError:
        return None


def read_header(root: Any) -> CdaHeader:
    """Extract the header of a parsed CDA.

    Raises:
        InvalidInput: not a CDA R2 ClinicalDocument, or id/setId/version missing (French message).
    """
    if root.tag != f"{{{HL7}}}ClinicalDocument":
        raise InvalidInput("Ce fichier XML n'est pas un document CDA R2 (élément ClinicalDocument attendu).")

    def first(path: str) -> Any:
        found = root.xpath(path, namespaces=NS)
        return found[0] if found else None

    document_id = _ii(first("h:id"))
    set_id = _ii(first("h:setId")) or document_id
    version_node = first("h:versionNumber")
    try:
        version = int(version_node.get("value")) if version_node is not None else 1
    except (TypeError, ValueError):
        version = 0
    if not document_id or version < 1:
        raise InvalidInput(
            "L'en-tête du document CDA est incomplet (identifiant ou numéro de version absent) : il n'est pas intégré."
        )
    code = first("h:code")
    title = first("h:title")
    template_ids = tuple(t.get("root", "") for t in root.xpath("h:templateId", namespaces=NS))
    model = next((_MODELS[t] for t in template_ids if t in _MODELS), "")
    structured = first("h:component/h:structuredBody") is not None
    confidentiality = first("h:confidentialityCode")
    created = parse_ts(first("h:effectiveTime").get("value") if first("h:effectiveTime") is not None else None)
    low = first("h:documentationOf/h:serviceEvent/h:effectiveTime/h:low")
    act = parse_ts(low.get("value")) if low is not None else None
    author_names = root.xpath("h:author/h:assignedAuthor/h:assignedPerson/h:name", namespaces=NS)
    author_name = ""
    if author_names:
        name = author_names[0]
        given = " ".join((g.text or "").strip() for g in name.xpath("h:given", namespaces=NS))
        family = " ".join((f.text or "").strip() for f in name.xpath("h:family", namespaces=NS))
        author_name = f"{given} {family}".strip()
    parent = first("h:relatedDocument[@typeCode='RPLC']/h:parentDocument/h:id")
    return CdaHeader(
        document_id=document_id,
        set_id=set_id,
        version=version,
        type_code=(code.get("code") or "") if code is not None else "",
        type_system=(code.get("codeSystem") or "") if code is not None else "",
        type_display=(code.get("displayName") or "") if code is not None else "",
        title=" ".join((title.text or "").split()) if title is not None else "",
        created_at=created,
        act_date=act or created,
        confidentiality=(confidentiality.get("code") or "N") if confidentiality is not None else "N",
        patient=_patient(root),
        author_name=author_name,
        replaces_document_id=_ii(parent),
        model=model if structured else "",
        structured=structured,
        template_ids=template_ids,
    )


def _patient(root: Any) -> PatientSnapshot:
    role = root.xpath("h:recordTarget/h:patientRole", namespaces=NS)
    if not role:
        raise InvalidInput("Le document CDA ne désigne aucun patient (recordTarget absent) : il n'est pas intégré.")
    role = role[0]
    matricule, oid = "", ""
    for node in role.xpath("h:id", namespaces=NS):
        if node.get("root") in KNOWN_INS_OIDS and node.get("extension"):
            matricule, oid = node.get("extension").strip(), node.get("root")
            break
    name = role.xpath("h:patient/h:name", namespaces=NS)
    birth_name = used_name = used_given = first_given = ""
    given_names: tuple[str, ...] = ()
    if name:
        for family in name[0].xpath("h:family", namespaces=NS):
            if family.get("qualifier") == "BR":
                birth_name = (family.text or "").strip()
            elif family.get("qualifier") == "CL":
                used_name = (family.text or "").strip()
            elif not birth_name:
                birth_name = (family.text or "").strip()
        for given in name[0].xpath("h:given", namespaces=NS):
            text = (given.text or "").strip()
            if given.get("qualifier") == "BR":
                first_given = text
            elif given.get("qualifier") == "CL":
                used_given = text
            elif not given_names:
                given_names = tuple(text.split())
    if not given_names and first_given:
        given_names = (first_given,)
    if first_given and given_names and given_names[0] != first_given:
        given_names = (first_given, *[g for g in given_names if g != first_given])
    gender = role.xpath("h:patient/h:administrativeGenderCode/@code", namespaces=NS)
    birth = role.xpath("h:patient/h:birthTime/@value", namespaces=NS)
    birth_ts = parse_ts(birth[0]) if birth else None
    county = role.xpath("h:patient/h:birthplace/h:place/h:addr/h:county/text()", namespaces=NS)
    sex = {"F": "F", "M": "M"}.get(gender[0] if gender else "", "I")
    return PatientSnapshot(
        record_id="",
        birth_name=birth_name,
        birth_given_names=given_names,
        sex=sex,
        birth_date=birth_ts.date() if birth_ts else None,
        birth_place_code=county[0].strip() if county else "",
        used_name=used_name,
        used_given_name=used_given,
        identity_status="QUAL" if matricule else "PROV",
        ins_matricule=matricule,
        ins_oid=oid,
    )


def embedded_pdf(root: Any) -> bytes | None:
    """The PDF carried by the CDA: the N1 ``nonXMLBody/text`` or the N3 "Copie du document" media.

    Raises:
        InvalidInput: the base64 is invalid or does not hold a PDF.
    """
    nodes = root.xpath(
        "h:component/h:nonXMLBody/h:text[@mediaType='application/pdf'] | "
        "h:component/h:structuredBody//h:observationMedia/h:value[@mediaType='application/pdf']",
        namespaces=NS,
    )
    if not nodes:
        return None
    text = "".join(nodes[0].itertext())
    if len(text) > MAX_PDF_BYTES * 4 // 3 + 4096:
        raise InvalidInput("Le PDF encapsulé dans le document CDA est trop volumineux : le document n'est pas intégré.")
    try:
        pdf = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput(
            "Le PDF encapsulé dans le document CDA est illisible (base64 invalide) : le document n'est pas intégré."
        ) from exc
    check_pdf(pdf, what="Le PDF encapsulé dans le document CDA")
    return pdf


def check_pdf(data: bytes, *, what: str = "Le fichier") -> None:
    """Check that ``data`` is a readable PDF of acceptable size.

    Raises:
        InvalidInput: too large, not a PDF, or damaged (French message).
    """
    if len(data) > MAX_PDF_BYTES:
        raise InvalidInput(
            f"{what} est trop volumineux ({MAX_PDF_BYTES // 1_048_576} Mo au plus) : il n'est pas intégré."
        )
    if not data[:1024].lstrip().startswith(b"%PDF-"):
        raise InvalidInput(f"{what} n'est pas un PDF (signature %PDF absente) : il n'est pas intégré.")
    import pikepdf

    try:
        with pikepdf.open(io.BytesIO(data)) as pdf:
            if len(pdf.pages) == 0:
                raise InvalidInput(f"{what} est un PDF sans page : il n'est pas intégré.")
    except pikepdf.PasswordError as exc:
        raise InvalidInput(f"{what} est un PDF protégé par mot de passe : il n'est pas intégré.") from exc
    except pikepdf.PdfError as exc:
        raise InvalidInput(f"{what} est un PDF endommagé ({_short(str(exc))}) : il n'est pas intégré.") from exc
