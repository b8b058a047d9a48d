"""Test identities shared by the sandbox stand-ins: the INSi registry and the virtual cartes Vitale.

One registry, two readers: the INSi stand-in (``sandbox/services/insi.py``) answers traits and carte Vitale
searches from :data:`TEST_IDENTITIES`; the virtual carte Vitale (card-reader area) writes the beneficiaries of
:data:`VITALE_CARDS` (and the CPS of :data:`CPS_CARDS`) on its cards, so inserting a card and querying INSi
finds the same person.

The CNDA test persons come from the INSi qualification kit (``../shared/specs/insi/samples`` and the public
``padoa/tlsi-ins`` fixtures), with their NIR, key and OID unchanged — HERMANN GATIEN's key included, which is
wrong in the kit itself (the stand-in returns it as is: the client must refuse to import it). The others are
made up for LGC, with NIRs built from their traits (sex, year, month, COG, order number) and a valid key.
Nothing here is a real person.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from domain.cards import PractitionerCard
from domain.identity import OID_INS_NIA, OID_INS_NIR
from domain.insi import VitaleBeneficiary
from domain.text import normalize_trait


def nir_key(nir13: str) -> str:
    """The 2-digit key of a 13-character NIR/NIA (Corsican ``2A``/``2B`` handled)."""
    digits = nir13.upper().replace("2A", "19").replace("2B", "18")
    return f"{97 - int(digits) % 97:02d}"


@dataclass(frozen=True, slots=True)
class TestIdentity:
    """One person of the INSi registry.

    Attributes:
        key: Short stable name used by tests and the user guide.
        purpose: What the identity demonstrates (French, shown in the user guide).
        birth_name: Nom de naissance.
        given_names: Prénoms de naissance, in order.
        sex: ``F`` or ``M``.
        birth_date: "Date lunaire" ``AAAA-MM-JJ`` (may hold ``00``).
        birth_place_code: COG code valid at the birth date.
        nir: The 13-character NIR (or NIA) of the matricule INS.
        key: Its 2-digit key ("" → computed).
        oid: OID of the INS (NIR or NIA).
        history: Previous matricules ``(matricule15, oid)``.
        place_aliases: Other COG codes the registry accepts for the birth place (merged communes: the code of
            the commune nouvelle).
        answer_overrides: TIQ fields the stand-in answers differently from the stored traits (to reproduce
            registry answers LGC must not import: empty first names…).
    """

    __test__ = False  # not a pytest test class

    key: str
    purpose: str
    birth_name: str
    given_names: tuple[str, ...]
    sex: str
    birth_date: str
    birth_place_code: str
    nir: str
    oid: str = OID_INS_NIR
    nir_key: str = ""
    history: tuple[tuple[str, str], ...] = ()
    place_aliases: tuple[str, ...] = ()
    answer_overrides: dict[str, str] = field(default_factory=dict)

    @property
    def matricule(self) -> str:
        """The 15-character matricule INS (NIR or NIA + key)."""
        return self.nir + (self.nir_key or nir_key(self.nir))

    @property
    def birth_date_value(self) -> dt.date | None:
        """The birth date, or None when it holds 00."""
        try:
            return dt.date.fromisoformat(self.birth_date)
        except ValueError:
            return None


def _nir(sex: str, birth_date: str, cog: str, order: int) -> str:
    year, month = birth_date[2:4], birth_date[5:7]
    if month == "00":
        month = "20"  # unknown month: the INSEE uses 20 (or 30–42, 50+)
    return f"{'1' if sex == 'M' else '2'}{year}{month}{cog}{order:03d}"


def _made_up(
    key: str,
    purpose: str,
    birth_name: str,
    given_names: str,
    sex: str,
    birth_date: str,
    cog: str,
    order: int,
    **extra: object,
) -> TestIdentity:
    return TestIdentity(
        key=key,
        purpose=purpose,
        birth_name=birth_name,
        given_names=tuple(given_names.split(" ")),
        sex=sex,
        birth_date=birth_date,
        birth_place_code=cog,
        nir=_nir(sex, birth_date, cog, order),
        **extra,  # type: ignore[arg-type]
    )


TEST_IDENTITIES: tuple[TestIdentity, ...] = (
    # -- CNDA test persons (INSi qualification kit) -------------------------------------------------------
    TestIdentity(
        "adrun-zoe",
        "CNDA : identité trouvée (00), titulaire d'une carte Vitale",
        "ADRUN",
        ("ZOE",),
        "F",
        "1975-12-31",
        "63220",
        "2751263220749",
        nir_key="74",
    ),
    TestIdentity(
        "adrtrois-dominique",
        "CNDA : née en Corse (NIR 2A)",
        "ADRTROIS",
        ("DOMINIQUE",),
        "F",
        "1997-02-26",
        "20020",
        "297022A020778",
        nir_key="78",
    ),
    TestIdentity(
        "tchitchi-catarina",
        "CNDA : plusieurs prénoms ; rien avec OLA (01), trouvée avec CATARINA (00)",
        "TCHITCHI",
        ("CATARINA", "BELLA"),
        "F",
        "1936-06-21",
        "63220",
        "2360663220836",
        nir_key="56",
    ),
    TestIdentity(
        "ecetinsi-pierre-alain",
        "CNDA TEST_2.04 : prénom composé, historique de deux anciens matricules",
        "ECETINSI",
        ("PIERRE-ALAIN", "MURIEL", "FLORIANT"),
        "M",
        "2009-07-14",
        "63220",
        "1090763220834",
        nir_key="89",
        history=(("209076322083439", OID_INS_NIR), ("209066322012355", OID_INS_NIR)),
    ),
    TestIdentity(
        "provisoire-matricule",
        "CNDA TEST_2.05 : INS de nature NIA (OID …4.9)",
        "PROVISOIRE",
        ("MATRICULE",),
        "M",
        "2009-07-01",
        "63220",
        "1090763220888",
        oid=OID_INS_NIA,
        nir_key="35",
    ),
    TestIdentity(
        "corse-anthony",
        "CNDA TEST_2.08 cas 1 : né en Haute-Corse (2B020)",
        "CORSE",
        ("ANTHONY",),
        "M",
        "1980-03-02",
        "2B020",
        "180032B020401",
        nir_key="23",
        history=(("180032B02040123", OID_INS_NIR),),
    ),
    TestIdentity(
        "hermann-gatien",
        "CNDA TEST_2.08 cas 2 : ancien matricule dans l'historique ; clé du kit fausse, INS non importable",
        "HERMANN",
        ("GATIEN",),
        "M",
        "1981-03-24",
        "63220",
        "1810363220456",
        nir_key="60",
        history=(("181036322045660", OID_INS_NIR), ("281036322045610", OID_INS_NIR)),
    ),
    # -- made up for LGC ----------------------------------------------------------------------------------
    _made_up(
        "santoni-paola",
        "Née en Corse-du-Sud (Ajaccio, 2A004)",
        "SANTONI",
        "PAOLA MARIA",
        "F",
        "1979-08-15",
        "2A004",
        123,
    ),
    _made_up(
        "garcia-lucia",
        "Née à l'étranger (Espagne, 99134)",
        "GARCIA",
        "LUCIA",
        "F",
        "1985-04-12",
        "99134",
        56,
    ),
    _made_up(
        "benali-karim",
        "Né à l'étranger (Maroc, 99350)",
        "BEN ALI",
        "KARIM",
        "M",
        "1990-11-03",
        "99350",
        12,
    ),
    _made_up(
        "favre-helene",
        "Née à Annecy-le-Vieux (74011), commune fusionnée dans Annecy (74010) en 2017 : les deux codes sont acceptés",
        "FAVRE",
        "HELENE",
        "F",
        "1972-05-09",
        "74011",
        31,
        place_aliases=("74010",),
    ),
    _made_up(
        "martin-dupont-jean-baptiste",
        "Nom et prénom composés",
        "MARTIN-DUPONT",
        "JEAN-BAPTISTE MARIE",
        "M",
        "1968-01-22",
        "51454",
        45,
    ),
    # Homonyms: same name, first name, sex and birth date, born in Reims and in Épernay.
    _made_up(
        "lefevre-marie-reims",
        "Homonyme : sans lieu de naissance, plusieurs identités (02) ; avec le COG 51454 (Reims), trouvée (00)",
        "LEFEVRE",
        "MARIE",
        "F",
        "1988-09-17",
        "51454",
        101,
    ),
    _made_up(
        "lefevre-marie-epernay",
        "Homonyme : avec le COG 51230 (Épernay), trouvée (00)",
        "LEFEVRE",
        "MARIE",
        "F",
        "1988-09-17",
        "51230",
        102,
    ),
    _made_up(
        "dubois-louis",
        "Enfant ayant droit sur la carte Vitale de sa mère (rang 1)",
        "DUBOIS",
        "LOUIS",
        "M",
        "2018-06-02",
        "51454",
        77,
    ),
    _made_up(
        "dubois-lea",
        "Enfant ayant droit, jumelle (même date, rang de naissance 2)",
        "DUBOIS",
        "LEA",
        "F",
        "2018-06-02",
        "51454",
        78,
    ),
    _made_up(
        "morel-claire",
        "Titulaire d'une carte Vitale à cinq bénéficiaires",
        "MOREL",
        "CLAIRE",
        "F",
        "1986-02-11",
        "51454",
        64,
    ),
    _made_up(
        "dubois-paul",
        "Conjoint ayant droit sur la carte Vitale à cinq bénéficiaires",
        "DUBOIS",
        "PAUL",
        "M",
        "1984-10-30",
        "51230",
        15,
    ),
    _made_up(
        "dubois-ines",
        "Troisième enfant sur la carte Vitale à cinq bénéficiaires",
        "DUBOIS",
        "INES",
        "F",
        "2021-03-08",
        "51454",
        203,
    ),
    _made_up(
        "lunaire-rose",
        "Date de naissance « lunaire » (1950-00-00) : trouvée, mais non importable (règle 11)",
        "LUNAIRE",
        "ROSE",
        "F",
        "1950-00-00",
        "99350",
        8,
    ),
    _made_up(
        "sansprenom-alix",
        "INSi renvoie des prénoms vides : trouvée, mais non importable (règle 12)",
        "SANSPRENOM",
        "ALIX",
        "F",
        "1960-07-07",
        "51454",
        19,
        answer_overrides={"Prenom": "", "ListePrenom": ""},
    ),
)
"""The INSi registry of the stand-in."""


@dataclass(frozen=True, slots=True)
class VitaleCard:
    """A virtual carte Vitale: its holder and its beneficiaries (identity key, birth rank)."""

    __test__ = False

    card_id: str
    label: str
    holder: str
    beneficiaries: tuple[tuple[str, int], ...]


VITALE_CARD_DEFINITIONS: tuple[VitaleCard, ...] = (
    VitaleCard("adrun", "Carte de ADRUN ZOE (un bénéficiaire)", "adrun-zoe", (("adrun-zoe", 1),)),
    VitaleCard(
        "famille",
        "Carte de MOREL CLAIRE (cinq bénéficiaires, dont des jumeaux)",
        "morel-claire",
        (
            ("morel-claire", 1),
            ("dubois-paul", 1),
            ("dubois-louis", 1),
            ("dubois-lea", 2),
            ("dubois-ines", 1),
        ),
    ),
    VitaleCard("etranger", "Carte de GARCIA LUCIA (née à l'étranger)", "garcia-lucia", (("garcia-lucia", 1),)),
    VitaleCard("corse", "Carte de SANTONI PAOLA (née en Corse)", "santoni-paola", (("santoni-paola", 1),)),
    VitaleCard(
        "lunaire", "Carte de LUNAIRE ROSE (date lunaire, non importable)", "lunaire-rose", (("lunaire-rose", 1),)
    ),
)
"""How the virtual cartes Vitale are made up (see :data:`VITALE_CARDS`)."""


DEMO_REGISTRY_FILE = "sandbox-insi-demo.json"
"""The demo practice's qualified patients, known to the INSi stand-in (``<data dir>/sandbox-insi-demo.json``)."""

_log = logging.getLogger("lgc.sandbox")


def demo_registry_path(data_dir: Path) -> Path:
    """Where the demo installation writes the identities its qualified patients were qualified with."""
    return data_dir / DEMO_REGISTRY_FILE


def write_demo_registry(data_dir: Path, people: Iterable[TestIdentity]) -> int:
    """Write the demo registry (atomically); return how many identities it holds."""
    rows = [
        {
            "key": p.key,
            "birth_name": p.birth_name,
            "given_names": list(p.given_names),
            "sex": p.sex,
            "birth_date": p.birth_date,
            "birth_place_code": p.birth_place_code,
            "nir": p.nir,
            "nir_key": p.nir_key,
            "oid": p.oid,
        }
        for p in people
    ]
    path = demo_registry_path(data_dir)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    temporary.replace(path)
    return len(rows)


def read_demo_registry(path: Path) -> tuple[TestIdentity, ...]:
    """The identities of a demo registry file (none when it is missing or unreadable: logged)."""
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
        return tuple(
            TestIdentity(
                key=str(row["key"]),
                purpose="Patient qualifié des données de démonstration",
                birth_name=str(row["birth_name"]),
                given_names=tuple(str(n) for n in row["given_names"]),
                sex=str(row["sex"]),
                birth_date=str(row["birth_date"]),
                birth_place_code=str(row["birth_place_code"]),
                nir=str(row["nir"]),
                nir_key=str(row.get("nir_key", "")),
                oid=str(row.get("oid", OID_INS_NIR)),
            )
            for row in rows
        )
    except FileNotFoundError:
        return ()
    except (OSError, ValueError, KeyError, TypeError) as exc:
        _log.warning("Demo INSi registry %s unreadable (%s): ignored", path, type(exc).__name__)
        return ()


def identity(key: str) -> TestIdentity:
    """The test identity named ``key``.

    Raises:
        KeyError: no such identity.
    """
    for person in TEST_IDENTITIES:
        if person.key == key:
            return person
    raise KeyError(key)


def vitale_beneficiaries(card_id: str) -> list[VitaleBeneficiary]:
    """The beneficiaries written on the virtual carte Vitale ``card_id``, as the card reader returns them.

    Each beneficiary carries its own NIR (what ``rechercherInsAvecCarteVitale`` sends as MatriculeIndividu)
    and the holder's NIR (MatriculeOD) when it is not the holder.

    Raises:
        KeyError: no such card.
    """
    card = next((c for c in VITALE_CARD_DEFINITIONS if c.card_id == card_id), None)
    if card is None:
        raise KeyError(card_id)
    holder = identity(card.holder)
    result = []
    for key, rank in card.beneficiaries:
        person = identity(key)
        is_holder = key == card.holder
        result.append(
            VitaleBeneficiary(
                nir=person.nir,
                nir_key=person.matricule[13:],
                birth_name=person.birth_name,
                given_name=person.given_names[0],
                birth_date=person.birth_date,
                birth_rank=rank,
                holder_nir="" if is_holder else holder.nir,
                holder_nir_key="" if is_holder else holder.matricule[13:],
            )
        )
    return result


def normalized(text: str) -> str:
    """A trait as the registry compares it (upper case, no accents, single spaces)."""
    try:
        return normalize_trait(text, label="trait")
    except ValueError:
        return text.strip().upper()


VITALE_CARDS: dict[str, tuple[VitaleBeneficiary, ...]] = {
    card.card_id: tuple(vitale_beneficiaries(card.card_id)) for card in VITALE_CARD_DEFINITIONS
}
"""The virtual cartes Vitale by name (``adrun``, ``famille``…): the beneficiaries the card-reader area writes
on its virtual cards and the INSi stand-in finds by ``rechercherInsAvecCarteVitale``."""

CPS_CARDS: dict[str, PractitionerCard] = {
    "infirmiere": PractitionerCard("CPS", "8", "810101010101", "DURAND", "CAMILLE", "60", "Infirmier", "MME"),
    "sage-femme": PractitionerCard("CPS", "8", "810101010103", "MOREAU", "LEA", "50", "Sage-femme", "MME"),
    "kinesitherapeute": PractitionerCard(
        "CPS", "8", "810101010104", "ROUX", "THOMAS", "70", "Masseur-kinésithérapeute", "M"
    ),
}
"""Virtual CPS cards of the demo practitioners (same RPPS as the demo users ``ide``, ``sf`` and ``mk``)."""
