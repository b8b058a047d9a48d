"""Text macros (LGC.ERGO.01): a keyword such as ``@allergies`` or ``.pans`` expands into text or record data."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from domain.errors import InvalidInput

TRIGGER = re.compile(r"^[@.][a-z0-9_àâäéèêëîïôöùûüç-]{1,30}$")
MAX_BODY_LENGTH = 5000
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")

PLACEHOLDERS: dict[str, str] = {
    "patient": "nom et prénom du patient",
    "age": "âge du patient",
    "naissance": "date de naissance (JJ/MM/AAAA)",
    "date": "date du jour (JJ/MM/AAAA)",
    "praticien": "nom du praticien connecté",
    "allergies": "allergies et intolérances connues",
    "traitements": "traitements en cours",
    "antecedents": "antécédents",
    "vaccinations": "vaccinations enregistrées",
    "medecin_traitant": "médecin traitant",
}
"""Record data a macro body may insert, written ``{allergies}``."""


@dataclass(frozen=True, slots=True)
class Macro:
    """A keyword and the text it becomes (``{placeholder}`` parts are replaced by record data)."""

    trigger: str
    label: str
    body: str
    owner: str = ""  # "" = shared by the practice, else the login of its author
    id: int | None = None

    @property
    def uses_record_data(self) -> bool:
        """The body inserts data from the record."""
        return bool(_PLACEHOLDER.search(self.body))


DEFAULT_MACROS: tuple[Macro, ...] = (
    Macro("@allergies", "Allergies connues", "Allergies : {allergies}."),
    Macro("@traitements", "Traitements en cours", "Traitements en cours : {traitements}."),
    Macro("@antecedents", "Antécédents", "Antécédents : {antecedents}."),
    Macro("@vaccins", "Vaccinations", "Vaccinations : {vaccinations}."),
    Macro("@patient", "Identité et âge", "{patient}, {age}"),
    Macro("@mt", "Médecin traitant", "Médecin traitant : {medecin_traitant}."),
    Macro("@date", "Date du jour", "{date}"),
    Macro(
        ".pans",
        "Pansement simple",
        "Pansement réalisé selon protocole : nettoyage au sérum physiologique, séchage, "
        "application du pansement prescrit. Plaie propre, pas de signe infectieux.",
    ),
    Macro(".ras", "Rien à signaler", "Rien à signaler. Patient(e) informé(e) de la conduite à tenir."),
    Macro(
        ".inj",
        "Injection",
        "Injection réalisée après vérification de la prescription, du produit, de la dose et de la date de "
        "péremption. Bonne tolérance immédiate.",
    ),
    Macro(".eva", "Douleur", "Douleur évaluée à /10 sur l'échelle numérique."),
)
"""Macros a new practice starts with (users edit them and add their own)."""


def validate_macro(macro: Macro) -> Macro:
    """Check a macro typed in the macro editor.

    Raises:
        InvalidInput: keyed by field, French messages.
    """
    errors: dict[str, str] = {}
    trigger = macro.trigger.strip().lower()
    if not TRIGGER.match(trigger):
        errors["trigger"] = (
            "Le mot-clé commence par @ ou par un point, suivi de 1 à 30 lettres, chiffres, - ou _ "
            "(ex. @allergies, .pans)."
        )
    body = macro.body.replace("\r\n", "\n")
    if not body.strip():
        errors["body"] = "Le texte de la macro est vide."
    elif len(body) > MAX_BODY_LENGTH:
        errors["body"] = f"Le texte de la macro dépasse {MAX_BODY_LENGTH} caractères."
    unknown = sorted({m for m in _PLACEHOLDER.findall(body) if m not in PLACEHOLDERS})
    if unknown:
        errors["body"] = (
            f"Donnée inconnue : {', '.join('{' + u + '}' for u in unknown)} "
            f"(admises : {', '.join('{' + p + '}' for p in PLACEHOLDERS)})."
        )
    label = macro.label.strip() or trigger
    if len(label) > 100:
        errors["label"] = "Libellé : 100 caractères au plus."
    if errors:
        raise InvalidInput(errors)
    return Macro(trigger, label, body, macro.owner, macro.id)


def render(body: str, context: Mapping[str, str]) -> str:
    """Replace ``{placeholder}`` parts by record data (an unknown or missing one becomes « non renseigné »)."""
    return _PLACEHOLDER.sub(lambda m: context.get(m.group(1)) or "non renseigné", body)


@dataclass(frozen=True, slots=True)
class Expansion:
    """The text after an expansion and where the cursor goes."""

    text: str
    cursor: int
    macro: Macro
    start: int = 0
    inserted: str = ""


class MacroSet:
    """The macros in effect for a user: shared ones, overridden by the user's own with the same keyword."""

    def __init__(self, macros: Iterable[Macro]) -> None:
        by_trigger: dict[str, Macro] = {}
        for macro in macros:
            current = by_trigger.get(macro.trigger)
            if current is None or (macro.owner and not current.owner):
                by_trigger[macro.trigger] = macro
        self._by_trigger = by_trigger

    def __len__(self) -> int:
        return len(self._by_trigger)

    def __iter__(self) -> Iterator[Macro]:
        return iter(sorted(self._by_trigger.values(), key=lambda m: m.trigger))

    def get(self, trigger: str) -> Macro | None:
        """The macro for this keyword."""
        return self._by_trigger.get(trigger.lower())

    def completions(self, prefix: str, limit: int = 20) -> list[Macro]:
        """Macros whose keyword starts with ``prefix`` (for the completion popup)."""
        key = prefix.lower()
        return [m for t, m in sorted(self._by_trigger.items()) if t.startswith(key)][:limit]

    def expand_before(self, text: str, cursor: int, context: Mapping[str, str]) -> Expansion | None:
        """Expand the keyword that ends at ``cursor`` (called when the user types a space, tab or newline).

        Returns None when the word before the cursor is no keyword; only that word is looked at, so the cost
        does not grow with the length of the text.
        """
        start = cursor
        floor = max(0, cursor - 32)
        while start > floor and not text[start - 1].isspace():
            start -= 1
        word = text[start:cursor]
        if len(word) < 2 or word[0] not in "@.":
            return None
        macro = self.get(word)
        if macro is None:
            return None
        inserted = render(macro.body, context)
        return Expansion(text[:start] + inserted + text[cursor:], start + len(inserted), macro, start, inserted)

    def expand_all(self, text: str, context: Mapping[str, str]) -> str:
        """Expand every keyword of a whole text (pasted text, command line)."""

        def one(match: re.Match[str]) -> str:
            macro = self.get(match.group(2))
            return match.group(1) + (render(macro.body, context) if macro else match.group(2))

        return re.sub(r"(^|\s)([@.][^\s]{1,30})(?=\s|$)", one, text)


def check_unique(macros: Iterable[Macro], candidate: Macro) -> None:
    """Refuse a second macro of the same owner with the same keyword.

    Raises:
        InvalidInput: French message on the keyword field.
    """
    for macro in macros:
        if macro.trigger == candidate.trigger and macro.owner == candidate.owner and macro.id != candidate.id:
            raise InvalidInput({"trigger": f"Le mot-clé {candidate.trigger} existe déjà."})
