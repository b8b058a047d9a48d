"""CDA R2 producers: N1 (PDF in nonXMLBody) and N3 (VAC-NOTE 2023.01 with the "Copie du document" section)."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from zoneinfo import ZoneInfo

from lxml import etree

from domain.documents import (
    LOINC,
    OID_NATIONAL_PS_ID,
    OID_NATIONAL_STRUCTURE_ID,
    OID_PROFESSION_CODES,
    AuthorInfo,
    HealthDocument,
    field_display,
)
from domain.errors import InvalidInput

HL7 = "urn:hl7-org:v3"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
NSMAP = {None: HL7, "xsi": XSI}
PARIS = ZoneInfo("Europe/Paris")

TEMPLATE_HL7_FR = "2.16.840.1.113883.2.8.2.1"
TEMPLATE_CISIS = "1.2.250.1.213.1.1.1.1"
TEMPLATE_XDS_SD = "1.3.6.1.4.1.19376.1.2.20"
N1_TEMPLATES = (TEMPLATE_HL7_FR, TEMPLATE_CISIS, TEMPLATE_XDS_SD)
"""Exactly these three templateIds on an N1 document (StrucMin)."""

VAC_NOTE_TEMPLATES = (
    (TEMPLATE_HL7_FR, None),
    (TEMPLATE_CISIS, None),
    ("1.3.6.1.4.1.19376.1.5.3.1.1.18.1.2", None),
    ("1.2.250.1.213.1.1.1.46", "2023.01"),
)
PDF_COPY_SECTION = "1.2.250.1.213.1.1.2.243"

FORMAT_CODES = {
    "n1": ("urn:ihe:iti:xds-sd:pdf:2008", "1.3.6.1.4.1.19376.1.2.3", "Document à corps non structuré en PDF/A-1"),
    "VAC-NOTE_2023.01": ("urn:asip:ci-sis:vac-note:2021", "1.2.250.1.213.1.1.4.2.282", "Note de vaccination"),
}
"""XDS formatCode per rendering (N1: IHE XDS-SD; N3: ASS_A11)."""

GENDER = {"F": ("F", "Féminin"), "M": ("M", "Masculin"), "I": ("UN", "Inconnu")}


def local_patient_root(structure_id: str) -> str:
    """Stable OID of the practice's local patient numbers (UUID-derived arc 2.25, from the structure id)."""
    return f"2.25.{uuid.uuid5(uuid.NAMESPACE_URL, 'urn:lgc:patients:' + structure_id).int}"


def cda_time(moment: dt.datetime) -> str:
    """``AAAAMMJJhhmmss+zzzz`` in French local time."""
    local = moment.astimezone(PARIS) if moment.tzinfo else moment.replace(tzinfo=PARIS)
    return local.strftime("%Y%m%d%H%M%S%z")


def _el(parent: etree._Element, name: str, text: str | None = None, **attrs: str) -> etree._Element:
    node = etree.SubElement(parent, f"{{{HL7}}}{name}")
    for key, value in attrs.items():
        node.set(key.rstrip("_"), value)
    if text is not None:
        node.text = text
    return node


def _xsi_type(node: etree._Element, value: str) -> None:
    node.set(f"{{{XSI}}}type", value)


def _require_author(doc: HealthDocument) -> AuthorInfo:
    if doc.author is None:
        raise InvalidInput("Le document n'a pas d'auteur : il ne peut pas être produit en CDA.")
    return doc.author


def build_n1(doc: HealthDocument, pdf: bytes) -> bytes:
    """The CDA R2 N1 document: CI-SIS header and the PDF/A in base64 in ``nonXMLBody``."""
    root = _header(doc, tuple((t, None) for t in N1_TEMPLATES))
    component = _el(root, "component")
    body = _el(component, "nonXMLBody")
    _el(body, "text", base64.b64encode(pdf).decode("ascii"), mediaType="application/pdf", representation="B64")
    return _serialize(root)


def build_n3(doc: HealthDocument, pdf: bytes) -> bytes:
    """The CDA R2 N3 document of the kind's CI-SIS model, with the "Copie du document" PDF section.

    Raises:
        InvalidInput: the document type has no structured model in this software.
    """
    if doc.model != "VAC-NOTE_2023.01":
        raise InvalidInput(f"Pas de modèle CDA structuré (N3) pour « {doc.type_display} » : produisez le N1.")
    root = _header(doc, VAC_NOTE_TEMPLATES)
    component = _el(root, "component")
    structured = _el(component, "structuredBody")
    _vaccination_section(_el(_el(structured, "component"), "section"), doc)
    _pdf_copy_section(_el(_el(structured, "component"), "section"), pdf)
    return _serialize(root)


def _serialize(root: etree._Element) -> bytes:
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


# -- header -----------------------------------------------------------------------------------------
def _header(doc: HealthDocument, templates: tuple[tuple[str, str | None], ...]) -> etree._Element:
    author = _require_author(doc)
    root = etree.Element(f"{{{HL7}}}ClinicalDocument", nsmap=NSMAP)
    _el(root, "realmCode", code="FR")
    _el(root, "typeId", root="2.16.840.1.113883.1.3", extension="POCD_HD000040")
    for template, extension in templates:
        node = _el(root, "templateId", root=template)
        if extension:
            node.set("extension", extension)
    _el(root, "id", root=doc.document_id)
    _el(root, "code", code=doc.type_code, displayName=doc.type_display, codeSystem=doc.type_system)
    _el(root, "title", doc.title)
    created = doc.validated_at or doc.created_at or doc.act_date
    _el(root, "effectiveTime", value=cda_time(created))
    _el(
        root,
        "confidentialityCode",
        code=doc.confidentiality.value,
        displayName=doc.confidentiality.label_fr,
        codeSystem="2.16.840.1.113883.5.25",
    )
    _el(root, "languageCode", code="fr-FR")
    _el(root, "setId", root=doc.set_id)
    _el(root, "versionNumber", value=str(doc.version))
    _record_target(root, doc, author)
    _author(root, author, created)
    _custodian(root, author)
    legal = _el(root, "legalAuthenticator")
    _el(legal, "time", value=cda_time(created))
    _el(legal, "signatureCode", code="S")
    entity = _el(legal, "assignedEntity")
    _el(entity, "id", root=OID_NATIONAL_PS_ID, extension=author.national_id)
    _profession(entity, author)
    _person(entity, "assignedPerson", author)
    _organization(entity, "representedOrganization", author, practice_setting=True)
    _service_event(root, doc, author)
    if doc.replaces_document_id:
        related = _el(root, "relatedDocument", typeCode="RPLC")
        _el(_el(related, "parentDocument"), "id", root=doc.replaces_document_id)
    _encounter(root, doc, author)
    return root


def _record_target(root: etree._Element, doc: HealthDocument, author: AuthorInfo) -> None:
    patient = doc.patient
    role = _el(_el(root, "recordTarget"), "patientRole")
    if patient.qualified:
        _el(role, "id", root=patient.ins_oid, extension=patient.ins_matricule)
    _el(role, "id", root=local_patient_root(author.structure_id), extension=patient.record_id or "0")
    if patient.address_lines or patient.city:
        addr = _el(role, "addr")
        if patient.address_lines:
            _el(addr, "streetName", ", ".join(patient.address_lines))
        if patient.postal_code:
            _el(addr, "postalCode", patient.postal_code)
        if patient.city:
            _el(addr, "city", patient.city)
    person = _el(role, "patient", classCode="PSN")
    name = _el(person, "name")
    _el(name, "family", patient.birth_name, qualifier="BR")
    _el(name, "given", " ".join(patient.birth_given_names))
    _el(name, "given", patient.first_given_name, qualifier="BR")
    if patient.used_name:
        _el(name, "family", patient.used_name, qualifier="CL")
    if patient.used_given_name:
        _el(name, "given", patient.used_given_name, qualifier="CL")
    code, label = GENDER.get(patient.sex, GENDER["I"])
    _el(person, "administrativeGenderCode", code=code, displayName=label, codeSystem="2.16.840.1.113883.5.1")
    if patient.birth_date is not None:
        _el(person, "birthTime", value=patient.birth_date.strftime("%Y%m%d"))
    else:
        _el(person, "birthTime", nullFlavor="UNK")
    place = _el(_el(_el(person, "birthplace"), "place"), "addr")
    _el(place, "county", patient.birth_place_code)


def _profession(parent: etree._Element, author: AuthorInfo) -> None:
    _el(
        parent,
        "code",
        code=author.profession_code,
        displayName=author.profession_label,
        codeSystem=OID_PROFESSION_CODES,
    )


def _person(parent: etree._Element, tag: str, author: AuthorInfo) -> None:
    name = _el(_el(parent, tag), "name")
    if author.given_name:
        _el(name, "given", author.given_name)
    _el(name, "family", author.family_name or author.display_name)


def _organization(parent: etree._Element, tag: str, author: AuthorInfo, *, practice_setting: bool) -> None:
    org = _el(parent, tag)
    _el(org, "id", root=OID_NATIONAL_STRUCTURE_ID, extension=author.structure_id)
    _el(org, "name", author.structure_name)
    if practice_setting:
        _el(
            org,
            "standardIndustryClassCode",
            code="AMBULATOIRE",
            displayName="Ambulatoire",
            codeSystem="1.2.250.1.213.1.1.4.9",
        )


def _author(root: etree._Element, author: AuthorInfo, at: dt.datetime) -> None:
    node = _el(root, "author")
    _el(node, "time", value=cda_time(at))
    assigned = _el(node, "assignedAuthor")
    _el(assigned, "id", root=OID_NATIONAL_PS_ID, extension=author.national_id)
    _profession(assigned, author)
    if author.phone:
        _el(assigned, "telecom", value=f"tel:{author.phone}", use="WP")
    _person(assigned, "assignedPerson", author)
    _organization(assigned, "representedOrganization", author, practice_setting=False)


def _custodian(root: etree._Element, author: AuthorInfo) -> None:
    org = _el(_el(_el(root, "custodian"), "assignedCustodian"), "representedCustodianOrganization")
    _el(org, "id", root=OID_NATIONAL_STRUCTURE_ID, extension=author.structure_id)
    _el(org, "name", author.structure_name)


def _service_event(root: etree._Element, doc: HealthDocument, author: AuthorInfo) -> None:
    event = _el(_el(root, "documentationOf"), "serviceEvent", classCode="ACT")
    _el(event, "code", code=doc.type_code, displayName=doc.type_display, codeSystem=doc.type_system)
    times = _el(event, "effectiveTime")
    _el(times, "low", value=cda_time(doc.act_date))
    performer = _el(event, "performer", typeCode="PRF")
    entity = _el(performer, "assignedEntity")
    _el(entity, "id", root=OID_NATIONAL_PS_ID, extension=author.national_id)
    _profession(entity, author)
    _person(entity, "assignedPerson", author)
    _organization(entity, "representedOrganization", author, practice_setting=True)


def _encounter(root: etree._Element, doc: HealthDocument, author: AuthorInfo) -> None:
    encounter = _el(_el(root, "componentOf"), "encompassingEncounter")
    _el(
        encounter,
        "code",
        code="AMB",
        displayName="Ambulatoire (hors établissement)",
        codeSystem="2.16.840.1.113883.5.4",
    )
    times = _el(encounter, "effectiveTime")
    _el(times, "low", value=cda_time(doc.act_date))
    facility = _el(_el(encounter, "location"), "healthCareFacility")
    code, label = author.facility_code
    _el(facility, "code", code=code, displayName=label, codeSystem="1.2.250.1.71.4.2.4")


# -- VAC-NOTE body ------------------------------------------------------------------------------------
def _vaccination_section(section: etree._Element, doc: HealthDocument) -> None:
    author = _require_author(doc)
    for template in ("2.16.840.1.113883.10.20.1.6", "1.3.6.1.4.1.19376.1.5.3.1.3.23", "1.2.250.1.213.1.1.2.147"):
        _el(section, "templateId", root=template)
    _el(section, "id", root=str(uuid.uuid5(uuid.NAMESPACE_OID, doc.document_id + ".vac")).upper())
    _el(section, "code", code="11369-6", displayName="Historique des vaccinations", codeSystem=LOINC)
    _el(section, "title", "Note de vaccination")
    vaccine = doc.value("vaccin")
    lot = doc.value("lot")
    rank = doc.value("rang").strip()
    route = doc.value("voie")
    site = doc.value("site")
    comment = doc.value("commentaire").strip()
    act_day = doc.act_date.astimezone(PARIS) if doc.act_date.tzinfo else doc.act_date
    text = _el(section, "text")
    table = _el(text, "table", border="0")
    head = _el(_el(table, "thead"), "tr")
    columns = ["Date", "Vaccin", "Lot n°", "Rang", "Voie d'administration", "Région d'administration"]
    columns += ["Commentaire", "Vaccinateur"]
    for title in columns:
        _el(head, "th", title)
    row = _el(_el(table, "tbody"), "tr")
    _el(row, "td", act_day.strftime("%d/%m/%Y"))
    _el(_el(row, "td"), "content", vaccine, ID="vac-01")
    _el(row, "td", lot)
    _el(row, "td", rank or "—")
    _el(row, "td", field_display(doc, "voie"))
    _el(_el(row, "td"), "content", field_display(doc, "site") or "Non précisé", ID="vac-01-approachSite")
    _el(_el(row, "td"), "content", comment or "—", ID="vac-01-comment")
    _el(row, "td", author.display_name)

    entry = _el(section, "entry")
    admin = _el(entry, "substanceAdministration", classCode="SBADM", moodCode="EVN", negationInd="false")
    for template in ("2.16.840.1.113883.10.20.1.24", "1.3.6.1.4.1.19376.1.5.3.1.4.12", "1.2.250.1.213.1.1.3.45"):
        _el(admin, "templateId", root=template)
    _el(admin, "id", root=str(uuid.uuid5(uuid.NAMESPACE_OID, doc.document_id + ".entry")).upper())
    _el(
        admin,
        "code",
        code=doc.value("acte"),
        displayName=field_display(doc, "acte"),
        codeSystem="2.16.840.1.113883.5.4",
    )
    _el(_el(admin, "text"), "reference", value="#vac-01")
    _el(admin, "statusCode", code="completed")
    _el(admin, "effectiveTime", value=act_day.strftime("%Y%m%d"))
    _el(admin, "routeCode", code=route, displayName=field_display(doc, "voie"), codeSystem="0.4.0.127.0.16.1.1.2.1")
    if site:
        approach = _el(
            admin,
            "approachSiteCode",
            code=site,
            displayName=field_display(doc, "site"),
            codeSystem="2.16.840.1.113883.6.96",
        )
        _el(_el(approach, "originalText"), "reference", value="#vac-01-approachSite")
    product = _el(_el(admin, "consumable", typeCode="CSM"), "manufacturedProduct")
    for template in ("2.16.840.1.113883.10.20.1.53", "1.3.6.1.4.1.19376.1.5.3.1.4.7.2", "1.2.250.1.213.1.1.3.43"):
        _el(product, "templateId", root=template)
    material = _el(product, "manufacturedMaterial")
    code = _el(material, "code", code=doc.value("code_cis"), displayName=vaccine, codeSystem="1.2.250.1.213.2.3.1")
    _el(_el(code, "originalText"), "reference", value="#vac-01")
    _el(
        code,
        "translation",
        code=doc.value("code_atc"),
        displayName=doc.value("libelle_atc"),
        codeSystem="2.16.840.1.113883.6.73",
    )
    _el(material, "name", doc.value("libelle_atc") or vaccine)
    _el(material, "lotNumberText", lot)
    performer = _el(admin, "performer", typeCode="PRF")
    _assigned(performer, "assignedEntity", author)
    entry_author = _el(admin, "author", typeCode="AUT", contextControlCode="OP")
    _el(entry_author, "time", value=cda_time(doc.act_date))
    _assigned(entry_author, "assignedAuthor", author)
    if rank:
        rel = _el(admin, "entryRelationship", typeCode="SUBJ")
        obs = _el(rel, "observation", classCode="OBS", moodCode="EVN")
        _el(obs, "templateId", root="2.16.840.1.113883.10.20.1.46")
        _el(obs, "templateId", root="1.2.250.1.213.1.1.3.82")
        _el(obs, "code", code="30973-2", displayName="Rang de la vaccination", codeSystem=LOINC)
        _el(obs, "statusCode", code="completed")
        value = _el(obs, "value", value=str(int(rank)))
        _xsi_type(value, "INT")
    if comment:
        rel = _el(admin, "entryRelationship", typeCode="SUBJ")
        act = _el(rel, "act", classCode="ACT", moodCode="EVN")
        for template in ("2.16.840.1.113883.10.20.1.40", "1.3.6.1.4.1.19376.1.5.3.1.4.2", "1.2.250.1.213.1.1.3.32"):
            _el(act, "templateId", root=template)
        _el(act, "code", code="48767-8", displayName="Commentaire", codeSystem=LOINC)
        note = _el(act, "text")
        _el(note, "reference", value="#vac-01-comment")
        note[0].tail = comment
        _el(act, "statusCode", code="completed")


def _assigned(parent: etree._Element, tag: str, author: AuthorInfo) -> None:
    entity = _el(parent, tag, classCode="ASSIGNED")
    _el(entity, "id", root=OID_NATIONAL_PS_ID, extension=author.national_id)
    _profession(entity, author)
    _person(entity, "assignedPerson", author)
    _organization(entity, "representedOrganization", author, practice_setting=False)


def _pdf_copy_section(section: etree._Element, pdf: bytes) -> None:
    _el(section, "templateId", root=PDF_COPY_SECTION)
    _el(section, "id", root=str(uuid.uuid4()).upper())
    _el(section, "code", code="55108-5", displayName="Copie du document", codeSystem=LOINC)
    _el(section, "title", "Copie du document")
    text = _el(section, "text")
    _el(_el(text, "paragraph"), "content", "Copie PDF du document", ID="doc-1-type")
    cell = _el(_el(_el(_el(text, "table", border="0"), "tbody"), "tr"), "td")
    _el(cell, "renderMultiMedia", referencedObject="doc-1")
    organizer = _el(_el(section, "entry"), "organizer", classCode="CLUSTER", moodCode="EVN")
    _el(organizer, "templateId", root="1.2.250.1.213.1.1.3.18")
    _el(organizer, "id", root=str(uuid.uuid4()).upper())
    _el(organizer, "code", code="55107-7", displayName="Document attaché", codeSystem=LOINC)
    _el(organizer, "statusCode", code="completed")
    obs = _el(_el(organizer, "component"), "observation", classCode="OBS", moodCode="EVN")
    for template in ("1.3.6.1.4.1.19376.1.5.3.1.4.13", "1.2.250.1.213.1.1.3.48", "1.2.250.1.213.1.1.3.48.18"):
        _el(obs, "templateId", root=template)
    _el(obs, "id", root=str(uuid.uuid4()).upper())
    _el(obs, "code", code="69764-9", displayName="Type de document", codeSystem=LOINC)
    _el(_el(obs, "text"), "reference", value="#doc-1-type")
    _el(obs, "statusCode", code="completed")
    _el(obs, "effectiveTime", nullFlavor="NA")
    value = _el(obs, "value", code="55108-5", displayName="Copie du document", codeSystem=LOINC)
    _xsi_type(value, "CD")
    media = _el(_el(organizer, "component"), "observationMedia", classCode="OBS", moodCode="EVN", ID="doc-1")
    _el(media, "value", base64.b64encode(pdf).decode("ascii"), mediaType="application/pdf", representation="B64")
