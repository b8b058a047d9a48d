"""Produced documents against the ANS kit: CDA XSD, generic CI-SIS schematrons, model schematron; PDF/A-1b
with the INS datamatrix; IHE XDM layout and METADATA.XML; the reader reads back what the producer writes."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import subprocess
import sys
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest
from lxml import etree

from adapters.cda.builder import build_n1, build_n3
from adapters.cda.documents import CdaDocumentReader, CdaDocumentRenderer
from adapters.cda.validation import CdaValidator
from adapters.pdf.producer import render_pdf
from domain.documents import DOCUMENT_KINDS, TROD_RESULT_CODES, TROD_TESTS, DocumentSettings, HealthDocument
from domain.errors import InvalidInput
from domain.ins_datamatrix import build_payload, parse_payload
from tests.documents_support import LINES, NOW, draft, make_patient, validated

SHARED = Path(__file__).resolve().parents[3] / "shared"
KIT = SHARED / "specs" / "cda"
HL7 = {"h": "urn:hl7-org:v3"}
FOOTER = DocumentSettings().rgpd_footer


@pytest.fixture(scope="module")
def validator() -> CdaValidator:
    return CdaValidator()


@pytest.fixture(scope="module")
def pdf_cache() -> dict[str, bytes]:
    return {}


def _pdf(code: str, qualified: bool, cache: dict[str, bytes]) -> bytes:
    key = f"{code}-{qualified}"
    if key not in cache:
        cache[key] = render_pdf(validated(code, qualified=qualified), rgpd_footer=FOOTER)
    return cache[key]


@pytest.mark.parametrize("code", [k.code for k in DOCUMENT_KINDS])
def test_every_document_type_n1_passes_the_kit(code: str, validator: CdaValidator, pdf_cache: dict) -> None:
    doc = validated(code)
    cda = build_n1(doc, _pdf(code, True, pdf_cache))
    report = validator.validate_bytes(cda)
    assert report.ok, [f.line() for f in report.errors]
    assert len(report.checks) == 6  # XSD, JDV_J07, StrucMin, ModelesDeContenus, IHE, terminologie
    root = etree.fromstring(cda)
    assert [t.get("root") for t in root.findall("h:templateId", HL7)] == [
        "2.16.840.1.113883.2.8.2.1",
        "1.2.250.1.213.1.1.1.1",
        "1.3.6.1.4.1.19376.1.2.20",
    ]
    text = root.find("h:component/h:nonXMLBody/h:text", HL7)
    assert text.get("mediaType") == "application/pdf" and base64.b64decode(text.text).startswith(b"%PDF-1.4")


def test_vaccination_note_n3_passes_its_model_with_the_pdf_copy(validator: CdaValidator, pdf_cache: dict) -> None:
    doc = validated("87273-9")
    pdf = _pdf("87273-9", True, pdf_cache)
    cda = build_n3(doc, pdf)
    report = validator.validate_bytes(cda)
    assert "CI-SIS_VAC-NOTE_2023.01.sch" in report.checks
    assert report.ok, [f.line() for f in report.errors]
    root = etree.fromstring(cda)
    copy = root.xpath("//h:section[h:templateId/@root='1.2.250.1.213.1.1.2.243']", namespaces=HL7)
    assert len(copy) == 1 and copy[0].findtext("h:title", namespaces=HL7) == "Copie du document"
    media = copy[0].xpath(".//h:observationMedia/h:value", namespaces=HL7)[0]
    assert base64.b64decode(media.text) == pdf
    assert root.find("h:effectiveTime", HL7) is not None
    assert root.xpath("string(//h:substanceAdministration/h:effectiveTime/@value)", namespaces=HL7) == "20261127"


def test_the_shared_kit_runner_agrees(tmp_path: Path, pdf_cache: dict) -> None:
    """The reference runner of ../shared/tools on the shared kit, in a separate process."""
    n1 = tmp_path / "n1.xml"
    n3 = tmp_path / "n3.xml"
    n1.write_bytes(build_n1(validated("11506-3"), _pdf("11506-3", True, pdf_cache)))
    n3.write_bytes(build_n3(validated("87273-9"), _pdf("87273-9", True, pdf_cache)))
    runner = SHARED / "tools" / "schematron.py"
    schemas = [
        KIT / "schematrons/profils/structurationMinimale/ASIP-STRUCT-MIN-StrucMin.sch",
        KIT / "schematrons/profils/CI-SIS_ModelesDeContenusCDA.sch",
        KIT / "schematrons/profils/IHE.sch",
    ]
    for schema in schemas:
        done = subprocess.run(
            [sys.executable, str(runner), str(schema), str(n1), str(n3)], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout + done.stderr
    model = KIT / "schematrons/CI-SIS_VAC-NOTE_2023.01.sch"
    done = subprocess.run([sys.executable, str(runner), str(model), str(n3)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_ins_in_record_target_only_for_a_qualified_identity(pdf_cache: dict) -> None:
    qualified = etree.fromstring(build_n1(validated("11488-4"), b"%PDF-1.4"))
    ids = qualified.xpath("h:recordTarget/h:patientRole/h:id/@root", namespaces=HL7)
    assert "1.2.250.1.213.1.4.10" in ids
    provisional = etree.fromstring(build_n1(validated("11488-4", qualified=False), b"%PDF-1.4"))
    roots = provisional.xpath("h:recordTarget/h:patientRole/h:id/@root", namespaces=HL7)
    assert not any(r.startswith("1.2.250.1.213.1.4.") for r in roots)
    name = provisional.find("h:recordTarget/h:patientRole/h:patient/h:name", HL7)
    assert name.findtext("h:family[@qualifier='BR']", namespaces=HL7) == "DUPONT"
    assert name.findtext("h:given[@qualifier='BR']", namespaces=HL7) == "MARIE"


def test_a_new_version_carries_rplc_same_set_id_and_passes(validator: CdaValidator, pdf_cache: dict) -> None:
    first = validated("34120-6")
    second = first.next_version(at=first.act_date, author=first.author, patient=first.patient)  # type: ignore[arg-type]
    second = second.validate(at=first.act_date, actor="x", patient=second.patient)
    cda = build_n1(second, _pdf("34120-6", True, pdf_cache))
    root = etree.fromstring(cda)
    assert root.xpath("string(h:setId/@root)", namespaces=HL7) == first.set_id
    assert root.xpath("string(h:versionNumber/@value)", namespaces=HL7) == "2"
    assert root.xpath("string(h:relatedDocument[@typeCode='RPLC']/h:parentDocument/h:id/@root)", namespaces=HL7) == (
        first.document_id
    )
    assert validator.validate_bytes(cda).ok


def _datamatrix_texts(pdf: bytes) -> list[str]:
    import tempfile

    import zxingcpp
    from PIL import Image

    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "doc.pdf"
        source.write_bytes(pdf)
        subprocess.run(
            ["pdftoppm", "-png", "-r", "200", "-singlefile", str(source), str(Path(tmp) / "page")], check=True
        )
        image = Image.open(Path(tmp) / "page.png")
        image.load()
    found = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.DataMatrix)
    return [bytes(r.bytes).decode("latin-1") for r in found]


def test_pdf_is_pdfa_1b_with_the_ins_datamatrix(pdf_cache: dict) -> None:
    import pikepdf
    import pikepdf.pdfa

    pdf = _pdf("11488-4", True, pdf_cache)
    with pikepdf.open(io.BytesIO(pdf)) as opened:
        report = pikepdf.pdfa.check(opened, "1b")
        assert report.verdict == "pass", report
        assert opened.pdf_version == "1.4"
    doc = validated("11488-4")
    expected = build_payload(parse_payload(build_payload(_content(doc))))
    assert _datamatrix_texts(pdf) == [expected]
    text = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True).stdout.decode()
    assert "INS à scanner" in text and "2 85 03 51 454 123" in text and "RGPD" in text


def _content(doc: object) -> object:
    from adapters.pdf.producer import datamatrix_content

    content = datamatrix_content(doc.patient)  # type: ignore[attr-defined]
    assert content is not None
    return content


def test_no_datamatrix_on_prescriptions_nor_for_an_unqualified_identity(pdf_cache: dict) -> None:
    assert _datamatrix_texts(_pdf("PRESC-KINE", True, pdf_cache)) == []
    unqualified = _pdf("11488-4", False, pdf_cache)
    assert _datamatrix_texts(unqualified) == []
    text = subprocess.run(["pdftotext", "-", "-"], input=unqualified, capture_output=True).stdout.decode()
    assert "non qualifiée" in text and "85 03 51" not in text


def test_xdm_archive_layout_and_metadata(pdf_cache: dict) -> None:
    doc = validated("87273-9")
    cda = build_n3(doc, _pdf("87273-9", True, pdf_cache))
    archive = CdaDocumentRenderer(application_version="test").xdm([(doc, cda, doc.model)], sender="Léa MOREAU")
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        names = sorted(zf.namelist())
        assert names == ["IHE_XDM/SUBSET01/DOC00001.XML", "IHE_XDM/SUBSET01/METADATA.XML", "INDEX.HTM", "README.TXT"]
        assert zf.read("IHE_XDM/SUBSET01/DOC00001.XML") == cda
        meta = etree.fromstring(zf.read("IHE_XDM/SUBSET01/METADATA.XML"))
        assert "Léa MOREAU" in zf.read("README.TXT").decode()
    rim = {"rim": "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"}
    assert meta.tag == "{urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0}SubmitObjectsRequest"

    def slot(name: str) -> str:
        return meta.xpath(
            f"string(//rim:ExtrinsicObject/rim:Slot[@name='{name}']/rim:ValueList/rim:Value)", namespaces=rim
        )

    assert slot("hash") == hashlib.sha1(cda).hexdigest()  # noqa: S324
    assert slot("size") == str(len(cda)) and slot("URI") == "DOC00001.XML"
    assert slot("sourcePatientId").startswith(doc.patient.ins_matricule + "^^^&1.2.250.1.213.1.4.10&ISO^NH")
    codes = set(meta.xpath("//rim:ExtrinsicObject/rim:Classification/@nodeRepresentation", namespaces=rim))
    assert {"87273-9", "urn:asip:ci-sis:vac-note:2021", "N", "SA07", "AMBULATOIRE", "45"} <= codes
    unique = meta.xpath(
        "string(//rim:ExternalIdentifier[@identificationScheme='urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab']/@value)",
        namespaces=rim,
    )
    assert unique == doc.document_id
    back = CdaDocumentReader().read_xdm(archive)
    assert back == [("DOC00001.XML", cda)]


def test_reader_reads_back_what_the_producer_writes(pdf_cache: dict) -> None:
    doc = validated("87273-9")
    pdf = _pdf("87273-9", True, pdf_cache)
    received = CdaDocumentReader().read_cda(build_n3(doc, pdf))
    assert (received.document_id, received.set_id, received.version) == (doc.document_id, doc.set_id, 1)
    assert received.structured and received.model == "VAC-NOTE_2023.01" and received.pdf == pdf
    assert received.patient.ins_matricule == doc.patient.ins_matricule
    assert received.patient.birth_given_names == ("MARIE", "CLAIRE") and received.author_name == "Léa MOREAU"
    assert received.type_code == "87273-9" and received.act_date_iso.startswith("2026-11-27T10:30")
    html = CdaDocumentRenderer().html(build_n3(doc, pdf))
    assert "NOTE DE VACCINATION" in html and "U012345" in html and "NIR de test" in html


def test_official_examples_pass_the_product_validator(validator: CdaValidator) -> None:
    for name in ("DOC_NON_STRUCTURE_CDA-R2-N1.xml", "VAC-NOTE_2023.01.xml"):
        report = validator.validate_bytes((KIT / "examples" / name).read_bytes())
        assert report.ok, (name, [f.line() for f in report.errors])
    assert make_patient().id == 42


def _prescription(lines: list[dict] | None = None, *, qualified: bool = True, **values: str) -> HealthDocument:
    doc = draft("57833-6", qualified=qualified).edited(values={"lignes": json.dumps(lines or LINES), **values})
    return doc.validate(at=NOW, actor="x", patient=doc.patient)


def _trod(test: str, result: str, **values: str) -> HealthDocument:
    doc = draft("96173-0").edited(values={"test": test, "resultat": result, "lot": "B987654", **values})
    return doc.validate(at=NOW, actor="x", patient=doc.patient)


def test_prescription_of_products_n3_passes_ep_med_dm_with_the_pdf_copy(validator: CdaValidator) -> None:
    doc = _prescription(mentions="Allaitement en cours.")
    pdf = render_pdf(doc, rgpd_footer=FOOTER)
    cda = build_n3(doc, pdf)
    report = validator.validate_bytes(cda)
    assert "CI-SIS_EP-MED-DM_2024.01.sch" in report.checks
    assert report.ok, [f.line() for f in report.errors]
    root = etree.fromstring(cda)
    x = lambda path: root.xpath(path, namespaces=HL7)  # noqa: E731
    assert "1.2.250.1.213.1.1.1.39" in x("h:templateId/@root")
    assert x("string(h:documentationOf/h:serviceEvent/h:effectiveTime/h:high/@value)").startswith("20270225")
    meds = x("//h:section[h:templateId/@root='1.2.250.1.213.1.1.2.171']/h:entry/h:substanceAdministration")
    assert len(meds) == 2
    coded = meds[0].find("h:consumable/h:manufacturedProduct/h:manufacturedMaterial/h:code", HL7)
    assert (coded.get("code"), coded.get("codeSystem")) == ("63107752", "1.2.250.1.213.2.3.1")
    assert coded.find("h:translation", HL7).get("codeSystem") == "1.2.250.1.213.2.3.2"
    assert meds[0].xpath("string(.//*[local-name()='generalizedMedicineClass']/*/@code)") == "N02BE01"
    free = meds[1].find("h:consumable/h:manufacturedProduct/h:manufacturedMaterial/h:code", HL7)
    assert (
        free.get("nullFlavor") == "NA" and free.find("h:originalText/h:reference", HL7).get("value") == "#med-2-produit"
    )
    assert [m.find("h:repeatNumber", HL7).get("value") for m in meds] == ["0", "1"]
    substitution = "string(h:entryRelationship/h:act[h:templateId/@root='1.2.250.1.213.1.1.3.87']/h:code/@code)"
    assert [m.xpath(substitution, namespaces=HL7) for m in meds] == ["G", "N"]
    assert meds[0].xpath("string(h:effectiveTime/h:high/@value)", namespaces=HL7) == "20261201"  # 5 days
    assert meds[0].xpath("string(.//h:supply/h:quantity/@value)", namespaces=HL7) == "2"  # "2 boîtes"
    devices = x("//h:section[h:templateId/@root='1.2.250.1.213.1.1.2.222']/h:entry/h:supply")
    assert len(devices) == 1
    assert devices[0].xpath("string(.//h:playingDevice/h:code/h:translation/@code)", namespaces=HL7) == "1234567"
    copy = x("//h:section[h:templateId/@root='1.2.250.1.213.1.1.2.243']")
    assert (
        len(copy) == 1
        and base64.b64decode(copy[0].xpath(".//h:observationMedia/h:value", namespaces=HL7)[0].text) == pdf
    )
    assert "Allaitement en cours." in x("string(//h:section[h:templateId/@root='1.2.250.1.213.1.1.2.73'])")
    text = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True).stdout.decode()
    assert "1. PARACETAMOL MYLAN 500 mg" in text and "libelle" not in text and "INS à scanner" not in text
    assert text.count("PARACETAMOL MYLAN 500 mg") == 1  # the structured lines, not also the typed products


def test_prescription_n3_passes_for_an_unqualified_patient_without_address_and_only_devices(
    validator: CdaValidator,
) -> None:
    doc = _prescription([LINES[2]], qualified=False)
    doc = replace(doc, patient=replace(doc.patient, address_lines=(), postal_code="", city=""))
    cda = build_n3(doc, b"%PDF-1.4")
    report = validator.validate_bytes(cda)
    assert report.ok, [f.line() for f in report.errors]
    root = etree.fromstring(cda)
    assert root.xpath("string(h:recordTarget/h:patientRole/h:addr/@nullFlavor)", namespaces=HL7) == "UNK"
    assert not root.xpath("//h:section[h:templateId/@root='1.2.250.1.213.1.1.2.171']", namespaces=HL7)


def test_a_free_text_prescription_has_no_n3() -> None:
    free = validated("57833-6")
    with pytest.raises(InvalidInput):
        build_n3(free, b"%PDF-1.4")


@pytest.mark.parametrize("test", TROD_TESTS, ids=lambda t: t.loinc)
def test_trod_n3_passes_bio_trod_for_every_offered_test(test: object, validator: CdaValidator) -> None:
    position = TROD_TESTS.index(test)  # type: ignore[arg-type]
    result = list(TROD_RESULT_CODES)[position % 3]
    doc = _trod(test.loinc, result, commentaire="Orientation vers le CeGIDD." if position % 2 else "")  # type: ignore[attr-defined]
    cda = build_n3(doc, b"%PDF-1.4")
    report = validator.validate_bytes(cda)
    assert "CI-SIS_BIO-TROD_2024.01.sch" in report.checks
    assert report.ok, [f.line() for f in report.errors]
    root = etree.fromstring(cda)
    x = lambda path: root.xpath(path, namespaces=HL7)  # noqa: E731
    assert x("string(//h:observation[h:templateId/@root='1.3.6.1.4.1.19376.1.3.1.6']/h:code/@code)") == test.loinc  # type: ignore[attr-defined]
    assert x("string(//h:observation/h:value/@code)") == TROD_RESULT_CODES[result][0]
    assert x("string(h:documentationOf/h:serviceEvent/h:code/@code)") == test.target_code  # type: ignore[attr-defined]
    assert x("string(h:documentationOf/h:serviceEvent/h:performer//h:standardIndustryClassCode/@code)") == "DEPISTAGE"
    assert len(x("h:component/h:structuredBody/h:component/h:section")) == 1  # the model allows no PDF section
    assert "B987654" in x("string(//h:content[@ID='dispositif-nom-reference'])")


def test_new_n3_models_agree_with_the_shared_kit_runner_and_read_back(tmp_path: Path) -> None:
    prescription, trod = _prescription(), _trod("94558-4", "POS")
    pdf = render_pdf(prescription, rgpd_footer=FOOTER)
    files = {"ep.xml": build_n3(prescription, pdf), "trod.xml": build_n3(trod, b"%PDF-1.4")}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    runner = SHARED / "tools" / "schematron.py"
    checks = [
        ("schematrons/profils/structurationMinimale/ASIP-STRUCT-MIN-StrucMin.sch", ["ep.xml", "trod.xml"]),
        ("schematrons/profils/CI-SIS_ModelesDeContenusCDA.sch", ["ep.xml", "trod.xml"]),
        ("schematrons/profils/IHE.sch", ["ep.xml", "trod.xml"]),
        ("schematrons/CI-SIS_EP-MED-DM_2024.01.sch", ["ep.xml"]),
        ("schematrons/CI-SIS_BIO-TROD_2024.01.sch", ["trod.xml"]),
    ]
    for schema, names in checks:
        done = subprocess.run(
            [sys.executable, str(runner), str(KIT / schema), *(str(tmp_path / n) for n in names)],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    back = CdaDocumentReader().read_cda(files["trod.xml"])
    assert back.structured and back.model == "BIO-TROD_2024.01" and back.pdf is None
    assert CdaDocumentReader().read_cda(files["ep.xml"]).model == "EP-MED-DM_2024.01"
    renderer = CdaDocumentRenderer(application_version="test")
    html = renderer.html(files["ep.xml"])
    assert "Prescription valable jusqu'au" in html and "PARACETAMOL MYLAN" in html and "Non substituable" in html
    html = renderer.html(files["trod.xml"])
    assert "Pathologie dépistée" in html and "COVID-19 (antigène SARS-CoV-2)" in html and "Positif" in html
    rim = {"rim": "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"}
    for doc, data, fmt, setting in (
        (prescription, files["ep.xml"], "urn:ihe:pharm:pre:2010", "AMBULATOIRE"),
        (trod, files["trod.xml"], "urn:ans:ci-sis:trod:2024", "DEPISTAGE"),
    ):
        archive = renderer.xdm([(doc, data, doc.model)], sender="Léa MOREAU")
        with zipfile.ZipFile(io.BytesIO(archive)) as zf:
            meta = etree.fromstring(zf.read("IHE_XDM/SUBSET01/METADATA.XML"))
        codes = set(meta.xpath("//rim:ExtrinsicObject/rim:Classification/@nodeRepresentation", namespaces=rim))
        assert {fmt, setting} <= codes


def test_the_structured_view_shows_the_act_date_not_the_document_date(pdf_cache: dict[tuple[str, bool], bytes]) -> None:
    import datetime as dt
    import re
    from dataclasses import replace

    doc = validated("11506-3")
    earlier = replace(doc, act_date=dt.datetime(2026, 7, 7, 10, 0, tzinfo=dt.UTC))
    html = CdaDocumentRenderer().html(build_n1(earlier, _pdf("11506-3", True, pdf_cache)))
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    assert "Date de l'acte 07/07/2026" in text


def test_ald_lines_set_the_ald_flag_and_the_pdf_is_an_ordonnance_bizone(validator: CdaValidator) -> None:
    lines = [{**LINES[0], "ald": True}, LINES[1], {**LINES[2], "ald": True}]
    doc = _prescription(lines)
    pdf = render_pdf(doc, rgpd_footer=FOOTER)
    cda = build_n3(doc, pdf)
    report = validator.validate_bytes(cda)
    assert report.ok, [f.line() for f in report.errors]
    root = etree.fromstring(cda)
    ald = "string(.//h:observation[h:code/@code='MED-574']/h:value/@value)"
    meds = root.xpath(
        "//h:section[h:templateId/@root='1.2.250.1.213.1.1.2.171']/h:entry/h:substanceAdministration", namespaces=HL7
    )
    assert [m.xpath(ald, namespaces=HL7) for m in meds] == ["true", "false"]
    device = root.xpath("//h:section[h:templateId/@root='1.2.250.1.213.1.1.2.222']/h:entry/h:supply", namespaces=HL7)
    assert device[0].xpath(ald, namespaces=HL7) == "true"
    narrative = root.xpath("string(//h:content[@ID='med-1-flags'])", namespaces=HL7)
    assert narrative.startswith("En rapport avec l'ALD")
    assert root.xpath("string(//h:content[@ID='med-2-flags'])", namespaces=HL7).startswith("Hors ALD")
    text = " ".join(subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True).stdout.decode().split())
    upper, lower = text.index("affection de longue durée reconnue"), text.index("SANS RAPPORT avec l'affection")
    assert upper < text.index("1. PARACETAMOL MYLAN") < lower < text.index("2. ")
    assert text.index("3. ") < lower  # the device relates to the ALD: upper zone, numbering kept
