"""Health-document use cases: draft, edit, validate, new version, open, export, import with checks and dedup."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from domain.audit import AuditAction, AuditEvent
from domain.document_ports import DocumentReader, DocumentRenderer, ReceivedCda
from domain.documents import (
    DOCUMENT_KINDS,
    Confidentiality,
    ConfidentialityFlag,
    DocumentFormat,
    DocumentKey,
    DocumentKind,
    DocumentRow,
    DocumentSettings,
    DocumentStatus,
    DuplicateVerdict,
    HealthDocument,
    ImportOutcome,
    PatientSnapshot,
    Provenance,
    StoredContent,
    author_of,
    check_duplicate,
    document_kind,
    match_patient,
    new_draft,
    pdf_file_name,
    snapshot_of,
)
from domain.errors import InvalidInput, NotFound, PermissionDenied
from domain.patient import CareRole, Patient
from domain.ports import Clock, UnitOfWork, UnitOfWorkFactory
from domain.practice import Structure, UserAccount
from domain.security import Permission, can, require

log = logging.getLogger("lgc.documents")

MAX_IMPORT_BYTES = 60 * 1024 * 1024
"""Largest file accepted for import (an XDM archive); larger files are refused before being read."""


@dataclass(frozen=True, slots=True)
class OpenedDocument:
    """A document as the viewer shows it: the PDF first when there is one, the structured view on demand."""

    document: HealthDocument
    pdf: bytes | None
    html: str
    """The CDA through the project's stylesheet ("" when there is no CDA, e.g. an imported PDF)."""
    newer_version_notice: str
    """A French sentence when a newer version of this document is in the record, else ""."""
    structured: bool


@dataclass(frozen=True, slots=True)
class RenderedFile:
    """One file to save or send."""

    file_name: str
    data: bytes


@dataclass(frozen=True, slots=True)
class ImportReport:
    """The outcome of importing one file (an XDM archive may hold several documents)."""

    outcomes: tuple[ImportOutcome, ...]

    @property
    def integrated(self) -> int:
        """How many documents were integrated."""
        return sum(1 for o in self.outcomes if o.document_id is not None)


class DocumentService:
    """Produce documents from the record, keep their versions, and integrate received ones safely."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        renderer: DocumentRenderer,
        reader: DocumentReader,
        clock: Clock,
        current_user: Callable[[], UserAccount],
        settings: DocumentSettings | None = None,
    ) -> None:
        self._uow = uow
        self._renderer = renderer
        self._reader = reader
        self._clock = clock
        self._current_user = current_user
        self.settings = settings or DocumentSettings()

    # -- reference -------------------------------------------------------------------------------------
    @staticmethod
    def kinds() -> tuple[DocumentKind, ...]:
        """The document types this software produces."""
        return DOCUMENT_KINDS

    # -- permissions -----------------------------------------------------------------------------------
    def can_read(self) -> bool:
        """Whether the signed-in user's profile reads care records (the tab says so instead of failing)."""
        return can(self._current_user(), Permission.READ_CLINICAL)

    def _user_reading(self) -> UserAccount:
        user = self._current_user()
        require(user, Permission.READ_CLINICAL)
        return user

    def _user_writing(self) -> UserAccount:
        user = self._current_user()
        require(user, Permission.WRITE_CLINICAL)
        return user

    # -- list and open ---------------------------------------------------------------------------------
    def list_documents(self, patient_id: int) -> list[DocumentRow]:
        """The patient's documents, newest act first (metadata only).

        Raises:
            PermissionDenied: the user's profile does not read care records (secretary, administrator).
        """
        self._user_reading()
        with self._uow() as uow:
            return uow.documents.rows(patient_id)

    def get(self, document_row_id: int) -> HealthDocument:
        """One document (its data, no rendering)."""
        self._user_reading()
        with self._uow() as uow:
            return uow.documents.get(document_row_id)

    def open_document(self, document_row_id: int) -> OpenedDocument:
        """Open a document for reading (traced): the PDF, the structured view, a newer-version notice."""
        user = self._user_reading()
        with self._uow() as uow:
            doc = uow.documents.get(document_row_id)
            content = uow.documents.content(document_row_id)
            related = uow.documents.related_keys(doc.patient_id, doc.document_id, doc.set_id)
            self._trace(uow, user, AuditAction.DOCUMENT_READ, doc.patient_id, {"document": doc.document_id})
            uow.commit()
        newer = [key for _, key in related if key.set_id == doc.set_id and key.version > doc.version]
        notice = ""
        if newer or doc.superseded:
            latest = max((k.version for k in newer), default=doc.version + 1)
            notice = f"Une version plus récente (version {latest}) de ce document est dans le dossier."
        pdf, cda = content.pdf, content.cda
        if doc.provenance is Provenance.PRODUCED and doc.status is DocumentStatus.DRAFT:
            pdf = self._renderer.pdf(doc, rgpd_footer=self.settings.rgpd_footer)
            cda = self._renderer.cda_n3(doc, pdf) if doc.model else self._renderer.cda_n1(doc, pdf)
        html = self._renderer.html(cda) if cda else ""
        return OpenedDocument(doc, pdf, html, notice, structured=bool(doc.model) or doc.source_format == "n3")

    # -- produce ---------------------------------------------------------------------------------------
    def create_draft(self, patient_id: int, type_code: str, values: Mapping[str, str] | None = None) -> HealthDocument:
        """A new draft pre-filled from the record (identity, author, recipient…); every field stays editable.

        Raises:
            InvalidInput: unknown type. PermissionDenied: the user is not an identified health professional.
        """
        kind = document_kind(type_code)
        user = self._user_writing()
        now = self._clock.now()
        with self._uow() as uow:
            patient = uow.patients.get(patient_id)
            author = author_of(user, self._structure(uow, user))
            preset = _prefill(kind, patient)
            preset.update(values or {})
            draft = new_draft(
                kind, patient_id=patient_id, patient=snapshot_of(patient), author=author, at=now, values=preset
            )
            row_id = uow.documents.add(draft, StoredContent())
            self._trace(uow, user, AuditAction.DOCUMENT_WRITE, patient_id, {"brouillon": kind.code})
            uow.commit()
            return uow.documents.get(row_id)

    def produce_in(
        self,
        uow: UnitOfWork,
        patient_id: int,
        type_code: str,
        values: Mapping[str, str],
        *,
        title: str | None = None,
    ) -> HealthDocument:
        """Create and validate a document inside the caller's unit of work, in one step (prescriptions, letters).

        The caller commits it together with its own changes: a refused validation or a failure later in the
        caller's work leaves no orphan draft behind. Pre-filled from the record like ``create_draft``.

        Raises:
            InvalidInput: unknown type, bad or missing field. PermissionDenied: not an identified professional.
        """
        kind = document_kind(type_code)
        user = self._user_writing()
        now = self._clock.now()
        patient = uow.patients.get(patient_id)
        author = author_of(user, self._structure(uow, user))
        preset = _prefill(kind, patient)
        preset.update(values)
        draft = new_draft(
            kind, patient_id=patient_id, patient=snapshot_of(patient), author=author, at=now, values=preset
        )
        if title is not None:
            draft = draft.edited(title=title)
        validated = draft.validate(at=now, actor=user.actor, patient=snapshot_of(patient))
        row_id = uow.documents.add(validated, self._renderings(validated))
        self._trace(
            uow,
            user,
            AuditAction.DOCUMENT_WRITE,
            patient_id,
            {"validation": validated.document_id, "version": validated.version, "type": validated.type_code},
        )
        log.info("Document %s produced and validated (%s)", row_id, kind.code)
        return uow.documents.get(row_id)

    def _renderings(self, validated: HealthDocument) -> StoredContent:
        """The PDF/A and the CDA (N3 when the document follows a model, else N1) of a validated document."""
        pdf = self._renderer.pdf(validated, rgpd_footer=self.settings.rgpd_footer)
        cda = self._renderer.cda_n3(validated, pdf) if validated.model else self._renderer.cda_n1(validated, pdf)
        return StoredContent(cda=cda, pdf=pdf)

    def edit_draft(
        self,
        document_row_id: int,
        row_version: int,
        *,
        title: str | None = None,
        act_date: dt.date | None = None,
        confidentiality: Confidentiality | None = None,
        flags: Sequence[ConfidentialityFlag] | None = None,
        values: Mapping[str, str] | None = None,
    ) -> HealthDocument:
        """Save changes to a draft.

        Raises:
            PermissionDenied: validated or imported. ConflictError: changed elsewhere. InvalidInput: bad value.
        """
        user = self._user_writing()
        with self._uow() as uow:
            doc = uow.documents.get(document_row_id)
            doc = replace(doc, row_version=row_version)
            when = None
            if act_date is not None:
                if act_date > self._clock.today():
                    raise InvalidInput({"act_date": "La date de l'acte ne peut pas être dans le futur."})
                when = dt.datetime.combine(act_date, doc.act_date.timetz())
            edited = doc.edited(
                title=title,
                act_date=when,
                confidentiality=confidentiality,
                flags=tuple(flags) if flags is not None else None,
                values=values,
            )
            saved = uow.documents.update(edited)
            self._trace(uow, user, AuditAction.DOCUMENT_WRITE, doc.patient_id, {"modification": doc.document_id})
            uow.commit()
            return saved

    def validate_document(self, document_row_id: int, row_version: int) -> HealthDocument:
        """Validate (freeze) a draft: the identity is snapshotted again, the PDF/A and the CDA are produced
        and stored; the document never changes afterwards. A new version replaces the previous one.

        Raises:
            InvalidInput: missing fields (keyed by field). PermissionDenied / ConflictError as for editing.
        """
        user = self._user_writing()
        now = self._clock.now()
        with self._uow() as uow:
            doc = replace(uow.documents.get(document_row_id), row_version=row_version)
            patient = uow.patients.get(doc.patient_id)
            validated = doc.validate(at=now, actor=user.actor, patient=snapshot_of(patient))
            saved = uow.documents.update(validated, self._renderings(validated))
            if validated.replaces_document_id:
                older = [
                    row_id
                    for row_id, key in uow.documents.related_keys(doc.patient_id, "", doc.set_id)
                    if key.version < validated.version
                ]
                uow.documents.mark_superseded(older)
            self._trace(
                uow,
                user,
                AuditAction.DOCUMENT_WRITE,
                doc.patient_id,
                {"validation": validated.document_id, "version": validated.version, "type": validated.type_code},
            )
            uow.commit()
        log.info("Document %s validated (version %d)", document_row_id, validated.version)
        return saved

    def new_version(self, document_row_id: int) -> HealthDocument:
        """A draft replacing a validated document (same setId, version + 1, RPLC), pre-filled with its content.

        Raises:
            PermissionDenied: not a validated document produced here, or not the latest version.
        """
        user = self._user_writing()
        now = self._clock.now()
        with self._uow() as uow:
            doc = uow.documents.get(document_row_id)
            related = uow.documents.related_keys(doc.patient_id, doc.document_id, doc.set_id)
            if any(key.version > doc.version for _, key in related):
                raise PermissionDenied("Une version plus récente de ce document existe déjà : partez de la dernière.")
            patient = uow.patients.get(doc.patient_id)
            author = author_of(user, self._structure(uow, user))
            draft = doc.next_version(at=now, author=author, patient=snapshot_of(patient))
            row_id = uow.documents.add(draft, StoredContent())
            self._trace(uow, user, AuditAction.DOCUMENT_WRITE, doc.patient_id, {"nouvelle_version": doc.document_id})
            uow.commit()
            return uow.documents.get(row_id)

    # -- renderings and export --------------------------------------------------------------------------
    def render(self, document_row_id: int, fmt: DocumentFormat) -> RenderedFile:
        """One rendering of a validated (or imported) document.

        Raises:
            InvalidInput: the format does not exist for this document (e.g. N3 of a type without a model),
                or the document is a draft.
        """
        self._user_reading()
        with self._uow() as uow:
            doc = uow.documents.get(document_row_id)
            content = uow.documents.content(document_row_id)
        return self._render(doc, content, fmt)

    def render_unsaved(self, doc: HealthDocument, fmt: DocumentFormat) -> RenderedFile:
        """A rendering (PDF, N1 or N3) of a document that is not in the store: what another practice would
        send (demo data, exchange tests). Nothing is read from or written to the record, so nothing is traced.

        Raises:
            InvalidInput: XDM asked (use ``render``), or no N3 model for this document.
            PermissionDenied: the user's profile does not write care records.
        """
        self._user_writing()
        pdf = self._renderer.pdf(doc, rgpd_footer=self.settings.rgpd_footer)
        base = pdf_file_name(doc)[:-4]
        if fmt is DocumentFormat.PDF:
            return RenderedFile(base + ".pdf", pdf)
        if fmt is DocumentFormat.CDA_N1:
            return RenderedFile(base + "_N1.xml", self._renderer.cda_n1(doc, pdf))
        if fmt is DocumentFormat.CDA_N3:
            return RenderedFile(base + "_N3.xml", self._renderer.cda_n3(doc, pdf))
        raise InvalidInput("Archive XDM : exportez un document du dossier.")

    def _render(self, doc: HealthDocument, content: StoredContent, fmt: DocumentFormat) -> RenderedFile:
        if doc.provenance is Provenance.PRODUCED and doc.status is DocumentStatus.DRAFT:
            raise InvalidInput(f"« {doc.title} » est un brouillon : validez-le avant de l'exporter.")
        base = pdf_file_name(doc)[:-4]
        pdf = content.pdf
        if fmt is DocumentFormat.PDF:
            if pdf is None:
                raise InvalidInput(f"« {doc.title} » n'a pas de PDF.")
            return RenderedFile(base + ".pdf", pdf)
        if doc.provenance is not Provenance.PRODUCED:
            if content.cda is None:
                raise InvalidInput(f"« {doc.title} » a été importé sans document CDA : seul son PDF existe.")
            structured = doc.source_format == "n3"
            if fmt is DocumentFormat.CDA_N3 and not structured:
                raise InvalidInput(f"« {doc.title} » est un document non structuré (N1) : pas de version N3.")
            if fmt is DocumentFormat.CDA_N1 and structured:
                raise InvalidInput(f"« {doc.title} » a été reçu en N3 : exportez-le en n3, pdf ou xdm.")
            cda, rendering = content.cda, ("n3" if structured else "n1")
        elif fmt is DocumentFormat.CDA_N3 or (fmt is DocumentFormat.XDM and doc.model):
            if not doc.model:
                raise InvalidInput(
                    f"Pas de modèle CDA structuré (N3) pour « {doc.type_display} » : exportez-le en n1, pdf ou xdm."
                )
            cda, rendering = content.cda or self._renderer.cda_n3(doc, pdf or b""), doc.model
        else:
            if pdf is None:
                raise InvalidInput(f"« {doc.title} » n'a pas de PDF.")
            cda, rendering = self._renderer.cda_n1(doc, pdf), "n1"
        if fmt is DocumentFormat.XDM:
            sender = doc.author.display_name if doc.author else self._current_user().display_name
            return RenderedFile(f"{base}_IHE_XDM.ZIP", self._renderer.xdm([(doc, cda, rendering)], sender=sender))
        return RenderedFile(f"{base}_{fmt.value.upper()}.xml", cda)

    def export(self, patient_id: int, fmt: DocumentFormat, type_code: str | None = None) -> list[RenderedFile]:
        """The current (not replaced) validated or imported documents of a patient, optionally of one type, in a
        format (traced). Documents for which the format does not exist (N3 of a type without a model) are skipped.
        """
        user = self._user_reading()
        with self._uow() as uow:
            uow.patients.get(patient_id)
            docs = uow.documents.documents(patient_id, type_code)
            contents = {d.id: uow.documents.content(d.id) for d in docs if d.id is not None}
            files: list[RenderedFile] = []
            for doc in docs:
                if doc.superseded or (doc.provenance is Provenance.PRODUCED and doc.status is DocumentStatus.DRAFT):
                    continue  # drafts are not exported; a replaced version gives way to the newer one
                try:
                    files.append(self._render(doc, contents[doc.id or 0], fmt))
                except InvalidInput as exc:
                    log.info("Document %s not exported as %s: %s", doc.id, fmt.value, exc.message_fr)
            self._trace(
                uow,
                user,
                AuditAction.DOCUMENT_EXPORT,
                patient_id,
                {"format": fmt.value, "type": type_code or "", "fichiers": len(files)},
            )
            uow.commit()
        return files

    def mark_sent(self, document_row_id: int, *, dmp: bool = False, mss: bool = False) -> HealthDocument:
        """Record that a document was sent to the DMP and/or by MSSanté (flags shown in the list)."""
        with self._uow() as uow:
            doc = uow.documents.get(document_row_id)
            saved = uow.documents.update(replace(doc, sent_dmp=doc.sent_dmp or dmp, sent_mss=doc.sent_mss or mss))
            uow.commit()
            return saved

    # -- conformity ---------------------------------------------------------------------------------------
    def check_file(self, data: bytes) -> list[tuple[str, str, str, str]]:
        """XSD + JDV_J07 + CI-SIS schematrons findings of a CDA file (``lgc documents validate``)."""
        return self._reader.validate(data)

    # -- import ----------------------------------------------------------------------------------------------
    def import_file(
        self,
        patient_id: int,
        file_name: str,
        data: bytes,
        *,
        provenance: Provenance = Provenance.IMPORTED,
        replace_older: bool = False,
        type_code: str = "",
    ) -> ImportReport:
        """Import a CDA (N1/N3), an IHE XDM archive or a PDF into a patient's record.

        Checks before integration: size, well-formed and safe XML, CDA XSD, embedded PDF, patient match (INS,
        else traits), duplicate rules. An archive is integrated whole or not at all. A document replacing an
        older version is integrated only with ``replace_older`` (the user confirmed); the older one stays in
        the history, flagged. Every refusal is traced and raised as InvalidInput with a French message.

        Raises:
            InvalidInput: the file (or one document of the archive) is refused; nothing is integrated.
        """
        user = self._user_writing()
        try:
            received, pdf_only = self._read_import(file_name, data)
            with self._uow() as uow:
                patient = uow.patients.get(patient_id)
                for item in received:
                    _require_same_patient(item.patient, patient, file_name)
                outcomes: list[ImportOutcome] = []
                if pdf_only is not None:
                    outcomes.append(
                        self._integrate_pdf(uow, patient_id, patient, file_name, pdf_only, provenance, type_code)
                    )
                for item in received:
                    outcomes.append(self._integrate_cda(uow, patient_id, file_name, item, provenance, replace_older))
                for outcome in outcomes:
                    self._trace(
                        uow,
                        user,
                        AuditAction.DOCUMENT_IMPORT,
                        patient_id,
                        {"fichier": file_name[:200], "resultat": outcome.message_fr},
                        outcome="ok" if outcome.document_id is not None else "non_integre",
                    )
                uow.commit()
        except (InvalidInput, NotFound) as exc:
            self._trace_refusal(user, patient_id, file_name, exc.message_fr)
            raise
        return ImportReport(tuple(outcomes))

    def import_files(
        self,
        patient_id: int,
        files: Sequence[tuple[str, bytes]],
        *,
        provenance: Provenance = Provenance.IMPORTED,
        replace_older: bool = False,
    ) -> list[tuple[str, ImportReport | str]]:
        """Import several files at once (a dropped folder, a batch from the DMP) in one transaction.

        Each file is checked on its own as by ``import_file``: a refused file (its French message is returned
        in place of a report, and traced) does not stop the others; an archive stays all or nothing.
        """
        user = self._user_writing()
        checked: list[tuple[str, list[ReceivedCda], bytes | None]] = []
        results: dict[int, ImportReport | str] = {}
        for position, (name, data) in enumerate(files):
            try:
                received, pdf_only = self._read_import(name, data)
                checked.append((name, received, pdf_only))
            except InvalidInput as exc:
                results[position] = exc.message_fr
                checked.append((name, [], None))
        with self._uow() as uow:
            patient = uow.patients.get(patient_id)
            for position, (name, received, pdf_only) in enumerate(checked):
                if position in results:
                    self._trace_in(uow, user, patient_id, name, str(results[position]))
                    continue
                try:
                    for item in received:
                        _require_same_patient(item.patient, patient, name)
                except InvalidInput as exc:
                    results[position] = exc.message_fr
                    self._trace_in(uow, user, patient_id, name, exc.message_fr)
                    continue
                outcomes: list[ImportOutcome] = []
                if pdf_only is not None:
                    outcomes.append(self._integrate_pdf(uow, patient_id, patient, name, pdf_only, provenance, ""))
                outcomes += [self._integrate_cda(uow, patient_id, name, i, provenance, replace_older) for i in received]
                for outcome in outcomes:
                    self._trace(
                        uow,
                        user,
                        AuditAction.DOCUMENT_IMPORT,
                        patient_id,
                        {"fichier": name[:200], "resultat": outcome.message_fr},
                        outcome="ok" if outcome.document_id is not None else "non_integre",
                    )
                results[position] = ImportReport(tuple(outcomes))
            uow.commit()
        return [(name, results[position]) for position, (name, _) in enumerate(files)]

    def _trace_in(self, uow: UnitOfWork, user: UserAccount, patient_id: int, name: str, message: str) -> None:
        log.warning("Document import refused (%s): %s", name[:80], message)
        detail: dict[str, object] = {"fichier": name[:200], "refus": message[:500]}
        self._trace(uow, user, AuditAction.DOCUMENT_IMPORT, patient_id, detail, outcome="refuse")

    def _read_import(self, file_name: str, data: bytes) -> tuple[list[ReceivedCda], bytes | None]:
        if len(data) > MAX_IMPORT_BYTES:
            raise InvalidInput(
                f"« {file_name} » est trop volumineux ({len(data) // 1_048_576} Mo ; "
                f"{MAX_IMPORT_BYTES // 1_048_576} Mo au plus) : rien n'est intégré."
            )
        if not data:
            raise InvalidInput(f"« {file_name} » est vide : rien n'est intégré.")
        head = data[:8].lstrip()
        if data.startswith(b"PK\x03\x04") or data.startswith(b"PK\x05\x06"):
            members = self._reader.read_xdm(data)
            return [self._reader.read_cda(content) for _, content in members], None
        if head.startswith(b"%PDF"):
            self._reader.check_pdf(data)
            return [], data
        if file_name.lower().endswith(".pdf"):
            raise InvalidInput(f"« {file_name} » n'est pas un PDF (signature %PDF absente) : il n'est pas intégré.")
        return [self._reader.read_cda(data)], None

    def _integrate_cda(
        self,
        uow: UnitOfWork,
        patient_id: int,
        file_name: str,
        item: ReceivedCda,
        provenance: Provenance,
        replace_older: bool,
    ) -> ImportOutcome:
        related = uow.documents.related_keys(patient_id, item.document_id, item.set_id)
        check = check_duplicate(DocumentKey(item.document_id, item.set_id, item.version), [k for _, k in related])
        title = item.title or item.type_display or file_name
        if not check.verdict.integrable:
            return ImportOutcome(file_name, check.verdict, None, check.verdict.message_fr, title)
        if check.verdict is DuplicateVerdict.REPLACES_OLDER and not replace_older:
            return ImportOutcome(
                file_name,
                check.verdict,
                None,
                "Une version plus ancienne de ce document est dans le dossier : confirmez le remplacement pour "
                "l'intégrer (l'ancienne version restera dans l'historique).",
                title,
            )
        now = self._clock.now()
        act = dt.datetime.fromisoformat(item.act_date_iso) if item.act_date_iso else now
        doc = HealthDocument(
            id=None,
            patient_id=patient_id,
            type_code=item.type_code,
            type_system=item.type_system,
            type_display=item.type_display,
            title=title[:250],
            patient=item.patient,
            author=None,
            act_date=act,
            fields=(),
            document_id=item.document_id,
            set_id=item.set_id,
            version=item.version,
            created_at=now,
            confidentiality=_confidentiality(item.confidentiality),
            provenance=provenance,
            status=DocumentStatus.VALIDATED,
            replaces_document_id=item.replaces_document_id,
            author_name=item.author_name,
            source_format="n3" if item.structured else "n1",
            model=item.model,
        )
        row_id = uow.documents.add(doc, StoredContent(cda=item.cda, pdf=item.pdf))
        if check.verdict is DuplicateVerdict.REPLACES_OLDER:
            uow.documents.mark_superseded([rid for rid, key in related if key.version < item.version])
        return ImportOutcome(file_name, check.verdict, row_id, check.verdict.message_fr, title)

    def _integrate_pdf(
        self,
        uow: UnitOfWork,
        patient_id: int,
        patient: Patient,
        file_name: str,
        data: bytes,
        provenance: Provenance,
        type_code: str,
    ) -> ImportOutcome:
        digest = "urn:sha256:" + hashlib.sha256(data).hexdigest()
        related = uow.documents.related_keys(patient_id, digest, digest)
        if related:
            verdict = DuplicateVerdict.SAME_DOCUMENT
            return ImportOutcome(file_name, verdict, None, verdict.message_fr, file_name)
        kind = document_kind(type_code) if type_code else None
        now = self._clock.now()
        stem = file_name.rsplit("/", 1)[-1].rsplit(".", 1)[0][:200] or "Document PDF"
        doc = HealthDocument(
            id=None,
            patient_id=patient_id,
            type_code=kind.code if kind else "",
            type_system=kind.code_system if kind else "",
            type_display=kind.display_name if kind else "Document PDF",
            title=stem,
            patient=snapshot_of(patient),
            author=None,
            act_date=now,
            fields=(),
            document_id=digest,
            set_id=digest,
            created_at=now,
            provenance=provenance,
            status=DocumentStatus.VALIDATED,
            source_format="pdf",
        )
        row_id = uow.documents.add(doc, StoredContent(pdf=data))
        verdict = DuplicateVerdict.NEW
        return ImportOutcome(file_name, verdict, row_id, verdict.message_fr, stem)

    # -- helpers ------------------------------------------------------------------------------------------
    @staticmethod
    def _structure(uow: UnitOfWork, user: UserAccount) -> Structure | None:
        return next((s for s in uow.practice.structures() if s.id == user.structure_id), None)

    def _trace(
        self,
        uow: UnitOfWork,
        user: UserAccount,
        action: AuditAction,
        patient_id: int | None,
        detail: dict[str, object],
        outcome: str = "ok",
    ) -> None:
        uow.audit.append(
            AuditEvent(
                at=self._clock.now(),
                actor=user.actor,
                action=action,
                outcome=outcome,
                patient_id=patient_id,
                detail=detail,
            )
        )

    def _trace_refusal(self, user: UserAccount, patient_id: int, file_name: str, message: str) -> None:
        log.warning("Document import refused (%s): %s", file_name[:80], message)
        try:
            with self._uow() as uow:
                self._trace(
                    uow,
                    user,
                    AuditAction.DOCUMENT_IMPORT,
                    patient_id if self._patient_exists(uow, patient_id) else None,
                    {"fichier": file_name[:200], "refus": message[:500]},
                    outcome="refuse",
                )
                uow.commit()
        except Exception:  # the refusal itself must reach the user even if the trace cannot be written
            log.exception("Could not trace a refused import")

    @staticmethod
    def _patient_exists(uow: UnitOfWork, patient_id: int) -> bool:
        try:
            uow.patients.get(patient_id)
        except NotFound:
            return False
        return True


def _confidentiality(code: str) -> Confidentiality:
    try:
        return Confidentiality(code)
    except ValueError:
        return Confidentiality.NORMAL


def _require_same_patient(received: PatientSnapshot, patient: Patient, file_name: str) -> None:
    match = match_patient(received, patient)
    if not match.matches:
        raise InvalidInput(
            f"« {file_name} » concerne un autre patient ({match.reason_fr}) : il n'est pas intégré dans ce dossier."
        )


def _prefill(kind: DocumentKind, patient: Patient) -> dict[str, str]:
    """Values taken from the record for a new document of ``kind``."""
    values: dict[str, str] = {}
    keys = {spec.key for spec in kind.fields}
    doctor = patient.attending_doctor
    if "destinataire" in keys and doctor is not None:
        values["destinataire"] = doctor.display_name
    if kind.code == "87273-9":
        values["acte"] = "INITIMMUNIZ"
        values["voie"] = "20035000"
        values["site"] = "16217701000119102"
    if kind.code == "96173-0":
        values["resultat"] = "NEG"
    prescriber = next((m for m in patient.care_team if m.role is CareRole.PRESCRIBER), None)
    if "motif" in keys and prescriber is not None:
        values["motif"] = f"Sur prescription de {prescriber.display_name}."
    return values
