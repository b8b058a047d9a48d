"""CDA conformity checks run by the product: CDA XSD, generic CI-SIS schematrons, the model's schematron."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree

from adapters.cda.reader import NS, parse_xml
from adapters.cda.schematron import Schema, SchematronError, Validator
from domain.errors import InvalidInput

log = logging.getLogger("lgc.documents.validation")

KIT_DIR = Path(__file__).resolve().parents[2] / "resources" / "cda"
XSD_PATH = KIT_DIR / "infrastructure" / "cda" / "CDA_extended.xsd"
SCHEMATRON_DIR = KIT_DIR / "schematrons"
GENERIC_SCHEMATRONS = (
    "profils/structurationMinimale/ASIP-STRUCT-MIN-StrucMin.sch",
    "profils/CI-SIS_ModelesDeContenusCDA.sch",
    "profils/IHE.sch",
    "profils/terminologies/schematron/terminologie.sch",
)
MODEL_SCHEMATRONS = {
    "VAC-NOTE_2023.01": "CI-SIS_VAC-NOTE_2023.01.sch",
    "VAC_2023.01": "CI-SIS_VAC_2023.01.sch",
    "EP-MED-DM_2024.01": "CI-SIS_EP-MED-DM_2024.01.sch",
    "BIO-TROD_2024.01": "CI-SIS_BIO-TROD_2024.01.sch",
}
_MODEL_TEMPLATES = {
    "1.2.250.1.213.1.1.1.46": "VAC-NOTE_2023.01",
    "1.2.250.1.213.1.1.1.37": "VAC_2023.01",
    "1.2.250.1.213.1.1.1.39": "EP-MED-DM_2024.01",
    "1.2.250.1.213.1.1.1.59": "BIO-TROD_2024.01",
}
TYPE_CODE_VALUE_SET = KIT_DIR / "jeuxDeValeurs" / "JDV_J07_XdsTypeCode_CISIS.xml"
_KIT_GAP = "voc-1.2.250.1.213.1.1.5.471-DYNAMIC.xml"
"""Value set absent from the ANS kit: LGC checks the document type against JDV_J07 itself."""


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem found in a document."""

    severity: str
    """"error", "warning" or "info"."""
    source: str
    """"XSD", "JDV_J07" or the schematron file name."""
    location: str
    message: str

    def line(self) -> str:
        """One printable line."""
        where = f" {self.location}" if self.location else ""
        return f"{self.severity.upper():8} [{self.source}]{where} : {self.message}"


@dataclass(frozen=True, slots=True)
class ValidationReport:
    """All the findings on one document, and what was run."""

    findings: tuple[Finding, ...]
    checks: tuple[str, ...]
    seconds: float

    @property
    def errors(self) -> tuple[Finding, ...]:
        """Error-level findings."""
        return tuple(f for f in self.findings if f.severity == "error")

    @property
    def ok(self) -> bool:
        """True when no error was found."""
        return not self.errors


class CdaValidator:
    """Loads the XSD and the schematrons once (lazily, thread-safe) and checks documents against them."""

    def __init__(self, kit_dir: Path = KIT_DIR) -> None:
        self._kit = kit_dir
        self._lock = threading.Lock()
        self._xsd: etree.XMLSchema | None = None
        self._validators: dict[str, Validator] = {}
        self._type_codes: set[tuple[str, str]] | None = None

    def xsd(self) -> etree.XMLSchema:
        """The CDA R2 XSD with the French extensions."""
        with self._lock:
            if self._xsd is None:
                path = self._kit / "infrastructure" / "cda" / "CDA_extended.xsd"
                self._xsd = etree.XMLSchema(etree.parse(str(path)))
            return self._xsd

    def _validator(self, relative: str) -> Validator:
        with self._lock:
            validator = self._validators.get(relative)
            if validator is None:
                validator = Validator(Schema(str(self._kit / "schematrons" / relative)))
                self._validators[relative] = validator
            return validator

    def type_codes(self) -> set[tuple[str, str]]:
        """(code, codeSystem) pairs of JDV_J07_XdsTypeCode_CISIS."""
        with self._lock:
            if self._type_codes is None:
                tree = etree.parse(str(self._kit / "jeuxDeValeurs" / "JDV_J07_XdsTypeCode_CISIS.xml"))
                self._type_codes = {
                    (c.get("code", ""), c.get("codeSystem", "")) for c in tree.iter("{*}Concept", "Concept")
                }
            return self._type_codes

    def check_xsd(self, root: Any) -> list[Finding]:
        """XSD findings only (cheap: what the importer runs on every received document)."""
        schema = self.xsd()
        if schema.validate(root.getroottree()):
            return []
        return [
            Finding("error", "XSD", f"ligne {e.line}", e.message)
            for e in list(schema.error_log)[:50]  # the first fifty say enough
        ]

    def validate_bytes(self, data: bytes, *, schematrons: bool = True) -> ValidationReport:
        """Parse (hardened) then validate a CDA.

        Raises:
            InvalidInput: not well-formed, dangerous or too large.
        """
        return self.validate(parse_xml(data, what="Le document CDA"), schematrons=schematrons)

    def validate(self, root: Any, *, schematrons: bool = True) -> ValidationReport:
        """XSD, JDV_J07 type code, generic schematrons and the model's schematron."""
        started = time.perf_counter()
        findings = self.check_xsd(root)
        checks = ["XSD CDA_extended.xsd"]
        code = root.find("h:code", NS)
        checks.append("JDV_J07_XdsTypeCode_CISIS")
        if code is None or (code.get("code", ""), code.get("codeSystem", "")) not in self.type_codes():
            shown = f"{code.get('code')} ({code.get('codeSystem')})" if code is not None else "absent"
            findings.append(
                Finding(
                    "error", "JDV_J07", "/ClinicalDocument/code", f"type de document {shown} hors JDV_J07_XdsTypeCode"
                )
            )
        if schematrons:
            names = list(GENERIC_SCHEMATRONS)
            templates = [t.get("root", "") for t in root.findall("h:templateId", NS)]
            model = next((_MODEL_TEMPLATES[t] for t in templates if t in _MODEL_TEMPLATES), None)
            if model is not None and root.find("h:component/h:structuredBody", NS) is not None:
                names.append(MODEL_SCHEMATRONS[model])
            tree = root.getroottree()
            for name in names:
                checks.append(Path(name).name)
                try:
                    raw = self._validator(name).validate(tree, name="document")
                except SchematronError as exc:
                    findings.append(Finding("error", Path(name).name, "", f"schématron inutilisable : {exc}"))
                    continue
                for item in raw:
                    if _KIT_GAP in item["message"]:
                        continue
                    findings.append(Finding(item["severity"], Path(name).name, item["location"], item["message"]))
        return ValidationReport(tuple(findings), tuple(checks), time.perf_counter() - started)


def require_valid_xsd(validator: CdaValidator, root: Any) -> None:
    """Refuse a received CDA that does not follow the CDA R2 schema.

    Raises:
        InvalidInput: with the first problem, in French.
    """
    problems = validator.check_xsd(root)
    if problems:
        log.info("CDA refused by the XSD: %s", problems[0].message)
        raise InvalidInput(
            f"Le document CDA n'est pas conforme au schéma CDA R2 ({problems[0].location} : "
            f"{problems[0].message[:200]}) : il n'est pas intégré."
        )
