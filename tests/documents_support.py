"""Shared test data for the health-document tests: patients, a practitioner, complete field values."""

from __future__ import annotations

import datetime as dt

from domain.documents import HealthDocument, author_of, document_kind, new_draft, snapshot_of
from domain.identity import OID_INS_NIR_TEST, Identity, IdentityTraits, Ins, Sex
from domain.patient import CareRole, CareTeamMember, Contact, Patient
from domain.practice import Profession, Structure, StructureKind, UserAccount, UserRole

NOW = dt.datetime(2026, 11, 27, 9, 30, tzinfo=dt.UTC)
MIDWIFE = UserAccount(1, "sf", "Léa MOREAU (sage-femme)", UserRole.PRACTITIONER, 1, Profession.MIDWIFE, "10101010103")
SECRETARY = UserAccount(2, "secr", "Martine LEROY", UserRole.SECRETARY, 1)
CABINET = Structure(1, "Cabinet des Tilleuls", StructureKind.INDIVIDUAL_PRACTICE, address="12 rue des Tilleuls, Reims")


def matricule(base: str = "2850351454123") -> str:
    """A matricule with its key."""
    return base + f"{97 - int(base) % 97:02d}"


def make_patient(
    *, qualified: bool = True, patient_id: int = 42, birth_name: str = "DUPONT", sex: Sex = Sex.FEMALE
) -> Patient:
    """A patient born in Reims, qualified (INS of test) or provisional."""
    traits = IdentityTraits(birth_name, ("MARIE", "CLAIRE"), dt.date(1985, 3, 12), sex, "51454", used_name="MARTIN")
    identity = Identity(
        traits,
        ins=Ins(matricule(), OID_INS_NIR_TEST),
        from_insi=qualified,
        high_trust_document="CNI" if qualified else None,
    )
    team = (CareTeamMember(CareRole.ATTENDING_DOCTOR, "Dr Jean DUPUIS", "Médecin généraliste", "10000000001"),)
    return Patient(patient_id, identity, Contact(("3 rue Haute",), "51100", "Reims"), team)


COMPLETE = {
    "acte": "INITIMMUNIZ",
    "vaccin": "GARDASIL 9, suspension injectable",
    "code_cis": "63168294",
    "code_atc": "J07BM03",
    "libelle_atc": "Vaccin papillomavirus",
    "lot": "U012345",
    "rang": "1",
    "voie": "20035000",
    "site": "16217701000119102",
    "commentaire": "Pas de réaction immédiate.",
    "motif": "Rééducation périnéale du post-partum",
    "soins": "Séance 3 sur 10.\n\nExercices de contraction.",
    "observations": "Bonne progression.",
    "prescription": "10 séances de rééducation périnéale",
    "duree": "10 séances",
    "destinataire": "Dr Jean DUPUIS",
    "corps": "Chère consœur, cher confrère,\nJe vous adresse Mme MARTIN.",
    "objet": "Certificat de suivi de grossesse",
    "test": "80387-4",
    "dispositif": "Bionysex | réf. 8029",
    "resultat": "NEG",
    "examen": "Examen sans particularité.",
    "anamnese": "Accouchement le 02/10/2026.",
    "conclusion": "Bon état général.",
    "produits": "Paracétamol 1 g : 1 comprimé 3 fois par jour pendant 5 jours",
}


LINES = [
    {
        "libelle": "PARACETAMOL MYLAN 500 mg, comprimé",
        "cis": "63107752",
        "cip13": "3400933516390",
        "atc": "N02BE01",
        "lpp": "",
        "posologie": "1 comprimé 3 fois par jour",
        "duree_jours": 5,
        "quantite": "2 boîtes",
        "renouvellements": 0,
        "non_substituable": False,
    },
    {
        "libelle": "Préparation magistrale : vaseline 100 g",
        "cis": "",
        "cip13": "",
        "atc": "",
        "lpp": "",
        "posologie": "1 application par jour",
        "duree_jours": None,
        "quantite": "1 pot",
        "renouvellements": 1,
        "non_substituable": True,
    },
    {
        "libelle": "Tire-lait électrique, location",
        "cis": "",
        "cip13": "",
        "atc": "",
        "lpp": "1234567",
        "posologie": "",
        "duree_jours": 28,
        "quantite": "1",
        "renouvellements": 2,
        "non_substituable": False,
    },
]
"""Prescription lines (the ``lignes`` contract): a coded medicine, a free-text product, a device (synthetic LPP
code of the right shape)."""


def draft(code: str, *, qualified: bool = True, patient: Patient | None = None) -> HealthDocument:
    """A complete draft of ``code`` for the test patient."""
    who = patient or make_patient(qualified=qualified)
    kind = document_kind(code)
    values = {spec.key: COMPLETE.get(spec.key, "") for spec in kind.fields}
    return new_draft(
        kind,
        patient_id=who.id or 0,
        patient=snapshot_of(who),
        author=author_of(MIDWIFE, CABINET),
        at=NOW,
        values=values,
    )


def validated(code: str, *, qualified: bool = True, patient: Patient | None = None) -> HealthDocument:
    """A validated complete document of ``code``."""
    doc = draft(code, qualified=qualified, patient=patient)
    return doc.validate(at=NOW, actor=MIDWIFE.actor, patient=doc.patient)
