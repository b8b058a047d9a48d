"""Letter use cases: the correspondents book, templates, drafts saved automatically, validation into a document."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from app.services.documents import DocumentService, RenderedFile
from domain.audit import AuditAction, AuditEvent
from domain.documents import AuthorInfo, DocumentFormat, PatientSnapshot, author_of, snapshot_of
from domain.errors import InvalidInput, NotFound
from domain.letters import (
    LETTER_TYPE_CODE,
    MAX_LETTER_CHARS,
    MERGE_FIELDS,
    ORIGIN_USER,
    Correspondent,
    Letter,
    LetterLine,
    LetterStatus,
    LetterTemplate,
    MergeField,
    Recipient,
    expand,
    make_template,
    merge_values,
    new_letter,
    parse_letter_template,
    patient_recipients,
    recipient_of,
    sanitise,
    validate_correspondent,
)
from domain.patient import CareRole
from domain.ports import Clock, UnitOfWork, UnitOfWorkFactory
from domain.practice import Structure, UserAccount
from domain.security import Permission, can, require
from domain.text import search_key

log = logging.getLogger("lgc.letters")

MAX_TEMPLATE_FILE_BYTES = 512 * 1024


@dataclass(frozen=True, slots=True)
class DraftSaved:
    """A saved draft and what the user should know (images not kept, letter too long to be validated…)."""

    letter: Letter
    notices: tuple[str, ...] = ()
    characters: int = 0


@dataclass(frozen=True, slots=True)
class LetterPreview:
    """What the print preview lays out: the letter as it will be printed, merge fields expanded."""

    letterhead: tuple[str, ...]
    """Practice name, practitioner, profession, RPPS, address (one line each)."""
    recipient: tuple[str, ...]
    place_date: str
    subject: str
    body_html: str
    signature: str
    footer: str
    title: str


class LetterService:
    """Write letters from templates, keep the correspondents book, produce the letter as a health document."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        documents: DocumentService,
        clock: Clock,
        current_user: Callable[[], UserAccount],
        template_dir: Path,
    ) -> None:
        self._uow = uow
        self._documents = documents
        self._clock = clock
        self._current_user = current_user
        self._template_dir = template_dir
        self._shipped: list[LetterTemplate] | None = None
        self._lock = threading.Lock()

    # -- access ---------------------------------------------------------------------------------------------
    def can_read(self) -> bool:
        """Whether the signed-in user's profile reads care records (letters are part of them)."""
        return can(self._current_user(), Permission.READ_CLINICAL)

    # -- templates ------------------------------------------------------------------------------------------
    @staticmethod
    def merge_fields() -> tuple[MergeField, ...]:
        """The fields offered by « Insérer un champ »."""
        return MERGE_FIELDS

    def shipped_templates(self) -> list[LetterTemplate]:
        """The templates delivered with the software (``resources/letters/*.json``), read once.

        A file that cannot be read is skipped with a log line (the others stay available).
        """
        with self._lock:
            if self._shipped is None:
                found: list[LetterTemplate] = []
                for path in sorted(self._template_dir.glob("*.json")):
                    key = path.stem.lower().replace(" ", "_")
                    try:
                        if path.stat().st_size > MAX_TEMPLATE_FILE_BYTES:
                            raise InvalidInput({"modele": "fichier trop volumineux"})
                        found.append(parse_letter_template(json.loads(path.read_text("utf-8")), key=key))
                    except (OSError, ValueError, InvalidInput) as exc:
                        log.error("Letter template %s not loaded: %s", path.name, exc)
                self._shipped = found
            return list(self._shipped)

    def templates(self) -> list[LetterTemplate]:
        """The templates offered: each shipped one, or its latest edited copy; then the practice's own."""
        with self._uow() as uow:
            stored = uow.letters.templates()
        latest: dict[str, LetterTemplate] = {}
        for template in stored:
            if template.key not in latest or template.version > latest[template.key].version:
                latest[template.key] = template
        shipped = self.shipped_templates()
        out = [latest.pop(t.key, t) for t in shipped]
        out += sorted(latest.values(), key=lambda t: search_key(t.title))
        return out

    def template(self, key: str) -> LetterTemplate:
        """The offered template with this key.

        Raises:
            NotFound: no such template.
        """
        for template in self.templates():
            if template.key == key:
                return template
        raise NotFound(f"Le modèle de courrier « {key} » n'existe pas (ou plus).")

    def save_template(
        self, key: str | None, title: str, subject: str, body_html: str, description: str = ""
    ) -> LetterTemplate:
        """Save an edited copy of a template (a new version, origin « utilisateur »); ``key`` None makes a new
        template of the practice. Shipped files are never changed.

        Raises:
            InvalidInput: empty title or body, unknown merge field, too long (keyed by field).
        """
        user = self._current_user()
        require(user, Permission.WRITE_CLINICAL)
        now = self._clock.now()
        with self._uow() as uow:
            stored = uow.letters.templates()
            if key is None:
                base = re.sub(r"[^a-z0-9]+", "_", search_key(title) or "modele")[:60] or "modele"
                key = f"cabinet.{base}"
                taken = {t.key for t in stored} | {t.key for t in self.shipped_templates()}
                suffix = 2
                while key in taken:
                    key = f"cabinet.{base}_{suffix}"
                    suffix += 1
            versions = [t.version for t in stored if t.key == key]
            shipped = next((t for t in self.shipped_templates() if t.key == key), None)
            version = max([*versions, shipped.version if shipped else 0]) + 1
            template = make_template(
                key,
                title,
                subject,
                body_html,
                description=description,
                version=version,
                origin=ORIGIN_USER,
                created_at=now,
                author=user.actor,
            )
            uow.letters.add_template(template)
            self._trace(uow, user, AuditAction.RECORD_SETTINGS, None, {"modele_courrier": key, "version": version})
            uow.commit()
        log.info("Letter template %s saved (version %d)", key, version)
        return template

    # -- correspondents book -------------------------------------------------------------------------------
    def search_correspondents(self, text: str = "", limit: int = 200) -> list[Correspondent]:
        """Correspondents of the book whose name, profession or city contain every word typed."""
        require(self._current_user(), Permission.READ_IDENTITY)
        with self._uow() as uow:
            return uow.letters.search_correspondents(text.split()[:6], limit)

    def correspondent(self, correspondent_id: int) -> Correspondent:
        """One correspondent of the book."""
        require(self._current_user(), Permission.READ_IDENTITY)
        with self._uow() as uow:
            return uow.letters.correspondent(correspondent_id)

    def save_correspondent(self, correspondent: Correspondent) -> Correspondent:
        """Add (id None) or change a correspondent of the book.

        Raises:
            InvalidInput: bad name, RPPS (11 digits and its key), MSSanté address, phone (French, by field).
        """
        user = self._current_user()
        require(user, Permission.EDIT_IDENTITY)
        cleaned = validate_correspondent(correspondent)
        with self._uow() as uow:
            if cleaned.rpps:
                same = [
                    c
                    for c in uow.letters.search_correspondents([], limit=100_000)
                    if c.rpps == cleaned.rpps and c.id != cleaned.id
                ]
                if same:
                    raise InvalidInput({"rpps": f"Ce RPPS est déjà celui de {same[0].display_name} dans le carnet."})
            if cleaned.id is None:
                new_id = uow.letters.add_correspondent(cleaned)
                cleaned = replace(cleaned, id=new_id)
                what = "ajout"
            else:
                uow.letters.update_correspondent(cleaned)
                what = "modification"
            self._trace(uow, user, AuditAction.SETTINGS_CHANGE, None, {"correspondant": cleaned.id, "action": what})
            uow.commit()
        log.info("Correspondent %s saved (%s)", cleaned.id, what)
        return cleaned

    def patient_correspondents(self, patient_id: int) -> list[Recipient]:
        """The patient's correspondents: the care team of the patient file (médecin traitant, prescripteurs,
        correspondants), completed by the book's entries linked to the patient."""
        require(self._current_user(), Permission.READ_IDENTITY)
        with self._uow() as uow:
            patient = uow.patients.get(patient_id)
            links = uow.letters.links(patient_id)
        return patient_recipients(patient.care_team, links)

    def link(self, patient_id: int, correspondent_id: int, role: CareRole = CareRole.CORRESPONDENT) -> None:
        """Link a correspondent of the book to a patient (traced)."""
        user = self._current_user()
        require(user, Permission.EDIT_IDENTITY)
        with self._uow() as uow:
            uow.patients.get(patient_id)
            correspondent = uow.letters.correspondent(correspondent_id)
            uow.letters.link(patient_id, correspondent_id, role)
            detail: dict[str, object] = {"correspondant": correspondent_id, "role": role.value}
            self._trace(uow, user, AuditAction.IDENTITY_UPDATE, patient_id, detail)
            uow.commit()
        log.info("Correspondent %s linked to patient %s", correspondent.id, patient_id)

    def unlink(self, patient_id: int, correspondent_id: int) -> None:
        """Remove the link between a patient and a correspondent of the book (traced)."""
        user = self._current_user()
        require(user, Permission.EDIT_IDENTITY)
        with self._uow() as uow:
            uow.letters.unlink(patient_id, correspondent_id)
            detail: dict[str, object] = {"correspondant_retire": correspondent_id}
            self._trace(uow, user, AuditAction.IDENTITY_UPDATE, patient_id, detail)
            uow.commit()

    # -- letters --------------------------------------------------------------------------------------------
    def letters(self, patient_id: int) -> list[LetterLine]:
        """The patient's letters, most recently changed first."""
        require(self._current_user(), Permission.READ_CLINICAL)
        with self._uow() as uow:
            return uow.letters.letters(patient_id)

    def letter(self, letter_id: int) -> Letter:
        """One letter (traced as a read of the record)."""
        user = self._current_user()
        require(user, Permission.READ_CLINICAL)
        with self._uow() as uow:
            letter = uow.letters.letter(letter_id)
            self._trace(uow, user, AuditAction.DOCUMENT_READ, letter.patient_id, {"courrier": letter_id})
            uow.commit()
            return letter

    def new_letter(self, patient_id: int, template_key: str, recipient: Recipient | None = None) -> Letter:
        """A new draft from a template, merged with the patient's, the practitioner's and the recipient's data.

        Raises:
            NotFound: unknown patient or template. PermissionDenied: not an identified health professional.
        """
        user = self._current_user()
        require(user, Permission.WRITE_CLINICAL)
        template = self.template(template_key)
        now = self._clock.now()
        with self._uow() as uow:
            patient = uow.patients.get(patient_id)
            author = author_of(user, self._structure(uow, user))
            values = merge_values(patient=snapshot_of(patient), author=author, recipient=recipient, today=now.date())
            letter = new_letter(
                template,
                patient_id=patient_id,
                values=values,
                recipient=recipient,
                author_login=user.login,
                author=user.actor,
                at=now,
            )
            letter_id = uow.letters.add_letter(letter)
            self._trace(
                uow, user, AuditAction.DOCUMENT_WRITE, patient_id, {"courrier": letter_id, "modele": template.key}
            )
            uow.commit()
            saved = uow.letters.letter(letter_id)
        log.info("Letter %s created from template %s", letter_id, template.key)
        return saved

    def save_draft(
        self,
        letter_id: int,
        row_version: int,
        *,
        title: str | None = None,
        subject: str | None = None,
        recipient: str | None = None,
        body_html: str | None = None,
        correspondent_id: int | None = None,
    ) -> DraftSaved:
        """Save a draft (called by the editor's timer). The body is sanitised; a letter too long to be validated
        is still saved, with a notice.

        Raises:
            PermissionDenied: validated letter. ConflictError: changed on another workstation.
            InvalidInput: a field beyond what a draft may hold (nothing saved).
        """
        user = self._current_user()
        require(user, Permission.WRITE_CLINICAL)
        now = self._clock.now()
        with self._uow() as uow:
            current = replace(uow.letters.letter(letter_id), row_version=row_version)
            try:
                edited, body = current.edited(
                    at=now,
                    title=title,
                    subject=subject,
                    recipient=recipient,
                    body_html=body_html,
                    correspondent_id=correspondent_id,
                )
            except InvalidInput as exc:
                log.warning("Letter %s draft refused: %s", letter_id, exc.message_fr)
                raise
            saved = uow.letters.update_letter(edited)
            uow.commit()
        notices = list(body.notices) if body is not None else []
        characters = len(saved.text)
        if characters > MAX_LETTER_CHARS:
            notices.append(
                f"Brouillon enregistré, mais trop long pour être validé ({characters} caractères ; "
                f"{MAX_LETTER_CHARS} au plus, environ 30 pages)."
            )
        return DraftSaved(saved, tuple(notices), characters)

    def merged(self, letter: Letter) -> tuple[str, str, dict[str, str]]:
        """The letter's subject and body with every known merge field expanded, and the values used."""
        with self._uow() as uow:
            patient = uow.patients.get(letter.patient_id)
            user = self._current_user()
            author = self._author_or_none(uow, user)
            recipient = self._recipient(uow, letter)
        values = merge_values(patient=snapshot_of(patient), author=author, recipient=recipient, today=self._today())
        body = sanitise(expand(letter.body_html, values)).html
        return expand(letter.subject, values, escape_html=False), body, values

    def preview(self, letter_id: int) -> LetterPreview:
        """The letter laid out as it will be printed (print preview)."""
        require(self._current_user(), Permission.READ_CLINICAL)
        with self._uow() as uow:
            letter = uow.letters.letter(letter_id)
            patient = uow.patients.get(letter.patient_id)
            author = self._author_or_none(uow, self._current_user())
        subject, body, values = self.merged(letter)
        return LetterPreview(
            letterhead=_letterhead(author),
            recipient=tuple(letter.recipient.splitlines()),
            place_date=_place_date(values),
            subject=subject,
            body_html=body,
            signature=author.display_name if author else letter.author,
            footer=self._documents.settings.rgpd_footer,
            title=letter.title or _patient_label(snapshot_of(patient)),
        )

    def validate(self, letter_id: int, row_version: int) -> Letter:
        """Validate a letter: fields merged, checks, then the health document (96349-6) is produced by the
        documents pipeline (PDF/A-1b, CDA N1, XDM on demand); the letter is frozen and points to it.

        Raises:
            InvalidInput: empty or too long, unknown merge field, no recipient or subject (French, by field);
                nothing is produced. PermissionDenied: validated already, or not a health professional.
        """
        user = self._current_user()
        require(user, Permission.WRITE_CLINICAL)
        with self._uow() as uow:
            letter = replace(uow.letters.letter(letter_id), row_version=row_version)
            if letter.status is LetterStatus.VALIDATED:
                raise InvalidInput("Ce courrier est déjà validé.")
            author_of(user, self._structure(uow, user))  # PermissionDenied before anything is produced
        subject, body_html, _values = self.merged(letter)
        merged = replace(letter, subject=subject, body_html=body_html)
        errors = merged.problems()
        if errors:
            log.info("Letter %s not validated: %s", letter_id, "; ".join(errors.values()))
            raise InvalidInput(errors)
        text = merged.text
        values = {
            "destinataire": ", ".join(line for line in merged.recipient.splitlines() if line.strip())[:1_000],
            "motif": subject,
            "corps": text,
            "corps_html": body_html,
        }
        now = self._clock.now()
        with self._uow() as uow:
            # One unit of work: the document and the frozen letter are stored together, or neither is.
            document = self._documents.produce_in(uow, letter.patient_id, LETTER_TYPE_CODE, values, title=merged.title)
            frozen = replace(
                merged,
                status=LetterStatus.VALIDATED,
                validated_at=now,
                updated_at=now,
                document_row_id=document.id,
            )
            saved = uow.letters.update_letter(frozen)
            detail: dict[str, object] = {"courrier": letter_id, "document": document.document_id}
            self._trace(uow, user, AuditAction.DOCUMENT_WRITE, letter.patient_id, detail)
            uow.commit()
        log.info("Letter %s validated as document %s", letter_id, document.id)
        return saved

    def pdf(self, letter_id: int) -> RenderedFile:
        """The PDF/A of a validated letter (from the documents pipeline).

        Raises:
            InvalidInput: the letter is a draft (validate it first).
        """
        require(self._current_user(), Permission.READ_CLINICAL)
        with self._uow() as uow:
            letter = uow.letters.letter(letter_id)
        if letter.document_row_id is None:
            raise InvalidInput(f"« {letter.title} » est un brouillon : validez-le pour produire le PDF.")
        return self._documents.render(letter.document_row_id, DocumentFormat.PDF)

    # -- helpers --------------------------------------------------------------------------------------------
    def _today(self) -> dt.date:
        return self._clock.now().date()

    @staticmethod
    def _structure(uow: UnitOfWork, user: UserAccount) -> Structure | None:
        return next((s for s in uow.practice.structures() if s.id == user.structure_id), None)

    def _author_or_none(self, uow: UnitOfWork, user: UserAccount) -> AuthorInfo | None:
        if user.profession is None or not user.rpps:
            return None
        return author_of(user, self._structure(uow, user))

    @staticmethod
    def _recipient(uow: UnitOfWork, letter: Letter) -> Recipient | None:
        if letter.correspondent_id is not None:
            try:
                return recipient_of(uow.letters.correspondent(letter.correspondent_id))
            except NotFound:
                pass
        lines = [line for line in letter.recipient.splitlines() if line.strip()]
        if not lines:
            return None
        name, title = lines[0], ""
        for short, long in (("Dr ", "Docteur"), ("Pr ", "Professeur"), ("Mme ", "Madame"), ("M. ", "Monsieur")):
            if name.startswith(short):
                name, title = name[len(short) :], long
                break
        return Recipient(name=name, title=title, profession=lines[1] if len(lines) > 1 else "")

    def _trace(
        self,
        uow: UnitOfWork,
        user: UserAccount,
        action: AuditAction,
        patient_id: int | None,
        detail: dict[str, object],
    ) -> None:
        uow.audit.append(
            AuditEvent(at=self._clock.now(), actor=user.actor, action=action, patient_id=patient_id, detail=detail)
        )


def _letterhead(author: AuthorInfo | None) -> tuple[str, ...]:
    if author is None:
        return ()
    lines = [author.structure_name, author.display_name, author.profession_label]
    if author.national_id.startswith("8"):
        lines.append(f"RPPS {author.national_id[1:]}")
    lines += [part.strip() for part in author.address.split(",") if part.strip()]
    if author.phone:
        lines.append(f"Tél. {author.phone}")
    return tuple(dict.fromkeys(line for line in lines if line))


def _place_date(values: dict[str, str]) -> str:
    place = values.get("lieu", "")
    return f"{place}, le {values['date_longue']}" if place else f"Le {values['date_longue']}"


def _patient_label(patient: PatientSnapshot) -> str:
    return f"Courrier — {patient.display_name}"
