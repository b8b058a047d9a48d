"""CDA R2 producers: N1 (PDF in nonXMLBody) and N3 (VAC-NOTE 2023.01, eP-MED-DM 2024.01 with the "Copie du
document" section; BIO-TROD 2024.01, whose model allows no other section than the laboratory chapter)."""

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
    TROD_RESULT_CODES,
    AuthorInfo,
    HealthDocument,
    PrescriptionLine,
    document_lines,
    field_display,
    trod_test,
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
EP_MED_DM_TEMPLATES = (
    (TEMPLATE_HL7_FR, None),
    (TEMPLATE_CISIS, None),
    ("1.3.6.1.4.1.19376.1.9.1.1.1", None),  # IHE Pharm PRE
    ("1.3.6.1.4.1.19376.1.5.3.1.1.1", None),  # IHE PCC
    ("1.2.250.1.213.1.1.1.39", "2024.01"),
)
BIO_TROD_TEMPLATES = (
    (TEMPLATE_HL7_FR, None),
    ("1.3.6.1.4.1.19376.1.5.3.1.1.1", None),
    (TEMPLATE_CISIS, None),
    ("1.2.250.1.213.1.1.1.59", "2024.01"),
)
PDF_COPY_SECTION = "1.2.250.1.213.1.1.2.243"

FORMAT_CODES = {
    "n1": ("urn:ihe:iti:xds-sd:pdf:2008", "1.3.6.1.4.1.19376.1.2.3", "Document à corps non structuré en PDF/A-1"),
    "VAC-NOTE_2023.01": ("urn:asip:ci-sis:vac-note:2021", "1.2.250.1.213.1.1.4.2.282", "Note de vaccination"),
    "EP-MED-DM_2024.01": ("urn:ihe:pharm:pre:2010", "1.3.6.1.4.1.19376.1.2.3", "Prescription (IHE PHARM PRE)"),
    "BIO-TROD_2024.01": (
        "urn:ans:ci-sis:trod:2024",
        "1.2.250.1.213.1.1.4.2.282",
        "Test rapide d'orientation diagnostique",
    ),
}
"""XDS formatCode per rendering (N1: IHE XDS-SD; N3: ASS_A11 — TRE_A11 for IHE formats, TRE_A06 for the ANS
ones)."""

AMBULATORY_SETTING = ("AMBULATOIRE", "Ambulatoire")
SCREENING_SETTING = ("DEPISTAGE", "Dépistage")
"""practiceSettingCode (JDV_J04, codeSystem 1.2.250.1.213.1.1.4.9): BIO-TROD fixes "DEPISTAGE"."""

TA_ASIP = "1.2.250.1.213.1.1.4.322"
CIS_SYSTEM = "1.2.250.1.213.2.3.1"
CIP_SYSTEM = "1.2.250.1.213.2.3.2"
LPP_SYSTEM = "1.2.250.1.215.200.2.1"
ATC_SYSTEM = "2.16.840.1.113883.6.73"
ICD10_SYSTEM = "2.16.840.1.113883.6.3"
SNOMED_CT = "2.16.840.1.113883.6.96"
EDQM = "0.4.0.127.0.16.1.1.2.1"
PHARM = "urn:ihe:pharm:medication"
PRESCRIPTION_VALIDITY_DAYS = 90
"""A prescription of health products may be dispensed for the first time within three months."""


def practice_setting(rendering: str) -> tuple[str, str]:
    """practiceSettingCode of a produced rendering ("n1" or an N3 model): the CDA and the XDS metadata agree."""
    return SCREENING_SETTING if rendering == "BIO-TROD_2024.01" else AMBULATORY_SETTING


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
    """The CDA R2 N3 document of the document's CI-SIS model, with the "Copie du document" PDF section when
    the model has one (VAC-NOTE, eP-MED-DM; BIO-TROD allows only its laboratory chapter section).

    Raises:
        InvalidInput: the document has no structured model in this software (or no structured content).
    """
    if doc.model == "VAC-NOTE_2023.01":
        root = _header(doc, VAC_NOTE_TEMPLATES)
        structured = _el(_el(root, "component"), "structuredBody")
        _vaccination_section(_el(_el(structured, "component"), "section"), doc)
    elif doc.model == "EP-MED-DM_2024.01":
        lines = document_lines(doc)
        if not lines:
            raise InvalidInput(
                f"« {doc.title} » n'a pas de lignes de prescription structurées : seul le N1 peut être produit."
            )
        end = _prescription_end(doc, lines)
        root = _header(doc, EP_MED_DM_TEMPLATES, event_end=end, patient_contact=True)
        structured = _el(_el(root, "component"), "structuredBody")
        medicines = [line for line in lines if not line.is_device]
        devices = [line for line in lines if line.is_device]
        if medicines:
            _medicines_section(_el(_el(structured, "component"), "section"), doc, medicines)
        if devices:
            _devices_section(_el(_el(structured, "component"), "section"), doc, devices)
        mentions = doc.value("mentions").strip()
        if mentions:
            _comment_section(_el(_el(structured, "component"), "section"), doc, mentions)
    elif doc.model == "BIO-TROD_2024.01":
        test = trod_test(doc.value("test"))
        if test is None:
            raise InvalidInput(f"« {doc.title} » : test non codé, le N3 BIO-TROD ne peut pas être produit.")
        root = _header(
            doc,
            BIO_TROD_TEMPLATES,
            event=(test.target_code, test.target_label, ICD10_SYSTEM),
            setting=SCREENING_SETTING,
        )
        structured = _el(_el(root, "component"), "structuredBody")
        _trod_section(_el(_el(structured, "component"), "section"), doc)
        return _serialize(root)  # BIO-TROD: the laboratory chapter is the only section allowed
    else:
        raise InvalidInput(f"Pas de modèle CDA structuré (N3) pour « {doc.type_display} » : produisez le N1.")
    _pdf_copy_section(_el(_el(structured, "component"), "section"), pdf)
    return _serialize(root)


def _serialize(root: etree._Element) -> bytes:
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


# -- header -----------------------------------------------------------------------------------------
def _header(
    doc: HealthDocument,
    templates: tuple[tuple[str, str | None], ...],
    *,
    event: tuple[str, str, str] | None = None,
    event_end: dt.datetime | None = None,
    setting: tuple[str, str] = AMBULATORY_SETTING,
    patient_contact: bool = False,
) -> etree._Element:
    """The CI-SIS header. ``event``: serviceEvent code (default: the document type); ``event_end``: end of
    the documented act (validity of a prescription); ``patient_contact``: address and telecom always
    present (nullFlavor when unknown), as eP-MED-DM requires."""
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
    _record_target(root, doc, author, contact=patient_contact)
    _author(root, author, created)
    _custodian(root, author)
    legal = _el(root, "legalAuthenticator")
    _el(legal, "time", value=cda_time(created))
    _el(legal, "signatureCode", code="S")
    entity = _el(legal, "assignedEntity")
    _el(entity, "id", root=OID_NATIONAL_PS_ID, extension=author.national_id)
    _profession(entity, author)
    _person(entity, "assignedPerson", author)
    _organization(entity, "representedOrganization", author, setting=setting)
    _service_event(root, doc, author, event=event, end=event_end, setting=setting)
    if doc.replaces_document_id:
        related = _el(root, "relatedDocument", typeCode="RPLC")
        _el(_el(related, "parentDocument"), "id", root=doc.replaces_document_id)
    _encounter(root, doc, author)
    return root


def _record_target(root: etree._Element, doc: HealthDocument, author: AuthorInfo, *, contact: bool) -> None:
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
    elif contact:
        _el(role, "addr", nullFlavor="UNK")
    if contact:
        _el(role, "telecom", nullFlavor="UNK")  # the snapshot keeps no phone number
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


def _organization(
    parent: etree._Element, tag: str, author: AuthorInfo, *, setting: tuple[str, str] | None = None
) -> None:
    org = _el(parent, tag)
    _el(org, "id", root=OID_NATIONAL_STRUCTURE_ID, extension=author.structure_id)
    _el(org, "name", author.structure_name)
    if setting is not None:
        code, label = setting
        _el(org, "standardIndustryClassCode", code=code, displayName=label, codeSystem="1.2.250.1.213.1.1.4.9")


def _author(root: etree._Element, author: AuthorInfo, at: dt.datetime) -> None:
    node = _el(root, "author")
    _el(node, "time", value=cda_time(at))
    assigned = _el(node, "assignedAuthor")
    _el(assigned, "id", root=OID_NATIONAL_PS_ID, extension=author.national_id)
    _profession(assigned, author)
    if author.phone:
        _el(assigned, "telecom", value=f"tel:{author.phone}", use="WP")
    _person(assigned, "assignedPerson", author)
    _organization(assigned, "representedOrganization", author)


def _custodian(root: etree._Element, author: AuthorInfo) -> None:
    org = _el(_el(_el(root, "custodian"), "assignedCustodian"), "representedCustodianOrganization")
    _el(org, "id", root=OID_NATIONAL_STRUCTURE_ID, extension=author.structure_id)
    _el(org, "name", author.structure_name)


def _service_event(
    root: etree._Element,
    doc: HealthDocument,
    author: AuthorInfo,
    *,
    event: tuple[str, str, str] | None,
    end: dt.datetime | None,
    setting: tuple[str, str],
) -> None:
    service = _el(_el(root, "documentationOf"), "serviceEvent", classCode="ACT")
    code, label, system = event or (doc.type_code, doc.type_display, doc.type_system)
    _el(service, "code", code=code, displayName=label, codeSystem=system)
    times = _el(service, "effectiveTime")
    _el(times, "low", value=cda_time(doc.act_date))
    if end is not None:
        _el(times, "high", value=cda_time(end))
    performer = _el(service, "performer", typeCode="PRF")
    entity = _el(performer, "assignedEntity")
    _el(entity, "id", root=OID_NATIONAL_PS_ID, extension=author.national_id)
    _profession(entity, author)
    _person(entity, "assignedPerson", author)
    _organization(entity, "representedOrganization", author, setting=setting)


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
    _organization(entity, "representedOrganization", author)


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


# -- eP-MED-DM body ------------------------------------------------------------------------------------
def _day(moment: dt.datetime) -> dt.date:
    return (moment.astimezone(PARIS) if moment.tzinfo else moment).date()


def _prescription_end(doc: HealthDocument, lines: tuple[PrescriptionLine, ...]) -> dt.datetime:
    """End of validity: three months for a first dispensing, or longer when a line lasts longer (renewals
    included)."""
    longest = max(((line.duree_jours or 0) * (1 + line.renouvellements) for line in lines), default=0)
    return doc.act_date + dt.timedelta(days=max(PRESCRIPTION_VALIDITY_DAYS, longest))


def _uid(doc: HealthDocument, suffix: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_OID, f"{doc.document_id}.{suffix}")).upper()


def _narrative_table(text: etree._Element, columns: list[str]) -> etree._Element:
    table = _el(text, "table", border="0")
    head = _el(_el(table, "thead"), "tr")
    for title in columns:
        _el(head, "th", title)
    return _el(table, "tbody")


def _line_period(parent: etree._Element, doc: HealthDocument, line: PrescriptionLine) -> None:
    start = _day(doc.act_date)
    period = _el(parent, "effectiveTime")
    _xsi_type(period, "IVL_TS")
    _el(period, "low", value=start.strftime("%Y%m%d"))
    if line.duree_jours:
        _el(period, "high", value=(start + dt.timedelta(days=line.duree_jours - 1)).strftime("%Y%m%d"))
    else:
        _el(period, "high", nullFlavor="UNK")


def _box_count(quantity: str) -> int | None:
    """A number of boxes when the quantity says so plainly ("2", "2 boîtes"), else None (text only)."""
    import re

    match = re.fullmatch(r"\s*([0-9]{1,3})\s*(bo[iî]tes?|bte?s?)?\s*", quantity, flags=re.IGNORECASE)
    return int(match.group(1)) if match and int(match.group(1)) > 0 else None


def _flag_observation(
    parent: etree._Element, doc: HealthDocument, ref: str, template: str, code: str, label: str, answer: bool = False
) -> None:
    """A FR-Simple-observation boolean (ALD, AT/MP, prévention, non remboursable, hors AMM)."""
    obs = _el(_el(parent, "entryRelationship", typeCode="COMP"), "observation", classCode="OBS", moodCode="EVN")
    for root in ("1.3.6.1.4.1.19376.1.5.3.1.4.13", "1.2.250.1.213.1.1.3.48", template):
        _el(obs, "templateId", root=root)
    _el(obs, "id", root=_uid(doc, f"{ref}-{code}"))
    _el(obs, "code", code=code, displayName=label, codeSystem=TA_ASIP)
    _el(_el(obs, "text"), "reference", value=f"#{ref}-flags")
    _el(obs, "statusCode", code="completed")
    _el(obs, "effectiveTime", value=cda_time(doc.act_date))
    value = _el(obs, "value", value="true" if answer else "false")
    _xsi_type(value, "BL")


_FLAGS = (
    ("1.2.250.1.213.1.1.3.48.13", "MED-574", "En rapport avec une ALD"),
    ("1.2.250.1.213.1.1.3.48.14", "GEN-180", "En rapport avec un accident du travail ou une maladie professionnelle"),
    ("1.2.250.1.213.1.1.3.48.34", "GEN-295", "En rapport avec la prévention"),
    ("1.2.250.1.213.1.1.3.48.15", "GEN-181", "Non remboursable"),
)
_OFF_LABEL = ("1.2.250.1.213.1.1.3.48.12", "GEN-179", "Hors Autorisation de Mise sur le Marché (AMM)")
ALD_FLAG = "MED-574"


def _flags_text(line: PrescriptionLine) -> str:
    """The narrative of a line's flags. Only the ALD relation is collected by the editor (ordonnance bizone); the
    other flags the model requires (AT/MP, prévention, non remboursable, hors AMM) are "non", said here."""
    ald = "En rapport avec l'ALD" if line.ald else "Hors ALD"
    return f"{ald}, hors AT/MP, hors prévention, remboursable"


def _flags(parent: etree._Element, doc: HealthDocument, ref: str, line: PrescriptionLine, *, medicine: bool) -> None:
    for template, flag, label in (*_FLAGS, _OFF_LABEL) if medicine else _FLAGS:
        _flag_observation(parent, doc, ref, template, flag, label, answer=line.ald and flag == ALD_FLAG)


def _medicines_section(section: etree._Element, doc: HealthDocument, lines: list[PrescriptionLine]) -> None:
    for template in ("1.3.6.1.4.1.19376.1.9.1.2.1", "1.2.250.1.213.1.1.2.171"):
        _el(section, "templateId", root=template)
    _el(section, "id", root=_uid(doc, "med"))
    _el(section, "code", code="57828-6", displayName="Prescriptions", codeSystem=LOINC)
    _el(section, "title", "Prescription de médicaments")
    body = _narrative_table(
        _el(section, "text"),
        ["Médicament", "Posologie", "Durée", "Quantité", "Renouvellements", "Substitution", "Prise en charge"],
    )
    for number, line in enumerate(lines, start=1):
        ref = f"med-{number}"
        row = _el(body, "tr", ID=ref)
        _el(_el(row, "td"), "content", line.libelle, ID=f"{ref}-produit")
        _el(_el(row, "td"), "content", line.posologie or "—", ID=f"{ref}-posologie")
        _el(row, "td", f"{line.duree_jours} jours" if line.duree_jours else "—")
        _el(row, "td", line.quantite or "—")
        _el(row, "td", str(line.renouvellements))
        substitution = "Non substituable" if line.non_substituable else "Substitution autorisée"
        _el(_el(row, "td"), "content", substitution, ID=f"{ref}-substitution")
        _el(_el(row, "td"), "content", _flags_text(line), ID=f"{ref}-flags")
        _medicine_entry(_el(section, "entry"), doc, line, ref)


def _medicine_entry(entry: etree._Element, doc: HealthDocument, line: PrescriptionLine, ref: str) -> None:
    admin = _el(entry, "substanceAdministration", classCode="SBADM", moodCode="INT")
    for template in (
        "2.16.840.1.113883.10.20.1.24",
        "1.3.6.1.4.1.19376.1.5.3.1.4.7",
        "1.3.6.1.4.1.19376.1.9.1.3.2",
        "1.2.250.1.213.1.1.3.83",
        "1.3.6.1.4.1.19376.1.5.3.1.4.7.1",  # normal dosing (no subordinate administrations)
    ):
        _el(admin, "templateId", root=template)
    _el(admin, "id", root=_uid(doc, ref))
    _el(admin, "code", code="DRUG", displayName="Médicament", codeSystem="2.16.840.1.113883.5.4")
    _el(_el(admin, "text"), "reference", value=f"#{ref}")
    _el(admin, "statusCode", code="completed")
    _line_period(admin, doc, line)
    _el(admin, "repeatNumber", value=str(line.renouvellements))
    product = _el(_el(admin, "consumable"), "manufacturedProduct", classCode="MANU")
    for template in ("2.16.840.1.113883.10.20.1.53", "1.3.6.1.4.1.19376.1.5.3.1.4.7.2", "1.2.250.1.213.1.1.3.43"):
        _el(product, "templateId", root=template)
    material = _el(product, "manufacturedMaterial", classCode="MMAT", determinerCode="KIND")
    _el(material, "templateId", root="1.3.6.1.4.1.19376.1.9.1.3.1")
    if line.cis:
        code = _el(material, "code", code=line.cis, displayName=line.libelle, codeSystem=CIS_SYSTEM)
    elif line.cip13:
        code = _el(material, "code", code=line.cip13, displayName=line.libelle, codeSystem=CIP_SYSTEM)
    else:
        code = _el(material, "code", nullFlavor="NA")  # free-text product: its text is the reference
    _el(_el(code, "originalText"), "reference", value=f"#{ref}-produit")
    if line.cis and line.cip13:
        _el(code, "translation", code=line.cip13, displayName=line.libelle, codeSystem=CIP_SYSTEM)
    _el(material, "name", line.libelle)
    if line.atc:
        kind = etree.SubElement(material, f"{{{PHARM}}}asSpecializedKind", nsmap={"pharm": PHARM})
        kind.set("classCode", "GRIC")
        generic = etree.SubElement(kind, f"{{{PHARM}}}generalizedMedicineClass")
        generic.set("classCode", "MMAT")
        atc = etree.SubElement(generic, f"{{{PHARM}}}code")
        for name, value in (("code", line.atc), ("codeSystem", ATC_SYSTEM)):
            atc.set(name, value)
    boxes = _box_count(line.quantite)
    if boxes is not None:
        supply = _el(_el(admin, "entryRelationship", typeCode="COMP"), "supply", classCode="SPLY", moodCode="RQO")
        _el(supply, "templateId", root="1.3.6.1.4.1.19376.1.9.1.3.8")
        _el(supply, "templateId", root="1.2.250.1.213.1.1.3.86")
        _el(supply, "independentInd", value="false")
        _el(supply, "quantity", value=str(boxes), unit="30009000")  # EDQM packaging "Boîte"
    substitution = _el(_el(admin, "entryRelationship", typeCode="COMP"), "act", classCode="ACT", moodCode="DEF")
    _el(substitution, "templateId", root="1.3.6.1.4.1.19376.1.9.1.3.9.1")
    _el(substitution, "templateId", root="1.2.250.1.213.1.1.3.87")
    if line.non_substituable:
        allowed = _el(
            substitution,
            "code",
            code="N",
            displayName="Aucune substitution permise",
            codeSystem="2.16.840.1.113883.5.1070",
        )
    else:
        allowed = _el(
            substitution,
            "code",
            code="G",
            displayName="Substitution autorisée par un produit générique",
            codeSystem="2.16.840.1.113883.5.1070",
        )
    _el(_el(allowed, "originalText"), "reference", value=f"#{ref}-substitution")
    _el(substitution, "statusCode", code="completed")
    _flags(admin, doc, ref, line, medicine=True)


def _devices_section(section: etree._Element, doc: HealthDocument, lines: list[PrescriptionLine]) -> None:
    _el(section, "templateId", root="1.2.250.1.213.1.1.2.222")
    _el(section, "id", root=_uid(doc, "dm"))
    _el(section, "code", code="46264-8", displayName="Dispositifs médicaux", codeSystem=LOINC)
    _el(section, "title", "Prescription de dispositifs médicaux")
    body = _narrative_table(
        _el(section, "text"),
        ["Dispositif médical", "Utilisation", "Durée", "Quantité", "Renouvellements", "Prise en charge"],
    )
    for number, line in enumerate(lines, start=1):
        ref = f"dm-{number}"
        row = _el(body, "tr", ID=ref)
        _el(_el(row, "td"), "content", f"{line.libelle} [LPP {line.lpp}]", ID=f"{ref}-produit")
        _el(row, "td", line.posologie or "—")
        _el(row, "td", f"{line.duree_jours} jours" if line.duree_jours else "—")
        _el(row, "td", line.quantite or "—")
        _el(row, "td", str(line.renouvellements))
        _el(_el(row, "td"), "content", _flags_text(line), ID=f"{ref}-flags")
        supply = _el(_el(section, "entry"), "supply", classCode="SPLY", moodCode="INT")
        _el(supply, "templateId", root="2.16.840.1.113883.10.20.1.34")
        _el(supply, "templateId", root="1.2.250.1.213.1.1.3.20")
        _el(supply, "id", root=_uid(doc, ref))
        _el(_el(supply, "text"), "reference", value=f"#{ref}")
        _line_period(supply, doc, line)
        _el(supply, "repeatNumber", value=str(line.renouvellements))
        boxes = _box_count(line.quantite)
        if boxes is not None:
            _el(supply, "quantity", value=str(boxes))
        role = _el(_el(supply, "participant", typeCode="DEV"), "participantRole", classCode="MANU")
        device = _el(role, "playingDevice", classCode="DEV", determinerCode="INSTANCE")
        code = _el(device, "code", nullFlavor="OTH")  # no EMDN code in the lines: the LPP code translates it
        _el(_el(code, "originalText"), "reference", value=f"#{ref}-produit")
        _el(code, "translation", code=line.lpp, displayName=line.libelle, codeSystem=LPP_SYSTEM)
        _flags(supply, doc, ref, line, medicine=False)


def _comment_section(section: etree._Element, doc: HealthDocument, text: str) -> None:
    for template in ("2.16.840.1.113883.10.12.201", "1.3.6.1.4.1.19376.1.4.1.2.16", "1.2.250.1.213.1.1.2.73"):
        _el(section, "templateId", root=template)
    _el(section, "id", root=_uid(doc, "comment"))
    _el(section, "code", code="55112-7", displayName="Commentaire", codeSystem=LOINC)
    _el(section, "title", "Mentions particulières")
    narrative = _el(section, "text")
    for paragraph in text.split("\n\n"):
        _el(narrative, "paragraph", paragraph.replace("\n", " "))


# -- BIO-TROD body -------------------------------------------------------------------------------------
def _trod_section(section: etree._Element, doc: HealthDocument) -> None:
    test = trod_test(doc.value("test"))
    if test is None:  # checked by build_n3
        raise InvalidInput("Test rapide non codé.")
    result_code, result_label = TROD_RESULT_CODES.get(doc.value("resultat"), TROD_RESULT_CODES["ININT"])
    comment = doc.value("commentaire").strip()
    device = " | ".join(
        part for part in (doc.value("dispositif").strip() or "Dispositif non précisé", doc.value("lot").strip()) if part
    )
    for template in ("1.3.6.1.4.1.19376.1.3.3.2.1", "1.2.250.1.213.1.1.2.70"):
        _el(section, "templateId", root=template)
    _el(section, "code", code="18725-2", displayName="Microbiologie", codeSystem=LOINC)
    _el(section, "title", "Résultat du test rapide d'orientation diagnostique")
    text = _el(section, "text")
    row = _el(_narrative_table(text, ["Pathologie dépistée", "Test", "Résultat", "Commentaire / orientation"]), "tr")
    _el(row, "td", test.target_label)
    _el(_el(row, "td"), "content", test.label, ID="examen-1")
    _el(_el(row, "td"), "content", field_display(doc, "resultat"), ID="resultat-1")
    _el(_el(row, "td"), "content", comment or "—", ID="commentaire-1")
    _el(text, "br")
    device_row = _el(_narrative_table(text, ["Dispositif utilisé | N° de lot"]), "tr")
    _el(_el(device_row, "td"), "content", device, ID="dispositif-nom-reference")

    entry = _el(section, "entry", typeCode="DRIV")
    _el(entry, "templateId", root="1.3.6.1.4.1.19376.1.3.1")
    _el(entry, "templateId", root="1.2.250.1.213.1.1.3.21")
    act = _el(entry, "act", classCode="ACT", moodCode="EVN")
    _el(act, "code", code=test.battery[0], displayName=test.battery[1], codeSystem=LOINC)
    _el(act, "statusCode", code="completed")
    role = _el(_el(act, "participant", typeCode="DEV"), "participantRole", classCode="MANU")
    playing = _el(role, "playingDevice", classCode="DEV", determinerCode="INSTANCE")
    _el(_el(_el(playing, "code"), "originalText"), "reference", value="#dispositif-nom-reference")
    obs = _el(_el(act, "entryRelationship", typeCode="COMP"), "observation", classCode="OBS", moodCode="EVN")
    _el(obs, "templateId", root="1.3.6.1.4.1.19376.1.3.1.6")
    _el(obs, "templateId", root="1.2.250.1.213.1.1.3.80")
    code = _el(obs, "code", code=test.loinc, displayName=test.loinc_display, codeSystem=LOINC)
    _el(_el(code, "originalText"), "reference", value="#examen-1")
    _el(obs, "statusCode", code="completed")
    _el(obs, "effectiveTime", value=cda_time(doc.act_date))
    value = _el(obs, "value", code=result_code, displayName=result_label, codeSystem=SNOMED_CT)
    _xsi_type(value, "CD")
    _el(_el(value, "originalText"), "reference", value="#resultat-1")
    if comment:
        note = _el(_el(obs, "entryRelationship", typeCode="SUBJ"), "act", classCode="ACT", moodCode="EVN")
        for template in ("2.16.840.1.113883.10.20.1.40", "1.3.6.1.4.1.19376.1.5.3.1.4.2", "1.2.250.1.213.1.1.3.32"):
            _el(note, "templateId", root=template)
        _el(note, "code", code="48767-8", displayName="Commentaire", codeSystem=LOINC)
        _el(_el(note, "text"), "reference", value="#commentaire-1")
        _el(note, "statusCode", code="completed")
