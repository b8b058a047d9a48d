"""PDF/A-1b rendering of a health document: reportlab draws it, pikepdf makes and checks it PDF/A-1b."""

from __future__ import annotations

import datetime as dt
import io
import logging
import threading
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from domain.documents import HealthDocument, PatientSnapshot, document_lines, field_display
from domain.errors import InvalidInput, StorageError
from domain.identity import KNOWN_INS_OIDS, Sex
from domain.ins_datamatrix import CAPTION, InsDatamatrix, build_payload
from domain.letters import LETTER_TYPE_CODE

log = logging.getLogger("lgc.documents.pdf")

PARIS = ZoneInfo("Europe/Paris")
FONT_DIRS = (
    Path(__file__).resolve().parents[2] / "resources" / "fonts",
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
)
_FONT_LOCK = threading.Lock()
_FONTS_READY = False


def _register_fonts() -> None:
    """Register DejaVu Sans (embedded: PDF/A requires every font to be embedded)."""
    global _FONTS_READY
    with _FONT_LOCK:
        if _FONTS_READY:
            return
        from reportlab.pdfbase import pdfmetrics
        from reportlab.pdfbase.ttfonts import TTFont

        for folder in FONT_DIRS:
            regular, bold = folder / "DejaVuSans.ttf", folder / "DejaVuSans-Bold.ttf"
            if regular.is_file() and bold.is_file():
                pdfmetrics.registerFont(TTFont("LGC-Sans", str(regular)))
                pdfmetrics.registerFont(TTFont("LGC-Sans-Bold", str(bold)))
                # Letters keep italics (issue 6): the oblique faces when installed, else the upright ones.
                italic, bold_italic = folder / "DejaVuSans-Oblique.ttf", folder / "DejaVuSans-BoldOblique.ttf"
                pdfmetrics.registerFont(TTFont("LGC-Sans-Italic", str(italic if italic.is_file() else regular)))
                pdfmetrics.registerFont(
                    TTFont("LGC-Sans-BoldItalic", str(bold_italic if bold_italic.is_file() else bold))
                )
                pdfmetrics.registerFontFamily(
                    "LGC-Sans",
                    normal="LGC-Sans",
                    bold="LGC-Sans-Bold",
                    italic="LGC-Sans-Italic",
                    boldItalic="LGC-Sans-BoldItalic",
                )
                _FONTS_READY = True
                return
        raise StorageError("Police DejaVu Sans introuvable : installez le paquet fonts-dejavu-core.")


def datamatrix_content(patient: PatientSnapshot) -> InsDatamatrix | None:
    """The "INS à scanner" content of a document's patient, or None when it must not be printed."""
    if not patient.qualified or patient.birth_date is None or patient.sex not in ("F", "M"):
        return None
    if patient.ins_oid not in KNOWN_INS_OIDS:
        return None
    return InsDatamatrix(
        matricule=patient.ins_matricule,
        oid=patient.ins_oid,
        birth_given_names=patient.birth_given_names,
        birth_name=patient.birth_name,
        sex=Sex(patient.sex),
        birth_date=patient.birth_date,
        birth_place_code=patient.birth_place_code,
    )


def datamatrix_modules(payload: str) -> list[list[bool]]:
    """The DataMatrix ECC200 symbol of ``payload`` as rows of dark (True) modules, without quiet zone."""
    from pylibdmtx import pylibdmtx

    encoded = pylibdmtx.encode(payload.encode("latin-1"))
    module, margin = 5, 10  # libdmtx defaults
    width, height, bpp = encoded.width, encoded.height, encoded.bpp // 8
    pixels = encoded.pixels
    cols = (width - 2 * margin) // module
    rows = (height - 2 * margin) // module
    grid: list[list[bool]] = []
    for r in range(rows):
        y = margin + r * module + module // 2
        line = []
        for c in range(cols):
            x = margin + c * module + module // 2
            line.append(pixels[(y * width + x) * bpp] < 128)
        grid.append(line)
    return grid


def render_pdf(doc: HealthDocument, *, rgpd_footer: str) -> bytes:
    """The PDF/A-1b of ``doc``: header, patient identity block (with the INS datamatrix for a qualified
    identity, except on prescriptions), the fields, the signature line and the RGPD footer.

    Raises:
        InvalidInput: a value cannot be printed. StorageError: fonts missing or PDF/A conversion failed.
    """
    _register_fonts()
    if doc.type_code == LETTER_TYPE_CODE:
        from adapters.pdf.letter_layout import draw_letter  # a letter is laid out as a letter (issue 6)

        raw = draw_letter(doc, rgpd_footer)
    else:
        raw = _draw(doc, rgpd_footer)
    return _to_pdfa(raw, doc)


def datamatrix_flowable(grid: list[list[bool]], size: float, *, caption_pt: float = 7.5) -> object:
    """The INS datamatrix as a reportlab flowable: vector squares of ``size`` points, "INS à scanner" under it."""
    from reportlab.lib import colors
    from reportlab.platypus import Flowable

    gap = caption_pt + 3.5

    class DataMatrix(Flowable):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.width, self.height = size, size + gap

        def draw(self) -> None:
            canvas = self.canv
            n = len(grid)
            cell = size / n
            canvas.setFillColor(colors.black)
            for r, line in enumerate(grid):
                for c, dark in enumerate(line):
                    if dark:
                        canvas.rect(c * cell, gap + (n - 1 - r) * cell, cell, cell, stroke=0, fill=1)
            canvas.setFont("LGC-Sans", caption_pt)
            canvas.drawCentredString(size / 2, 2, CAPTION)

    return DataMatrix()


def _local(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(PARIS) if moment.tzinfo else moment


def _draw(doc: HealthDocument, rgpd_footer: str) -> bytes:
    from reportlab.lib import colors
    from reportlab.lib.enums import TA_CENTER
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Flowable, KeepTogether, Paragraph, Spacer, Table, TableStyle

    base = ParagraphStyle("base", fontName="LGC-Sans", fontSize=10, leading=13.5)
    small = ParagraphStyle("small", parent=base, fontSize=8, leading=10, textColor=colors.HexColor("#333333"))
    label = ParagraphStyle("label", parent=base, fontName="LGC-Sans-Bold", fontSize=10.5, spaceBefore=8, spaceAfter=2)
    title = ParagraphStyle("title", parent=base, fontName="LGC-Sans-Bold", fontSize=15, leading=19, alignment=TA_CENTER)
    ident = ParagraphStyle("ident", parent=base, fontSize=9.5, leading=12.5)

    author = doc.author
    patient = doc.patient
    story: list[Flowable] = []
    act = _local(doc.act_date)
    head_left = []
    if author is not None:
        head_left.append(f"<b>{escape(author.display_name)}</b>")
        head_left.append(escape(author.profession_label))
        head_left.append(f"Identifiant national : {escape(author.national_id)}")
        head_left.append(escape(author.structure_name))
        if author.address:
            head_left.append(escape(author.address))
    elif doc.author_name:
        head_left.append(f"<b>{escape(doc.author_name)}</b>")
    header = Table(
        [[Paragraph("<br/>".join(head_left), base), Paragraph(f"Le {act.strftime('%d/%m/%Y')}", base)]],
        colWidths=[120 * mm, 50 * mm],
    )
    header.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, -1), "LGC-Sans"),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("ALIGN", (1, 0), (1, 0), "RIGHT"),
            ]
        )
    )
    story += [header, Spacer(1, 8 * mm), Paragraph(escape(doc.title), title), Spacer(1, 6 * mm)]

    sex_label = {"F": "Féminin", "M": "Masculin"}.get(patient.sex, "Indéterminé")
    lines = [
        f"<b>Patient(e) :</b> {escape(patient.display_name)}",
        f"Nom de naissance : <b>{escape(patient.birth_name)}</b>",
        f"Prénom(s) de naissance : {escape(' '.join(patient.birth_given_names))}",
        f"1er prénom de naissance : {escape(patient.first_given_name)}",
        "Date de naissance : " + (patient.birth_date.strftime("%d/%m/%Y") if patient.birth_date else "inconnue"),
        f"Sexe : {sex_label}",
        f"Lieu de naissance (code INSEE) : {escape(patient.birth_place_code)}",
    ]
    if patient.qualified:
        nature = KNOWN_INS_OIDS.get(patient.ins_oid, "")
        lines.append(f"Matricule INS : <b>{escape(_spaced(patient.ins_matricule))}</b> ({escape(nature)})")
    else:
        lines.append("Identité non qualifiée : matricule INS non transmis")
    identity_cell: list[Flowable] = [Paragraph("<br/>".join(lines), ident)]
    matrix_cell: Flowable | str = ""
    content = None if (doc.kind and doc.kind.prescription) else datamatrix_content(patient)
    if content is not None:
        try:
            matrix_cell = datamatrix_flowable(datamatrix_modules(build_payload(content)), 26 * mm)
        except InvalidInput as exc:
            log.warning("INS datamatrix not printed: %s", exc.message_fr)
    box = Table([[identity_cell, matrix_cell]], colWidths=[138 * mm, 32 * mm])
    box.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, -1), "LGC-Sans"),
                ("BOX", (0, 0), (-1, -1), 0.8, colors.HexColor("#1F4E79")),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("LEFTPADDING", (0, 0), (-1, -1), 8),
                ("TOPPADDING", (0, 0), (-1, -1), 6),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 6),
            ]
        )
    )
    story += [box, Spacer(1, 6 * mm)]

    kind = doc.kind
    specs = [(s.key, s.label, s.multiline) for s in kind.fields] if kind else [(k, k, True) for k, _ in doc.fields]
    short: list[list[Flowable]] = []

    def flush_short() -> None:
        # Consecutive one-line fields: a compact two-column table rather than one heading each.
        if short:
            grid = Table([list(line) for line in short], colWidths=[55 * mm, 110 * mm], hAlign="LEFT")
            grid.setStyle(
                TableStyle(
                    [
                        ("FONTNAME", (0, 0), (-1, -1), "LGC-Sans"),
                        ("VALIGN", (0, 0), (-1, -1), "TOP"),
                        ("LEFTPADDING", (0, 0), (-1, -1), 0),
                        ("TOPPADDING", (0, 0), (-1, -1), 1.5),
                        ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
                    ]
                )
            )
            story.extend([Spacer(1, 3 * mm), grid])
            short.clear()

    structured_lines = any(key == "lignes" for key, _c, _m in specs) and bool(document_lines(doc))
    for key, caption, multiline in specs:
        if key == "produits" and structured_lines:
            continue  # the same products, as typed: the structured lines below are the prescription
        if key == "lignes" and structured_lines and any(line.ald for line in document_lines(doc)):
            flush_short()
            story.extend(_bizone(doc, caption, label, base))
            continue
        text = _field_text(doc, key).strip()
        if not text:
            continue
        if not multiline and "\n" not in text:
            short.append([Paragraph(f"<b>{escape(caption)}</b>", base), Paragraph(escape(text), base)])
            continue
        flush_short()
        paragraphs = [Paragraph(escape(part).replace("\n", "<br/>"), base) for part in text.split("\n\n")]
        story.append(KeepTogether([Paragraph(escape(caption), label), *paragraphs[:1]]))
        story += paragraphs[1:]
    flush_short()
    story.append(Spacer(1, 10 * mm))
    if doc.validated_at is not None and author is not None:
        when = _local(doc.validated_at).strftime("%d/%m/%Y à %H:%M")
        story.append(Paragraph(f"Document validé par {escape(author.display_name)} le {when}.", base))
    else:
        story.append(Paragraph("<b>BROUILLON — document non validé</b>", base))
    return build_document(doc, story, rgpd_footer, small, top_margin=18 * mm)


def build_document(
    doc: HealthDocument,
    story: list[Any],
    rgpd_footer: str,
    footer_style: Any,
    *,
    top_margin: float,
    running_head: str = "",
) -> bytes:
    """Lay ``story`` out on A4 pages with the footer every produced document carries: the RGPD notice, the
    document id and version, the page number (and ``running_head`` at the top of the pages after the first)."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate

    version = f"Document {doc.document_id} — version {doc.version}"

    def decorate(canvas: object, _template: object) -> None:
        c = canvas  # reportlab Canvas
        c.saveState()  # type: ignore[attr-defined]
        width, height = A4
        footer = Paragraph(escape(rgpd_footer), footer_style)
        footer.wrap(width - 40 * mm, 30 * mm)
        footer.drawOn(c, 20 * mm, 10 * mm + 6)
        c.setFont("LGC-Sans", 7)  # type: ignore[attr-defined]
        c.setFillColor(colors.HexColor("#555555"))  # type: ignore[attr-defined]
        c.drawString(20 * mm, 8 * mm, version)  # type: ignore[attr-defined]
        page = c.getPageNumber()  # type: ignore[attr-defined]
        if running_head and page > 1:
            c.drawString(20 * mm, height - 12 * mm, running_head)  # type: ignore[attr-defined]
        c.drawRightString(width - 20 * mm, 8 * mm, f"Page {page}")  # type: ignore[attr-defined]
        c.restoreState()  # type: ignore[attr-defined]

    out = io.BytesIO()
    template = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=20 * mm,
        rightMargin=20 * mm,
        topMargin=top_margin,
        bottomMargin=32 * mm,
        title=doc.title,
        author=doc.author_display,
        subject=doc.type_display,
        creator="LGC",
        initialFontName="LGC-Sans",
        invariant=1,
    )
    template.build(story, onFirstPage=decorate, onLaterPages=decorate)
    return out.getvalue()


BIZONE_ALD = "Prescriptions relatives au traitement de l'affection de longue durée reconnue (affection exonérante)"
BIZONE_OTHER = "Prescriptions SANS RAPPORT avec l'affection de longue durée (maladies intercurrentes)"


def _bizone(doc: HealthDocument, caption: str, label: object, base: object) -> list[object]:
    """The lines of a prescription for a patient in ALD, in the two zones of an ordonnance bizone (numbered on)."""
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.platypus import KeepTogether, Paragraph

    zone_style = ParagraphStyle("zone", parent=base, spaceBefore=7, spaceAfter=2)
    lines = list(enumerate(document_lines(doc), start=1))
    flowables: list[object] = [Paragraph(escape(caption), label)]
    for title, zone in (
        (BIZONE_ALD, [x for x in lines if x[1].ald]),
        (BIZONE_OTHER, [x for x in lines if not x[1].ald]),
    ):
        paragraphs = [Paragraph(escape(f"{n}. {line.summary()}"), base) for n, line in zone] or [Paragraph("—", base)]
        flowables.append(KeepTogether([Paragraph(f"<u>{escape(title)}</u>", zone_style), *paragraphs[:1]]))
        flowables.extend(paragraphs[1:])
    return flowables


def _field_text(doc: HealthDocument, key: str) -> str:
    """What the PDF prints for a field: the label of a choice; numbered readable lines for the structured
    prescription lines (never their JSON)."""
    if key == "lignes":
        return "\n\n".join(f"{n}. {line.summary()}" for n, line in enumerate(document_lines(doc), start=1))
    return field_display(doc, key)


def _spaced(matricule: str) -> str:
    m = matricule
    return f"{m[0]} {m[1:3]} {m[3:5]} {m[5:7]} {m[7:10]} {m[10:13]} {m[13:]}" if len(m) == 15 else m


def _to_pdfa(raw: bytes, doc: HealthDocument) -> bytes:
    import pikepdf
    import pikepdf.pdfa

    with pikepdf.open(io.BytesIO(raw)) as pdf:
        for page in pdf.pages:
            # reportlab writes an empty page transition dictionary; PDF/A has no use for it.
            if "/Trans" in page.obj:
                del page.obj["/Trans"]
        with pdf.open_metadata(set_pikepdf_as_editor=False) as meta:
            meta["dc:title"] = doc.title
            meta["dc:creator"] = [doc.author_display or "LGC"]
            meta["dc:description"] = doc.type_display
            meta["xmp:CreatorTool"] = "LGC"
        out = io.BytesIO()
        try:
            pikepdf.pdfa.save(pdf, out, "1b")
        except pikepdf.pdfa.PdfaError as exc:
            log.error("PDF/A-1b conversion failed: %s", exc)
            raise StorageError("Le PDF/A-1b n'a pas pu être produit (conversion refusée).") from exc
        return out.getvalue()
