"""IHE XDM (IHE_XDM.ZIP): export with an ebRIM METADATA.XML derived from the CDA header, guarded import."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
import uuid
import zipfile
from dataclasses import dataclass
from html import escape
from typing import Any

from lxml import etree

from adapters.cda.builder import FORMAT_CODES, practice_setting
from adapters.cda.reader import NS, parse_xml
from domain.documents import HealthDocument
from domain.errors import InvalidInput

LCM = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"

MAX_XDM_BYTES = 60 * 1024 * 1024
MAX_ENTRY_BYTES = 30 * 1024 * 1024
MAX_TOTAL_BYTES = 120 * 1024 * 1024
MAX_ENTRIES = 200
MAX_RATIO = 200
"""A member expanding more than 200 times its compressed size is treated as a zip bomb."""

DOC_ENTRY = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"
SUBMISSION_SET = "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"
SCHEMES = {
    "author": "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d",
    "class": "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a",
    "confidentiality": "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f",
    "format": "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d",
    "facility": "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1",
    "practice": "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead",
    "type": "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983",
    "ss_author": "urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d",
}
IDENTIFIERS = {
    "patient": "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427",
    "unique": "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab",
    "ss_unique": "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8",
    "ss_source": "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832",
    "ss_patient": "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446",
}
CLASS_CODES = {
    "prescription": ("42", "Prescription"),
    "certificate": ("52", "Certificat, déclaration"),
    "administered": ("45", "Traitement administré"),
    "report": ("10", "Compte rendu"),
}
"""XDS classCode (TRE_A03-ClasseDocument, codingScheme 1.2.250.1.213.1.1.4.1). The ANS type→class table
(ASS_X04) is not in the kit: prescriptions → 42, certificates → 52, the vaccination note → 45, others → 10."""


@dataclass(frozen=True, slots=True)
class XdmDocument:
    """One CDA to put in the archive, with the document it renders."""

    document: HealthDocument
    cda: bytes
    rendering: str
    """"n1" or the N3 model name."""


@dataclass(frozen=True, slots=True)
class Sender:
    """Who sends the archive (README.TXT / INDEX.HTM)."""

    name: str
    organization: str
    address: str
    application: str
    version: str


def eight_three(index: int) -> str:
    """ISO 9660 level-1 file name of the index-th CDA (DOC00001.XML)."""
    return f"DOC{index:05d}.XML"


def _xds_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y%m%d%H%M%S")


def _class_code(doc: HealthDocument) -> tuple[str, str]:
    kind = doc.kind
    if kind is not None and kind.prescription:
        return CLASS_CODES["prescription"]
    if doc.type_code == "89601-9":
        return CLASS_CODES["certificate"]
    if doc.type_code == "87273-9":
        return CLASS_CODES["administered"]
    return CLASS_CODES["report"]


def _patient_cx(doc: HealthDocument, cda: bytes) -> str:
    """XDS patientId: the INS when the identity is qualified, else the local number from the CDA."""
    root = parse_xml(cda, what="Le document CDA")
    ids = root.xpath("h:recordTarget/h:patientRole/h:id", namespaces=NS)
    chosen = ids[0] if ids else None
    if chosen is None:
        return ""
    kind = "NH" if doc.patient.qualified else "PI"
    return f"{chosen.get('extension', '')}^^^&{chosen.get('root', '')}&ISO^{kind}"


def _slot(parent: Any, name: str, *values: str) -> None:
    slot = etree.SubElement(parent, f"{{{RIM}}}Slot", name=name)
    value_list = etree.SubElement(slot, f"{{{RIM}}}ValueList")
    for value in values:
        etree.SubElement(value_list, f"{{{RIM}}}Value").text = value


def _name(parent: Any, text: str) -> None:
    name = etree.SubElement(parent, f"{{{RIM}}}Name")
    etree.SubElement(name, f"{{{RIM}}}LocalizedString", value=text, charset="UTF-8")


def _classification(parent: Any, scheme: str, target: str, code: str, coding: str, label: str) -> None:
    node = etree.SubElement(
        parent,
        f"{{{RIM}}}Classification",
        id=f"urn:uuid:{uuid.uuid4()}",
        classificationScheme=scheme,
        classifiedObject=target,
        nodeRepresentation=code,
    )
    _slot(node, "codingScheme", coding)
    _name(node, label)


def _external(parent: Any, scheme: str, target: str, value: str, label: str) -> None:
    node = etree.SubElement(
        parent,
        f"{{{RIM}}}ExternalIdentifier",
        id=f"urn:uuid:{uuid.uuid4()}",
        registryObject=target,
        identificationScheme=scheme,
        value=value,
    )
    _name(node, label)


def metadata_xml(items: list[tuple[XdmDocument, str]], *, submitted: dt.datetime, source_oid: str) -> bytes:
    """The ebRIM SubmitObjectsRequest describing the CDA files (hash, size, URI, codes, patient id)."""
    request = etree.Element(f"{{{LCM}}}SubmitObjectsRequest", nsmap={"lcm": LCM, "rim": RIM})
    objects = etree.SubElement(request, f"{{{RIM}}}RegistryObjectList")
    package_id = "SubmissionSet01"
    patient_ids: list[str] = []
    entry_ids: list[str] = []
    for index, (item, file_name) in enumerate(items, start=1):
        doc, cda = item.document, item.cda
        entry_id = f"Document{index:02d}"
        entry_ids.append(entry_id)
        entry = etree.SubElement(
            objects,
            f"{{{RIM}}}ExtrinsicObject",
            id=entry_id,
            mimeType="text/xml",
            objectType=DOC_ENTRY,
            status="urn:oasis:names:tc:ebxml-regrep:StatusType:Approved",
        )
        patient = _patient_cx(doc, cda)
        patient_ids.append(patient)
        created = doc.validated_at or doc.created_at or doc.act_date
        _slot(entry, "creationTime", _xds_time(created))
        _slot(entry, "hash", hashlib.sha1(cda).hexdigest())  # noqa: S324 - SHA-1 is what XDS specifies
        _slot(entry, "languageCode", "fr-FR")
        if doc.author is not None:
            _slot(
                entry,
                "legalAuthenticator",
                f"{doc.author.national_id}^{doc.author.family_name}^{doc.author.given_name}"
                "^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS",
            )
        _slot(entry, "serviceStartTime", _xds_time(doc.act_date))
        _slot(entry, "serviceStopTime", _xds_time(doc.act_date))
        _slot(entry, "size", str(len(cda)))
        _slot(entry, "sourcePatientId", patient)
        p = doc.patient
        info = [f"PID-3|{patient}", f"PID-5|{p.birth_name}^{p.first_given_name}^^^^^L"]
        if p.birth_date:
            info.append(f"PID-7|{p.birth_date.strftime('%Y%m%d')}")
        info.append(f"PID-8|{p.sex}")
        _slot(entry, "sourcePatientInfo", *info)
        _slot(entry, "URI", file_name)
        _slot(entry, "version", str(doc.version))
        _name(entry, doc.title)
        if doc.author is not None:
            author = etree.SubElement(
                entry,
                f"{{{RIM}}}Classification",
                id=f"urn:uuid:{uuid.uuid4()}",
                classificationScheme=SCHEMES["author"],
                classifiedObject=entry_id,
                nodeRepresentation="",
            )
            a = doc.author
            _slot(
                author,
                "authorPerson",
                f"{a.national_id}^{a.family_name}^{a.given_name}^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS",
            )
            _slot(
                author, "authorInstitution", f"{a.structure_name}^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^{a.structure_id}"
            )
            _slot(author, "authorSpecialty", f"{a.profession_code}^{a.profession_label}^1.2.250.1.213.1.1.4.5")
        code, label = _class_code(doc)
        _classification(entry, SCHEMES["class"], entry_id, code, "1.2.250.1.213.1.1.4.1", label)
        _classification(
            entry,
            SCHEMES["confidentiality"],
            entry_id,
            doc.confidentiality.value,
            "2.16.840.1.113883.5.25",
            doc.confidentiality.label_fr,
        )
        for flag in doc.flags:
            _classification(
                entry, SCHEMES["confidentiality"], entry_id, flag.value, "1.2.250.1.213.1.1.4.13", flag.label_fr
            )
        fmt, fmt_system, fmt_label = FORMAT_CODES.get(item.rendering, FORMAT_CODES["n1"])
        _classification(entry, SCHEMES["format"], entry_id, fmt, fmt_system, fmt_label)
        if doc.author is not None:
            facility, facility_label = doc.author.facility_code
            _classification(entry, SCHEMES["facility"], entry_id, facility, "1.2.250.1.71.4.2.4", facility_label)
        setting, setting_label = practice_setting(item.rendering)
        _classification(entry, SCHEMES["practice"], entry_id, setting, "1.2.250.1.213.1.1.4.9", setting_label)
        _classification(entry, SCHEMES["type"], entry_id, doc.type_code, doc.type_system, doc.type_display)
        _external(entry, IDENTIFIERS["patient"], entry_id, patient, "XDSDocumentEntry.patientId")
        _external(entry, IDENTIFIERS["unique"], entry_id, doc.document_id, "XDSDocumentEntry.uniqueId")

    package = etree.SubElement(objects, f"{{{RIM}}}RegistryPackage", id=package_id)
    _slot(package, "submissionTime", _xds_time(submitted))
    _name(package, "Envoi de documents de santé")
    _classification(package, SUBMISSION_SET, package_id, "", "", "SubmissionSet")
    _external(package, IDENTIFIERS["ss_unique"], package_id, f"2.25.{uuid.uuid4().int}", "XDSSubmissionSet.uniqueId")
    _external(package, IDENTIFIERS["ss_source"], package_id, source_oid, "XDSSubmissionSet.sourceId")
    _external(
        package,
        IDENTIFIERS["ss_patient"],
        package_id,
        patient_ids[0] if patient_ids else "",
        "XDSSubmissionSet.patientId",
    )
    for index, entry_id in enumerate(entry_ids, start=1):
        association = etree.SubElement(
            objects,
            f"{{{RIM}}}Association",
            id=f"Association{index:02d}",
            associationType="urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember",
            sourceObject=package_id,
            targetObject=entry_id,
        )
        _slot(association, "SubmissionSetStatus", "Original")
    return bytes(etree.tostring(request, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def build_xdm(items: list[XdmDocument], *, sender: Sender, submitted: dt.datetime, source_oid: str) -> bytes:
    """The IHE_XDM.ZIP archive: INDEX.HTM, README.TXT, IHE_XDM/SUBSET01/METADATA.XML and the CDA files."""
    named = [(item, eight_three(i)) for i, item in enumerate(items, start=1)]
    metadata = metadata_xml(named, submitted=submitted, source_oid=source_oid)
    listing = "\n".join(f"    {name}  {item.document.title}" for item, name in named)
    readme = (
        f"Expéditeur : {sender.name}\r\nStructure : {sender.organization}\r\nAdresse : {sender.address}\r\n"
        f"Logiciel : {sender.application} {sender.version} (LGC, logiciel libre)\r\n\r\n"
        "Cette archive IHE XDM contient des documents de santé au format CDA R2. Ouvrez INDEX.HTM pour la "
        "décrire, ou importez-la dans un logiciel de santé.\r\n\r\n"
        "IHE_XDM.ZIP\r\n  INDEX.HTM\r\n  README.TXT\r\n  IHE_XDM/SUBSET01/METADATA.XML\r\n"
        + listing.replace("\n", "\r\n").replace("    ", "  IHE_XDM/SUBSET01/")
        + "\r\n"
    )
    rows = "".join(
        f'<li><a href="IHE_XDM/SUBSET01/{name}">{escape(item.document.title)}</a></li>' for item, name in named
    )
    index = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" '
        '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">\n'
        '<html xmlns="http://www.w3.org/1999/xhtml" lang="fr"><head><title>Documents de santé</title></head><body>'
        f"<h1>Documents de santé</h1><p>Envoyés par {escape(sender.name)} ({escape(sender.organization)}).</p>"
        f'<ul>{rows}</ul><p><a href="README.TXT">Lisez-moi (README.TXT)</a></p></body></html>\n'
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("INDEX.HTM", index.encode("utf-8"))
        archive.writestr("README.TXT", readme.encode("utf-8"))
        archive.writestr("IHE_XDM/SUBSET01/METADATA.XML", metadata)
        for item, name in named:
            archive.writestr(f"IHE_XDM/SUBSET01/{name}", item.cda)
    return out.getvalue()


_SAFE_NAME = re.compile(r"^[A-Za-z0-9_./-]+$")


def read_xdm(data: bytes) -> list[tuple[str, bytes]]:
    """The CDA files of an XDM archive, after checking the archive is safe and consistent.

    Checks: size, member count, names (no ``..``, no absolute or drive path, no duplicates), expansion ratio
    and total size (zip bombs), METADATA.XML present, each CDA's SHA-1 and size equal to the metadata.

    Raises:
        InvalidInput: the first problem, in French; nothing is read further.
    """
    if len(data) > MAX_XDM_BYTES:
        raise InvalidInput(
            f"L'archive XDM est trop volumineuse ({MAX_XDM_BYTES // 1_048_576} Mo au plus) : rien n'est intégré."
        )
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise InvalidInput(
            "Le fichier n'est pas une archive ZIP lisible (IHE_XDM.ZIP attendu) : rien n'est intégré."
        ) from exc
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_ENTRIES:
            raise InvalidInput(f"L'archive XDM contient trop de fichiers ({len(infos)}) : rien n'est intégré.")
        seen: set[str] = set()
        total = 0
        for info in infos:
            name = info.filename
            folded = name.replace("\\", "/")
            if (
                folded.startswith("/")
                or re.match(r"^[A-Za-z]:", folded)
                or ".." in folded.split("/")
                or not _SAFE_NAME.match(folded)
            ):
                raise InvalidInput(f"L'archive XDM contient un chemin interdit (« {name[:80]} ») : rien n'est intégré.")
            key = folded.upper()
            if key in seen:
                raise InvalidInput(f"L'archive XDM contient deux fois le fichier « {name[:80]} » : rien n'est intégré.")
            seen.add(key)
            if info.flag_bits & 0x1:
                raise InvalidInput("L'archive XDM est chiffrée : rien n'est intégré.")
            total += info.file_size
            if info.file_size > MAX_ENTRY_BYTES or total > MAX_TOTAL_BYTES:
                raise InvalidInput(
                    "L'archive XDM décompressée serait trop volumineuse (archive piégée ?) : rien n'est intégré."
                )
            if info.compress_size and info.file_size / info.compress_size > MAX_RATIO and info.file_size > 1_048_576:
                raise InvalidInput(
                    "L'archive XDM a un taux de compression anormal (archive piégée ?) : rien n'est intégré."
                )
        names = {info.filename.replace("\\", "/").upper(): info for info in infos}
        meta_name = next((n for n in names if re.fullmatch(r"IHE_XDM/[A-Z0-9_]+/METADATA\.XML", n)), None)
        if meta_name is None:
            raise InvalidInput("Archive XDM invalide : IHE_XDM/SUBSETxx/METADATA.XML est absent. Rien n'est intégré.")
        metadata = parse_xml(_read(archive, names[meta_name]), what="Le fichier METADATA.XML de l'archive")
        folder = meta_name.rsplit("/", 1)[0]
        result: list[tuple[str, bytes]] = []
        for entry in metadata.iter(f"{{{RIM}}}ExtrinsicObject"):
            slots = {
                s.get("name"): [v.text or "" for v in s.iter(f"{{{RIM}}}Value")] for s in entry.iter(f"{{{RIM}}}Slot")
            }
            uri = (slots.get("URI") or [""])[0]
            path = f"{folder}/{uri}".upper()
            if not uri or path not in names or ".." in uri or "/" in uri.replace("\\", "/"):
                raise InvalidInput(
                    f"Archive XDM invalide : le document « {uri[:80]} » annoncé est absent. Rien n'est intégré."
                )
            content = _read(archive, names[path])
            expected_hash = (slots.get("hash") or [""])[0].lower()
            if expected_hash and hashlib.sha1(content).hexdigest() != expected_hash:  # noqa: S324 - XDS hash
                raise InvalidInput(
                    f"Archive XDM altérée : l'empreinte de « {uri} » ne correspond pas. Rien n'est intégré."
                )
            expected_size = (slots.get("size") or [""])[0]
            if expected_size and expected_size.isdigit() and int(expected_size) != len(content):
                raise InvalidInput(
                    f"Archive XDM altérée : la taille de « {uri} » ne correspond pas. Rien n'est intégré."
                )
            result.append((uri, content))
        if not result:
            raise InvalidInput("L'archive XDM ne contient aucun document : rien n'est intégré.")
        return result


def _read(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """Read a member without trusting its declared size (stops past the limit)."""
    with archive.open(info) as handle:
        data = handle.read(MAX_ENTRY_BYTES + 1)
    if len(data) > MAX_ENTRY_BYTES:
        raise InvalidInput("Un fichier de l'archive XDM est trop volumineux une fois décompressé : rien n'est intégré.")
    return data
