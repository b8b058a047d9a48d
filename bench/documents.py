"""Health documents: produce N1+N3+PDF/A+XDM for one document, import+dedup 1,000 documents into one record,
open a patient file with 1,000 documents to the list shown; prints JSON."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import emit, median, percentile

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def _services(data_dir: Path, patients: int) -> object:
    from app.bootstrap import build, prepare_demo
    from app.settings import load_settings

    services = build(load_settings(data_dir))
    prepare_demo(services, patients, documents=False)
    services.practice.sign_in("sf")
    return services


def main() -> None:
    """Run the three measures and print {p95_ms, import_1000_s, open_file_ms, …} with their baselines."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--documents", type=int, default=1000)
    args = parser.parse_args()

    from adapters.cda.builder import build_n1, build_n3
    from adapters.cda.documents import CdaDocumentRenderer
    from adapters.pdf import producer
    from domain.documents import DocumentSettings, new_oid
    from domain.identity import IdentityStatus

    with tempfile.TemporaryDirectory(prefix="lgc-bench-documents-") as tmp:
        services = _services(Path(tmp), 50)
        docs = services.documents  # type: ignore[attr-defined]
        rows = services.patients.search("", limit=50).rows  # type: ignore[attr-defined]
        patient = next(r for r in rows if r.status is IdentityStatus.QUALIFIED)
        values = {
            "acte": "INITIMMUNIZ", "vaccin": "GARDASIL 9", "code_cis": "63168294", "code_atc": "J07BM03",
            "libelle_atc": "Vaccin papillomavirus", "lot": "U012345", "rang": "1", "voie": "20035000",
            "site": "16217701000119102", "commentaire": "RAS",
        }  # fmt: skip
        draft = docs.create_draft(patient.id, "87273-9", values)
        doc = docs.validate_document(draft.id, draft.row_version)
        renderer = CdaDocumentRenderer(application_version="bench")
        footer = DocumentSettings().rgpd_footer

        # 1. Produce the four renderings of one document (warm: the first run loads the libraries).
        def produce() -> None:
            pdf = renderer.pdf(doc, rgpd_footer=footer)
            n1 = build_n1(doc, pdf)
            n3 = build_n3(doc, pdf)
            renderer.xdm([(doc, n3, doc.model), (doc, n1, "n1")], sender="bench")

        produce()
        produce_ms: list[float] = []
        draw_ms: list[float] = []
        for _ in range(args.runs):
            started = time.perf_counter()
            produce()
            produce_ms.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            producer._draw(doc, footer)  # baseline: reportlab alone, no PDF/A, no CDA
            draw_ms.append((time.perf_counter() - started) * 1000)

        # 2. Import and duplicate-check 1,000 received documents (plus 100 duplicates) into one record, as a
        #    dropped folder is imported: one transaction, each file checked (XSD, patient, duplicates).
        pdf = renderer.pdf(doc, rgpd_footer=footer)
        template = build_n1(doc, pdf)
        received: list[bytes] = []
        for _ in range(args.documents):
            data = template.replace(doc.document_id.encode(), new_oid().encode())
            received.append(data.replace(doc.set_id.encode(), new_oid().encode()))
        from lxml import etree

        started = time.perf_counter()
        for data in received:
            etree.fromstring(data)
        parse_only_s = time.perf_counter() - started
        started = time.perf_counter()
        batch = [(f"doc{index}.xml", data) for index, data in enumerate(received)]
        batch += [(f"again{index}.xml", data) for index, data in enumerate(received[:100])]  # duplicates
        results = docs.import_files(patient.id, batch)
        import_s = time.perf_counter() - started
        reports = [r for _, r in results if not isinstance(r, str)]
        integrated = sum(r.integrated for r in reports)
        duplicates = sum(1 for r in reports if r.integrated == 0)
        assert integrated == args.documents and duplicates == 100, (integrated, duplicates)

        # 3. Open the patient file with 1,000+ documents until the list is shown (Qt offscreen).
        from PySide6.QtWidgets import QApplication

        from ui.patient_file import PatientFileView

        app = QApplication.instance() or QApplication([])
        view = PatientFileView()
        view.resize(1400, 900)
        view.show()
        view.tabs.setCurrentWidget(view.documents_tab)
        other = next(r for r in rows if r.id != patient.id)
        open_ms: list[float] = []
        baseline_ms: list[float] = []
        for _ in range(max(10, args.runs // 2)):
            started = time.perf_counter()
            file = services.patients.open_patient(patient.id)  # type: ignore[attr-defined]
            listed = docs.list_documents(patient.id)
            view.set_file(file)
            view.documents_tab.set_rows(listed)
            app.processEvents()
            open_ms.append((time.perf_counter() - started) * 1000)
            assert view.documents_tab.model.rowCount() == len(listed) >= args.documents
            started = time.perf_counter()
            file = services.patients.open_patient(other.id)  # type: ignore[attr-defined]
            view.set_file(file)
            view.documents_tab.set_rows([])
            app.processEvents()
            baseline_ms.append((time.perf_counter() - started) * 1000)
        services.close()  # type: ignore[attr-defined]

    emit(
        {
            "p50_ms": round(median(produce_ms), 1),
            "p95_ms": round(percentile(produce_ms, 95), 1),
            "baseline_reportlab_only_p95_ms": round(percentile(draw_ms, 95), 1),
            "import_1000_s": round(import_s, 2),
            "baseline_parse_only_1000_s": round(parse_only_s, 2),
            "imported": integrated,
            "duplicates_refused": duplicates,
            "open_file_ms": round(percentile(open_ms, 95), 1),
            "open_file_p50_ms": round(median(open_ms), 1),
            "baseline_open_file_without_documents_ms": round(percentile(baseline_ms, 95), 1),
            "documents_in_file": len(listed),
        }
    )


if __name__ == "__main__":
    main()
