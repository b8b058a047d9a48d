"""Demo practice and realistic fictitious patients (composite first names, used names, real birth places)."""

from __future__ import annotations

import datetime as dt
import logging
import random
from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol

from stdnum.fr.nir import calc_check_digits

from domain.cog import UNKNOWN_PLACE, Place
from domain.identity import (
    OID_INS_NIA,
    OID_INS_NIR_DEMO,
    Identity,
    IdentityTraits,
    Ins,
    Sex,
)
from domain.patient import CareRole, CareTeamMember, Contact, Patient
from domain.ports import UnitOfWorkFactory
from domain.practice import Profession, Structure, StructureKind, UserAccount, UserRole

log = logging.getLogger("lgc.demo")

DEMO_STRUCTURE = "Cabinet paramédical des Tilleuls (démonstration)"
DEMO_CENTRE = "Centre de santé infirmier Saint-Roch (démonstration)"

SURNAMES = [
    "MARTIN",
    "BERNARD",
    "THOMAS",
    "PETIT",
    "ROBERT",
    "RICHARD",
    "DURAND",
    "DUBOIS",
    "MOREAU",
    "LAURENT",
    "SIMON",
    "MICHEL",
    "LEFEBVRE",
    "LEROY",
    "ROUX",
    "DAVID",
    "BERTRAND",
    "MOREL",
    "FOURNIER",
    "GIRARD",
    "BONNET",
    "DUPONT",
    "LAMBERT",
    "FONTAINE",
    "ROUSSEAU",
    "VINCENT",
    "MULLER",
    "LEFEVRE",
    "FAURE",
    "ANDRE",
    "MERCIER",
    "BLANC",
    "GUERIN",
    "BOYER",
    "GARNIER",
    "CHEVALIER",
    "FRANCOIS",
    "LEGRAND",
    "GAUTHIER",
    "GARCIA",
    "PERRIN",
    "ROBIN",
    "CLEMENT",
    "MORIN",
    "NICOLAS",
    "HENRY",
    "ROUSSEL",
    "MATHIEU",
    "GAUTIER",
    "MASSON",
    "MARCHAND",
    "DUVAL",
    "DENIS",
    "DUMONT",
    "MARIE",
    "LEMAIRE",
    "NOEL",
    "MEYER",
    "DUFOUR",
    "MEUNIER",
    "BRUN",
    "BLANCHARD",
    "GIRAUD",
    "JOLY",
    "RIVIERE",
    "LUCAS",
    "BRUNET",
    "GAILLARD",
    "BARBIER",
    "ARNAUD",
    "MARTINEZ",
    "GERARD",
    "ROCHE",
    "RENARD",
    "SCHMITT",
    "ROY",
    "LEROUX",
    "COLIN",
    "VIDAL",
    "CARON",
    "PICARD",
    "ROGER",
    "FABRE",
    "AUBERT",
    "LEMOINE",
    "RENAUD",
    "DUMAS",
    "LACROIX",
    "OLIVIER",
    "PHILIPPE",
    "BOURGEOIS",
    "PIERRE",
    "BENOIT",
    "REY",
    "LECLERC",
    "PAYET",
    "ROLLAND",
    "LECLERCQ",
    "GUILLAUME",
    "LECOMTE",
    "LOPEZ",
    "JEAN",
    "DUPUY",
    "GUILLOT",
    "HUBERT",
    "BERGER",
    "CARPENTIER",
    "SANCHEZ",
    "DUPUIS",
    "MOULIN",
    "LOUIS",
    "DESCHAMPS",
    "HUET",
    "VASSEUR",
    "PEREZ",
    "BOUCHER",
    "FLEURY",
    "ROYER",
    "KLEIN",
    "JACQUET",
    "ADAM",
    "PARIS",
    "POIRIER",
    "MARTY",
    "AUBRY",
    "GUYOT",
    "CARRE",
    "CHARLES",
    "RENAULT",
    "CHARPENTIER",
    "MENARD",
    "MAILLARD",
    "BARON",
    "BERTIN",
    "BAILLY",
    "HERVE",
    "SCHNEIDER",
    "FERNANDEZ",
    "LE-GALL",
    "COLLET",
    "LEGER",
    "BOUVIER",
    "JULIEN",
    "PREVOST",
    "MILLET",
    "PERROT",
    "DANIEL",
    "LE-ROUX",
    "COUSIN",
    "GERMAIN",
    "BRETON",
    "BESSON",
    "LANGLOIS",
    "REMY",
    "LE-GOFF",
    "PELLETIER",
    "LEVEQUE",
    "PERRIER",
    "LEBLANC",
    "BARRE",
    "LEBRUN",
    "MARCHAL",
    "WEBER",
    "MALLET",
    "HAMON",
    "BOULANGER",
    "JACOB",
    "MONNIER",
    "MICHAUD",
    "RODRIGUEZ",
    "GUICHARD",
    "GILLET",
    "ETIENNE",
    "GRONDIN",
    "POULAIN",
    "TESSIER",
    "CHEVALLIER",
    "COLLIN",
    "CHAUVIN",
    "DA-SILVA",
    "BOUCHET",
    "GAY",
    "LEMAITRE",
    "BENARD",
    "MARECHAL",
    "HUMBERT",
    "REYNAUD",
    "ANTOINE",
    "HOARAU",
    "PERRET",
    "BARTHELEMY",
    "CORDIER",
    "PICHON",
    "LEJEUNE",
    "GILBERT",
    "LAMY",
    "DELAUNAY",
    "PASQUIER",
    "CARLIER",
    "LAPORTE",
    "D'ARTAGNAN",
    "DE LA FONTAINE",
    "N'DIAYE",
    "LE BRIS",
    "SAINT-JUST",
    "OULD-AHMED",
    "NGUYEN",
    "DIALLO",
    "BEN SAID",
    "KOWALSKI",
    "PIRES DOS SANTOS",
    "MARTIN--DUPONT",
]
FEMALE_GIVEN = [
    "MARIE",
    "JEANNE",
    "FRANCOISE",
    "MONIQUE",
    "CATHERINE",
    "NATHALIE",
    "ISABELLE",
    "SYLVIE",
    "ANNE",
    "MARTINE",
    "CHRISTINE",
    "NICOLE",
    "SANDRINE",
    "VALERIE",
    "CELINE",
    "JULIE",
    "AURELIE",
    "EMILIE",
    "CAMILLE",
    "LEA",
    "MANON",
    "CHLOE",
    "EMMA",
    "INES",
    "JADE",
    "LOUISE",
    "ALICE",
    "ZOE",
    "LINA",
    "ROSE",
    "ANNA",
    "MILA",
    "AMBRE",
    "JULIETTE",
    "ELODIE",
    "STEPHANIE",
    "SOPHIE",
    "LAURA",
    "MARGAUX",
    "CLARA",
    "SARAH",
    "PAULINE",
    "MATHILDE",
    "LUCIE",
    "AGATHE",
    "HELENE",
    "ODILE",
    "GENEVIEVE",
    "BERNADETTE",
    "SIMONE",
    "YVETTE",
    "GISELE",
    "COLETTE",
    "AICHA",
    "FATIMA",
    "MAELYS",
    "NOEMIE",
    "OCEANE",
    "MARIE-CLAIRE",
    "ANNE-SOPHIE",
    "MARIE-HELENE",
    "MARIE-THERESE",
    "ANNE-LAURE",
    "MARIE-NOELLE",
]
MALE_GIVEN = [
    "JEAN",
    "PIERRE",
    "MICHEL",
    "ANDRE",
    "PHILIPPE",
    "ALAIN",
    "BERNARD",
    "CHRISTOPHE",
    "PATRICK",
    "NICOLAS",
    "DANIEL",
    "FREDERIC",
    "LAURENT",
    "STEPHANE",
    "DAVID",
    "ERIC",
    "JULIEN",
    "SEBASTIEN",
    "THOMAS",
    "ANTOINE",
    "GABRIEL",
    "LEO",
    "RAPHAEL",
    "LOUIS",
    "ARTHUR",
    "JULES",
    "ADAM",
    "HUGO",
    "MAEL",
    "LUCAS",
    "NOAH",
    "PAUL",
    "NATHAN",
    "ETHAN",
    "TOM",
    "SACHA",
    "THEO",
    "ENZO",
    "MATHIS",
    "CLEMENT",
    "MAXIME",
    "ALEXANDRE",
    "GUILLAUME",
    "VINCENT",
    "OLIVIER",
    "FRANCOIS",
    "RENE",
    "MARCEL",
    "GEORGES",
    "ROGER",
    "LUCIEN",
    "YANNICK",
    "MOHAMED",
    "KARIM",
    "JEAN-PIERRE",
    "JEAN-LUC",
    "JEAN-MARC",
    "PIERRE-ALAIN",
    "JEAN-BAPTISTE",
    "PAUL-HENRI",
]
STREETS = (
    "rue de la République",
    "avenue Jean-Jaurès",
    "rue Victor-Hugo",
    "place de l'Église",
    "chemin des Vignes",
    "rue du Moulin",
    "allée des Tilleuls",
    "boulevard Gambetta",
    "impasse des Lilas",
    "route de Lyon",
)
CITIES = (
    ("51100", "Reims"),
    ("69003", "Lyon"),
    ("35000", "Rennes"),
    ("13005", "Marseille"),
    ("97400", "Saint-Denis"),
    ("20000", "Ajaccio"),
    ("59000", "Lille"),
    ("31000", "Toulouse"),
)
DOCTORS = (
    ("Dr Claire FONTAINE", "10003456789"),
    ("Dr Karim BENALI", "10004567891"),
    ("Dr Hélène ROUSSEL", "10005678912"),
    ("Dr Yann LE GOFF", "10006789123"),
)


class DemoPlaceSource(Protocol):
    """Birth places to draw from, each a COG period (the COG referential adapter provides them)."""

    @property
    def current_communes(self) -> Sequence[Place]: ...
    @property
    def merged_communes(self) -> Sequence[Place]: ...
    @property
    def overseas(self) -> Sequence[Place]: ...
    @property
    def countries(self) -> Sequence[Place]: ...
    @property
    def corsica(self) -> Sequence[Place]: ...


DEMO_USERS = (
    ("admin", "Administrateur du cabinet", UserRole.ADMINISTRATOR, None, "", True, 0),
    ("ide", "Camille DURAND (IDE)", UserRole.PRACTITIONER, Profession.NURSE, "10101010101", False, 0),
    ("ipa", "Nadia BENSAÏD (IPA)", UserRole.PRACTITIONER, Profession.ADVANCED_PRACTICE_NURSE, "10101010102", False, 0),
    ("sf", "Léa MOREAU (sage-femme)", UserRole.PRACTITIONER, Profession.MIDWIFE, "10101010103", False, 0),
    (
        "mk",
        "Thomas ROUX (kinésithérapeute)",
        UserRole.PRACTITIONER,
        Profession.PHYSIOTHERAPIST,
        "10101010104",
        False,
        0,
    ),
    (
        "ortho",
        "Julie PETIT (orthophoniste)",
        UserRole.PRACTITIONER,
        Profession.SPEECH_THERAPIST,
        "10101010105",
        False,
        0,
    ),
    ("orthoptie", "Marc LEGRAND (orthoptiste)", UserRole.PRACTITIONER, Profession.ORTHOPTIST, "10101010106", False, 0),
    ("podo", "Inès GARCIA (pédicure-podologue)", UserRole.PRACTITIONER, Profession.PODIATRIST, "10101010107", False, 0),
    (
        "csi-ide1",
        "Paul MERCIER (IDE, centre de santé)",
        UserRole.PRACTITIONER,
        Profession.NURSE,
        "10101010108",
        False,
        1,
    ),
    (
        "csi-ide2",
        "Sophie BLANC (IDE, centre de santé)",
        UserRole.PRACTITIONER,
        Profession.NURSE,
        "10101010109",
        False,
        1,
    ),
    ("csi-secretariat", "Martine LEROY (secrétaire, centre de santé)", UserRole.SECRETARY, None, "", False, 1),
)
DEFAULT_DEMO_USER = "ide"


def install_demo_practice(uow_factory: UnitOfWorkFactory) -> bool:
    """Create the demo cabinet, the centre de santé infirmier and their users, once. Returns True if created."""
    with uow_factory() as uow:
        if uow.practice.structures():
            return False
        cabinet = uow.practice.add_structure(
            Structure(
                None, DEMO_STRUCTURE, StructureKind.INDIVIDUAL_PRACTICE, address="12 rue des Tilleuls, 51100 Reims"
            )
        )
        centre = uow.practice.add_structure(
            Structure(
                None,
                DEMO_CENTRE,
                StructureKind.NURSING_HEALTH_CENTRE,
                finess="510000000",
                address="3 place Saint-Roch, 51100 Reims",
            )
        )
        structures = (cabinet, centre)
        for login, name, role, profession, rpps, admin, where in DEMO_USERS:
            uow.practice.add_user(
                UserAccount(
                    id=None,
                    login=login,
                    display_name=name,
                    role=role,
                    structure_id=structures[where],
                    profession=profession,
                    rpps=rpps,
                    is_admin=admin,
                )
            )
        uow.commit()
    return True


class DemoPatientGenerator:
    """Draws realistic fictitious identities; the same seed gives the same patients."""

    def __init__(self, places: DemoPlaceSource, seed: int = 1943, today: dt.date | None = None) -> None:
        self._rng = random.Random(seed)
        self._places = places
        self._today = today or dt.date.today()

    def patients(self, count: int) -> list[Patient]:
        """``count`` patients, with a few homonym pairs, NIA and doubtful/fictitious identities."""
        result: list[Patient] = []
        while len(result) < count:
            patient = self._one()
            result.append(patient)
            if len(result) < count and self._rng.random() < 0.01:
                # Both persons of a homonym pair carry the attribute.
                result[-1] = replace(patient, identity=replace(patient.identity, homonym=True))
                result.append(self._homonym_of(patient))
        return result

    def _one(self) -> Patient:
        rng = self._rng
        sex = Sex.FEMALE if rng.random() < 0.55 else Sex.MALE
        given_pool = FEMALE_GIVEN if sex is Sex.FEMALE else MALE_GIVEN
        n_given = rng.choices((1, 2, 3), weights=(45, 40, 15))[0]
        given = tuple(dict.fromkeys(rng.choice(given_pool) for _ in range(n_given)))
        birth_name = rng.choice(SURNAMES)
        place, birth_date = self._place_and_date()
        used_name = ""
        if sex is Sex.FEMALE and (self._today - birth_date).days > 25 * 365 and rng.random() < 0.45:
            used_name = rng.choice(SURNAMES)
        used_given = ""
        if len(given) > 1 and rng.random() < 0.08:
            used_given = given[1]
        traits = IdentityTraits(
            birth_name=birth_name,
            birth_given_names=given,
            birth_date=birth_date,
            sex=sex,
            birth_place_code=place.code,
            used_name=used_name if used_name != birth_name else "",
            used_given_name=used_given,
        )
        return Patient(id=None, identity=self._identity(traits, place), contact=self._contact(), care_team=self._team())

    def _place_and_date(self) -> tuple[Place, dt.date]:
        rng = self._rng
        kind = rng.choices(
            ("current", "merged", "overseas", "abroad", "corsica", "unknown"), weights=(70, 10, 6, 9, 3, 2)
        )[0]
        pools = {
            "current": self._places.current_communes,
            "merged": self._places.merged_communes,
            "overseas": self._places.overseas,
            "abroad": self._places.countries,
            "corsica": self._places.corsica,
        }
        for _ in range(50):
            if kind == "unknown":
                return UNKNOWN_PLACE, self._birth_date(dt.date(1930, 1, 1), self._today)
            pool = pools[kind]
            if not pool:
                kind = "current"
                continue
            place = rng.choice(pool)
            start = max(place.valid_from or dt.date(1925, 1, 1), dt.date(1925, 1, 1))
            end = min(place.valid_to or self._today, self._today)
            if end - start > dt.timedelta(days=30):
                return place, self._birth_date(start, end)
        raise RuntimeError("no demo birth place could be drawn")

    def _birth_date(self, start: dt.date, end: dt.date) -> dt.date:
        # Patients of paramedical practices skew old (home nursing) with a peak of young mothers and children.
        span = (end - start).days
        return start + dt.timedelta(days=self._rng.randrange(max(span, 1)))

    def _identity(self, traits: IdentityTraits, place: Place) -> Identity:
        rng = self._rng
        from_insi = rng.random() < 0.55
        checked = rng.random() < 0.5
        ins = None
        if from_insi:
            nia = rng.random() < 0.03
            ins = Ins(self._matricule(traits, place, nia=nia), OID_INS_NIA if nia else OID_INS_NIR_DEMO)
        doubtful = rng.random() < 0.01
        fictitious = not doubtful and rng.random() < 0.004
        return Identity(
            traits=traits,
            ins=ins,
            from_insi=from_insi,
            high_trust_document=rng.choice(("CNI", "PASSEPORT", "TITRE_SEJOUR")) if checked else None,
            doubtful=doubtful,
            fictitious=fictitious,
        )

    def _matricule(self, traits: IdentityTraits, place: Place, *, nia: bool) -> str:
        assert traits.birth_date is not None
        rng = self._rng
        first = ("7" if traits.sex is Sex.MALE else "8") if nia else ("1" if traits.sex is Sex.MALE else "2")
        year = f"{traits.birth_date.year % 100:02d}"
        month = f"{traits.birth_date.month:02d}"
        # Positions 6-10 of a NIR: the birth commune's COG code, or 99 + country code for a birth abroad.
        code = place.code
        if code == "99999":
            code = "99" + f"{rng.randrange(100, 999)}"
        order = f"{rng.randrange(1, 999):03d}"
        body = first + year + month + code + order
        return body + calc_check_digits(body)

    def _contact(self) -> Contact:
        rng = self._rng
        postal, city = rng.choice(CITIES)
        phones = (
            f"06 {rng.randrange(10, 99)} {rng.randrange(10, 99)} {rng.randrange(10, 99)} {rng.randrange(10, 99)}",
        )
        return Contact(
            address_lines=(f"{rng.randrange(1, 120)} {rng.choice(STREETS)}",),
            postal_code=postal,
            city=city,
            phones=phones,
            email="",
        )

    def _team(self) -> tuple[CareTeamMember, ...]:
        name, rpps = self._rng.choice(DOCTORS)
        return (
            CareTeamMember(
                role=CareRole.ATTENDING_DOCTOR,
                display_name=name,
                profession="Médecin généraliste",
                rpps=rpps,
            ),
        )

    def _homonym_of(self, other: Patient) -> Patient:
        """A different person with the same birth name and first name, often the same birth date."""
        base = self._one()
        traits = other.identity.traits
        same_day = self._rng.random() < 0.5
        twin_traits = replace(
            base.identity.traits,
            birth_name=traits.birth_name,
            birth_given_names=traits.birth_given_names[:1],
            birth_date=traits.birth_date if same_day else base.identity.traits.birth_date,
            sex=traits.sex,
            used_name="",
            used_given_name="",
        )
        return replace(base, identity=Identity(traits=twin_traits, homonym=True))
