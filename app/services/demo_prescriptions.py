"""Demo prescriptions: a validated one and a draft for the first qualified demo patients (signed-in prescriber)."""

from __future__ import annotations

import logging
from dataclasses import replace

from app.services.patients import PatientService
from app.services.prescriptions import PrescriptionService
from domain.errors import DomainError
from domain.identity import IdentityStatus
from domain.prescriptions import PRODUCTS_KIND, PrescriptionLine

log = logging.getLogger("lgc.demo")

DEMO_LINES: tuple[tuple[str, dict[str, object]], ...] = (
    ("Compresses stériles non tissées 10 x 10 cm", {"quantity": "2 boîtes", "duration_days": 30}),
    ("Pansement hydrocellulaire adhésif 10 x 10 cm", {"dosage": "1 pansement tous les 3 jours", "duration_days": 30}),
    ("Chaussettes de compression veineuse, classe 2", {"quantity": "2 paires", "renewals": 1, "duration_days": 180}),
)
DEMO_DRAFT = ("Nicotine, dispositif transdermique 21 mg/24 h", {"duration_days": 28, "quantity": "28 timbres"})


def install_demo_prescriptions(
    prescriptions: PrescriptionService, patients: PatientService, *, patient_count: int = 2
) -> int:
    """Once, on a demo store without prescriptions: for the first qualified patients, a validated prescription
    (its document is produced) and a draft. Lines the signed-in profession may not prescribe are left out.
    Returns how many prescriptions were made."""
    rows = patients.search("", limit=200).rows
    chosen = [r for r in rows if r.status is IdentityStatus.QUALIFIED][:patient_count] or list(rows[:1])
    made = 0
    try:
        if not chosen or any(prescriptions.list_prescriptions(r.id) for r in chosen):
            return 0
        validated = [line for line in (_line(prescriptions, *item) for item in DEMO_LINES) if line is not None]
        draft = _line(prescriptions, *DEMO_DRAFT)
        for row in chosen:
            if validated:
                saved = prescriptions.save_draft(row.id, PRODUCTS_KIND, validated, "Soins de plaie à domicile.")
                prescriptions.validate(saved.id or 0, saved.row_version)
                made += 1
            if draft is not None:
                prescriptions.save_draft(row.id, PRODUCTS_KIND, [draft])
                made += 1
    except DomainError as exc:  # e.g. the demo user is not a prescriber: the tab then says why
        log.info("Demo prescriptions not installed: %s", exc.message_fr)
    log.info("%d demo prescriptions added", made)
    return made


def _line(service: PrescriptionService, label: str, changes: dict[str, object]) -> PrescriptionLine | None:
    choice = next((c for c in service.search_products(label) if c.product.label.startswith(label)), None)
    if choice is None or not choice.allowed:
        return None
    line = service.line_for(choice)
    if not line.dosage:
        line = replace(line, dosage="Selon les soins")
    return replace(line, **changes)  # type: ignore[arg-type]
