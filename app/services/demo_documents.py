"""Demo health documents: every document type for a few demo patients, with versions and imported ones."""

from __future__ import annotations

import datetime as dt
import logging

from app.services.documents import DocumentService
from app.services.patients import PatientService
from domain.documents import DOCUMENT_KINDS
from domain.errors import DomainError
from domain.identity import IdentityStatus

log = logging.getLogger("lgc.demo")

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
    "test": "TROD VIH 1/2 (sang capillaire)",
    "resultat": "NEG",
    "produits": "Paracétamol 1 g : 1 comprimé jusqu'à 3 fois par jour pendant 5 jours",
}


def install_demo_documents(documents: DocumentService, patients: PatientService, *, patient_count: int = 2) -> int:
    """Once, on a demo store without documents: every type validated for the first qualified demo patients,
    and a second version of one of them, flagged as sent to the DMP and by MSSanté. Returns how many were made."""
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
    except DomainError as exc:
        log.warning("Demo documents incomplete: %s", exc.message_fr)
    log.info("%d demo documents added", made)
    return made
