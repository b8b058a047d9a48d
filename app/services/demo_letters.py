"""Demo letters: a correspondents book (médecins traitants, a pharmacy, a kinésithérapeute…) and one letter."""

from __future__ import annotations

import logging

from app.services.letters import LetterService
from app.services.patients import PatientService
from domain.errors import DomainError
from domain.identity import IdentityStatus
from domain.letters import Civility, Correspondent
from domain.patient import CareRole

log = logging.getLogger("lgc.demo")

DEMO_CORRESPONDENTS = (
    Correspondent(
        None,
        "FONTAINE",
        "Claire",
        Civility.DOCTOR,
        "Médecin généraliste",
        rpps="10003456786",
        address="4 place Drouet-d'Erlon\n51100 Reims",
        phone="03 26 00 00 01",
        mssante_address="claire.fontaine@medecin.mssante.fr",
    ),
    Correspondent(
        None,
        "BENALI",
        "Karim",
        Civility.DOCTOR,
        "Médecin généraliste",
        rpps="10004567896",
        address="18 rue de Vesle\n51100 Reims",
        mssante_address="karim.benali@medecin.mssante.fr",
    ),
    Correspondent(
        None,
        "ROUSSEL",
        "Hélène",
        Civility.DOCTOR,
        "Dermatologue",
        rpps="10005678916",
        address="Polyclinique Saint-André\n51100 Reims",
    ),
    Correspondent(
        None,
        "Pharmacie du Boulingrin",
        profession="Pharmacie",
        address="2 place du Boulingrin\n51100 Reims",
        phone="03 26 00 00 20",
        notes="Livraison à domicile le mardi.",
    ),
    Correspondent(
        None,
        "GIRARD",
        "Paul",
        Civility.MONSIEUR,
        "Masseur-kinésithérapeute",
        address="9 rue du Temple\n51100 Reims",
        mssante_address="paul.girard@kine.mssante.fr",
    ),
)


def install_demo_letters(letters: LetterService, patients: PatientService) -> int:
    """Once, on a book without correspondents: the demo book, two of them linked to the first qualified demo
    patient, and one validated letter to the médecin traitant. Returns how many letters were made."""
    if letters.search_correspondents("", limit=1):
        return 0
    try:
        saved = [letters.save_correspondent(c) for c in DEMO_CORRESPONDENTS]
        rows = patients.search("", limit=200).rows
        chosen = next((r for r in rows if r.status is IdentityStatus.QUALIFIED), rows[0] if rows else None)
        if chosen is None:
            return 0
        letters.link(chosen.id, saved[0].id or 0, CareRole.ATTENDING_DOCTOR)
        letters.link(chosen.id, saved[3].id or 0, CareRole.CORRESPONDENT)
        doctor = next(r for r in letters.patient_correspondents(chosen.id) if r.correspondent_id == saved[0].id)
        draft = letters.new_letter(chosen.id, "compte_rendu_fin_prise_en_charge", doctor)
        body = (
            draft.body_html.replace("nombre de séances ou de passages", "14 passages à domicile")
            .replace("actes réalisés", "pansements de l'ulcère de jambe, <i>bas de contention</i>")
            .replace("<b>Évolution :</b> …", "<b>Évolution :</b> cicatrisation complète le 20 novembre.")
            .replace(
                "<b>Conclusion et recommandations :</b> …",
                "<b>Conclusion et recommandations :</b> port des bas de contention à poursuivre.",
            )
        )
        edited = letters.save_draft(draft.id or 0, draft.row_version, body_html=body)
        letters.validate(edited.letter.id or 0, edited.letter.row_version)
    except DomainError as exc:  # demo data must never prevent the demo from starting
        log.warning("Demo letters not installed: %s", exc)
        return 0
    return 1
