"""The printable round sheet of a nurse's day (PDF with reportlab, built-in fonts: no network, no font files)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from domain.agenda import PARIS, AppointmentStatus, format_day_fr
from domain.agenda_ports import RoundSheet
from domain.errors import StorageError


def _latin(text: str) -> str:
    """Built-in PDF fonts cover Windows-1252: fold anything else so nothing prints as a black box."""
    replaced = text.replace("\u202f", " ").replace("\u2009", " ")
    return replaced.encode("cp1252", errors="replace").decode("cp1252")


class PdfRoundSheetRenderer:
    """Writes the round sheet as an A4 PDF: one line per visit, in visiting order, with boxes to tick."""

    def render(self, sheet: RoundSheet, destination: Path) -> Path:
        """Write ``sheet`` to ``destination`` (through a temporary file); return the path.

        Raises:
            StorageError: the file cannot be written (French message).
        """
        from reportlab.lib import colors
        from reportlab.lib.enums import TA_LEFT
        from reportlab.lib.pagesizes import A4, landscape
        from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
        from reportlab.lib.units import mm
        from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

        styles = getSampleStyleSheet()
        body = ParagraphStyle("cell", parent=styles["BodyText"], fontName="Helvetica", fontSize=9, leading=11)
        bold = ParagraphStyle("cellb", parent=body, fontName="Helvetica-Bold")
        small = ParagraphStyle("small", parent=body, fontSize=8, leading=10, textColor=colors.HexColor("#444444"))
        title = ParagraphStyle(
            "title", parent=styles["Title"], fontName="Helvetica-Bold", fontSize=15, alignment=TA_LEFT
        )

        def p(text: str, style: ParagraphStyle = body) -> Paragraph:
            escaped = _latin(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            return Paragraph(escaped.replace("\n", "<br/>"), style)

        total_minutes = sum(s.minutes for s in sheet.stops)
        active = [s for s in sheet.stops if s.status is not AppointmentStatus.CANCELLED]
        story: list[object] = [
            p(f"Tournée du {format_day_fr(sheet.day)}", title),
            p(f"{sheet.practitioner} — {sheet.practice}", bold),
            p(
                f"Départ : {sheet.practice_address or 'cabinet'}. "
                f"{len(active)} visite{'s' if len(active) > 1 else ''}, "
                f"{total_minutes // 60} h {total_minutes % 60:02d} de soins prévus, trajet estimé environ "
                f"{sheet.estimated_km:.1f} km (estimation hors ligne d'après les adresses, sans carte).",
                small,
            ),
            Spacer(1, 4 * mm),
        ]
        header = ["N°", "Heure", "Durée", "Patient", "Adresse / accès", "Soins à réaliser", "Fait"]
        rows: list[list[object]] = [[p(h, bold) for h in header]]
        for number, stop in enumerate(sheet.stops, start=1):
            local = stop.start.astimezone(PARIS)
            patient = stop.patient_name + (f"\nTél. {stop.phone}" if stop.phone else "")
            access = stop.address + (f"\nCode / accès : {stop.door_code}" if stop.door_code else "")
            done = "X" if stop.status is AppointmentStatus.DONE else ""
            if stop.status is AppointmentStatus.NO_SHOW:
                done = "abs."
            rows.append(
                [
                    p(str(number), bold),
                    p(f"{local:%H:%M}", bold),
                    p(f"{stop.minutes} min"),
                    p(patient),
                    p(access),
                    p(stop.care),
                    p(done),
                ]
            )
        if not sheet.stops:
            rows.append([p(""), p(""), p(""), p("Aucune visite à domicile ce jour."), p(""), p(""), p("")])
        widths = [10 * mm, 15 * mm, 17 * mm, 52 * mm, 75 * mm, 90 * mm, 14 * mm]
        table = Table(rows, colWidths=widths, repeatRows=1)
        table.setStyle(
            TableStyle(
                [
                    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#dfe8f1")),
                    ("GRID", (0, 0), (-1, -1), 0.5, colors.HexColor("#8a8a8a")),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#f6f6f6")]),
                    ("TOPPADDING", (0, 0), (-1, -1), 3),
                    ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
                ]
            )
        )
        story.append(table)
        printed = sheet.printed_at.astimezone(PARIS)

        def footer(canvas: object, doc: object) -> None:
            canvas.saveState()  # type: ignore[attr-defined]
            canvas.setFont("Helvetica", 7.5)  # type: ignore[attr-defined]
            canvas.setFillColor(colors.HexColor("#555555"))  # type: ignore[attr-defined]
            text = _latin(
                f"Imprimé le {printed:%d/%m/%Y à %H:%M} — document confidentiel (données de santé) : "
                "à garder sur soi, à détruire après la tournée."
            )
            canvas.drawString(12 * mm, 7 * mm, text)  # type: ignore[attr-defined]
            canvas.drawRightString(  # type: ignore[attr-defined]
                landscape(A4)[0] - 12 * mm,
                7 * mm,
                f"Page {canvas.getPageNumber()}",  # type: ignore[attr-defined]
            )
            canvas.restoreState()  # type: ignore[attr-defined]

        temporary = destination.with_name(destination.name + ".partiel")
        try:
            doc = SimpleDocTemplate(
                str(temporary),
                pagesize=landscape(A4),
                leftMargin=12 * mm,
                rightMargin=12 * mm,
                topMargin=12 * mm,
                bottomMargin=14 * mm,
                title=_latin(f"Tournée du {sheet.day:%d/%m/%Y} — {sheet.practitioner}"),
                author="LGC",
            )
            doc.build(story, onFirstPage=footer, onLaterPages=footer)
            temporary.replace(destination)
        except OSError as exc:
            temporary.unlink(missing_ok=True)
            raise StorageError(f"Impossible d'écrire la feuille de tournée : {destination} ({exc.strerror}).") from exc
        return destination


def sheet_file_name(day: dt.date, login: str) -> str:
    """Default file name of a round sheet."""
    return f"tournee-{day.isoformat()}-{login}.pdf"
