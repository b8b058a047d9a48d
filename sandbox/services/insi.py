"""INSi stand-in: the CNAM WSDL 1.5.0 over TLS (or mutual TLS), XSD-checked requests, answers from test identities."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from sandbox.harness import SOAP12_ENV_NS, SandboxRequest, SandboxResponse, soap_fault_envelope

if TYPE_CHECKING:
    # lxml and the registry are imported on the first request: the demo starts this stand-in at start-up.
    from lxml import etree

    from sandbox.test_identities import TestIdentity

_log = logging.getLogger("lgc.sandbox.insi")

RESOURCE_DIR = Path(__file__).resolve().parents[2] / "resources" / "insi"
_WSDL = "DESIR_ICIR_EXP_1.5.0.wsdl"

WSSE_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
SAML_NS = "urn:oasis:names:tc:SAML:2.0:assertion"
WSA_NS = "http://www.w3.org/2005/08/addressing"
CTXLPS_NS = "urn:siram:lps:ctxlps"
CTXBAM_NS = "urn:siram:bam:ctxbam"
RECSANS_NS = "http://www.cnamts.fr/INSiRecSans"
RECVIT_NS = "http://www.cnamts.fr/INSiRecVit"
RESULTAT_NS = "http://www.cnamts.fr/INSiResultat"
ACTIONS = {
    f"{{{RECSANS_NS}}}RECSANSVITALE": "urn:ServiceIdentiteCertifiee:1.0.0:rechercherInsAvecTraitsIdentite",
    f"{{{RECVIT_NS}}}RECVITALE": "urn:ServiceIdentiteCertifiee:1.0.0:rechercherInsAvecCarteVitale",
}
_REQUIRED_HEADERS = (
    (WSSE_NS, "Security"),
    (CTXLPS_NS, "ContexteLPS"),
    (WSA_NS, "MessageID"),
    (WSA_NS, "Action"),
    (CTXBAM_NS, "ContexteBAM"),
)
_MAX_REQUEST = 256 * 1024
_LABELS = {"00": "OK", "01": "Aucune identite trouvee", "02": "Plusieurs identites trouvees"}


class InsiService:
    """The INSi teleservice as a sandbox service.

    * ``GET <any path>?wsdl`` → the CNAM WSDL; ``GET /xsd/…`` → the schemas it imports;
      ``GET /status`` → ``{service, version, time}`` (for "Tester les services nationaux").
    * ``POST`` a SOAP 1.2 envelope → ``RESULTAT`` (00/01/02) from :data:`sandbox.test_identities.TEST_IDENTITIES`;
      a request that is not well-formed, does not validate against the XSD, lacks a header or an assertion
      gets a SOAP 1.2 Fault (``siram:Erreur``, HTTP 500) like the real service.

    Matching: same nom de naissance, sexe and date (``00`` in a stored date matches any day/month); each
    requested prénom must be one of the birth first names; with a ``LieuNaissance`` the COG must be the
    birth place (or one of its aliases: merged communes). Carte Vitale: the beneficiary's NIR and date.

    With ``mutual_tls=True`` (service ``insi-mtls``) the harness requires a client certificate signed by the
    test CA: the organisation-certificate mode (INS/val.14).
    """

    def __init__(
        self,
        name: str = "insi",
        *,
        mutual_tls: bool = False,
        identities: tuple[TestIdentity, ...] | None = None,
        extra_registry: Path | None = None,
    ) -> None:
        """Create the stand-in.

        Args:
            name: Service name in the harness (``insi``, ``insi-mtls``).
            mutual_tls: True when the service must be run behind mutual TLS (organisation certificate).
            identities: The registry; :data:`TEST_IDENTITIES` when None.
            extra_registry: A JSON file of more identities (the demo practice's qualified patients, written by
                the demo installation), read again when it changes.
        """
        self.name = name
        self.requires_client_cert = mutual_tls
        self._given_identities = identities
        self._extra_registry = extra_registry
        self._extra: tuple[float, tuple[TestIdentity, ...]] = (-1.0, ())
        self._lock = threading.Lock()
        self._schema: etree.XMLSchema | None = None
        self.calls: list[dict[str, str]] = []
        """What each valid request asked and got (message id, operation, code), for tests."""

    @property
    def _identities(self) -> tuple[TestIdentity, ...]:
        if self._given_identities is not None:
            return self._given_identities
        from sandbox.test_identities import TEST_IDENTITIES

        return TEST_IDENTITIES + self._extra_identities()

    def _extra_identities(self) -> tuple[TestIdentity, ...]:
        if self._extra_registry is None:
            return ()
        from sandbox.test_identities import read_demo_registry

        try:
            stamp = self._extra_registry.stat().st_mtime
        except OSError:
            return ()
        with self._lock:
            if stamp != self._extra[0]:
                self._extra = (stamp, read_demo_registry(self._extra_registry))
            return self._extra[1]

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        """Answer one request (see the class docstring)."""
        if request.method in {"GET", "HEAD"}:
            return self._get(request)
        if request.method != "POST":
            return SandboxResponse.json({"error": "méthode non prise en charge"}, status=405)
        return self._post(request)

    # -- GET ---------------------------------------------------------------------------------------------

    def _get(self, request: SandboxRequest) -> SandboxResponse:
        if "wsdl" in {key.lower() for key in request.query}:
            wsdl = (RESOURCE_DIR / _WSDL).read_bytes()
            return SandboxResponse.xml(wsdl, content_type="text/xml; charset=utf-8")
        route = request.route
        if route == "/status" or route.endswith("/status"):
            return SandboxResponse.json(
                {"service": self.name, "version": "ICIR 1.5.0", "time": dt.datetime.now(dt.UTC).isoformat()}
            )
        if "/xsd/" in route:
            relative = route[route.index("/xsd/") + 1 :]
            path = (RESOURCE_DIR / relative).resolve()
            if path.is_file() and path.suffix == ".xsd" and RESOURCE_DIR.resolve() in path.parents:
                return SandboxResponse.xml(path.read_bytes(), content_type="text/xml; charset=utf-8")
        return SandboxResponse.json({"error": "introuvable", "path": route}, status=404)

    # -- POST --------------------------------------------------------------------------------------------

    def _post(self, request: SandboxRequest) -> SandboxResponse:
        from lxml import etree

        content_type = (request.header("content-type") or "").lower()
        if "application/soap+xml" not in content_type:
            return _fault("SIRAM_010", "Type de contenu attendu : application/soap+xml (SOAP 1.2).")
        if len(request.body) > _MAX_REQUEST:
            return _fault("SIRAM_011", "Requête trop volumineuse.")
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
        try:
            root = etree.fromstring(request.body, parser)
        except etree.XMLSyntaxError as exc:
            return _fault("SIRAM_012", f"Requête XML mal formée : {exc}")
        if root.getroottree().docinfo.internalDTD is not None:
            return _fault("SIRAM_012", "Déclaration DTD refusée.")
        if root.tag != f"{{{SOAP12_ENV_NS}}}Envelope":
            return _fault("SIRAM_013", "Enveloppe SOAP 1.2 attendue.")
        schema = self._get_schema()
        with self._lock:
            valid = schema.validate(root)
            errors = [f"ligne {e.line} : {e.message}" for e in schema.error_log][:3]
        if not valid:
            _log.info("Sandbox %s: request rejected by the XSD: %s", self.name, errors)
            return _fault("DESIR_560", "Requête invalide (non conforme au schéma) : " + " ; ".join(errors))
        header = root.find(f"{{{SOAP12_ENV_NS}}}Header")
        body = root.find(f"{{{SOAP12_ENV_NS}}}Body")
        operation = body[0] if body is not None and len(body) else None
        if header is None or operation is None or operation.tag not in ACTIONS:
            return _fault("DESIR_560", "Requête invalide : en-têtes ou opération absents.")
        for ns, name in _REQUIRED_HEADERS:
            if header.find(f"{{{ns}}}{name}") is None:
                return _fault("DESIR_560", f"Requête invalide : en-tête {name} absent.")
        action = (header.findtext(f"{{{WSA_NS}}}Action") or "").strip()
        if action != ACTIONS[operation.tag]:
            return _fault("DESIR_560", f"Requête invalide : wsa:Action « {action} » ne correspond pas à l'opération.")
        name_id = (
            header.findtext(f"{{{WSSE_NS}}}Security/{{{SAML_NS}}}Assertion/{{{SAML_NS}}}Subject/{{{SAML_NS}}}NameID")
            or ""
        ).strip()
        if not name_id:
            return _fault("SIRAM_040", "Assertion d'authentification sans identifiant (NameID).")
        if self.requires_client_cert and not request.client_subject:
            return _fault("SIRAM_041", "Certificat d'organisation absent.")
        message_id = (header.findtext(f"{{{WSA_NS}}}MessageID") or "").strip()
        if operation.tag == f"{{{RECSANS_NS}}}RECSANSVITALE":
            matches = self._by_traits(operation)
            kind = "traits"
        else:
            matches = self._by_vitale(operation)
            kind = "carte_vitale"
        code = "00" if len(matches) == 1 else ("01" if not matches else "02")
        with self._lock:
            self.calls.append(
                {"message_id": message_id, "operation": kind, "code": code, "client": request.client_subject or ""}
            )
        _log.info("Sandbox %s: %s %s -> %s", self.name, kind, message_id, code)
        return SandboxResponse.xml(self._answer(code, matches[0] if code == "00" else None))

    def _get_schema(self) -> etree.XMLSchema:
        from lxml import etree

        with self._lock:
            if self._schema is None:
                self._schema = etree.XMLSchema(etree.parse(str(RESOURCE_DIR / "insi-messages.xsd")))
            return self._schema

    # -- matching ----------------------------------------------------------------------------------------

    def _by_traits(self, operation: etree._Element) -> list[TestIdentity]:
        from sandbox.test_identities import normalized

        name = normalized(operation.findtext(f"{{{RECSANS_NS}}}NomNaissance") or "")
        given = [normalized(p.text or "") for p in operation.findall(f"{{{RECSANS_NS}}}Prenom")]
        sex = (operation.findtext(f"{{{RECSANS_NS}}}Sexe") or "").strip().upper()
        date = (operation.findtext(f"{{{RECSANS_NS}}}DateNaissance") or "").strip()
        place = (operation.findtext(f"{{{RECSANS_NS}}}LieuNaissance") or "").strip().upper()
        found = []
        for person in self._identities:
            names = {normalized(g) for g in person.given_names} | {normalized(" ".join(person.given_names))}
            if (
                normalized(person.birth_name) == name
                and person.sex == sex
                and _same_date(person.birth_date, date)
                and given
                and all(g in names for g in given)
                and (not place or place in (person.birth_place_code, *person.place_aliases))
            ):
                found.append(person)
        return found

    def _by_vitale(self, operation: etree._Element) -> list[TestIdentity]:
        from sandbox.test_identities import normalized

        nir = (operation.findtext(f"{{{RECVIT_NS}}}MatriculeIndividu/{{{RECVIT_NS}}}NumIdentifiant") or "").upper()
        date = (operation.findtext(f"{{{RECVIT_NS}}}DateNaissance") or "").strip()
        name = normalized(operation.findtext(f"{{{RECVIT_NS}}}NomNaissance") or "")
        return [
            p
            for p in self._identities
            if p.nir == nir.strip()
            and _same_date(p.birth_date, date)
            and (not name or normalized(p.birth_name) == name)
        ]

    # -- answers -----------------------------------------------------------------------------------------

    def _answer(self, code: str, person: TestIdentity | None) -> bytes:
        from lxml import etree

        envelope = etree.Element(f"{{{SOAP12_ENV_NS}}}Envelope", nsmap={"soap": SOAP12_ENV_NS})
        body = etree.SubElement(envelope, f"{{{SOAP12_ENV_NS}}}Body")
        result = etree.SubElement(body, f"{{{RESULTAT_NS}}}RESULTAT", nsmap={None: RESULTAT_NS})
        cr = _sub(result, "CR")
        _sub(cr, "CodeCR", code)
        _sub(cr, "LibelleCR", _LABELS[code])
        if person is not None:
            individual = _sub(result, "INDIVIDU")
            _ins(_sub(individual, "INSACTIF"), person.matricule, person.oid)
            for matricule, oid in person.history:
                _ins(_sub(individual, "INSHISTO"), matricule, oid)
            tiq = _sub(individual, "TIQ")
            fields = {
                "NomNaissance": person.birth_name,
                "Prenom": person.given_names[0],
                "ListePrenom": " ".join(person.given_names),
                "Sexe": person.sex,
                "DateNaissance": person.birth_date,
                "LieuNaissance": person.birth_place_code,
            }
            fields.update(person.answer_overrides)
            for tag, value in fields.items():
                _sub(tiq, tag, value)
        data: bytes = etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")
        return data


def _same_date(stored: str, requested: str) -> bool:
    left, right = stored.split("-"), requested.split("-")
    if len(left) != 3 or len(right) != 3:
        return False
    return all(a == b or a == "00" or b == "00" for a, b in zip(left, right, strict=True))


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    from lxml import etree

    element = etree.SubElement(parent, f"{{{RESULTAT_NS}}}{tag}")
    if text is not None:
        element.text = text
    return element


def _ins(parent: etree._Element, matricule: str, oid: str) -> None:
    ident = _sub(parent, "IdIndividu")
    _sub(ident, "NumIdentifiant", matricule[:13])
    _sub(ident, "Cle", matricule[13:])
    _sub(parent, "OID", oid)


def _fault(code: str, message: str) -> SandboxResponse:
    return SandboxResponse.xml(soap_fault_envelope(code, message[:500], severity="erreur", sender=True), status=500)
