"""INSi SOAP 1.2 messages: request envelopes per the CNAM WSDL 1.5.0 (validated by XSD) and hardened answer parsing."""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from lxml import etree

from adapters.net import SOAP12_ENV_NS, SoapFault, hardened_xml_parser, soap_fault_from_envelope
from domain.errors import InvalidInput, RemoteServiceError
from domain.insi import (
    InsHistoryEntry,
    InsiCallContext,
    InsiCode,
    InsiIdentity,
    InsiTraitsQuery,
    VitaleBeneficiary,
)
from domain.text import normalize_trait

_log = logging.getLogger("lgc.insi")

RESOURCE_DIR = Path(__file__).resolve().parents[2] / "resources" / "insi"
SCHEMA_PATH = RESOURCE_DIR / "insi-messages.xsd"
WSDL_PATH = RESOURCE_DIR / "DESIR_ICIR_EXP_1.5.0.wsdl"

WSSE_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
SAML_NS = "urn:oasis:names:tc:SAML:2.0:assertion"
WSA_NS = "http://www.w3.org/2005/08/addressing"
CTXLPS_NS = "urn:siram:lps:ctxlps"
CTXBAM_NS = "urn:siram:bam:ctxbam"
RECSANS_NS = "http://www.cnamts.fr/INSiRecSans"
RECVIT_NS = "http://www.cnamts.fr/INSiRecVit"
RESULTAT_NS = "http://www.cnamts.fr/INSiResultat"

ACTION_TRAITS = "urn:ServiceIdentiteCertifiee:1.0.0:rechercherInsAvecTraitsIdentite"
ACTION_VITALE = "urn:ServiceIdentiteCertifiee:1.0.0:rechercherInsAvecCarteVitale"

_NSMAP = {
    "soap": SOAP12_ENV_NS,
    "wsse": WSSE_NS,
    "saml": SAML_NS,
    "wsa": WSA_NS,
    "ctxlps": CTXLPS_NS,
    "ctxbam": CTXBAM_NS,
}
_SUBJECT_FORMAT = "urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName"
_NIR13 = re.compile(r"^\d{5}(?:\d{2}|2A|2B)\d{6}$")
_NIR13_RESULT = re.compile(r"^\d{6}[A-Za-z0-9]\d{6}$")  # INSi_RESULTAT_INS.xsd, type NIR
_KEY = re.compile(r"^\d{2}$")
_COG = re.compile(r"^[0-9][0-9AB][0-9]{3}$")
_LUNAR_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

AuthMode = Literal["cps", "organisation"]


@dataclass(frozen=True, slots=True)
class InsiSoftware:
    """How the software names itself in ``ContexteLPS`` (``IDAM`` is the CNAM authorisation number).

    Attributes:
        idam: Numéro d'autorisation (agrément) given by the CNAM at the end of the CNDA qualification.
        name: Software name (``LPS/Nom`` is ``urn:lps:<name>:<version>``).
        version: Software version.
        instance: Identifier of this installation (a UUID), stable for the life of the gateway.
    """

    idam: str = "LGC-IDAM-A-ATTRIBUER"
    name: str = "lgc"
    version: str = "0"
    instance: str = ""


@dataclass(frozen=True, slots=True)
class AssertionIssuer:
    """Who issues the SAML assertion: the practitioner's card (CPx/PSC) or the organisation certificate."""

    mode: AuthMode
    subject: str = ""  # X.509 subject of the organisation certificate (organisation mode)


@dataclass(frozen=True, slots=True)
class BuiltRequest:
    """A request envelope ready to send."""

    action: str
    message_id: str
    body: bytes


# -- the compiled schema (once per process) ------------------------------------------------------------

_schema_lock = threading.Lock()
_schema: etree.XMLSchema | None = None


def insi_schema() -> etree.XMLSchema:
    """The INSi message schema (WSDL types + SOAP 1.2 envelope), compiled once and cached."""
    global _schema
    with _schema_lock:
        if _schema is None:
            _schema = etree.XMLSchema(etree.parse(str(SCHEMA_PATH)))
        return _schema


_validate_lock = threading.Lock()


def schema_errors(envelope: etree._Element) -> list[str]:
    """Validate an envelope against the INSi schema; return the error messages (empty when valid)."""
    schema = insi_schema()
    with _validate_lock:  # an XMLSchema keeps its error log on the object: one validation at a time
        if schema.validate(envelope):
            return []
        return [f"ligne {e.line} : {e.message}" for e in schema.error_log]


# -- requests ------------------------------------------------------------------------------------------


def build_traits_request(
    query: InsiTraitsQuery,
    context: InsiCallContext,
    software: InsiSoftware,
    issuer: AssertionIssuer,
    *,
    now: dt.datetime | None = None,
) -> BuiltRequest:
    """Build and validate a ``rechercherInsAvecTraitsIdentite`` envelope.

    Raises:
        InvalidInput: a trait cannot be sent (forbidden character, COG of the wrong shape), or the envelope
            does not validate against the XSD (French message; nothing is sent).
    """
    birth_name = _trait(query.birth_name, "Nom de naissance")
    given_name = _trait(query.given_name, "Prénom de naissance")
    if not birth_name or not given_name:
        raise InvalidInput("Le nom de naissance et un prénom de naissance sont nécessaires pour interroger INSi.")
    if query.sex.value not in ("F", "M"):
        raise InvalidInput("INSi ne peut être interrogé que pour un sexe F ou M.")
    body = etree.Element(f"{{{RECSANS_NS}}}RECSANSVITALE", nsmap={"rs": RECSANS_NS})
    _text(body, RECSANS_NS, "NomNaissance", birth_name)
    _text(body, RECSANS_NS, "Prenom", given_name)
    _text(body, RECSANS_NS, "Sexe", query.sex.value)
    _text(body, RECSANS_NS, "DateNaissance", query.birth_date.isoformat())
    if query.birth_place_code:
        cog = query.birth_place_code.strip().upper()
        if not _COG.match(cog):
            raise InvalidInput(f"Code lieu de naissance (COG) invalide : « {query.birth_place_code} ».")
        _text(body, RECSANS_NS, "LieuNaissance", cog)
    return _envelope(ACTION_TRAITS, body, context, software, issuer, now)


def build_vitale_request(
    beneficiary: VitaleBeneficiary,
    context: InsiCallContext,
    software: InsiSoftware,
    issuer: AssertionIssuer,
    *,
    now: dt.datetime | None = None,
) -> BuiltRequest:
    """Build and validate a ``rechercherInsAvecCarteVitale`` envelope.

    Raises:
        InvalidInput: the card data cannot be sent (NIR or date of the wrong shape…), French message.
    """
    nir, key = _split_nir(beneficiary.nir, beneficiary.nir_key, "NIR du bénéficiaire")
    birth_name = _trait(beneficiary.birth_name, "Nom de naissance")
    if not _LUNAR_DATE.match(beneficiary.birth_date):
        raise InvalidInput(f"Date de naissance de la carte Vitale illisible : « {beneficiary.birth_date} ».")
    if not 1 <= beneficiary.birth_rank <= 9:
        raise InvalidInput(f"Rang de naissance de la carte Vitale invalide : {beneficiary.birth_rank}.")
    body = etree.Element(f"{{{RECVIT_NS}}}RECVITALE", nsmap={"rv": RECVIT_NS})
    individual = etree.SubElement(body, f"{{{RECVIT_NS}}}MatriculeIndividu")
    _text(individual, RECVIT_NS, "NumIdentifiant", nir)
    _text(individual, RECVIT_NS, "Cle", key)
    if beneficiary.holder_nir:
        holder, holder_key = _split_nir(beneficiary.holder_nir, beneficiary.holder_nir_key, "NIR de l'ouvrant droit")
        opener = etree.SubElement(body, f"{{{RECVIT_NS}}}MatriculeOD")
        _text(opener, RECVIT_NS, "NumIdentifiant", holder)
        _text(opener, RECVIT_NS, "Cle", holder_key)
    _text(body, RECVIT_NS, "NomNaissance", birth_name)
    _text(body, RECVIT_NS, "DateNaissance", beneficiary.birth_date)
    _text(body, RECVIT_NS, "RangNaissance", str(beneficiary.birth_rank))
    return _envelope(ACTION_VITALE, body, context, software, issuer, now)


def _envelope(
    action: str,
    body_element: etree._Element,
    context: InsiCallContext,
    software: InsiSoftware,
    issuer: AssertionIssuer,
    now: dt.datetime | None,
) -> BuiltRequest:
    when = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    stamp = when.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    message_id = f"uuid:{uuid.uuid4()}"
    emitter = context.practitioner_id or context.structure_id or context.actor
    envelope = etree.Element(f"{{{SOAP12_ENV_NS}}}Envelope", nsmap=_NSMAP)
    header = etree.SubElement(envelope, f"{{{SOAP12_ENV_NS}}}Header")
    header.append(_security(context, issuer, stamp, when))
    header.append(_contexte_lps(software, stamp, emitter))
    _text(header, WSA_NS, "MessageID", message_id)
    _text(header, WSA_NS, "Action", action)
    header.append(_contexte_bam(stamp, emitter))
    body = etree.SubElement(envelope, f"{{{SOAP12_ENV_NS}}}Body")
    body.append(body_element)
    errors = schema_errors(envelope)
    if errors:
        _log.error("INSi request %s does not validate against the XSD: %s", action, errors[:3])
        raise InvalidInput(
            "La demande INSi n'est pas conforme au schéma du téléservice ; elle n'a pas été envoyée "
            f"({errors[0][:200]})."
        )
    data = etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")
    return BuiltRequest(action=action, message_id=message_id, body=data)


def _security(context: InsiCallContext, issuer: AssertionIssuer, stamp: str, when: dt.datetime) -> etree._Element:
    """``wsse:Security`` holding the SAML 2.0 assertion.

    CPx/PSC mode: the "assertion PS" naming the practitioner of the card. In production it must be signed
    with the CPS (or come signed from Pro Santé Connect); this adapter builds the structurally valid,
    unsigned assertion: card signing is not implemented yet. Organisation mode: the same assertion issued
    in the name of the organisation certificate, which authenticates the call through mutual TLS.
    """
    security = etree.Element(f"{{{WSSE_NS}}}Security")
    assertion = etree.SubElement(
        security,
        f"{{{SAML_NS}}}Assertion",
        ID=f"_{uuid.uuid4()}",
        IssueInstant=stamp,
        Version="2.0",
    )
    if issuer.mode == "organisation":
        issuer_text = issuer.subject or f"CN=INSI-AUTO,O={context.structure_id or 'organisation'}"
        name_id, qualifier = context.structure_id or context.actor, "Certificat organisation"
    else:
        parts = [f"CN={_dn_escape(context.practitioner_id)}"]
        if context.practitioner_name:
            parts.append(f"SN={_dn_escape(context.practitioner_name)}")
        parts.append("C=FR")
        issuer_text = ",".join(parts)
        name_id, qualifier = context.practitioner_id, "CPS"
    _text(assertion, SAML_NS, "Issuer", issuer_text).set("Format", _SUBJECT_FORMAT)
    subject = etree.SubElement(assertion, f"{{{SAML_NS}}}Subject")
    _text(subject, SAML_NS, "NameID", name_id).set("NameQualifier", qualifier)
    conditions = etree.SubElement(assertion, f"{{{SAML_NS}}}Conditions")
    conditions.set("NotBefore", stamp)
    conditions.set(
        "NotOnOrAfter",
        (when + dt.timedelta(minutes=5)).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    )
    statement = etree.SubElement(assertion, f"{{{SAML_NS}}}AttributeStatement")
    attributes = {
        "identifiantFacturation": context.practitioner_id or context.structure_id,
        "codeSpecialiteAMO": context.profession_code,
        "secteurActivite": context.activity_sector,
    }
    for name, value in attributes.items():
        if value:
            attribute = etree.SubElement(statement, f"{{{SAML_NS}}}Attribute", Name=name)
            _text(attribute, SAML_NS, "AttributeValue", value)
    if len(statement) == 0:
        attribute = etree.SubElement(statement, f"{{{SAML_NS}}}Attribute", Name="identifiantFacturation")
        _text(attribute, SAML_NS, "AttributeValue", context.actor)
    return security


def _contexte_lps(software: InsiSoftware, stamp: str, emitter: str) -> etree._Element:
    lps = etree.Element(f"{{{CTXLPS_NS}}}ContexteLPS", Nature="CTXLPS", Version="01_00")
    _text(lps, CTXLPS_NS, "Id", str(uuid.uuid4()))
    _text(lps, CTXLPS_NS, "Temps", stamp)
    _text(lps, CTXLPS_NS, "Emetteur", emitter)
    soft = etree.SubElement(lps, f"{{{CTXLPS_NS}}}LPS")
    _text(soft, CTXLPS_NS, "IDAM", software.idam).set("R", "4")
    _text(soft, CTXLPS_NS, "Version", software.version)
    _text(soft, CTXLPS_NS, "Instance", software.instance or str(uuid.uuid4()))
    _text(soft, CTXLPS_NS, "Nom", f"urn:lps:{software.name}:{software.version}")
    return lps


def _contexte_bam(stamp: str, emitter: str) -> etree._Element:
    bam = etree.Element(f"{{{CTXBAM_NS}}}ContexteBAM", Version="01_02")
    _text(bam, CTXBAM_NS, "Id", str(uuid.uuid4()))
    _text(bam, CTXBAM_NS, "Temps", stamp)
    _text(bam, CTXBAM_NS, "Emetteur", emitter)
    etree.SubElement(bam, f"{{{CTXBAM_NS}}}COUVERTURE")
    return bam


def _text(parent: etree._Element, ns: str, name: str, value: str) -> etree._Element:
    element = etree.SubElement(parent, f"{{{ns}}}{name}")
    element.text = value
    return element


def _trait(raw: str, label: str) -> str:
    try:
        return normalize_trait(raw, label=label)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc


def _split_nir(nir: str, key: str, label: str) -> tuple[str, str]:
    value = re.sub(r"\s", "", nir).upper()
    if len(value) == 15 and not key:
        value, key = value[:13], value[13:]
    if not _NIR13.match(value) or not _KEY.match(key.strip()):
        raise InvalidInput(f"{label} illisible sur la carte Vitale : 13 caractères et une clé de 2 chiffres attendus.")
    return value, key.strip()


def _dn_escape(value: str) -> str:
    return re.sub(r'([,+"\\<>;=])', r"\\\1", value)


# -- answers -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParsedResult:
    """What a RESULTAT said."""

    code: InsiCode
    label: str
    identity: InsiIdentity | None


class InsiSoapFault(Exception):
    """The answer was a SOAP Fault (turned into the port's error by the gateway)."""

    def __init__(self, fault: SoapFault) -> None:
        super().__init__(fault.reason)
        self.fault = fault


def unreadable(label: str, why: str) -> RemoteServiceError:
    """The port's error for an answer that cannot be used."""
    return RemoteServiceError(
        f"Le service {label} a renvoyé une réponse illisible ({why}). Si le problème persiste, contactez l'assistance.",
        retryable=False,
    )


def parse_answer(data: bytes, label: str = "INSi") -> ParsedResult:
    """Parse an INSi answer envelope (hardened: no DTD, no entities, no network).

    Args:
        data: The response body, already size-limited by the caller.
        label: How to name the service in messages.

    Returns:
        The code, its label and, for 00, the identity.

    Raises:
        InsiSoapFault: the envelope carries a SOAP Fault.
        RemoteServiceError: not XML, a DTD, not SOAP 1.2, no RESULTAT in the INSi namespace, unknown code,
            missing or malformed fields (not retryable).
    """
    try:
        root = etree.fromstring(data, hardened_xml_parser())
    except (etree.XMLSyntaxError, ValueError) as exc:
        _log.warning("INSi answer is not well-formed XML: %s", exc)
        raise unreadable(label, "XML mal formé") from exc
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        _log.warning("INSi answer carries a DTD: refused")
        raise unreadable(label, "déclaration DTD refusée")
    if root.tag != f"{{{SOAP12_ENV_NS}}}Envelope":
        raise unreadable(label, "ce n'est pas une enveloppe SOAP 1.2")
    fault = soap_fault_from_envelope(root)
    if fault is not None:
        raise InsiSoapFault(fault)
    body = root.find(f"{{{SOAP12_ENV_NS}}}Body")
    if body is None:
        raise unreadable(label, "enveloppe SOAP sans corps")
    result = body.find(f"{{{RESULTAT_NS}}}RESULTAT")
    if result is None:
        found = [child.tag for child in body if isinstance(child.tag, str)]
        _log.warning("INSi answer has no INSiResultat:RESULTAT, body holds %s", found[:3])
        raise unreadable(label, "élément RESULTAT absent ou dans un autre espace de noms")
    raw_code = _child_text(result, "CR", "CodeCR")
    try:
        code = InsiCode(raw_code)
    except ValueError:
        _log.warning("INSi answer with unknown code %r", raw_code[:20])
        raise unreadable(label, f"code retour inconnu « {raw_code[:10]} »") from None
    text_label = _child_text(result, "CR", "LibelleCR") or code.label_fr
    individual = result.find(f"{{{RESULTAT_NS}}}INDIVIDU")
    if code is not InsiCode.FOUND:
        return ParsedResult(code, text_label, None)
    if individual is None:
        raise unreadable(label, "code 00 sans identité")
    return ParsedResult(code, text_label, _identity(individual, label))


def _identity(individual: etree._Element, label: str) -> InsiIdentity:
    active = individual.find(f"{{{RESULTAT_NS}}}INSACTIF")
    tiq = individual.find(f"{{{RESULTAT_NS}}}TIQ")
    if active is None or tiq is None:
        raise unreadable(label, "INS actif ou traits d'identité absents")
    current = _ins(active, label)
    history = tuple(_ins(entry, label) for entry in individual.findall(f"{{{RESULTAT_NS}}}INSHISTO"))
    given_list = _child_text(tiq, "ListePrenom")
    given_names = tuple(name for name in given_list.split(" ") if name)
    first = _child_text(tiq, "Prenom") or (given_names[0] if given_names else "")
    birth_date = _child_text(tiq, "DateNaissance")
    if birth_date and not _LUNAR_DATE.match(birth_date):
        raise unreadable(label, "date de naissance mal formée")
    sex = _child_text(tiq, "Sexe")
    if sex and sex not in ("F", "M", "I"):
        raise unreadable(label, "sexe inconnu")
    return InsiIdentity(
        matricule=current.matricule,
        oid=current.oid,
        birth_name=_child_text(tiq, "NomNaissance"),
        given_names=given_names,
        first_given_name=first,
        sex=sex,
        birth_date=birth_date,
        birth_place_code=_child_text(tiq, "LieuNaissance"),
        history=history,
    )


def _ins(element: etree._Element, label: str) -> InsHistoryEntry:
    # The CNDA sample TEST_2.04 puts DateDeb/DateFin before IdIndividu: children are read by name, in any order.
    number = _child_text(element, "IdIndividu", "NumIdentifiant").upper()
    key = _child_text(element, "IdIndividu", "Cle")
    oid = _child_text(element, "OID")
    if not _NIR13_RESULT.match(number):
        raise unreadable(label, "matricule INS mal formé")
    if not key:
        key = _nir_key(number)
    if not _KEY.match(key):
        raise unreadable(label, "clé du matricule INS mal formée")
    if not oid:
        raise unreadable(label, "OID de l'INS absent")
    return InsHistoryEntry(
        matricule=number + key,
        oid=oid,
        valid_from=_date(_child_text(element, "DateDeb"), label),
        valid_to=_date(_child_text(element, "DateFin"), label),
    )


def _nir_key(number: str) -> str:
    digits = number.replace("2A", "19").replace("2B", "18")
    if not digits.isdigit():
        return ""
    return f"{97 - int(digits) % 97:02d}"


def _date(text: str, label: str) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        raise unreadable(label, "date de validité d'INS mal formée") from None


def _child_text(element: etree._Element, *path: str) -> str:
    current: etree._Element | None = element
    for name in path:
        if current is None:
            return ""
        current = current.find(f"{{{RESULTAT_NS}}}{name}")
    if current is None:
        return ""
    return (current.text or "").strip()
