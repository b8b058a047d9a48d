"""Demo mode: the INSi stand-in knows the demo patients with an INS, so that verifying their INS succeeds."""

from __future__ import annotations

from pathlib import Path

from app.bootstrap import build, prepare_demo, start_demo_sandbox
from app.settings import load_settings
from app.tasks import InlineTaskRunner
from domain.identity import IdentityStatus
from domain.insi import InsiCode
from sandbox.test_identities import demo_registry_path, read_demo_registry


def test_demo_patients_with_an_ins_are_verified_by_the_stand_in(tmp_path: Path) -> None:
    settings = load_settings(tmp_path / "data")
    stop, endpoints = start_demo_sandbox(settings)
    services = build(settings, tasks=InlineTaskRunner(), endpoints=endpoints)
    try:
        prepare_demo(services, 120, documents=False)
        registry = read_demo_registry(demo_registry_path(settings.data_dir))
        with_ins = services.demo.patients_with_ins()
        counts = services.demo.status_counts()
        assert counts[IdentityStatus.RETRIEVED] > 0 and counts[IdentityStatus.QUALIFIED] > 0
        assert len(registry) == len(with_ins) == counts[IdentityStatus.RETRIEVED] + counts[IdentityStatus.QUALIFIED]
        retrieved = [p for p in with_ins if p.identity.status is IdentityStatus.RETRIEVED]
        qualified = [p for p in with_ins if p.identity.status is IdentityStatus.QUALIFIED]
        for patient in [*qualified[:2], *retrieved[:2]]:
            answer = services.qualification.verification_search(patient)
            assert answer.code is InsiCode.FOUND and answer.identity is not None
            assert patient.identity.ins is not None
            assert answer.identity.matricule == patient.identity.ins.matricule
            report = services.qualification.record_verification(patient, answer)
            after = services.qualification.patient(patient.id or 0).identity.status
            assert after is patient.identity.status, report
        # Written once: a second preparation keeps the file as it is.
        stamp = demo_registry_path(settings.data_dir).stat().st_mtime_ns
        prepare_demo(services, 120, documents=False)
        assert demo_registry_path(settings.data_dir).stat().st_mtime_ns == stamp
    finally:
        services.close()
        stop()


def test_an_unreadable_registry_is_ignored(tmp_path: Path) -> None:
    path = demo_registry_path(tmp_path)
    path.write_text("{pas du json", encoding="utf-8")
    assert read_demo_registry(path) == ()
    assert read_demo_registry(tmp_path / "absent.json") == ()
