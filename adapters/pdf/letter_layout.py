"""Letter layout of the PDF (kind 96349-6): letterhead, recipient block, place and date, rich body, signature."""

from __future__ import annotations

import logging
from xml.sax.saxutils import escape

from adapters.pdf.producer import (
    _local,
    _spaced,
    build_document,
    datamatrix_content,
    datamatrix_flowable,
    datamatrix_modules,
)
from domain.documents import HealthDocument
from domain.errors import InvalidInput
from domain.identity import KNOWN_INS_OIDS
from domain.ins_datamatrix import build_payload
from domain.letters import Block, city_of, from_plain_text, long_date, runs_markup, sanitise

log = logging.getLogger("lgc.documents.pdf")


def letter_blocks(doc: HealthDocument) -> tuple[Block, ...]:
    """The body to print: the rich body when it still says what ``corps`` says, else ``corps`` as plain text
    (a new version edited as plain text in the Documents tab must print its own words)."""
    text = doc.value("corps")
    rich = doc.value("corps_html")
    if rich:
        body = sanitise(rich)
        if " ".join(body.text.split()) == " ".join(text.split()):
            return body.blocks
    return from_plain_text(text).blocks


def draw_letter(doc: HealthDocument, rgpd_footer: str) -> bytes:
    """The letter drawn by reportlab (fonts registered by the caller); the caller makes it PDF/A-1b."""
    from reportlab.lib import colors
    from reportlab.lib.enums import TA_RIGHT
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Flowable, Paragraph, Spacer, Table, TableStyle

    base = ParagraphStyle("letter", fontName="LGC-Sans", fontSize=10.5, leading=14.5, spaceAfter=7)
    head = ParagraphStyle("head", parent=base, fontSize=9, leading=12, spaceAfter=0)
    head_name = ParagraphStyle("head-name", parent=head, fontName="LGC-Sans-Bold", fontSize=12, leading=15)
    address = ParagraphStyle("address", parent=base, spaceAfter=0)
    right = ParagraphStyle("right", parent=base, alignment=TA_RIGHT)
    small = ParagraphStyle("small", parent=base, fontSize=8, leading=10, textColor=colors.HexColor("#333333"))
    concerns = ParagraphStyle("concerns", parent=base, fontSize=9, leading=12, textColor=colors.HexColor("#222222"))
    item = ParagraphStyle(
        "item", parent=base, leftIndent=9 * mm, bulletIndent=3 * mm, spaceAfter=2, bulletFontName="LGC-Sans"
    )

    author = doc.author
    patient = doc.patient
    story: list[Flowable] = []
    # The frame keeps 6 pt of padding on each side: tables are sized to what is left, so that they line up
    # with the paragraphs instead of overflowing into the margin.
    width = A4[0] - 40 * mm - 12

    # Letterhead: the practice and the practitioner on the left, the INS datamatrix (qualified identity) right.
    lines: list[Paragraph] = []
    if author is not None:
        lines.append(Paragraph(escape(author.structure_name), head_name))
        lines.append(Paragraph(f"<b>{escape(author.display_name)}</b> — {escape(author.profession_label)}", head))
        if author.national_id.startswith("8"):
            lines.append(Paragraph(f"RPPS {escape(author.national_id[1:])}", head))
        for part in [p.strip() for p in author.address.split(",") if p.strip()]:
            lines.append(Paragraph(escape(part), head))
        if author.phone:
            lines.append(Paragraph(f"Tél. {escape(author.phone)}", head))
    elif doc.author_name:
        lines.append(Paragraph(escape(doc.author_name), head_name))
    matrix: Flowable | str = ""
    content = datamatrix_content(patient)
    if content is not None:
        try:
            matrix = datamatrix_flowable(datamatrix_modules(build_payload(content)), 21 * mm, caption_pt=6.5)
        except InvalidInput as exc:
            log.warning("INS datamatrix not printed: %s", exc.message_fr)
    letterhead = Table([[lines, matrix]], colWidths=[width - 30 * mm, 30 * mm])
    letterhead.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, -1), "LGC-Sans"),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("ALIGN", (1, 0), (1, 0), "RIGHT"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), 0),
                ("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.HexColor("#1F4E79")),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 5),
            ]
        )
    )
    story += [letterhead, Spacer(1, 10 * mm)]

    # Recipient block where a window envelope shows it (right half), then place and date.
    recipient = [line.strip() for line in doc.value("destinataire").split(",") if line.strip()]
    recipient_cell = [
        Paragraph(escape(line), address if i else ParagraphStyle("r0", parent=address, fontName="LGC-Sans-Bold"))
        for i, line in enumerate(recipient)
    ]
    block = Table([["", recipient_cell]], colWidths=[width - 75 * mm, 75 * mm])
    block.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, -1), "LGC-Sans"),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
            ]
        )
    )
    act = _local(doc.act_date)
    place = city_of(author.address) if author is not None else ""
    when = long_date(act.date())
    story += [block, Spacer(1, 8 * mm), Paragraph(escape(f"{place}, le {when}" if place else f"Le {when}"), right)]
    story.append(Spacer(1, 6 * mm))

    subject = doc.value("motif").strip()
    if subject:
        story.append(Paragraph(f"<b>Objet :</b> {escape(subject)}", base))
    born = patient.birth_date.strftime("%d/%m/%Y") if patient.birth_date else "date de naissance inconnue"
    who = f"{escape(patient.display_name)}, né(e) le {born}"
    if patient.qualified:
        nature = KNOWN_INS_OIDS.get(patient.ins_oid, "")
        who += f" — INS {escape(_spaced(patient.ins_matricule))} ({escape(nature)})"
    story += [Paragraph(f"<b>Concerne :</b> {who}", concerns), Spacer(1, 6 * mm)]

    number = 0
    previous = ""
    for body_block in letter_blocks(doc):
        markup = runs_markup(body_block.runs, br="<br/>")
        if previous and not body_block.list_kind:
            story.append(Spacer(1, 5))  # a list ends: the next paragraph breathes as after a paragraph
        previous = body_block.list_kind
        if body_block.list_kind == "ol":
            number += 1
            story.append(Paragraph(markup, item, bulletText=f"{number}."))
            continue
        number = 0
        if body_block.list_kind == "ul":
            story.append(Paragraph(markup, item, bulletText="•"))
        elif markup:
            story.append(Paragraph(markup, base))
        else:
            story.append(Spacer(1, base.leading))

    # Signature on the right; the validation line says who validated it, or that it is a draft.
    story.append(Spacer(1, 10 * mm))
    signature = []
    if author is not None:
        signature = [
            Paragraph(f"<b>{escape(author.display_name)}</b>", address),
            Paragraph(escape(author.profession_label), address),
        ]
    if doc.validated_at is not None:
        signed = _local(doc.validated_at).strftime("%d/%m/%Y à %H:%M")
        signature.append(Paragraph(f"Document validé le {signed}", small))
    else:
        signature.append(Paragraph("<b>BROUILLON — document non validé</b>", small))
    sign = Table([["", signature]], colWidths=[width - 75 * mm, 75 * mm])
    sign.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, -1), "LGC-Sans"),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
            ]
        )
    )
    story.append(sign)
    # Later pages name the patient, so that a loose page is not misfiled.
    running_head = f"{patient.display_name} — {doc.title}"
    return build_document(doc, story, rgpd_footer, small, top_margin=16 * mm, running_head=running_head)
