"""The "INS à scanner" datamatrix drawn with zxing-cpp (square ECC200), and the printable INS label (reportlab PDF)."""

from __future__ import annotations

import io
import logging
import os
import tempfile
from pathlib import Path

from domain.errors import InvalidInput
from domain.ins_datamatrix import CAPTION, InsLabel

log = logging.getLogger("lgc.ins_label")

QUIET_ZONE_MODULES = 2
"""Light margin around the symbol, in modules (ISO/IEC 16022 asks for at least 1)."""


def _symbol(payload: str) -> object:
    import zxingcpp

    try:
        return zxingcpp.create_barcode(payload, zxingcpp.BarcodeFormat.DataMatrix, force_square=True)
    except Exception as exc:  # zxing-cpp raises its own exception types for content it cannot encode
        raise InvalidInput(f"Datamatrix INS impossible à produire : {exc}") from exc


class ZxingDatamatrixRenderer:
    """``DatamatrixRenderer`` with zxing-cpp: square ECC200 symbol, quiet zone of two modules."""

    def png(self, payload: str, module_px: int = 4) -> bytes:
        """A black-on-white PNG, ``module_px`` pixels per module."""
        import numpy as np
        from PIL import Image, ImageOps

        if not 1 <= module_px <= 40:
            raise InvalidInput("Taille de module du datamatrix : entre 1 et 40 pixels.")
        symbol = _symbol(payload)
        bitmap = np.array(symbol.to_image(scale=module_px, add_quiet_zones=False))  # type: ignore[attr-defined]
        image = ImageOps.expand(Image.fromarray(bitmap), border=QUIET_ZONE_MODULES * module_px, fill=255)
        out = io.BytesIO()
        image.save(out, format="PNG", optimize=True)
        return out.getvalue()

    def svg(self, payload: str) -> str:
        """The symbol as SVG (one unit per module, with zxing-cpp's quiet zone)."""
        return str(_symbol(payload).to_svg(scale=1, add_quiet_zones=True))  # type: ignore[attr-defined]


class ReportlabInsLabelWriter:
    """``InsLabelWriter``: a 105 × 57 mm label with the identity block and the datamatrix, captioned.

    Args:
        renderer: draws the datamatrix (PNG embedded in the PDF).
    """

    WIDTH_MM = 105.0
    HEIGHT_MM = 57.0

    def __init__(self, renderer: ZxingDatamatrixRenderer | None = None) -> None:
        self._renderer = renderer or ZxingDatamatrixRenderer()

    def write_pdf(self, label: InsLabel, path: Path) -> None:
        """Write the label to ``path`` (atomically: a failed write leaves no partial file)."""
        from reportlab.lib.units import mm
        from reportlab.lib.utils import ImageReader
        from reportlab.pdfgen import canvas

        content = label.content
        png = self._renderer.png(label.payload, module_px=8)
        buffer = io.BytesIO()
        page = canvas.Canvas(buffer, pagesize=(self.WIDTH_MM * mm, self.HEIGHT_MM * mm), pageCompression=1)
        page.setTitle(f"Étiquette INS — {content.birth_name} {content.first_given_name}")
        page.setAuthor("LGC")
        page.setSubject("Identité nationale de santé")
        page.setLineWidth(0.5)
        page.rect(2 * mm, 2 * mm, (self.WIDTH_MM - 4) * mm, (self.HEIGHT_MM - 4) * mm)

        size = 27 * mm
        left = (self.WIDTH_MM - 4) * mm - size
        bottom = (self.HEIGHT_MM - 6) * mm - size
        page.drawImage(ImageReader(io.BytesIO(png)), left, bottom, width=size, height=size)
        page.setFont("Helvetica-Bold", 7.5)
        page.drawCentredString(left + size / 2, bottom - 3.5 * mm, CAPTION)

        lines = [
            ("Nom de naissance", content.birth_name),
            ("1er prénom", content.first_given_name),
            ("Date de naissance · sexe", f"{content.birth_date.strftime('%d/%m/%Y')} · {content.sex.value}"),
            ("Matricule INS (nature)", f"{_grouped(content.matricule)} ({content.nature})"),
        ]
        if label.birth_place_label:
            lines.append(("Lieu de naissance", label.birth_place_label))
        y = (self.HEIGHT_MM - 9) * mm
        for caption, value in lines:
            page.setFont("Helvetica", 6.5)
            page.drawString(5 * mm, y, caption)
            page.setFont("Helvetica-Bold", 8.5)
            page.drawString(5 * mm, y - 3.2 * mm, _fit(value, 40))
            y -= 6.8 * mm
        if label.printed_by:
            page.setFont("Helvetica", 5.5)
            page.drawString(5 * mm, 4 * mm, f"Imprimé par {label.printed_by}")
        page.showPage()
        page.save()
        _atomic_write(path, buffer.getvalue())
        log.info("INS label written to %s", path)


def _grouped(matricule: str) -> str:
    m = matricule
    return f"{m[0]} {m[1:3]} {m[3:5]} {m[5:7]} {m[7:10]} {m[10:13]} {m[13:15]}" if len(m) == 15 else m


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _atomic_write(path: Path, data: bytes) -> None:
    directory = path.parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".etiquette-", suffix=".pdf", dir=directory)
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as exc:
        log.warning("INS label not written to %s: %s", path, exc)
        raise InvalidInput(f"L'étiquette INS n'a pas pu être enregistrée dans {path} : {exc.strerror or exc}") from exc
