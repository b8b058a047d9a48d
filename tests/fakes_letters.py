"""In-memory LetterRepository for service tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from domain.errors import ConflictError, NotFound
from domain.letters import Correspondent, Letter, LetterLine, LetterTemplate
from domain.patient import CareRole
from domain.text import search_key


@dataclass
class FakeLetterData:
    """What the fake letter repository stores (lives in the FakeStore, copied per unit of work)."""

    correspondents: dict[int, Correspondent] = field(default_factory=dict)
    links: dict[tuple[int, int], CareRole] = field(default_factory=dict)
    letters: dict[int, Letter] = field(default_factory=dict)
    templates: list[LetterTemplate] = field(default_factory=list)
    next_id: int = 1


class FakeLetterRepository:
    """Dictionaries behind the LetterRepository protocol (same contract as the SQL one)."""

    def __init__(self, store: Any) -> None:
        if not hasattr(store, "letter_data"):
            store.letter_data = FakeLetterData()
        self.data: FakeLetterData = store.letter_data

    def _id(self) -> int:
        self.data.next_id += 1
        return self.data.next_id - 1

    def add_correspondent(self, correspondent: Correspondent) -> int:
        cid = self._id()
        self.data.correspondents[cid] = replace(correspondent, id=cid)
        return cid

    def update_correspondent(self, correspondent: Correspondent) -> None:
        if correspondent.id not in self.data.correspondents:
            raise NotFound("Ce correspondant n'existe pas (ou plus).")
        self.data.correspondents[correspondent.id] = correspondent

    def correspondent(self, correspondent_id: int) -> Correspondent:
        try:
            return self.data.correspondents[correspondent_id]
        except KeyError:
            raise NotFound(f"Le correspondant n° {correspondent_id} n'existe pas (ou plus).") from None

    def search_correspondents(self, words: Sequence[str], limit: int = 200) -> list[Correspondent]:
        keys = [search_key(w) for w in words if search_key(w)]
        found = [c for c in self.data.correspondents.values() if c.active and all(k in c.search_text for k in keys)]
        found.sort(key=lambda c: (search_key(f"{c.family_name} {c.given_name}"), c.id or 0))
        return found[:limit]

    def link(self, patient_id: int, correspondent_id: int, role: CareRole) -> None:
        self.data.links[(patient_id, correspondent_id)] = role

    def unlink(self, patient_id: int, correspondent_id: int) -> None:
        self.data.links.pop((patient_id, correspondent_id), None)

    def links(self, patient_id: int) -> list[tuple[Correspondent, CareRole]]:
        found = [(self.data.correspondents[c], r) for (p, c), r in self.data.links.items() if p == patient_id]
        found.sort(key=lambda item: search_key(f"{item[0].family_name} {item[0].given_name}"))
        return found

    def add_letter(self, letter: Letter) -> int:
        lid = self._id()
        self.data.letters[lid] = replace(letter, id=lid, row_version=1)
        return lid

    def update_letter(self, letter: Letter) -> Letter:
        if letter.id is None or letter.id not in self.data.letters:
            raise NotFound("Ce courrier n'existe pas (ou plus).")
        if self.data.letters[letter.id].row_version != letter.row_version:
            raise ConflictError("Ce courrier a été modifié sur un autre poste depuis son ouverture : rouvrez-le.")
        saved = replace(letter, row_version=letter.row_version + 1)
        self.data.letters[letter.id] = saved
        return saved

    def letter(self, letter_id: int) -> Letter:
        try:
            return self.data.letters[letter_id]
        except KeyError:
            raise NotFound(f"Le courrier n° {letter_id} n'existe pas (ou plus).") from None

    def letters(self, patient_id: int) -> list[LetterLine]:
        found = [x for x in self.data.letters.values() if x.patient_id == patient_id]
        found.sort(key=lambda x: (x.updated_at, x.id or 0), reverse=True)
        return [
            LetterLine(
                x.id or 0, x.title, x.recipient.split("\n", 1)[0], x.status, x.updated_at, x.author, x.document_row_id
            )
            for x in found
        ]

    def templates(self) -> list[LetterTemplate]:
        return sorted(self.data.templates, key=lambda t: (t.key, t.version))

    def add_template(self, template: LetterTemplate) -> None:
        if any(t.key == template.key and t.version == template.version for t in self.data.templates):
            raise ConflictError("Version de modèle déjà enregistrée.")
        self.data.templates.append(template)
