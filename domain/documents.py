"""Health documents: one source of data per document, its versions, its status and the duplicate rules."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

from domain.errors import InvalidInput, PermissionDenied
from domain.identity import Identity, IdentityStatus
from domain.patient import Patient
from domain.practice import Profession, Structure, StructureKind, UserAccount

LOINC = "2.16.840.1.113883.6.1"
ANS_LOCAL_TYPES = "1.2.250.1.213.1.1.4.12"
"""codeSystem of the ANS local document type codes (PRESC-KINE…)."""

OID_NATIONAL_PS_ID = "1.2.250.1.71.4.2.1"
OID_NATIONAL_STRUCTURE_ID = "1.2.250.1.71.4.2.2"
OID_PROFESSION_CODES = "1.2.250.1.213.1.1.4.5"

MAX_BODY_LENGTH = 20_000
"""Longest text of one field of a document (a whole letter fits)."""

_OID = re.compile(r"^[0-2](\.(0|[1-9][0-9]*))+$")


class DocumentFormat(StrEnum):
    """The renderings of one document."""

    CDA_N1 = "n1"
    CDA_N3 = "n3"
    PDF = "pdf"
    XDM = "xdm"

    @property
    def label_fr(self) -> str:
        """French label."""
        return {
            "n1": "CDA R2 niveau 1 (PDF encapsulé)",
            "n3": "CDA R2 niveau 3 (structuré)",
            "pdf": "PDF/A-1b",
            "xdm": "Archive IHE XDM (IHE_XDM.ZIP)",
        }[self.value]


class Provenance(StrEnum):
    """Where a document in the record comes from (SC.CDA/INT.08: visible without a click)."""

    PRODUCED = "produit"
    IMPORTED = "importe"
    DMP = "dmp"
    MSSANTE = "mssante"

    @property
    def label_fr(self) -> str:
        """French label."""
        return {"produit": "Produit ici", "importe": "Importé", "dmp": "DMP", "mssante": "MSSanté"}[self.value]


class DocumentStatus(StrEnum):
    """A produced document is a draft until it is validated, then frozen."""

    DRAFT = "brouillon"
    VALIDATED = "valide"

    @property
    def label_fr(self) -> str:
        """French label."""
        return {"brouillon": "Brouillon", "valide": "Validé"}[self.value]


class Confidentiality(StrEnum):
    """HL7 confidentiality of the CDA (JDV_J08: N, R, V)."""

    NORMAL = "N"
    RESTRICTED = "R"
    VERY_RESTRICTED = "V"

    @property
    def label_fr(self) -> str:
        """French label (the displayName of the value set)."""
        return {"N": "Normal", "R": "Restreint", "V": "Très restreint"}[self.value]


class ConfidentialityFlag(StrEnum):
    """Additional XDS confidentiality codes of JDV_J08 (codeSystem 1.2.250.1.213.1.1.4.13)."""

    HIDDEN_FROM_PROFESSIONALS = "MASQUE_PS"
    INVISIBLE_TO_PATIENT = "INVISIBLE_PATIENT"
    INVISIBLE_TO_LEGAL_REPRESENTATIVES = "INVISIBLE_REPRESENTANTS_LEGAUX"

    @property
    def label_fr(self) -> str:
        """French label (the displayName of the value set)."""
        return {
            "MASQUE_PS": "Masqué aux professionnels de santé",
            "INVISIBLE_PATIENT": "Non visible par le patient",
            "INVISIBLE_REPRESENTANTS_LEGAUX": "Non visible par les représentants légaux du patient",
        }[self.value]


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One editable field of a document kind."""

    key: str
    label: str
    multiline: bool = True
    required: bool = False
    choices: tuple[tuple[str, str], ...] = ()
    """(code, label) pairs when the field is a choice; the stored value is the code."""
    structured: bool = False
    """The value is JSON filled by a dedicated editor (e.g. the prescription lines): never a free-text box."""


@dataclass(frozen=True, slots=True)
class DocumentKind:
    """A document type (JDV_J07 typeCode) with what the software knows how to produce for it."""

    code: str
    code_system: str
    display_name: str
    """The value set's displayName (CDA ``code/@displayName``, XDS typeCode)."""
    title: str
    """Default title of a new document."""
    file_label: str
    """The ``<type>`` part of the PDF file name (ECO.2.1.6), ASCII with underscores."""
    fields: tuple[FieldSpec, ...]
    prescription: bool = False
    """Prescriptions carry no INS datamatrix (DOC/va1.04)."""
    n3_model: str | None = None
    """CI-SIS model the N3 rendering follows (e.g. "VAC-NOTE_2023.01"), None when only N1 exists."""
    n3_requires: str = ""
    """Key of a structured field that must be filled for the N3 to exist (``lignes`` of a prescription of
    health products: with free text only, the document is N1)."""

    @property
    def formats(self) -> tuple[DocumentFormat, ...]:
        """Formats this kind may be produced in (a document's own are ``HealthDocument.formats``)."""
        return formats_for(self.n3_model or "")

    def model_for(self, values: Mapping[str, str]) -> str:
        """The N3 model of a document of this kind with these field values ("" when it is N1 only)."""
        if not self.n3_model:
            return ""
        if self.n3_requires and not values.get(self.n3_requires, "").strip():
            return ""
        return self.n3_model

    def field(self, key: str) -> FieldSpec:
        """The field spec named ``key``.

        Raises:
            KeyError: unknown field.
        """
        for spec in self.fields:
            if spec.key == key:
                return spec
        raise KeyError(key)


_CARE = (
    FieldSpec("motif", "Motif de la prise en charge", required=True),
    FieldSpec("soins", "Soins réalisés", required=True),
    FieldSpec("observations", "Observations"),
    FieldSpec("conduite", "Conduite à tenir"),
)
_ASSESSMENT = (
    FieldSpec("motif", "Motif du bilan", required=True),
    FieldSpec("anamnese", "Anamnèse"),
    FieldSpec("examen", "Examen et évaluation", required=True),
    FieldSpec("conclusion", "Conclusion et objectifs", required=True),
)
_PRESCRIPTION = (
    FieldSpec("prescription", "Prescription", required=True),
    FieldSpec("duree", "Durée, nombre de séances", multiline=False),
    FieldSpec("mentions", "Mentions particulières"),
)

VACCINE_ROUTES = (
    ("20035000", "Voie intramusculaire"),
    ("20066000", "Voie sous-cutanée"),
    ("20030000", "Voie intradermique"),
    ("20053000", "Voie orale"),
    ("20020000", "Voie inhalée"),
)
"""EDQM routes of JDV_ImmunizationRouteCodes_CISIS offered in the form."""

VACCINE_SITES = (
    ("16217701000119102", "deltoïde gauche"),
    ("16217661000119109", "deltoïde droit"),
    ("61396006", "cuisse gauche"),
    ("11207009", "cuisse droite"),
    ("66480008", "avant-bras gauche"),
    ("64262003", "avant-bras droit"),
    ("", "Non précisé"),
)
"""SNOMED CT approach sites of JDV_ImmunizationApproachSiteCode_CISIS offered in the form."""

VACCINATION_ACTS = (
    ("INITIMMUNIZ", "1ère série vaccinante"),
    ("BOOSTER", "Rappel de vaccin"),
    ("IMMUNIZ", "Vaccination sans autre précision"),
)
"""JDV_HL7_ActSubstanceAdministrationImmunizationCode_CISIS (codeSystem 2.16.840.1.113883.5.4)."""

TROD_RESULTS = (("NEG", "Négatif"), ("POS", "Positif"), ("ININT", "Ininterprétable"))


@dataclass(frozen=True, slots=True)
class TrodTest:
    """A rapid diagnostic test the form offers: its LOINC code (ANS JDV_TrodExamen_CISIS,
    1.2.250.1.213.1.1.5.830, among those whose qualitative result the BIO-TROD schematron checks against
    JDV_ResultatDepistage_CISIS), what it screens for (CIM-10, the serviceEvent of the document) and the
    battery code of the BIO-TROD entry (LOINC, as in the ANS examples; the section is "Microbiologie")."""

    loinc: str
    label: str
    loinc_display: str
    target_code: str
    target_label: str
    battery: tuple[str, str] = ("92893-7", "Sérologie virale")


TROD_TESTS: tuple[TrodTest, ...] = (
    TrodTest(
        "80387-4",
        "VIH 1 et 2 (anticorps)",
        "VIH-1+2 Ac [Présence/Seuil] Sérum/Plasma/Sang ; Qualitatif ; Immunoanalyse rapide",
        "B24",
        "Immunodéficience humaine virale [VIH], sans précision",
    ),
    TrodTest(
        "72376-7",
        "Hépatite C (anticorps anti-VHC)",
        "Hépatite C virus Ac [Présence/Seuil] Sérum/Plasma/Sang ; Qualitatif ; Immunoanalyse rapide",
        "B18.2",
        "Hépatite virale chronique C",
    ),
    TrodTest(
        "75410-1",
        "Hépatite B (antigène HBs)",
        "Hépatite B virus surface Ag [Présence/Seuil] Sérum/Plasma/Sang ; Qualitatif ; Immunoanalyse rapide",
        "B18.1",
        "Hépatite virale chronique B sans agent delta",
    ),
    TrodTest(
        "78012-2",
        "Angine à streptocoque A",
        "Streptococcus pyogenes Ag [Présence/Seuil] Gorge ; Qualitatif ; Immunoanalyse rapide",
        "J02.0",
        "Pharyngite à streptocoques",
        battery=("92894-5", "Sérologie bactérienne"),
    ),
    TrodTest(
        "80382-5",
        "Grippe A",
        "Influenza virus A Ag [Présence/Seuil] Échantillon du système respiratoire supérieur ; Qualitatif ; "
        "Immunoanalyse rapide",
        "J10",
        "Grippe, à virus grippal saisonnier identifié",
    ),
    TrodTest(
        "80383-3",
        "Grippe B",
        "Influenza virus B Ag [Présence/Seuil] Échantillon du système respiratoire supérieur ; Qualitatif ; "
        "Immunoanalyse rapide",
        "J10",
        "Grippe, à virus grippal saisonnier identifié",
    ),
    TrodTest(
        "94558-4",
        "COVID-19 (antigène SARS-CoV-2)",
        "Coronavirus SARS-CoV-2 Ag [Présence/Seuil] Échantillon du système respiratoire ; Qualitatif ; "
        "Immunoanalyse rapide",
        "U07.1",
        "COVID-19, virus identifié",
    ),
)
"""The tests of the TROD form."""

TROD_RESULT_CODES = {
    "NEG": ("260385009", "négatif"),
    "POS": ("10828004", "positif"),
    "ININT": ("373068000", "indéterminé(e)"),
}
"""SNOMED CT codes of JDV_ResultatDepistage_CISIS (1.2.250.1.213.1.1.5.761) for the form's results."""


def trod_test(loinc: str) -> TrodTest | None:
    """The offered test with this LOINC code."""
    return next((t for t in TROD_TESTS if t.loinc == loinc), None)


DOCUMENT_KINDS: tuple[DocumentKind, ...] = (
    DocumentKind(
        "11506-3",
        LOINC,
        "CR ou fiche de suivi de soins par auxiliaire médical",
        "Fiche de suivi de soins",
        "Suivi_de_soins",
        _CARE,
    ),
    DocumentKind("34120-6", LOINC, "Bilan par professionnel de santé", "Bilan", "Bilan", _ASSESSMENT),
    DocumentKind(
        "47420-5",
        LOINC,
        "CR de bilan fonctionnel",
        "Compte rendu de bilan fonctionnel",
        "Bilan_fonctionnel",
        _ASSESSMENT,
    ),
    DocumentKind(
        "11488-4",
        LOINC,
        "CR ou fiche de consultation ou de visite",
        "Compte rendu de consultation",
        "CR_consultation",
        (
            FieldSpec("motif", "Motif de la consultation", required=True),
            FieldSpec("examen", "Examen clinique"),
            FieldSpec("conclusion", "Conclusion", required=True),
            FieldSpec("conduite", "Conduite à tenir"),
        ),
    ),
    DocumentKind(
        "96349-6",
        LOINC,
        "Lettre d'adressage",
        "Lettre d'adressage",
        "Lettre_adressage",
        (
            FieldSpec("destinataire", "Destinataire", multiline=False, required=True),
            FieldSpec("motif", "Motif de l'adressage", required=True),
            FieldSpec("corps", "Courrier", required=True),
            # The letter's rich body (sanitised HTML, domain/letters.py) written by the Courriers tab; the PDF
            # prints it when it matches ``corps`` (a later plain-text edit of ``corps`` wins).
            FieldSpec("corps_html", "Courrier mis en forme", structured=True),
        ),
    ),
    DocumentKind(
        "89601-9",
        LOINC,
        "Certificat médical",
        "Certificat",
        "Certificat",
        (FieldSpec("objet", "Objet", multiline=False, required=True), FieldSpec("corps", "Texte", required=True)),
    ),
    DocumentKind(
        "PRESC-KINE",
        ANS_LOCAL_TYPES,
        "Prescription d'actes de kinésithérapie",
        "Prescription d'actes de kinésithérapie",
        "Prescription_kine",
        _PRESCRIPTION,
        prescription=True,
    ),
    DocumentKind(
        "PRESC-INF",
        ANS_LOCAL_TYPES,
        "Prescription d'actes infirmiers",
        "Prescription d'actes infirmiers",
        "Prescription_infirmiere",
        _PRESCRIPTION,
        prescription=True,
    ),
    DocumentKind(
        "PRESC-PEDI",
        ANS_LOCAL_TYPES,
        "Prescription d'actes de pédicurie",
        "Prescription d'actes de pédicurie-podologie",
        "Prescription_pedicurie",
        _PRESCRIPTION,
        prescription=True,
    ),
    DocumentKind(
        "PRESC-ORTHOPHO",
        ANS_LOCAL_TYPES,
        "Prescription d'actes d'orthophonie",
        "Prescription d'actes d'orthophonie",
        "Prescription_orthophonie",
        _PRESCRIPTION,
        prescription=True,
    ),
    DocumentKind(
        "PRESC-ORTHOPTIE",
        ANS_LOCAL_TYPES,
        "Prescription d'actes d'orthoptie",
        "Prescription d'actes d'orthoptie",
        "Prescription_orthoptie",
        _PRESCRIPTION,
        prescription=True,
    ),
    DocumentKind(
        "PRESC-BIO",
        ANS_LOCAL_TYPES,
        "Prescription d'actes de biologie médicale",
        "Prescription d'examens de biologie médicale",
        "Prescription_biologie",
        _PRESCRIPTION,
        prescription=True,
    ),
    DocumentKind(
        "57833-6",
        LOINC,
        "Prescription de produits de santé",
        "Prescription de produits de santé",
        "Prescription_produits_sante",
        (
            FieldSpec("produits", "Produits de santé (un par ligne : nom, dosage, posologie, durée)"),
            FieldSpec("lignes", "Produits prescrits", structured=True),
            FieldSpec("mentions", "Mentions particulières"),
        ),
        prescription=True,
        n3_model="EP-MED-DM_2024.01",
        n3_requires="lignes",
    ),
    DocumentKind(
        "96173-0",
        LOINC,
        "Test rapide d'orientation diagnostique",
        "Résultat de test rapide d'orientation diagnostique (TROD)",
        "TROD",
        (
            FieldSpec(
                "test",
                "Test réalisé",
                multiline=False,
                required=True,
                choices=tuple((t.loinc, t.label) for t in TROD_TESTS),
            ),
            FieldSpec("resultat", "Résultat", multiline=False, required=True, choices=TROD_RESULTS),
            FieldSpec("dispositif", "Dispositif (fabricant, référence)", multiline=False),
            FieldSpec("lot", "Numéro de lot du test", multiline=False),
            FieldSpec("commentaire", "Commentaire et orientation"),
        ),
        n3_model="BIO-TROD_2024.01",
    ),
    DocumentKind(
        "87273-9",
        LOINC,
        "Note de vaccination",
        "NOTE DE VACCINATION",
        "Note_de_vaccination",
        (
            FieldSpec("acte", "Type d'acte", multiline=False, required=True, choices=VACCINATION_ACTS),
            FieldSpec("vaccin", "Vaccin (nom commercial)", multiline=False, required=True),
            FieldSpec("code_cis", "Code CIS du vaccin", multiline=False, required=True),
            FieldSpec("code_atc", "Code ATC", multiline=False, required=True),
            FieldSpec("libelle_atc", "Libellé ATC", multiline=False, required=True),
            FieldSpec("lot", "Numéro de lot", multiline=False, required=True),
            FieldSpec("rang", "Rang de l'injection", multiline=False),
            FieldSpec("voie", "Voie d'administration", multiline=False, required=True, choices=VACCINE_ROUTES),
            FieldSpec("site", "Région d'administration", multiline=False, choices=VACCINE_SITES),
            FieldSpec("commentaire", "Commentaire"),
        ),
        n3_model="VAC-NOTE_2023.01",
    ),
)

_KINDS = {kind.code: kind for kind in DOCUMENT_KINDS}


def formats_for(model: str) -> tuple[DocumentFormat, ...]:
    """Formats of a document with this N3 model ("" for an N1-only document)."""
    base = (DocumentFormat.CDA_N1, DocumentFormat.PDF, DocumentFormat.XDM)
    return (DocumentFormat.CDA_N3, *base) if model else base


# -- prescription lines (57833-6, eP-MED-DM) ------------------------------------------------------------
LINE_KEYS = (
    "libelle",
    "cis",
    "cip13",
    "atc",
    "lpp",
    "posologie",
    "duree_jours",
    "quantite",
    "renouvellements",
    "non_substituable",
)
"""The keys of one prescription line, exactly (the contract with the prescription editor)."""

OPTIONAL_LINE_KEYS = ("ald",)
"""Keys a line may carry in addition: ``ald`` (bool), the line relates to the patient's affection de longue durée
(ordonnance bizone; the eP-MED-DM "En rapport avec une ALD" flag). Absent means false (lines written before)."""

MAX_LINES = 30


@dataclass(frozen=True, slots=True)
class PrescriptionLine:
    """One line of a prescription of health products: a medicine (CIS/CIP13) or a device (LPP), or a
    product without a code (free-text product)."""

    libelle: str
    cis: str = ""
    cip13: str = ""
    atc: str = ""
    lpp: str = ""
    posologie: str = ""
    duree_jours: int | None = None
    quantite: str = ""
    renouvellements: int = 0
    non_substituable: bool = False
    ald: bool = False
    """In relation to the patient's affection de longue durée (upper zone of an ordonnance bizone)."""

    @property
    def is_device(self) -> bool:
        """A medical device: coded LPP and no medicine code."""
        return bool(self.lpp) and not (self.cis or self.cip13)

    def as_json(self) -> dict[str, object]:
        """The line as a JSON object with ``LINE_KEYS`` and ``ald``."""
        return {key: getattr(self, key) for key in (*LINE_KEYS, *OPTIONAL_LINE_KEYS)}

    def summary(self) -> str:
        """One readable French line (PDF, lists): product, posology, duration, quantity, renewals."""
        parts = [self.libelle]
        if self.posologie:
            parts.append(self.posologie)
        if self.duree_jours:
            parts.append(f"pendant {self.duree_jours} jour{'s' if self.duree_jours > 1 else ''}")
        if self.quantite:
            parts.append(f"quantité : {self.quantite}")
        if self.renouvellements:
            parts.append(f"à renouveler {self.renouvellements} fois")
        if self.non_substituable:
            parts.append("non substituable")
        return " — ".join(parts)


def _line_errors(position: int, raw: object) -> tuple[PrescriptionLine | None, list[str]]:
    where = f"Ligne {position}"
    if not isinstance(raw, dict):
        return None, [f"{where} : un objet est attendu."]
    problems: list[str] = []
    missing = [k for k in LINE_KEYS if k not in raw]
    extra = sorted(k for k in raw if k not in LINE_KEYS and k not in OPTIONAL_LINE_KEYS)
    if missing:
        problems.append(f"{where} : champ(s) manquant(s) : {', '.join(missing)}.")
    if extra:
        problems.append(f"{where} : champ(s) inconnu(s) : {', '.join(extra)}.")
    if problems:
        return None, problems
    texts: dict[str, str] = {}
    for key in ("libelle", "cis", "cip13", "atc", "lpp", "posologie", "quantite"):
        value = raw[key]
        if not isinstance(value, str):
            problems.append(f"{where} : « {key} » doit être un texte.")
            continue
        texts[key] = _clean_text(value).replace("\n", " ") if key != "posologie" else _clean_text(value)
    duration = raw["duree_jours"]
    if duration is not None and (isinstance(duration, bool) or not isinstance(duration, int)):
        problems.append(f"{where} : la durée doit être un nombre de jours ou vide.")
    elif duration is not None and not 0 < duration <= 3650:
        problems.append(f"{where} : la durée doit être comprise entre 1 et 3650 jours.")
    renewals = raw["renouvellements"]
    if isinstance(renewals, bool) or not isinstance(renewals, int):
        problems.append(f"{where} : le nombre de renouvellements doit être un nombre entier.")
    elif not 0 <= renewals <= 12:
        problems.append(f"{where} : le nombre de renouvellements doit être compris entre 0 et 12.")
    if not isinstance(raw["non_substituable"], bool):
        problems.append(f"{where} : « non_substituable » doit valoir vrai ou faux.")
    if not isinstance(raw.get("ald", False), bool):
        problems.append(f"{where} : « ald » doit valoir vrai ou faux.")
    if problems:
        return None, problems
    if not texts["libelle"]:
        problems.append(f"{where} : le libellé du produit est obligatoire.")
    elif len(texts["libelle"]) > 300:
        problems.append(f"{where} : libellé de 300 caractères au plus.")
    if texts["cis"] and not re.fullmatch(r"[0-9]{8}", texts["cis"]):
        problems.append(f"{where} : code CIS : 8 chiffres.")
    if texts["cip13"] and not re.fullmatch(r"[0-9]{13}", texts["cip13"]):
        problems.append(f"{where} : code CIP : 13 chiffres.")
    if texts["atc"] and not re.fullmatch(r"[A-Z][0-9]{2}[A-Z]{0,2}[0-9]{0,2}", texts["atc"]):
        problems.append(f"{where} : code ATC : forme attendue N02BE01.")
    if texts["lpp"] and not re.fullmatch(r"[0-9]{7}", texts["lpp"]):
        problems.append(f"{where} : code LPP : 7 chiffres.")
    device = bool(texts["lpp"]) and not (texts["cis"] or texts["cip13"])
    if not device and not texts["posologie"]:
        problems.append(f"{where} : la posologie est obligatoire pour un médicament.")
    if len(texts["posologie"]) > 1000 or len(texts["quantite"]) > 100:
        problems.append(f"{where} : posologie (1000 caractères) ou quantité (100 caractères) trop longue.")
    if problems:
        return None, problems
    line = PrescriptionLine(
        libelle=texts["libelle"],
        cis=texts["cis"],
        cip13=texts["cip13"],
        atc=texts["atc"],
        lpp=texts["lpp"],
        posologie=texts["posologie"],
        duree_jours=duration,
        quantite=texts["quantite"],
        renouvellements=renewals,
        non_substituable=raw["non_substituable"],
        ald=bool(raw.get("ald", False)),
    )
    return line, []


def parse_prescription_lines(text: str) -> tuple[PrescriptionLine, ...]:
    """The prescription lines of a ``lignes`` field ("" → no line).

    Raises:
        InvalidInput: keyed ``lignes``, every problem in one French message.
    """
    if not text.strip():
        return ()
    try:
        raw = json.loads(text)
    except ValueError:
        raise InvalidInput({"lignes": "Lignes de prescription illisibles (JSON attendu)."}) from None
    if not isinstance(raw, list):
        raise InvalidInput({"lignes": "Lignes de prescription : une liste de lignes est attendue."})
    if len(raw) > MAX_LINES:
        raise InvalidInput({"lignes": f"Lignes de prescription : {MAX_LINES} lignes au plus."})
    lines: list[PrescriptionLine] = []
    problems: list[str] = []
    for position, item in enumerate(raw, start=1):
        line, errors = _line_errors(position, item)
        problems += errors
        if line is not None:
            lines.append(line)
    if problems:
        raise InvalidInput({"lignes": " ".join(problems[:10])})
    return tuple(lines)


def prescription_lines_json(lines: Iterable[PrescriptionLine]) -> str:
    """The ``lignes`` field value of these lines ("" when there is none)."""
    items = [line.as_json() for line in lines]
    return json.dumps(items, ensure_ascii=False) if items else ""


def document_lines(doc: HealthDocument) -> tuple[PrescriptionLine, ...]:
    """The prescription lines of a document (none when the field is empty, absent or unreadable)."""
    try:
        return parse_prescription_lines(doc.value("lignes"))
    except InvalidInput:
        return ()


def document_kind(code: str) -> DocumentKind:
    """The kind with this typeCode.

    Raises:
        InvalidInput: unknown type (French message).
    """
    try:
        return _KINDS[code]
    except KeyError:
        raise InvalidInput({"type_code": f"Type de document inconnu : {code}."}) from None


def known_kind(code: str) -> DocumentKind | None:
    """The kind with this typeCode, or None (imported documents may have any JDV_J07 type)."""
    return _KINDS.get(code)


PROFESSION_CODES: Mapping[Profession, tuple[str, str]] = {
    Profession.NURSE: ("G15_60", "Infirmier"),
    Profession.ADVANCED_PRACTICE_NURSE: (
        "G15_60/SI01",
        "Infirmier - Exercice infirmier en pratique avancée pathologies chroniques stabilisées (SI)",
    ),
    Profession.MIDWIFE: ("G15_50", "Sage-Femme"),
    Profession.PHYSIOTHERAPIST: ("G15_70", "Masseur-Kinésithérapeute"),
    Profession.SPEECH_THERAPIST: ("G15_91", "Orthophoniste"),
    Profession.ORTHOPTIST: ("G15_92", "Orthoptiste"),
    Profession.PODIATRIST: ("G15_80", "Pédicure-Podologue"),
}
"""Profession (and speciality) codes of JDV_J01_XdsAuthorSpecialty_CISIS (codeSystem 1.2.250.1.213.1.1.4.5)."""


@dataclass(frozen=True, slots=True)
class PatientSnapshot:
    """The patient's identity as written in the document when it was produced (or read from an import).

    ``ins_matricule``/``ins_oid`` are set only for a qualified identity (rule 28): the INS then goes in the
    CDA recordTarget and the datamatrix; otherwise the traits alone identify the patient.
    """

    record_id: str
    """Numéro de dossier (local patient id), used in the PDF file name."""
    birth_name: str
    birth_given_names: tuple[str, ...]
    sex: str
    """F, M or I."""
    birth_date: dt.date | None
    birth_place_code: str
    used_name: str = ""
    used_given_name: str = ""
    identity_status: str = IdentityStatus.PROVISIONAL.value
    ins_matricule: str = ""
    ins_oid: str = ""
    address_lines: tuple[str, ...] = ()
    postal_code: str = ""
    city: str = ""

    @property
    def first_given_name(self) -> str:
        """1er prénom de naissance."""
        return self.birth_given_names[0] if self.birth_given_names else ""

    @property
    def qualified(self) -> bool:
        """True when the INS may be written in the document."""
        return bool(self.ins_matricule) and self.identity_status == IdentityStatus.QUALIFIED.value

    @property
    def display_name(self) -> str:
        """Used name and first name, then the birth name if different ("MARTIN Léa née DUPONT")."""
        family = self.used_name or self.birth_name
        given = self.used_given_name or self.first_given_name
        text = f"{family} {given}".strip()
        if self.used_name and self.used_name != self.birth_name:
            text += f" (né(e) {self.birth_name})"
        return text


def snapshot_of(patient: Patient) -> PatientSnapshot:
    """Snapshot a patient's identity for a document (the INS only when it may be transmitted)."""
    identity: Identity = patient.identity
    traits = identity.traits
    ins = identity.transmittable_ins
    return PatientSnapshot(
        record_id=str(patient.id or ""),
        birth_name=traits.birth_name,
        birth_given_names=traits.birth_given_names,
        sex=traits.sex.value if traits.sex else "I",
        birth_date=traits.birth_date,
        birth_place_code=traits.birth_place_code,
        used_name=traits.used_name,
        used_given_name=traits.used_given_name,
        identity_status=identity.status.value,
        ins_matricule=ins.matricule if ins else "",
        ins_oid=ins.oid if ins else "",
        address_lines=patient.contact.address_lines,
        postal_code=patient.contact.postal_code,
        city=patient.contact.city,
    )


@dataclass(frozen=True, slots=True)
class AuthorInfo:
    """The author (and legal authenticator) of a produced document, and the structure it belongs to."""

    national_id: str
    """Identifiant national PS: "8" + RPPS (root 1.2.250.1.71.4.2.1)."""
    given_name: str
    family_name: str
    profession_code: str
    profession_label: str
    structure_id: str
    """Identifiant national de structure (root 1.2.250.1.71.4.2.2)."""
    structure_name: str
    structure_kind: str = StructureKind.INDIVIDUAL_PRACTICE.value
    address: str = ""
    phone: str = ""

    @property
    def display_name(self) -> str:
        """ "Prénom NOM"."""
        return f"{self.given_name} {self.family_name}".strip()

    @property
    def facility_code(self) -> tuple[str, str]:
        """healthCareFacility code (JDV_J02): SA07 cabinet individuel or SA05 centre de santé."""
        if self.structure_kind == StructureKind.NURSING_HEALTH_CENTRE.value:
            return ("SA05", "Centre de santé")
        return ("SA07", "Cabinet individuel")


def author_of(user: UserAccount, structure: Structure | None) -> AuthorInfo:
    """Build the author block of a document from the signed-in practitioner and their structure.

    Raises:
        PermissionDenied: the user is not a health professional with an RPPS number.
    """
    if user.profession is None or not user.rpps:
        raise PermissionDenied(
            "Seul un professionnel de santé identifié (profession et RPPS renseignés) peut rédiger un document."
        )
    code, label = PROFESSION_CODES[user.profession]
    given, family = split_display_name(user.display_name)
    # With a FINESS: "1" + FINESS; a liberal practice without one: the practitioner's own number ("4" + RPPS).
    structure_id = "1" + structure.finess if structure is not None and structure.finess else "4" + user.rpps
    return AuthorInfo(
        national_id="8" + user.rpps,
        given_name=given,
        family_name=family,
        profession_code=code,
        profession_label=label,
        structure_id=structure_id,
        structure_name=structure.name if structure else user.display_name,
        structure_kind=structure.kind.value if structure else StructureKind.INDIVIDUAL_PRACTICE.value,
        address=structure.address if structure else "",
    )


def split_display_name(display_name: str) -> tuple[str, str]:
    """Split "Camille DURAND (IDE)" into ("Camille", "DURAND"): upper-case words are the family name."""
    text = re.sub(r"\(.*?\)", "", display_name).strip()
    words = text.split()
    family = [w for w in words if w.isupper() and len(w) > 1]
    given = [w for w in words if w not in family]
    if not family and words:
        family = [words[-1]]
        given = words[:-1]
    return " ".join(given), " ".join(family)


def new_oid() -> str:
    """A new globally unique OID derived from a random UUID (ITU-T X.667 arc 2.25)."""
    return f"2.25.{uuid.uuid4().int}"


def is_valid_root(root: str) -> bool:
    """True for an OID or a UUID (what CDA ``id/@root`` may hold)."""
    if _OID.match(root):
        return True
    try:
        uuid.UUID(root)
    except ValueError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class DocumentKey:
    """What the duplicate and version rules look at (SC.CDA/INT.01-03)."""

    document_id: str
    set_id: str
    version: int


class DuplicateVerdict(StrEnum):
    """What to do with a received document given those already in the record."""

    NEW = "nouveau"
    SAME_DOCUMENT = "deja_present"
    REPLACES_OLDER = "remplace_ancienne_version"
    OLDER_THAN_PRESENT = "version_plus_recente_presente"

    @property
    def integrable(self) -> bool:
        """True when the document may be integrated (as new, or replacing an older version)."""
        return self in (DuplicateVerdict.NEW, DuplicateVerdict.REPLACES_OLDER)

    @property
    def message_fr(self) -> str:
        """What the user reads."""
        return {
            "nouveau": "Nouveau document.",
            "deja_present": "Ce document est déjà dans le dossier (même identifiant) : il n'est pas intégré.",
            "remplace_ancienne_version": (
                "Une version plus ancienne de ce document est dans le dossier : la nouvelle version la remplace "
                "et l'ancienne reste consultable dans l'historique."
            ),
            "version_plus_recente_presente": (
                "Une version plus récente de ce document est déjà dans le dossier : il n'est pas intégré."
            ),
        }[self.value]


@dataclass(frozen=True, slots=True)
class DuplicateCheck:
    """The verdict and the document it concerns in the record (the one replaced, or the newer one)."""

    verdict: DuplicateVerdict
    existing: DocumentKey | None = None


def check_duplicate(incoming: DocumentKey, present: Iterable[DocumentKey]) -> DuplicateCheck:
    """Apply the duplicate rules on id, setId and versionNumber.

    Same id ⇒ not integrated; same setId and a lower version present ⇒ replace it (history kept); same setId
    and an equal or higher version present ⇒ not integrated.
    """
    same_set: list[DocumentKey] = []
    for key in present:
        if key.document_id == incoming.document_id:
            return DuplicateCheck(DuplicateVerdict.SAME_DOCUMENT, key)
        if key.set_id == incoming.set_id:
            same_set.append(key)
    if not same_set:
        return DuplicateCheck(DuplicateVerdict.NEW)
    latest = max(same_set, key=lambda k: k.version)
    if latest.version >= incoming.version:
        return DuplicateCheck(DuplicateVerdict.OLDER_THAN_PRESENT, latest)
    return DuplicateCheck(DuplicateVerdict.REPLACES_OLDER, latest)


@dataclass(frozen=True, slots=True)
class HealthDocument:
    """One health document: the single source every rendering (N1, N3, PDF/A, XDM) is produced from.

    Produced documents carry their fields; imported ones carry what was read from their CDA header and keep
    the received file as is.
    """

    id: int | None
    patient_id: int
    type_code: str
    type_system: str
    type_display: str
    title: str
    patient: PatientSnapshot
    author: AuthorInfo | None
    act_date: dt.datetime
    fields: tuple[tuple[str, str], ...]
    document_id: str
    set_id: str
    version: int = 1
    created_at: dt.datetime | None = None
    confidentiality: Confidentiality = Confidentiality.NORMAL
    flags: tuple[ConfidentialityFlag, ...] = ()
    provenance: Provenance = Provenance.PRODUCED
    status: DocumentStatus = DocumentStatus.DRAFT
    validated_at: dt.datetime | None = None
    validated_by: str = ""
    replaces_document_id: str = ""
    """``relatedDocument[@typeCode='RPLC']/parentDocument/id/@root`` of this version."""
    author_name: str = ""
    """For imported documents: the author as read from the CDA."""
    sent_dmp: bool = False
    sent_mss: bool = False
    superseded: bool = False
    """A newer version of this document is in the record."""
    source_format: str = ""
    """"n1", "n3" or "pdf" for an imported document; "" for a produced one."""
    model: str = ""
    """CI-SIS model of an N3 document (produced or imported)."""
    row_version: int = 0

    @property
    def kind(self) -> DocumentKind | None:
        """The kind when the software knows the type (always for produced documents)."""
        return known_kind(self.type_code)

    @property
    def key(self) -> DocumentKey:
        """Id, setId and version."""
        return DocumentKey(self.document_id, self.set_id, self.version)

    @property
    def formats(self) -> tuple[DocumentFormat, ...]:
        """Formats this document exists in (the N3 only with a model: a prescription of health products with
        structured lines, not one in free text; a document received in N1 has no N3)."""
        if self.provenance is not Provenance.PRODUCED:  # a received file is exported as received
            if self.source_format == "pdf":
                return (DocumentFormat.PDF,)
            cda = DocumentFormat.CDA_N3 if self.source_format == "n3" else DocumentFormat.CDA_N1
            return (cda, DocumentFormat.PDF, DocumentFormat.XDM)
        return formats_for(self.model)

    @property
    def frozen(self) -> bool:
        """Validated and imported documents never change."""
        return self.status is DocumentStatus.VALIDATED or self.provenance is not Provenance.PRODUCED

    def value(self, key: str) -> str:
        """The value of a field ("" when absent)."""
        for name, text in self.fields:
            if name == key:
                return text
        return ""

    @property
    def author_display(self) -> str:
        """Author as shown in the list."""
        return self.author.display_name if self.author else self.author_name

    def with_fields(self, values: Mapping[str, str]) -> HealthDocument:
        """Return a copy with some fields replaced (unknown keys refused).

        Raises:
            PermissionDenied: the document is frozen.
            InvalidInput: unknown field or text too long.
        """
        self._require_editable()
        kind = self.kind
        known = {spec.key for spec in kind.fields} if kind else {name for name, _ in self.fields}
        errors: dict[str, str] = {}
        current = dict(self.fields)
        for name, text in values.items():
            if name not in known:
                errors[name] = f"Champ inconnu : {name}."
                continue
            cleaned = _clean_text(text)
            if len(cleaned) > MAX_BODY_LENGTH:
                errors[name] = f"{MAX_BODY_LENGTH} caractères au plus."
            elif name == "lignes":
                try:
                    cleaned = prescription_lines_json(parse_prescription_lines(cleaned))
                except InvalidInput as exc:
                    errors.update(exc.field_errors)
            current[name] = cleaned
        if errors:
            raise InvalidInput(errors)
        if kind is None:
            return replace(self, fields=tuple(current.items()))
        ordered = tuple((spec.key, current.get(spec.key, "")) for spec in kind.fields)
        return replace(self, fields=ordered, model=kind.model_for(current))

    def edited(
        self,
        *,
        title: str | None = None,
        act_date: dt.datetime | None = None,
        confidentiality: Confidentiality | None = None,
        flags: tuple[ConfidentialityFlag, ...] | None = None,
        values: Mapping[str, str] | None = None,
    ) -> HealthDocument:
        """Return a copy with header fields and body fields changed (draft only).

        Raises:
            PermissionDenied: the document is frozen. InvalidInput: bad title or field.
        """
        self._require_editable()
        doc = self.with_fields(values) if values else self
        changes: dict[str, object] = {}
        if title is not None:
            cleaned = _clean_text(title).replace("\n", " ").strip()
            if not cleaned:
                raise InvalidInput({"title": "Le titre du document est obligatoire."})
            if len(cleaned) > 200:
                raise InvalidInput({"title": "Titre : 200 caractères au plus."})
            changes["title"] = cleaned
        if act_date is not None:
            changes["act_date"] = act_date
        if confidentiality is not None:
            changes["confidentiality"] = confidentiality
        if flags is not None:
            changes["flags"] = tuple(dict.fromkeys(flags))
        return replace(doc, **changes)  # type: ignore[arg-type]

    def problems(self, today: dt.date) -> dict[str, str]:
        """What prevents validation, keyed by field (empty when the document may be validated)."""
        errors: dict[str, str] = {}
        kind = self.kind
        if kind is None:
            return {"type_code": f"Type de document inconnu : {self.type_code}."}
        if not self.title.strip():
            errors["title"] = "Le titre du document est obligatoire."
        if self.act_date.date() > today:
            errors["act_date"] = "La date de l'acte ne peut pas être dans le futur."
        for spec in kind.fields:
            text = self.value(spec.key).strip()
            if spec.required and not text:
                errors[spec.key] = f"{spec.label} : champ obligatoire."
            elif spec.choices and text and text not in {code for code, _ in spec.choices}:
                errors[spec.key] = f"{spec.label} : valeur non proposée."
        if kind.code == "57833-6":
            try:
                lines = parse_prescription_lines(self.value("lignes"))
            except InvalidInput as exc:
                errors.update(exc.field_errors)
                lines = ()
            if not lines and not self.value("produits").strip() and "lignes" not in errors:
                errors["produits"] = "Indiquez au moins un produit de santé (lignes de prescription ou texte)."
        if kind.n3_model == "VAC-NOTE_2023.01":
            cis = self.value("code_cis").strip()
            if cis and not re.fullmatch(r"[0-9]{8}", cis):
                errors["code_cis"] = "Code CIS : 8 chiffres."
            atc = self.value("code_atc").strip()
            if atc and not re.fullmatch(r"[A-Z][0-9]{2}[A-Z]{0,2}[0-9]{0,2}", atc):
                errors["code_atc"] = "Code ATC : forme attendue J07BB02."
            rank = self.value("rang").strip()
            if rank and not (rank.isdigit() and 0 < int(rank) < 20):
                errors["rang"] = "Rang : un nombre entre 1 et 19."
        if self.author is None:
            errors["author"] = "Le document n'a pas d'auteur."
        return errors

    def validate(self, *, at: dt.datetime, actor: str, patient: PatientSnapshot) -> HealthDocument:
        """Freeze the document (the identity snapshot is taken again at this moment).

        Raises:
            PermissionDenied: already validated or not produced here. InvalidInput: required fields missing.
        """
        self._require_editable()
        errors = self.problems(at.date())
        if errors:
            raise InvalidInput(errors)
        return replace(self, status=DocumentStatus.VALIDATED, validated_at=at, validated_by=actor, patient=patient)

    def next_version(self, *, at: dt.datetime, author: AuthorInfo, patient: PatientSnapshot) -> HealthDocument:
        """A new draft version that will replace this validated one (RPLC, same setId, version + 1).

        Raises:
            PermissionDenied: this document is not a validated document produced here, or is superseded.
        """
        if self.provenance is not Provenance.PRODUCED or self.status is not DocumentStatus.VALIDATED:
            raise PermissionDenied(
                "Seul un document validé produit dans ce logiciel peut faire l'objet d'une nouvelle version."
            )
        if self.superseded:
            raise PermissionDenied(
                "Une version plus récente de ce document existe déjà : modifiez la dernière version."
            )
        return replace(
            self,
            id=None,
            document_id=new_oid(),
            version=self.version + 1,
            replaces_document_id=self.document_id,
            status=DocumentStatus.DRAFT,
            validated_at=None,
            validated_by="",
            created_at=at,
            author=author,
            patient=patient,
            sent_dmp=False,
            sent_mss=False,
            superseded=False,
            row_version=0,
        )

    def _require_editable(self) -> None:
        if self.provenance is not Provenance.PRODUCED:
            raise PermissionDenied("Un document importé ne peut pas être modifié.")
        if self.status is DocumentStatus.VALIDATED:
            raise PermissionDenied(
                "Ce document est validé : il ne peut plus être modifié. Créez une nouvelle version pour le corriger."
            )


def new_draft(
    kind: DocumentKind,
    *,
    patient_id: int,
    patient: PatientSnapshot,
    author: AuthorInfo,
    at: dt.datetime,
    values: Mapping[str, str] | None = None,
) -> HealthDocument:
    """A new draft of ``kind`` (new id and setId, version 1).

    Raises:
        InvalidInput: structured prescription lines that do not follow the ``lignes`` contract.
    """
    preset = dict(values or {})
    fields = tuple((spec.key, _clean_text(preset.get(spec.key, ""))) for spec in kind.fields)
    if any(key == "lignes" and text for key, text in fields):
        fields = tuple(
            (key, prescription_lines_json(parse_prescription_lines(text)) if key == "lignes" else text)
            for key, text in fields
        )
    return HealthDocument(
        id=None,
        patient_id=patient_id,
        type_code=kind.code,
        type_system=kind.code_system,
        type_display=kind.display_name,
        title=kind.title,
        patient=patient,
        author=author,
        act_date=at,
        fields=fields,
        document_id=new_oid(),
        set_id=new_oid(),
        created_at=at,
        model=kind.model_for(dict(fields)),
    )


def field_display(doc: HealthDocument, key: str) -> str:
    """A field's value as shown to people (the label of a choice rather than its code)."""
    text = doc.value(key)
    kind = doc.kind
    if kind is None:
        return text
    try:
        spec = kind.field(key)
    except KeyError:
        return text
    for code, label in spec.choices:
        if code == text:
            return label
    return text


def pdf_file_name(doc: HealthDocument) -> str:
    """``<date de l'acte>_<type>_<NOM>_<prenom>_<dossier>.pdf`` (ECO.2.1.6), ASCII, no spaces."""
    kind = doc.kind
    label = kind.file_label if kind else _ascii_token(doc.type_display or doc.type_code)
    parts = [
        doc.act_date.strftime("%Y%m%d"),
        label,
        _ascii_token(doc.patient.birth_name).upper(),
        _ascii_token(doc.patient.first_given_name).capitalize(),
        _ascii_token(doc.patient.record_id) or "0",
    ]
    return "_".join(p for p in parts if p) + ".pdf"


def _ascii_token(text: str) -> str:
    from domain.text import strip_accents

    folded = strip_accents(text)
    return re.sub(r"[^A-Za-z0-9]+", "_", folded).strip("_")


def _clean_text(text: str) -> str:
    cleaned = text.replace("\r\n", "\n").replace("\r", "\n")
    return "".join(ch for ch in cleaned if ch in "\n\t" or (ord(ch) >= 32 and ord(ch) != 127)).strip()


@dataclass(frozen=True, slots=True)
class DocumentRow:
    """One line of the patient's document list (no content: the list opens fast with 1,000 documents)."""

    id: int
    type_code: str
    type_display: str
    title: str
    act_date: dt.datetime
    author: str
    provenance: Provenance
    status: DocumentStatus
    version: int
    superseded: bool
    sent_dmp: bool
    sent_mss: bool
    has_structured_body: bool
    """True for an N3 (shown on one line with its PDF copy, SC.CDA/DD.15)."""
    confidentiality: Confidentiality = Confidentiality.NORMAL


@dataclass(frozen=True, slots=True)
class StoredContent:
    """The stored renderings of a document (bytes as produced or received)."""

    cda: bytes | None = None
    pdf: bytes | None = None


@dataclass(frozen=True, slots=True)
class ImportOutcome:
    """What happened to one received document."""

    file_name: str
    verdict: DuplicateVerdict | None
    document_id: int | None
    message_fr: str
    title: str = ""


@dataclass(frozen=True, slots=True)
class IdentityMatch:
    """How a received document's patient compares to the record's patient."""

    matches: bool
    by_ins: bool
    reason_fr: str = ""


def match_patient(snapshot: PatientSnapshot, patient: Patient) -> IdentityMatch:
    """Compare a received document's patient with the record: by INS when the document carries one and the
    record's identity is qualified, else by traits.

    The traits compared are the birth name, the first birth first name, the birth date and the sex.
    """
    from domain.text import search_key

    identity = patient.identity
    traits = identity.traits
    record_ins = identity.transmittable_ins  # an INS not qualified in the record proves nothing
    if snapshot.ins_matricule and record_ins is not None:
        if snapshot.ins_matricule == record_ins.matricule:
            return IdentityMatch(True, True)
        return IdentityMatch(False, True, "le matricule INS du document n'est pas celui du patient")
    problems: list[str] = []
    if search_key(snapshot.birth_name) != search_key(traits.birth_name):
        problems.append("nom de naissance")
    if search_key(snapshot.first_given_name) != search_key(traits.first_birth_given_name):
        problems.append("premier prénom de naissance")
    if snapshot.birth_date != traits.birth_date:
        problems.append("date de naissance")
    if traits.sex is not None and snapshot.sex and snapshot.sex != traits.sex.value:
        problems.append("sexe")
    if problems:
        return IdentityMatch(False, False, "traits différents : " + ", ".join(problems))
    return IdentityMatch(True, False)


@dataclass(frozen=True, slots=True)
class DocumentSettings:
    """Practice settings for produced documents."""

    rgpd_footer: str = (
        "Les données de ce document sont traitées par votre professionnel de santé pour votre prise en charge "
        "(art. 6.1.c et 9.2.h du RGPD). Vous pouvez exercer vos droits d'accès et de rectification auprès de "
        "lui."
    )
    extra: dict[str, str] = field(default_factory=dict)
