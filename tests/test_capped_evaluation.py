"""Under a step cap each chapter cuts its evaluation sets to about ``cap`` batches before predicting them.

(The capped paper-profile notebook runs in tests/test_notebooks.py prove the whole chapters; these check the
cut itself, per chapter, on small data: what is cut, to what size, and that nothing is cut without a cap.)
"""
import pytest

from paperkit import step_cap
from paperkit.chapters.lge_quality import experiment as lge
from paperkit.chapters.model_doctor import experiment as doctor
from paperkit.chapters.model_doctor import spec as doctor_spec
from paperkit.chapters.rethink_transfer import experiment as rethink
from paperkit.chapters.rethink_transfer import spec as rethink_spec
from paperkit.data.splits import Split


@pytest.fixture(autouse=True)
def no_cap_left_behind():
    yield
    step_cap.set_cap(None)


class Case:
    def __init__(self, i):
        self.case_id, self.subject = f"c{i}", f"s{i}"


def test_lge_quality_keeps_cap_scans_for_validation_and_test_and_every_training_scan():
    split = Split({"train": [Case(i) for i in range(10)], "val": [Case(i) for i in range(10, 14)],
                   "test": [Case(i) for i in range(14, 20)]}, subject="subject", source="demo")
    assert lge.evaluated_scans(split) is split
    with step_cap.capped(2):
        cut = lge.evaluated_scans(split)
    assert [len(cut[p]) for p in ("train", "val", "test")] == [10, 2, 2]
    assert cut.source == "demo" and "step-capped run" in cut.notes[-1]


def test_model_doctor_tests_and_diagnoses_on_cap_batches_stratified(tmp_path, monkeypatch):
    monkeypatch.setenv("PAPERKIT_CACHE", str(tmp_path))
    S = doctor_spec.SPEC.resolve(dataset="digits", profile="smoke", batch_size=8, test_limit=None, device="cpu")
    full = doctor.load_data(S)
    with step_cap.capped(2):
        cut = doctor.load_data(S)
    assert len(cut["train"]) == len(full["train"]) and len(full["test"]) > 16
    # 16 items asked for; the stratified draw rounds each of the 10 classes' share (at least one each)
    assert cut["data_key"]["test_limit"] == 16 and 10 <= len(cut["test"]) <= 20
    assert len(set(doctor.labels_of(cut["test"]).tolist())) == 10  # stratified: every class is still there


def test_rethink_transfer_cuts_validation_and_test_by_patient(tmp_path, monkeypatch):
    monkeypatch.setenv("PAPERKIT_CACHE", str(tmp_path))
    S = rethink_spec.SPEC.resolve(profile="smoke", n_patients=400, batch_size=4, device="cpu", image_size=32)
    full = rethink.load_task(S, progress=False)
    with step_cap.capped(2):
        cut = rethink.load_task(S, progress=False)
    assert len(cut["tables"]["train"]) == len(full["tables"]["train"])
    for part in ("val", "test"):
        # about cap x batch = 8 images, more where whole patients and one per label stratum are kept
        assert len(full["tables"][part]) >= 30 and len(cut["tables"][part]) <= 25, (part, len(cut["tables"][part]))
