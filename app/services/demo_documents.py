"""Demo health documents: every document type for a few demo patients, with versions and imported ones."""

from __future__ import annotations

import datetime as dt
import json
import logging

from app.services.documents import DocumentService
from app.services.patients import PatientService
from domain.documents import (
    DOCUMENT_KINDS,
    AuthorInfo,
    DocumentFormat,
    PatientSnapshot,
    Provenance,
    document_kind,
    new_draft,
)
from domain.errors import DomainError
from domain.identity import IdentityStatus

log = logging.getLogger("lgc.demo")

KIND_VALUES = {
    "96173-0": {
        "commentaire": "Résultat négatif expliqué ; fenêtre de séroconversion rappelée (nouveau test à 6 semaines "
        "si exposition récente). Orientation vers le CeGIDD proposée.",
    },
}
"""Values of one kind where the shared demo value would read oddly (the TROD's comment is not a vaccine's)."""

DEMO_VALUES = {
    "acte": "INITIMMUNIZ",
    "vaccin": "GARDASIL 9, suspension injectable en seringue préremplie",
    "code_cis": "63168294",
    "code_atc": "J07BM03",
    "libelle_atc": "Vaccin papillomavirus",
    "lot": "U012345",
    "rang": "1",
    "voie": "20035000",
    "site": "16217701000119102",
    "commentaire": "Pas de réaction immédiate. Surveillance 15 minutes.",
    "motif": "Suivi de soins à domicile après une intervention.",
    "soins": "Pansement simple, surveillance de la cicatrice.\n\nÉducation du patient aux signes d'alerte.",
    "observations": "Cicatrice propre, pas de signe infectieux.",
    "conduite": "Prochain passage dans 48 heures.",
    "anamnese": "Douleurs lombaires depuis trois semaines.",
    "examen": "Mobilité réduite en flexion, pas de déficit neurologique.",
    "conclusion": "Lombalgie commune ; rééducation indiquée.",
    "prescription": "Séances de soins selon le protocole habituel.",
    "duree": "10 séances",
    "destinataire": "Dr Jean DUPUIS, médecin traitant",
    "corps": "Cher confrère,\n\nJe vous adresse ce patient pour avis. Je reste à votre disposition.",
    "objet": "Certificat de suivi",
    "test": "80387-4",
    "dispositif": "Bionysex | réf. 8029",
    "resultat": "NEG",
    "produits": "",
    "lignes": json.dumps(
        [
            {
                "libelle": "PARACETAMOL MYLAN 500 mg, comprimé",
                "cis": "63107752",
                "cip13": "3400933516390",
                "atc": "N02BE01",
                "lpp": "",
                "posologie": "1 à 2 comprimés jusqu'à 3 fois par jour, 6 heures au moins entre deux prises",
                "duree_jours": 5,
                "quantite": "1 boîte",
                "renouvellements": 0,
                "non_substituable": False,
            },
            {
                "libelle": "Sérum physiologique, unidoses de 5 ml",
                "cis": "",
                "cip13": "",
                "atc": "",
                "lpp": "",
                "posologie": "Lavage du nez du nouveau-né avant chaque tétée",
                "duree_jours": 10,
                "quantite": "1 boîte de 40",
                "renouvellements": 1,
                "non_substituable": False,
            },
        ],
        ensure_ascii=False,
    ),
}
"""Field values of the demo documents (the prescription of health products has structured lines: its N3)."""

GP = AuthorInfo(
    national_id="810000000001",
    given_name="Jean",
    family_name="DUPUIS",
    profession_code="G15_10/SM26",
    profession_label="Médecin - Qualifié en Médecine Générale (SM)",
    structure_id="410000000001",
    structure_name="Cabinet médical du Parc",
    address="2 allée du Parc, Reims",
)
PHYSIO = AuthorInfo(
    national_id="810000000028",
    given_name="Paul",
    family_name="GIRARD",
    profession_code="G15_70",
    profession_label="Masseur-Kinésithérapeute",
    structure_id="410000000028",
    structure_name="Cabinet de kinésithérapie Girard",
)
RECEIVED = (
    (
        "11488-4",
        GP,
        Provenance.IMPORTED,
        {
            "motif": "Lombalgie du post-partum.",
            "examen": "Pas de signe de gravité.",
            "conclusion": "Rééducation indiquée ; avis de la sage-femme demandé.",
        },
    ),
    (
        "47420-5",
        PHYSIO,
        Provenance.DMP,
        {
            "motif": "Bilan de rééducation lombaire.",
            "examen": "Raideur lombaire, testing musculaire 4/5.",
            "conclusion": "10 séances de rééducation.",
        },
    ),
    (
        "96349-6",
        GP,
        Provenance.MSSANTE,
        {
            "destinataire": "Léa MOREAU, sage-femme",
            "motif": "Suivi de grossesse",
            "corps": "Chère consœur,\n\nJe vous adresse ma patiente pour la suite de son suivi de grossesse.",
        },
    ),
)
"""Documents "received" by the demo record, one per provenance (file import, DMP, MSSanté): produced as N1 by
another practice and integrated through ``DocumentService.import_file`` and its checks."""


def _receive_demo_documents(documents: DocumentService, patient_id: int, patient: PatientSnapshot) -> int:
    made = 0
    now = dt.datetime.now(dt.UTC)
    for position, (code, author, provenance, values) in enumerate(RECEIVED):
        kind = document_kind(code)
        at = now - dt.timedelta(days=20 * position + 5)
        foreign = new_draft(kind, patient_id=patient_id, patient=patient, author=author, at=at, values=values)
        foreign = foreign.validate(at=at, actor=author.national_id, patient=patient)
        sent = documents.render_unsaved(foreign, DocumentFormat.CDA_N1)
        report = documents.import_file(patient_id, sent.file_name, sent.data, provenance=provenance)
        made += report.integrated
    return made


def install_demo_documents(documents: DocumentService, patients: PatientService, *, patient_count: int = 2) -> int:
    """Once, on a demo store without documents: every type validated for the first qualified demo patients,
    and a second version of one of them, flagged as sent to the DMP and by MSSanté (the TROD to the DMP, the
    prescription by MSSanté); documents received from other practices, one per provenance (imported file,
    DMP, MSSanté). Returns how many were made."""
    rows = patients.search("", limit=200).rows
    qualified = [r for r in rows if r.status is IdentityStatus.QUALIFIED][:patient_count]
    chosen = qualified or list(rows[:1])
    if not chosen or any(documents.list_documents(r.id) for r in chosen):
        return 0
    made = 0
    try:
        for index, row in enumerate(chosen):
            kinds = DOCUMENT_KINDS if index == 0 else DOCUMENT_KINDS[:4]
            for position, kind in enumerate(kinds):
                values = {spec.key: DEMO_VALUES.get(spec.key, "") for spec in kind.fields}
                values.update({k: v for k, v in KIND_VALUES.get(kind.code, {}).items() if k in values})
                draft = documents.create_draft(row.id, kind.code, values)
                # Acts spread over the past months, so that sorting and the date filter show something.
                act = draft.act_date.date() - dt.timedelta(days=11 * position + 3 * index)
                draft = documents.edit_draft(draft.id or 0, draft.row_version, act_date=act)
                documents.validate_document(draft.id or 0, draft.row_version)
                made += 1
        first = chosen[0].id
        report = documents.list_documents(first)
        bilan = next(r for r in report if r.type_code == "34120-6")
        second = documents.new_version(bilan.id)
        documents.validate_document(second.id or 0, second.row_version)
        documents.mark_sent(second.id or 0, dmp=True, mss=True)
        made += 1
        trod = next(r for r in report if r.type_code == "96173-0")
        documents.mark_sent(trod.id, dmp=True)
        prescription = next(r for r in report if r.type_code == "57833-6")
        documents.mark_sent(prescription.id, mss=True)
        made += _receive_demo_documents(documents, first, documents.get(bilan.id).patient)
    except DomainError as exc:
        log.warning("Demo documents incomplete: %s", exc.message_fr)
    log.info("%d demo documents added", made)
    return made
