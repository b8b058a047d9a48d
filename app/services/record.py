"""Clinical-record use cases: observations, forms, lists, drafts, macros, decision support and dashboards."""

from __future__ import annotations

import datetime as dt
import gc
import heapq
import json
import logging
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from app.services.patients import parse_date_fr
from domain.agenda import DEFAULT_APPOINTMENT_TYPES, AppointmentStatus, progress_from_counts
from domain.audit import AuditAction, AuditEvent
from domain.decision import (
    VACCINATING_PROFESSIONS,
    Alert,
    AlertLevel,
    DecisionSupport,
    DoseTuple,
    RecordSnapshot,
    ScheduleItem,
    VaccinationSchedule,
    VaccineStep,
    braden_alerts,
    current_pregnancy,
    fr_date,
    parse_allergy_classes,
    parse_pregnancy_schedule,
    parse_schedule,
    pregnancy_alerts,
    pregnancy_plan,
    series_alerts,
    series_is_current,
    vaccines_due_bulk,
    valences_of,
    wound_alerts,
)
from domain.errors import InvalidInput, NotFound
from domain.forms import FormTemplate, TemplateError, fill, parse_template
from domain.identity import IdentityStatus
from domain.macros import DEFAULT_MACROS, Macro, MacroSet, check_unique, validate_macro
from domain.ports import Clock, UnitOfWork, UnitOfWorkFactory
from domain.practice import UserAccount
from domain.prescriptions import current_product_lines
from domain.record import (
    AttachmentStore,
    Dismissal,
    Draft,
    EntryKind,
    FormFact,
    Observation,
    ObservationKind,
    ObservationLine,
    RecordEntry,
    StoredTemplate,
    check_observation_text,
    summarize_text,
    validate_entry,
)
from domain.security import Permission, can, require
from domain.timeline import appointment_line, document_line, merge_timeline

log = logging.getLogger("lgc.record")

ORIGIN_RESOURCE = "ressource"
ORIGIN_USER = "utilisateur"
MAX_TEMPLATE_BYTES = 512 * 1024
ACTIVE_CARE_DAYS = 90
NEXT_VISIT_DAYS = 60
"""A patient in active care with no appointment planned within this many days is listed on the dashboard."""
DASHBOARD_LINES = 500


@dataclass(frozen=True, slots=True)
class TemplateInfo:
    """A template offered in the "new observation" menu (its latest version)."""

    key: str
    version: int
    title: str
    origin: str
    professions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RecordView:
    """What the Observations tab shows first: the timeline, the structured lists and the author's draft."""

    patient_id: int
    timeline: tuple[ObservationLine, ...]
    entries: tuple[RecordEntry, ...]
    draft: Draft | None


@dataclass(frozen=True, slots=True)
class ObservationDetail:
    """One observation and the template version it was written with."""

    observation: Observation
    template: FormTemplate | None


@dataclass(frozen=True, slots=True)
class DashboardLine:
    """A patient in a dashboard section; the UI opens the file on double-click."""

    patient_id: int
    name: str
    birth_date: dt.date
    detail: str
    level: AlertLevel = AlertLevel.INFO


@dataclass(frozen=True, slots=True)
class DashboardSection:
    """One list of the dashboard (``total`` may exceed the lines shown)."""

    key: str
    title: str
    explanation: str
    lines: tuple[DashboardLine, ...]
    total: int


@dataclass(frozen=True, slots=True)
class Dashboard:
    """The follow-up dashboard of a practitioner."""

    practitioner: str
    generated_at: dt.datetime
    patients_scanned: int
    seconds: float
    sections: tuple[DashboardSection, ...]

    def section(self, key: str) -> DashboardSection:
        """The section ``key``. Raises KeyError."""
        return next(s for s in self.sections if s.key == key)


class TemplateCatalog:
    """Templates shipped in resources/forms (read once, lazily) plus the copies stored in the database."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._shipped: dict[str, FormTemplate] | None = None
        self._problems: list[str] = []
        self._lock = threading.Lock()

    def shipped(self) -> dict[str, FormTemplate]:
        """Shipped templates by key; a malformed file is logged and skipped (the others stay usable)."""
        with self._lock:
            if self._shipped is None:
                shipped: dict[str, FormTemplate] = {}
                for path in sorted(self._directory.glob("*.json")):
                    try:
                        template = load_template_text(path.read_text(encoding="utf-8"), path.name)
                    except (OSError, InvalidInput) as exc:
                        self._problems.append(f"{path.name} : {exc}")
                        log.error("Form template %s refused: %s", path.name, exc)
                        continue
                    shipped[template.key] = template
                self._shipped = shipped
            return self._shipped

    @property
    def problems(self) -> list[str]:
        """French messages about shipped files that could not be read."""
        self.shipped()
        return list(self._problems)


def load_template_text(text: str, origin: str) -> FormTemplate:
    """Parse a template from JSON text.

    Raises:
        TemplateError: French messages (JSON syntax error with its line, schema problems, conditions, cycles).
    """
    if len(text.encode("utf-8")) > MAX_TEMPLATE_BYTES:
        raise TemplateError(origin, [f"fichier trop volumineux ({MAX_TEMPLATE_BYTES // 1024} Ko au plus)."])
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TemplateError(
            origin, [f"syntaxe JSON invalide ligne {exc.lineno}, colonne {exc.colno} : {_json_reason(exc.msg)}."]
        ) from exc
    return parse_template(data, origin=origin)


def _json_reason(msg: str) -> str:
    known = {
        "Expecting ',' delimiter": "virgule attendue",
        "Expecting ':' delimiter": "deux-points attendus",
        "Expecting value": "valeur attendue",
        "Expecting property name enclosed in double quotes": "nom de clé entre guillemets doubles attendu",
        "Unterminated string starting at": "texte non terminé (guillemet fermant manquant)",
        "Extra data": "contenu en trop après la fin de l'objet",
    }
    return known.get(msg, msg)


class RecordService:
    """The clinical record of the patients; every change is traced."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        current_user: Callable[[], UserAccount],
        resources: Path,
        attachments: AttachmentStore,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._current_user = current_user
        self._resources = resources
        self.catalog = TemplateCatalog(resources / "forms")
        self._attachments = attachments
        self._decision: DecisionSupport | None = None
        self._decision_lock = threading.Lock()

    # -- decision-support data (read on first use, not at start-up) ---------------------------------------------
    @property
    def decision(self) -> DecisionSupport:
        """The rules with their data (vaccination schedule, pregnancy steps, substance classes)."""
        with self._decision_lock:
            if self._decision is None:
                folder = self._resources / "record"
                schedule = parse_schedule(_read_json(folder / "calendrier_vaccinal_2025.json"))
                pregnancy = parse_pregnancy_schedule(_read_json(folder / "suivi_grossesse.json"))
                classes = parse_allergy_classes(_read_json(folder / "classes_allergies.json"))
                self._decision = DecisionSupport(schedule, pregnancy, classes)
            return self._decision

    def current_profession(self) -> str | None:
        """Profession code of the signed-in user (orders the templates, selects the rules)."""
        user = self._current_user()
        return user.profession.value if user.profession else None

    # -- opening a record --------------------------------------------------------------------------------------
    def open_record(self, patient_id: int) -> RecordView:
        """Timeline (without bodies), structured lists and the user's draft: one quick read.

        The timeline holds the observations, and the patient's documents, prescriptions and appointments.

        Raises:
            PermissionDenied: the user's profile does not read care records (secretary, administrator).
        """
        user = self._reader()
        with self._uow() as uow:
            uow.patients.get(patient_id)  # NotFound with a French message
            observations = uow.record.timeline(patient_id)
            others = [document_line(row) for row in uow.documents.rows(patient_id)]
            appointments = uow.agenda.patient_appointments(patient_id)
            if appointments:
                types = {t.code: t.label for t in DEFAULT_APPOINTMENT_TYPES}
                types.update({t.code: t.label for t in uow.agenda.appointment_types()})
                names = {u.id: u.display_name for u in uow.practice.users() if u.id is not None}
                others += [appointment_line(a, types, names) for a in appointments]
            entries = uow.record.entries(patient_id)
            draft = uow.record.draft(patient_id, user.login)
        return RecordView(patient_id, tuple(merge_timeline(observations, others)), tuple(entries), draft)

    def can_read(self) -> bool:
        """Whether the signed-in user's profile reads care records (the tabs say so instead of failing)."""
        return can(self._current_user(), Permission.READ_CLINICAL)

    def _reader(self) -> UserAccount:
        user = self._current_user()
        require(user, Permission.READ_CLINICAL)
        return user

    def _writer(self) -> UserAccount:
        user = self._current_user()
        require(user, Permission.WRITE_CLINICAL)
        return user

    def observation(self, observation_id: int) -> ObservationDetail:
        """An observation with the exact template version it was written with."""
        self._reader()
        with self._uow() as uow:
            observation = uow.record.observation(observation_id)
            template = None
            if observation.kind is ObservationKind.FORM:
                template = self._template_in(uow, observation.template_key, observation.template_version)
        return ObservationDetail(observation, template)

    # -- templates ---------------------------------------------------------------------------------------------
    def templates(self, profession: str | None = None) -> list[TemplateInfo]:
        """Latest version of every template (shipped and practice copies), those of ``profession`` first."""
        latest: dict[str, TemplateInfo] = {}
        for template in self.catalog.shipped().values():
            latest[template.key] = TemplateInfo(
                template.key, template.version, template.title, ORIGIN_RESOURCE, template.professions
            )
        with self._uow() as uow:
            stored = uow.record.templates()
        for item in stored:
            if item.origin != ORIGIN_USER:
                continue
            current = latest.get(item.key)
            if current is None or item.version > current.version:
                try:
                    template = load_template_text(item.body, item.key)
                except InvalidInput:
                    log.error("Stored template %s@%s unreadable", item.key, item.version)
                    continue
                latest[item.key] = TemplateInfo(
                    item.key, item.version, template.title, ORIGIN_USER, template.professions
                )

        def order(info: TemplateInfo) -> tuple[int, str]:
            mine = profession is not None and profession in info.professions
            return (0 if mine else 1, info.title)

        return sorted(latest.values(), key=order)

    def template(self, key: str, version: int | None = None) -> FormTemplate:
        """A template: a given version (as stored with old observations) or the latest one.

        Raises:
            NotFound: no such template or version.
        """
        with self._uow() as uow:
            if version is None:
                versions = [t.version for t in uow.record.templates() if t.key == key]
                shipped = self.catalog.shipped().get(key)
                candidates = versions + ([shipped.version] if shipped else [])
                if not candidates:
                    raise NotFound(f"Le modèle de formulaire « {key} » n'existe pas.")
                version = max(candidates)
            return self._template_in(uow, key, version)

    def _template_in(self, uow: UnitOfWork, key: str, version: int) -> FormTemplate:
        stored = uow.record.template(key, version)
        if stored is not None:
            return load_template_text(stored.body, f"{key} v{version}")
        shipped = self.catalog.shipped().get(key)
        if shipped is not None and shipped.version == version:
            return shipped
        raise NotFound(f"La version {version} du modèle « {key} » est introuvable.")

    def template_source(self, key: str, version: int | None = None) -> str:
        """The JSON text of a template (to start a copy in the form editor)."""
        template = self.template(key, version)
        return json.dumps(dict(template.raw), ensure_ascii=False, indent=1)

    def check_template(self, text: str) -> FormTemplate:
        """Validate a template typed in the editor without saving it.

        Raises:
            TemplateError: every problem, in French.
        """
        return load_template_text(text, "modèle en cours d'édition")

    def save_template_copy(self, text: str) -> FormTemplate:
        """Store a practice copy of a template as a new version (old observations keep theirs).

        The key may not be that of a shipped template (a copy gets its own key, e.g. ``ide.plaie.cabinet``:
        keeping the original key as a prefix keeps the decision rules working on it). The version written in
        the text is ignored: the next free version number is used.

        Raises:
            TemplateError: invalid template; InvalidInput: the key is a shipped template's.
        """
        template = load_template_text(text, "modèle en cours d'édition")
        if template.key in self.catalog.shipped():
            raise InvalidInput(
                {
                    "key": f"« {template.key} » est un modèle fourni avec LGC : donnez une autre clé à votre copie "
                    f"(par exemple « {template.key}.cabinet »)."
                }
            )
        user = self._writer()
        with self._uow() as uow:
            versions = [t.version for t in uow.record.templates() if t.key == template.key]
            version = max(versions, default=0) + 1
            raw = dict(template.raw)
            raw["version"] = version
            body = json.dumps(raw, ensure_ascii=False, indent=1)
            uow.record.add_template(
                StoredTemplate(template.key, version, ORIGIN_USER, body, self._clock.now(), user.actor)
            )
            self._trace(uow, user, AuditAction.RECORD_SETTINGS, None, {"modele": template.key, "version": version})
            uow.commit()
        return replace(template, version=version, raw=raw)

    # -- writing -----------------------------------------------------------------------------------------------
    def save_text_observation(self, patient_id: int, text: str) -> ObservationLine:
        """Store a free-text observation (macros are expanded as typed); the draft is cleared.

        Raises:
            InvalidInput: empty, too long or binary text (the draft stays as it is).
        """
        body = check_observation_text(text)
        user = self._writer()
        observation = Observation(
            id=None,
            patient_id=patient_id,
            at=self._clock.now(),
            author_login=user.login,
            author=user.actor,
            profession=user.profession.value if user.profession else "",
            kind=ObservationKind.TEXT,
            title="Observation",
            text=body,
            summary=summarize_text(body),
        )
        return self._store(observation, user, {"type": "texte", "longueur": len(body)})

    def save_form_observation(
        self, patient_id: int, template_key: str, template_version: int, raw: Mapping[str, object]
    ) -> ObservationLine:
        """Check a filled form against its template version, compute scores, and store it.

        Raises:
            InvalidInput: keyed by field id (out-of-range or wrong-unit values, missing required answers…).
        """
        template = self.template(template_key, template_version)
        entry = fill(template, raw, self._clock.today())
        user = self._writer()
        observation = Observation(
            id=None,
            patient_id=patient_id,
            at=self._clock.now(),
            author_login=user.login,
            author=user.actor,
            profession=user.profession.value if user.profession else "",
            kind=ObservationKind.FORM,
            title=template.title,
            template_key=template.key,
            template_version=template.version,
            values=entry.values,
            summary=entry.summary(template),
        )
        with self._uow() as uow:
            if uow.record.template(template.key, template.version) is None:
                # Freeze the exact version next to the observation: a later release of the shipped file does
                # not change how this observation reads.
                uow.record.add_template(
                    StoredTemplate(
                        template.key,
                        template.version,
                        ORIGIN_RESOURCE,
                        json.dumps(dict(template.raw), ensure_ascii=False, indent=1),
                        self._clock.now(),
                    )
                )
                uow.commit()
        return self._store(observation, user, {"type": "formulaire", "modele": template.ref})

    def _store(self, observation: Observation, user: UserAccount, detail: dict[str, object]) -> ObservationLine:
        with self._uow() as uow:
            uow.patients.get(observation.patient_id)
            oid = uow.record.add_observation(observation)
            uow.record.delete_draft(observation.patient_id, user.login)
            self._trace(uow, user, AuditAction.RECORD_WRITE, observation.patient_id, {**detail, "observation": oid})
            uow.commit()
        log.info("Observation %s stored (%s)", oid, observation.kind.value)
        return ObservationLine(
            oid,
            observation.at,
            observation.author,
            observation.kind,
            observation.title,
            observation.summary,
            observation.template_key,
        )

    def save_draft(
        self,
        patient_id: int,
        text: str = "",
        template_key: str = "",
        template_version: int = 0,
        values: Mapping[str, object] | None = None,
    ) -> None:
        """Save what the user is typing (called every few seconds); an empty draft is forgotten."""
        user = self._writer()
        draft = Draft(
            patient_id, user.login, text, template_key, template_version, dict(values or {}), self._clock.now()
        )
        with self._uow() as uow:
            if draft.is_empty:
                uow.record.delete_draft(patient_id, user.login)
            else:
                uow.record.save_draft(draft)
            uow.commit()

    def discard_draft(self, patient_id: int) -> None:
        """Forget the user's draft (after confirmation in the UI)."""
        user = self._writer()
        with self._uow() as uow:
            uow.record.delete_draft(patient_id, user.login)
            uow.commit()

    def attach(self, name: str, data: bytes) -> dict[str, object]:
        """Store a photo or file for a form answer; return the answer value.

        Raises:
            InvalidInput: not an image/PDF, empty, or too large.
        """
        sha, media = self._attachments.put(name, data)
        return {"name": Path(name).name[:120], "media_type": media, "sha256": sha, "size": len(data)}

    def attachment(self, sha256: str) -> bytes:
        """The bytes of an attached file."""
        return self._attachments.get(sha256)

    # -- structured lists --------------------------------------------------------------------------------------
    def add_entry(
        self,
        patient_id: int,
        kind: EntryKind,
        label: str,
        *,
        code: str = "",
        detail: str = "",
        start: str = "",
        end: str = "",
    ) -> RecordEntry:
        """Add an allergy, a treatment, a history item or a vaccination (dates typed JJ/MM/AAAA).

        Raises:
            InvalidInput: keyed by field.
        """
        errors: dict[str, str] = {}
        start_day = end_day = None
        try:
            start_day = parse_date_fr(start, "Date")
        except ValueError as exc:
            errors["start"] = str(exc)
        try:
            end_day = parse_date_fr(end, "Date de fin")
        except ValueError as exc:
            errors["end"] = str(exc)
        if errors:
            raise InvalidInput(errors)
        user = self._writer()
        entry = validate_entry(
            RecordEntry(
                None, patient_id, kind, label, code, detail, start_day, end_day, True, self._clock.now(), user.actor
            ),
            self._clock.today(),
        )
        with self._uow() as uow:
            uow.patients.get(patient_id)
            entry_id = uow.record.add_entry(entry)
            self._trace(uow, user, AuditAction.RECORD_LIST, patient_id, {"liste": kind.value, "ajout": entry.label})
            uow.commit()
        return replace(entry, id=entry_id)

    def close_entry(self, patient_id: int, entry_id: int) -> RecordEntry:
        """Mark a line as no longer current (a stopped treatment, an allergy recorded by mistake)."""
        user = self._writer()
        with self._uow() as uow:
            entry = uow.record.set_entry_active(entry_id, False, self._clock.today())
            if entry.patient_id != patient_id:
                raise NotFound("Cette ligne n'appartient pas à ce dossier.")
            self._trace(uow, user, AuditAction.RECORD_LIST, patient_id, {"liste": entry.kind.value, "fin": entry.label})
            uow.commit()
        return entry

    def vaccine_products(self) -> dict[str, tuple[str, ...]]:
        """Vaccine products of the schedule file with their valences (for the vaccination entry)."""
        return dict(self.decision.schedule.products)

    # -- macros ------------------------------------------------------------------------------------------------
    def ensure_default_macros(self) -> None:
        """Give a new practice the default macros (shared, editable)."""
        with self._uow() as uow:
            if uow.record.macros(""):
                return
            for macro in DEFAULT_MACROS:
                uow.record.save_macro(None, "", macro.trigger, macro.label, macro.body)
            uow.commit()

    def macros(self) -> MacroSet:
        """Shared macros overridden by the current user's own."""
        user = self._current_user()
        with self._uow() as uow:
            rows = uow.record.macros(user.login)
        if not rows:
            return MacroSet(DEFAULT_MACROS)
        return MacroSet(Macro(trigger, label, body, owner, mid) for mid, owner, trigger, label, body in rows)

    def save_macro(self, macro: Macro, *, shared: bool = False) -> Macro:
        """Add or change a macro (the user's own, or shared with the practice).

        Raises:
            InvalidInput: keyword or body invalid, keyword already used.
        """
        user = self._current_user()
        checked = validate_macro(replace(macro, owner="" if shared else user.login))
        self.ensure_default_macros()
        with self._uow() as uow:
            existing = [Macro(t, lab, b, o, i) for i, o, t, lab, b in uow.record.macros(user.login)]
            check_unique(existing, checked)
            macro_id = uow.record.save_macro(checked.id, checked.owner, checked.trigger, checked.label, checked.body)
            self._trace(uow, user, AuditAction.RECORD_SETTINGS, None, {"macro": checked.trigger})
            uow.commit()
        return replace(checked, id=macro_id)

    def delete_macro(self, macro_id: int) -> None:
        """Remove a macro."""
        user = self._current_user()
        with self._uow() as uow:
            uow.record.delete_macro(macro_id)
            self._trace(uow, user, AuditAction.RECORD_SETTINGS, None, {"macro_supprimee": macro_id})
            uow.commit()

    def macro_context(self, patient_id: int) -> dict[str, str]:
        """Record data the macros insert (``{allergies}``…), in French."""
        user = self._reader()
        today = self._clock.today()
        with self._uow() as uow:
            patient = uow.patients.get(patient_id)
            entries = uow.record.entries(patient_id)
        traits = patient.identity.traits

        def listing(kind: EntryKind, empty: str) -> str:
            lines = [e for e in entries if e.kind is kind and e.is_current(today)]
            parts = []
            for e in lines:
                text = e.label + (f" ({e.detail})" if e.detail else "")
                if kind is EntryKind.VACCINATION and e.start:
                    text = f"{e.label} le {fr_date(e.start)}"
                parts.append(text)
            return ", ".join(parts) if parts else empty

        age = ""
        if traits.birth_date:
            years = (
                today.year
                - traits.birth_date.year
                - ((today.month, today.day) < (traits.birth_date.month, traits.birth_date.day))
            )
            age = f"{years} ans"
        doctor = patient.attending_doctor
        return {
            "patient": f"{traits.used_name or traits.birth_name} "
            f"{traits.used_given_name or traits.first_birth_given_name}",
            "age": age,
            "naissance": fr_date(traits.birth_date) if traits.birth_date else "",
            "date": fr_date(today),
            "praticien": user.display_name,
            "allergies": listing(EntryKind.ALLERGY, "aucune allergie connue"),
            "traitements": listing(EntryKind.TREATMENT, "aucun traitement en cours"),
            "antecedents": listing(EntryKind.HISTORY, "aucun antécédent noté"),
            "vaccinations": listing(EntryKind.VACCINATION, "aucune vaccination enregistrée"),
            "medecin_traitant": doctor.display_name if doctor else "non renseigné",
        }

    # -- decision support --------------------------------------------------------------------------------------
    def alerts(self, patient_id: int) -> list[Alert]:
        """Alerts for this patient that nobody set aside, most pressing first."""
        user = self._reader()
        with self._uow() as uow:
            patient = uow.patients.get(patient_id)
            entries = uow.record.entries(patient_id)
            facts = uow.record.form_facts(patient_id)
            dismissed = {d.alert_key for d in uow.record.dismissals(patient_id)}
            series = uow.agenda.series_with_counts(patient_id=patient_id)
            prescribed = current_product_lines(uow.prescriptions.for_patient(patient_id), self._clock.today())
        traits = patient.identity.traits
        if traits.birth_date is None:
            return []
        snapshot = RecordSnapshot(
            traits.birth_date,
            traits.sex.value if traits.sex else "",
            tuple(entries),
            tuple(facts),
            prescription_lines=tuple(prescribed),  # allergy against a prescription line (issue 6)
            series=tuple(series),
        )
        profession = user.profession.value if user.profession else None
        alerts = self.decision.evaluate(snapshot, self._clock.today(), profession)
        return [a for a in alerts if a.key not in dismissed]

    def dismissals(self, patient_id: int) -> list[Dismissal]:
        """Alerts set aside for this patient (who, when, why)."""
        self._reader()
        with self._uow() as uow:
            return uow.record.dismissals(patient_id)

    def dismiss(self, patient_id: int, alert: Alert, reason: str) -> None:
        """Set an alert aside with a reason (traced with the rule and its data).

        Raises:
            InvalidInput: no reason given.
        """
        reason = " ".join(reason.split())
        if len(reason) < 3:
            raise InvalidInput({"reason": "Indiquez pourquoi vous écartez cette alerte (3 caractères au moins)."})
        if len(reason) > 500:
            raise InvalidInput({"reason": "Motif : 500 caractères au plus."})
        user = self._writer()
        with self._uow() as uow:
            uow.record.add_dismissal(Dismissal(patient_id, alert.key, reason, self._clock.now(), user.actor))
            self._trace(
                uow,
                user,
                AuditAction.ALERT_DISMISS,
                patient_id,
                {
                    "regle": alert.rule,
                    "alerte": alert.key,
                    "titre": alert.title,
                    "motif": reason,
                    "donnees": dict(alert.data),
                },
            )
            uow.commit()

    def pregnancy_plan(self, patient_id: int) -> list[ScheduleItem]:
        """The dated visit schedule of the patient's current pregnancy (empty when none is followed)."""
        self._reader()
        with self._uow() as uow:
            facts = uow.record.form_facts(patient_id)
        pregnancy = current_pregnancy(facts)
        if pregnancy is None or not pregnancy.is_ongoing(self._clock.today()):
            return []
        return pregnancy_plan(self.decision.pregnancy_schedule, pregnancy)

    @property
    def schedule_link(self) -> str:
        """The official vaccination schedule (SC.VACC/SCHEMA.01)."""
        return self.decision.schedule.link

    # -- dashboard ---------------------------------------------------------------------------------------------
    def dashboard(self, login: str | None = None) -> Dashboard:
        """The follow-up dashboard of a practitioner (the current user by default), computed in bulk.

        Sections: patients in active care, identities not qualified, vaccines due, pregnancy steps (midwives),
        wounds not improving and pressure-ulcer risk (nurses). Meant for the DB lane: the rules read the whole
        practice in a few set-wise queries; names are read only for the lines shown.
        """
        with _COLLECTOR_PAUSE:
            return self._dashboard(login)

    def _dashboard(self, login: str | None) -> Dashboard:
        started = time.perf_counter()
        user = self._reader()
        login = login or user.login
        profession = user.profession.value if user.profession else None
        now = self._clock.now()
        today = self._clock.today()
        decision = self.decision
        with self._uow() as uow:
            people = uow.record.birth_dates()
            mine = uow.record.last_observation_by_patient(now - dt.timedelta(days=ACTIVE_CARE_DAYS), login)
            in_care = uow.record.last_observation_by_patient(now - dt.timedelta(days=365), None)
            vaccinations = uow.record.all_vaccinations() if _vaccinates(profession) else []
            pregnancy_facts = (
                uow.record.all_form_facts(("sf.",), now - dt.timedelta(days=330)) if profession in (None, "50") else []
            )
            nursing_facts = uow.record.all_form_facts(("ide.plaie", "ide.braden"), now - dt.timedelta(days=180))
            dismissed = uow.record.all_dismissed_keys()
            my_series = uow.agenda.series_with_counts(practitioner_id=user.id) if user.id is not None else []
            booked = (
                {
                    a.patient_id
                    for a in uow.agenda.appointments_between(now, now + dt.timedelta(days=NEXT_VISIT_DAYS), [user.id])
                    if a.patient_id is not None and a.status is AppointmentStatus.PLANNED and a.start >= now
                }
                if user.id is not None
                else None
            )
        births = {pid: birth for pid, birth, _status in people}
        statuses = {pid: status for pid, _birth, status in people}
        # (key, title, explanation, candidates as (rank, sort key, patient id, detail, level), total)
        pending: list[tuple[str, str, str, list[tuple[int, str, int, str, AlertLevel]]]] = []

        def candidate(
            pid: int, detail: str, level: AlertLevel, sort: str = ""
        ) -> tuple[int, str, int, str, AlertLevel]:
            return (_RANK[level], sort, pid, detail, level)

        pending.append(
            (
                "suivi",
                "Patients en cours de suivi",
                f"Patients pour qui vous avez écrit une observation depuis {ACTIVE_CARE_DAYS} jours.",
                [
                    candidate(pid, f"dernière observation le {fr_date(at.date())}", AlertLevel.INFO, at.isoformat())
                    for pid, at in mine.items()
                    if pid in births
                ],
            )
        )
        series_items = []
        for item, counts in my_series:
            if item.patient_id not in births or not series_is_current(counts, today):
                continue
            progress = progress_from_counts(item, counts)
            open_alerts = [
                a for a in series_alerts([(item, counts)], today) if (item.patient_id, a.key) not in dismissed
            ]
            level = min((a.level for a in open_alerts), key=_RANK.__getitem__) if open_alerts else AlertLevel.INFO
            detail = f"{item.label} : {progress.summary_fr}"
            if open_alerts:
                detail += " — " + " ; ".join(a.title.split(" (")[0] for a in open_alerts)
            series_items.append(candidate(item.patient_id, detail, level, f"{progress.left:05d}"))
        pending.append(
            (
                "series",
                "Séries de soins en cours",
                "Vos séries de soins (agenda) avec une séance planifiée ou réalisée depuis moins d'un mois : séances "
                "réalisées et restantes ; fin de série proche (renouvellement), séances à replanifier.",
                series_items,
            )
        )
        if booked is not None:
            pending.append(
                (
                    "sans_rdv",
                    "Patients suivis sans prochain rendez-vous",
                    f"Patients pour qui vous avez écrit une observation depuis {ACTIVE_CARE_DAYS} jours et qui n'ont "
                    f"pas de rendez-vous prévu avec vous dans les {NEXT_VISIT_DAYS} jours : prévoir la suite des soins "
                    "ou clore la prise en charge.",
                    [
                        candidate(pid, f"dernière observation le {fr_date(at.date())}", AlertLevel.INFO, at.isoformat())
                        for pid, at in mine.items()
                        if pid in births and pid not in booked
                    ],
                )
            )
        pending.append(
            (
                "identites",
                "Identités non qualifiées",
                "Patients suivis dans l'année dont l'identité n'est pas qualifiée : la qualifier (pièce d'identité à "
                "haut niveau de confiance et appel au téléservice INSi) avant tout échange de données de santé.",
                [
                    candidate(pid, f"identité {_status_label(statuses[pid])}", AlertLevel.WARNING)
                    for pid in in_care
                    if pid in statuses and statuses[pid] != "QUAL"
                ],
            )
        )
        if _vaccinates(profession):
            items, due = _vaccine_candidates(decision.schedule, births, vaccinations, dismissed, today)
            pending.append(
                (
                    "vaccins",
                    "Vaccinations à proposer",
                    f"Selon le {decision.schedule.title} (âge), d'après les vaccinations enregistrées dans les "
                    "dossiers.",
                    items,
                )
            )
        if profession in (None, "50"):
            grouped: dict[int, list[FormFact]] = {}
            for fact in pregnancy_facts:
                grouped.setdefault(fact.patient_id, []).append(fact)
            items = []
            for pid, facts in grouped.items():
                pregnancy = current_pregnancy(facts)
                if pregnancy is None or not pregnancy.is_ongoing(today) or pid not in births:
                    continue
                open_steps = [
                    a
                    for a in pregnancy_alerts(decision.pregnancy_schedule, pregnancy, today)
                    if (pid, a.key) not in dismissed
                ]
                if open_steps:
                    level = min((a.level for a in open_steps), key=_RANK.__getitem__)
                    detail = f"{pregnancy.term_text(today)} — " + " ; ".join(a.title for a in open_steps)
                    items.append(candidate(pid, detail, level))
            pending.append(
                (
                    "grossesse",
                    "Suivi de grossesse : étapes à prévoir",
                    "Grossesses suivies dont une étape du suivi est ouverte (ou dépassée) et non notée comme faite.",
                    items,
                )
            )
        grouped_n: dict[int, list[FormFact]] = {}
        for fact in nursing_facts:
            grouped_n.setdefault(fact.patient_id, []).append(fact)
        wounds: list[tuple[int, str, int, str, AlertLevel]] = []
        braden: list[tuple[int, str, int, str, AlertLevel]] = []
        for pid, facts in grouped_n.items():
            if pid not in births:
                continue
            for alert in wound_alerts(facts):
                if (pid, alert.key) not in dismissed:
                    wounds.append(candidate(pid, alert.explanation, alert.level))
            risk = [a for a in braden_alerts(facts, today) if (pid, a.key) not in dismissed]
            if risk:
                braden.append(candidate(pid, " ; ".join(a.title for a in risk), risk[0].level))
        pending.append(
            (
                "plaies",
                "Plaies qui ne s'améliorent pas",
                "Surface en hausse, ou réduite de moins de 40 % en 3 semaines ou plus "
                "(suivis de plaie des 6 derniers mois).",
                wounds,
            )
        )
        pending.append(
            ("braden", "Risque d'escarre (Braden ≤ 18)", "Dernier score de Braden des 6 derniers mois.", braden)
        )

        # Only the lines shown need a name (and, for vaccines, their text): read them for those alone.
        kept = {
            key: heapq.nsmallest(DASHBOARD_LINES, items, key=lambda c: (c[0], c[1], c[2]))
            for key, _t, _e, items in pending
        }
        shown_ids = [c[2] for lines in kept.values() for c in lines]
        with self._uow() as uow:
            names = uow.record.display_names(shown_ids)
        sections: list[DashboardSection] = []
        for key, title, explanation, items in pending:
            lines = []
            for _rank, _sort, pid, detail, level in kept[key]:
                if key == "vaccins":
                    detail = " ; ".join(s.label for s in due[pid])
                lines.append(DashboardLine(pid, names.get(pid, f"patient n° {pid}"), births[pid], detail, level))
            if key not in ("suivi", "sans_rdv"):  # those two keep their date order
                lines.sort(key=lambda line: (_RANK[line.level], line.name))
            sections.append(DashboardSection(key, title, explanation, tuple(lines), len(items)))
        return Dashboard(user.actor, now, len(people), time.perf_counter() - started, tuple(sections))

    # -- helpers -----------------------------------------------------------------------------------------------
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


_RANK = {level: level.rank for level in AlertLevel}


class _CollectorPause:
    """Pauses Python's cyclic garbage collector while a dashboard builds its practice-wide tables.

    Those tables are hundreds of thousands of small tuples and lists without reference cycles: each allocation
    burst would set off hundreds of collections, some walking every object of the application (a third of the
    dashboard's time on 100,000 patients). Reference counting still frees everything at once; the collector
    resumes when the last dashboard running (on any thread) ends, unless it was off before.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._resume = False

    def __enter__(self) -> None:
        with self._lock:
            if self._depth == 0:
                self._resume = gc.isenabled()
                gc.disable()
            self._depth += 1

    def __exit__(self, *_exc: object) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth == 0 and self._resume:
                gc.enable()


_COLLECTOR_PAUSE = _CollectorPause()


def _status_label(code: str) -> str:
    try:
        return IdentityStatus(code).label_fr.lower()
    except ValueError:
        return code


def _vaccinates(profession: str | None) -> bool:
    return profession is None or profession in VACCINATING_PROFESSIONS


def _vaccine_candidates(
    schedule: VaccinationSchedule,
    births: Mapping[int, dt.date],
    vaccinations: Iterable[tuple[int, str, str, dt.date]],
    dismissed: Collection[tuple[int, str]],
    today: dt.date,
) -> tuple[list[tuple[int, str, int, str, AlertLevel]], dict[int, Sequence[VaccineStep]]]:
    """The vaccine section's candidates, and the steps still open for each patient (set-aside ones removed).

    Built for the whole practice: the bulk rule shares one step list between patients of the same age, so the
    level of a list is worked out once, and only the patients with a dismissed vaccine are filtered one by one.
    """
    doses: dict[int, list[DoseTuple]] = {}
    for pid, code, label, day in vaccinations:
        doses.setdefault(pid, []).append((valences_of(code), day, label))
    due = vaccines_due_bulk(schedule, births.items(), doses, today)
    season = schedule.season_start(today).year
    set_aside: dict[int, set[str]] = {}
    for pid, key in dismissed:
        if key.startswith("vaccin:"):
            set_aside.setdefault(pid, set()).add(key)
    # Most pressing level of each shared step list, by identity (the list is kept so that its id stays its own).
    levels: dict[int, tuple[Sequence[VaccineStep], AlertLevel]] = {}
    items: list[tuple[int, str, int, str, AlertLevel]] = []
    for pid, steps in due.items():
        gone = set_aside.get(pid)
        if gone:
            steps = [s for s in steps if f"vaccin:{s.id}" + (f":{season}" if s.seasonal else "") not in gone]
            if not steps:
                continue
            due[pid] = steps
        known = levels.get(id(steps))
        if known is not None and known[0] is steps:
            level = known[1]
        else:
            level = min((s.level for s in steps), key=_RANK.__getitem__)
            levels[id(steps)] = (steps, level)
        items.append((_RANK[level], "", pid, "", level))
    return items, due


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"Fichier de référence illisible : {path.name} ({exc}).") from exc
