"""The video4mri chapter's data assembly: MedMNIST 3D subsets and the synthetic cohort path."""
from __future__ import annotations

import numpy as np
import pytest

from paperkit.chapters.video4mri import experiment, spec


def write_npz(path, n_train=30, n_test=20, size=8):
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", n_train), ("val", 4), ("test", n_test)):
        arrays[f"{split}_images"] = rng.integers(0, 255, size=(n, size, size, size), dtype=np.uint8)
        arrays[f"{split}_labels"] = (np.arange(n) % 3 == 0).astype(np.uint8).reshape(n, 1)  # 1 in 3 positive
    np.savez(path, **arrays)
    return path


def test_medmnist_subsets_keep_class_shares_and_report_counts(tmp_path):
    write_npz(tmp_path / "adrenalmnist3d.npz")
    data = experiment.load_medmnist(tmp_path, "adrenalmnist3d", 28, limit=12, test_limit=9, seed=1)
    train, test = data["frames"](4)
    assert len(train) == 12 and len(test) == 9 and data["used_train"] == 12
    assert np.mean(train.labels) == pytest.approx(1 / 3) and np.mean(test.labels) == pytest.approx(1 / 3)
    assert data["counts"] == {"train": [20, 10], "val": [2, 2], "test": [13, 7]}
    x, y = test[0]
    assert x.shape == (1, 4, 8, 8) and y in (0, 1)
    full = experiment.load_medmnist(tmp_path, "adrenalmnist3d", 28)
    assert len(full["frames"](4)[1]) == 20 and full["data_key"]["limit"] is None
    with pytest.raises(Exception, match="adrenalmnist3d_64"):
        experiment.load_medmnist(tmp_path, "adrenalmnist3d", 64)


def test_spec_reads_medmnist3d_from_the_medmnist_folder(tmp_path, monkeypatch):
    (tmp_path / "medmnist").mkdir()
    monkeypatch.setenv("PAPERKIT_DATA", str(tmp_path))
    S = spec.SPEC.resolve(dataset="medmnist3d", profile="smoke")
    assert S.data_dir == tmp_path / "medmnist"
    with pytest.raises(ValueError, match="dataset='oasis3'"):
        spec.SPEC.resolve(dataset="oasis3")


def test_learning_rate_per_model_overrides_the_common_rate():
    S = spec.SPEC.resolve(profile="classroom")
    assert experiment.learning_rate(S, "r3d_18") == 1e-4  # the classroom profile's 3D ResNet rate
    assert experiment.learning_rate(S, "tsm_r18") == S.lr == 1e-3
    paper = spec.SPEC.resolve(profile="paper", device="cpu")
    assert {experiment.learning_rate(paper, m) for m in spec.MODELS} == {5e-5}  # one rate, as in the paper
    same = spec.SPEC.resolve(profile="classroom", model_lr={})  # {} is a value, not "keep the profile's"
    assert experiment.learning_rate(same, "r3d_18") == 1e-3
    with pytest.raises(ValueError, match=r"model_lr names \['r3d18'\]"):
        experiment.learning_rate(spec.SPEC.resolve(profile="classroom", model_lr={"r3d18": 1e-4}), "tsn_r18")
    with pytest.raises(ValueError, match="positive learning rate"):
        experiment.learning_rate(spec.SPEC.resolve(profile="classroom", model_lr={"r3d_18": 0}), "r3d_18")


def write_layout(root, dataset: str):
    """A small download of ``dataset`` in its real layout: 10 subjects, one image each, both classes."""
    from tests.fixtures.brain import write_ida, write_oasis1, write_oasis2

    if dataset in ("adni", "ppmi"):
        groups = ("CN", "AD") if dataset == "adni" else ("Control", "PD")
        images = [(20000 + i, f"{100 + i:03d}_S_{1000 + i:04d}", groups[i % 2], "F", 70 + i, "sc") for i in range(10)]
        return write_ida(root, project=dataset.upper(), fmt="nifti" if dataset == "adni" else "dicom", images=images,
                         shape=(20, 24, 24))
    if dataset == "oasis1":
        return write_oasis1(root, sessions=[(f"OAS1_{i + 1:04d}_MR1", "F", 70 + i, ("0", "0.5")[i % 2])
                                            for i in range(10)])
    return write_oasis2(root, sessions=[(f"OAS2_{i + 1:04d}", f"OAS2_{i + 1:04d}_MR1",
                                         ("Nondemented", "Demented")[i % 2], 1, "M", 70 + i, ("0", "1")[i % 2], 1)
                                        for i in range(10)])


@pytest.mark.slow
@pytest.mark.parametrize("dataset, extra", [
    ("adni", {}),
    ("ppmi", {}),
    ("oasis1", {"loader_options": {"image": "raw"}}),  # the raw scans, as the paper profile reads them
    ("oasis2", {"normalize": "none", "keep_aspect": False}),  # the paper's raw intensities and plain resize
])
def test_notebook_runs_on_each_real_layout(tmp_path, monkeypatch, dataset, extra):
    """The researcher's command, `papermill nbs/video4mri.ipynb out.ipynb -p dataset adni -p data_dir ...`,
    on a small folder in each real layout (LONI IDA NIfTI / DICOM + collection CSV, OASIS-1 Analyze discs +
    cross-sectional table, OASIS-2 raw runs + longitudinal table), smoke profile; the run record keeps the
    loader options and preprocessing, and the record-built Table 2 puts the run under its paper column."""
    import json
    from pathlib import Path

    import nbformat

    from paperkit import book
    from paperkit.chapters.video4mri import tables

    root = Path(__file__).resolve().parents[3]
    data = write_layout(tmp_path / dataset, dataset)
    monkeypatch.delenv("PAPERKIT_DATA", raising=False)  # the MedMNIST section is skipped: only the download is read
    out = tmp_path / "out.ipynb"
    book.execute(root / "nbs" / "video4mri.ipynb", out,
                 {"profile": "smoke", "dataset": dataset, "data_dir": str(data), "out_dir": str(tmp_path / "runs"),
                  **extra}, cwd=root)
    nb = nbformat.read(out, as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "\n".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/html", "")) for o in outputs)
    assert "Table 2 runs: 3 models, 7 training and 3 test volumes" in text
    ledger = json.loads((tmp_path / "runs" / "video4mri" / "claims.json").read_text())
    assert ledger["context"]["dataset"] == dataset
    assert any(spec.SPEC.datasets[dataset] in c["data"] for c in ledger["claims"])
    records = tables.run_records(tmp_path / "runs")
    # Table 2's three models, and the runs an exercise's solution adds (e.g. TSM without BN recalibration)
    assert len(records) >= 3 and set(records["column"]) == {spec.PAPER_DATASET[dataset]}
    if "loader_options" in extra:
        assert (records["data.loader.image"] == "raw").all()
    if "normalize" in extra:
        assert (records["data.normalize"] == "none").all() and (records["data.keep_aspect"] == False).all()  # noqa: E712
    cell = tables.table2(records).set_index("model").loc["TSM-Res18", f"{spec.PAPER_DATASET[dataset]}: here"]
    assert cell != "not run" and "record:" in cell


def test_preprocessing_is_a_setting_and_the_paper_profile_feeds_raw_images():
    paper = spec.SPEC.resolve(profile="paper", device="cpu")
    assert experiment.frame_preprocessing(paper) == {"normalize": "none", "keep_aspect": False}  # "not pre-processed"
    classroom = spec.SPEC.resolve(profile="classroom")
    assert experiment.frame_preprocessing(classroom) == {"normalize": "minmax", "keep_aspect": True}
    chosen = spec.SPEC.resolve(profile="classroom", normalize="zscore", keep_aspect=False)
    assert experiment.frame_preprocessing(chosen) == {"normalize": "zscore", "keep_aspect": False}
    with pytest.raises(ValueError, match="normalize='unit'.*zscore, minmax, none"):
        experiment.frame_preprocessing(spec.SPEC.resolve(profile="classroom", normalize="unit"))
    with pytest.raises(ValueError, match="keep_aspect='yes'"):
        experiment.frame_preprocessing(spec.SPEC.resolve(profile="classroom", keep_aspect="yes"))


def test_loader_options_are_checked_against_the_loader(tmp_path, monkeypatch):
    monkeypatch.setenv("PAPERKIT_DATA", str(tmp_path))
    (tmp_path / "oasis1").mkdir()
    assert spec.SPEC.resolve(dataset="oasis1", profile="paper", device="cpu").loader_options == {"image": "raw"}
    assert spec.SPEC.resolve(dataset="oasis1", profile="classroom").loader_options == {}  # the loader's default
    assert experiment.loader_defaults("oasis1")["image"] == "t88_masked_gfc"
    assert experiment.loader_defaults("oasis2")["converted"] == "cdr"
    assert experiment.loader_options("oasis1", {"image": "raw"}) == {"image": "raw"}
    with pytest.raises(ValueError, match=r"loader_options names \['imgae'\]: the oasis1 loader takes image"):
        experiment.loader_options("oasis1", {"imgae": "raw"})
    with pytest.raises(ValueError, match="loader options are for the real brain-MRI datasets"):
        experiment.loader_options("synthetic", {"image": "raw"})
    with pytest.raises(ValueError, match="expected a dict"):
        experiment.loader_options("oasis1", "raw")


def test_load_data_passes_loader_options_and_preprocessing_into_the_run_key(tmp_path):
    from tests.fixtures.brain import write_oasis1

    root = write_oasis1(tmp_path / "oasis1")
    default = experiment.load_data(spec.SPEC.resolve(dataset="oasis1", data_dir=str(root), profile="smoke"))
    assert all(r.path.parent.name == "T88_111" for r in default["cohort"])
    assert "loader" not in default["data_key"] and "keep_aspect" not in default["data_key"]  # older keys stay valid
    assert default["loader_options"]["image"] == "t88_masked_gfc"
    raw = experiment.load_data(spec.SPEC.resolve(dataset="oasis1", data_dir=str(root), profile="smoke",
                                                 loader_options={"image": "raw"}, normalize="none",
                                                 keep_aspect=False))
    assert all(r.path.parent.name == "RAW" for r in raw["cohort"]) and raw["loader_options"]["image"] == "raw"
    assert raw["data_key"]["loader"] == {"image": "raw"} and raw["data_key"]["normalize"] == "none"
    assert raw["data_key"]["keep_aspect"] is False
    train, _ = raw["frames"](2)
    assert train.normalize == "none" and train.keep_aspect is False
