"""iCalendar (RFC 5545) export and import of a practitioner's agenda, with the ``icalendar`` library."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any

from domain.agenda import (
    MAX_DURATION,
    PARIS,
    Appointment,
    AppointmentStatus,
    AppointmentType,
    PlaceKind,
)
from domain.agenda_ports import CalendarEvent, CalendarOwner, ParsedCalendar
from domain.errors import InvalidInput

log = logging.getLogger("lgc.ical")

PRODID = "-//LGC logiciel de gestion de cabinet libre//Agenda//FR"
MAX_BYTES = 5 * 1024 * 1024
MAX_EVENTS = 20_000
X_PRACTITIONER = "X-LGC-PRACTITIONER-ID"
X_RPPS = "X-LGC-PRACTITIONER-RPPS"
X_TYPE = "X-LGC-TYPE"
X_PLACE = "X-LGC-PLACE"


class IcsCalendarCodec:
    """Writes and reads VCALENDAR files; times in Europe/Paris with their VTIMEZONE."""

    def export(
        self, owner: CalendarOwner, appointments: Sequence[Appointment], types: Sequence[AppointmentType]
    ) -> bytes:
        """A VCALENDAR with one VEVENT per appointment (cancelled ones with STATUS:CANCELLED)."""
        from icalendar import Calendar, Event

        labels = {t.code: t.label for t in types}
        calendar = Calendar()
        calendar.add("prodid", PRODID)
        calendar.add("version", "2.0")
        calendar.add("calscale", "GREGORIAN")
        calendar.add("x-wr-calname", f"Agenda de {owner.display_name}")
        calendar.add("x-wr-timezone", "Europe/Paris")
        calendar.add(X_PRACTITIONER, str(owner.practitioner_id))
        if owner.rpps:
            calendar.add(X_RPPS, owner.rpps)
        stamp = dt.datetime.now(dt.UTC)
        for appointment in appointments:
            event = Event()
            event.add("uid", appointment.uid)
            event.add("dtstamp", stamp)
            event.add("dtstart", appointment.start.astimezone(PARIS))
            event.add("dtend", appointment.end.astimezone(PARIS))
            kind = labels.get(appointment.type_code, appointment.type_code)
            event.add("summary", f"{appointment.label} — {kind}")
            if appointment.place is PlaceKind.HOME and appointment.address:
                event.add("location", appointment.address)
            description = [text for text in (appointment.care, appointment.note) if text]
            if appointment.status in (AppointmentStatus.DONE, AppointmentStatus.NO_SHOW):
                description.append(f"Statut : {appointment.status.label_fr}")
            if description:
                event.add("description", "\n".join(description))
            event.add("status", "CANCELLED" if appointment.status is AppointmentStatus.CANCELLED else "CONFIRMED")
            event.add(X_TYPE, appointment.type_code)
            event.add(X_PLACE, appointment.place.value)
            calendar.add_component(event)
        calendar.add_missing_timezones()
        return bytes(calendar.to_ical())

    def parse(self, data: bytes) -> ParsedCalendar:
        """Read a VCALENDAR; raises InvalidInput (French) for anything that is not one."""
        from icalendar import Calendar

        if len(data) > MAX_BYTES:
            raise InvalidInput(f"Fichier iCalendar trop gros ({len(data) // 1024} Ko) : 5 Mo au plus.")
        if not data.strip():
            raise InvalidInput("Fichier iCalendar vide.")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InvalidInput("Fichier iCalendar illisible : il n'est pas encodé en UTF-8.") from exc
        if "BEGIN:VCALENDAR" not in text[:2000].upper():
            raise InvalidInput("Ce fichier n'est pas un calendrier iCalendar (.ics) : « BEGIN:VCALENDAR » manque.")
        try:
            calendar = Calendar.from_ical(text)
        except Exception as exc:
            log.warning("Unreadable iCalendar file: %s", type(exc).__name__)
            raise InvalidInput(f"Fichier iCalendar illisible : {str(exc)[:200]}") from exc
        if isinstance(calendar, list):
            calendar = calendar[0]
        owner_rpps = str(calendar.get(X_RPPS, "") or "")
        owner_id = _int(calendar.get(X_PRACTITIONER))
        events: list[CalendarEvent] = []
        skipped: list[str] = []
        seen: set[str] = set()
        for number, component in enumerate(calendar.walk("VEVENT"), start=1):
            if number > MAX_EVENTS:
                raise InvalidInput(f"Trop d'événements dans le fichier ({MAX_EVENTS} au plus).")
            try:
                event = _event(component, number)
            except _Skip as skip:
                skipped.append(str(skip))
                continue
            if event.uid in seen:
                skipped.append(f"événement n° {number} : UID en double, ignoré")
                continue
            seen.add(event.uid)
            events.append(event)
        return ParsedCalendar(owner_rpps, owner_id, tuple(events), tuple(skipped))


class _Skip(Exception):
    """An event left aside (with the French reason as message)."""


def _int(value: Any) -> int | None:
    try:
        return int(str(value)) if value is not None else None
    except ValueError:
        return None


def _event(component: Any, number: int) -> CalendarEvent:
    summary = _text(component.get("SUMMARY"))[:200]
    name = f"événement n° {number}" + (f" « {summary[:40]} »" if summary else "")
    try:
        start = component.decoded("DTSTART")
    except Exception as exc:
        raise _Skip(f"{name} : date de début absente ou illisible") from exc
    if isinstance(start, dt.date) and not isinstance(start, dt.datetime):
        raise _Skip(f"{name} : événement « journée entière », ignoré")
    if not isinstance(start, dt.datetime):
        raise _Skip(f"{name} : date de début illisible")
    try:
        if component.get("DTEND") is not None:
            end = component.decoded("DTEND")
        elif component.get("DURATION") is not None:
            end = start + component.decoded("DURATION")
        else:
            raise _Skip(f"{name} : ni fin ni durée")
    except _Skip:
        raise
    except Exception as exc:
        raise _Skip(f"{name} : date de fin illisible") from exc
    if not isinstance(end, dt.datetime):
        raise _Skip(f"{name} : date de fin sans heure")
    # Floating times (no TZID, no Z) are the practice's wall clock.
    start = start if start.tzinfo else start.replace(tzinfo=PARIS)
    end = end if end.tzinfo else end.replace(tzinfo=PARIS)
    if end <= start:
        raise _Skip(f"{name} : la fin est avant le début")
    if end - start > MAX_DURATION:
        raise _Skip(f"{name} : plus de 12 heures, ignoré (saisissez-le comme absence)")
    if start.year < 1990 or start.year > 2100:
        raise _Skip(f"{name} : date hors limites ({start.year})")
    uid = _text(component.get("UID"))
    if not uid or len(uid) > 255:
        raise _Skip(f"{name} : UID absent ou trop long")
    if component.get("RRULE") is not None:
        raise _Skip(f"{name} : événement répétitif (RRULE) non importé, exportez les occurrences")
    place = _text(component.get(X_PLACE))
    return CalendarEvent(
        uid=uid,
        start=start.astimezone(dt.UTC),
        end=end.astimezone(dt.UTC),
        summary=summary,
        location=_text(component.get("LOCATION"))[:400],
        description=_text(component.get("DESCRIPTION"))[:2000],
        cancelled=_text(component.get("STATUS")).upper() == "CANCELLED",
        type_code=_text(component.get(X_TYPE))[:40],
        home_visit=place == PlaceKind.HOME.value,
    )


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        value = value[0] if value else ""
    text = str(value)
    return "".join(ch for ch in text if ch in "\n\t" or ord(ch) >= 32).strip()
