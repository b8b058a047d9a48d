"""Text macros (LGC.ERGO.01): expansion as typed, record data, validation, user overrides."""

from __future__ import annotations

import pytest

from domain.errors import InvalidInput
from domain.macros import DEFAULT_MACROS, Macro, MacroSet, check_unique, render, validate_macro

CONTEXT = {"allergies": "Pénicilline (urticaire)", "patient": "DUPONT Marie", "age": "54 ans"}


def test_expand_the_keyword_before_the_cursor() -> None:
    macros = MacroSet(DEFAULT_MACROS)
    text = "Vu ce jour. @allergies"
    expansion = macros.expand_before(text, len(text), CONTEXT)
    assert expansion is not None
    assert expansion.text == "Vu ce jour. Allergies : Pénicilline (urticaire)."
    assert expansion.cursor == len(expansion.text)
    # In the middle of a text: only the word before the cursor is replaced, the rest stays.
    text = "Début .pans suite"
    expansion = macros.expand_before(text, len("Début .pans"), CONTEXT)
    assert expansion is not None and expansion.text.startswith("Début Pansement réalisé selon protocole")
    assert expansion.text.endswith(" suite")
    assert macros.expand_before("un mot", 6, CONTEXT) is None
    assert macros.expand_before("@inconnu", 8, CONTEXT) is None
    assert macros.expand_before("", 0, CONTEXT) is None


def test_missing_record_data_is_said_not_invented() -> None:
    assert render("Traitements : {traitements}.", {}) == "Traitements : non renseigné."


def test_expand_all_for_pasted_text() -> None:
    macros = MacroSet(DEFAULT_MACROS)
    out = macros.expand_all("@patient\n.ras fin.", CONTEXT)
    assert out.startswith("DUPONT Marie, 54 ans\nRien à signaler.")
    assert out.endswith(" fin.")


def test_user_macro_overrides_the_shared_one() -> None:
    shared = Macro(".pans", "Pansement", "texte du cabinet")
    mine = Macro(".pans", "Mon pansement", "mon texte", owner="ide")
    macros = MacroSet([mine, shared])
    assert macros.get(".pans") == mine
    assert [m.trigger for m in macros.completions(".p")] == [".pans"]


def test_validation_messages() -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_macro(Macro("pans", "", ""))
    assert "commence par @ ou par un point" in caught.value.field_errors["trigger"]
    assert caught.value.field_errors["body"] == "Le texte de la macro est vide."
    with pytest.raises(InvalidInput, match="Donnée inconnue : \\{poids\\}"):
        validate_macro(Macro("@p", "", "Poids {poids}"))
    checked = validate_macro(Macro(" @TA ", "", "TA : /  mmHg"))
    assert checked.trigger == "@ta" and checked.label == "@ta"
    with pytest.raises(InvalidInput, match="existe déjà"):
        check_unique([Macro("@ta", "x", "y", "", 1)], Macro("@ta", "x", "z", "", None))
    check_unique([Macro("@ta", "x", "y", "ide", 1)], Macro("@ta", "x", "z", "", None))  # another owner: fine
