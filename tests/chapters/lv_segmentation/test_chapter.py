"""The lv_segmentation chapter on Sunnybrook folders: the official split's refusal and the researcher's command."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from paperkit.chapters.lv_segmentation import experiment, spec
from paperkit.data.io.errors import DataError
from tests.fixtures.sunnybrook import write_challenge, write_repackaged

ROOT = Path(__file__).resolve().parents[3]


def test_official_split_on_training_patients_only_says_so_and_proposes_random(tmp_path):
    # the public sample's layout: SC-HF-I-1 and SC-HF-I-2 are both on the challenge's training list
    root = write_repackaged(tmp_path / "sunnybrook")
    S = spec.SPEC.resolve(dataset="sunnybrook", data_dir=str(root), profile="smoke")
    with pytest.raises(DataError) as raised:
        experiment.load_data(S)
    message = str(raised.value)
    assert str(root) in message and "split='official'" in message
    assert "holds only patients of the challenge's training list (SC-HF-I-01, SC-HF-I-02)" in message
    assert "none of validation" in message and "split='random'" in message and "-p split random" in message
    data = experiment.load_data(spec.SPEC.resolve(dataset="sunnybrook", data_dir=str(root), profile="smoke",
                                                  split="random"))
    assert data["split_kind"] == "random" and len(data["datasets"]["report"]) > 0


@pytest.mark.slow
def test_notebook_runs_on_the_full_challenge_layout(tmp_path, monkeypatch):
    """The researcher's command, `papermill nbs/lv_segmentation.ipynb out.ipynb -p dataset sunnybrook -p data_dir
    ...`, on a folder in the 2009 challenge release's layout (training, validation and online patients), smoke
    profile, default (official) split."""
    import nbformat

    from paperkit import book

    root = write_challenge(tmp_path / "Sunnybrook")
    monkeypatch.delenv("PAPERKIT_DATA", raising=False)
    out = tmp_path / "out.ipynb"
    book.execute(ROOT / "nbs" / "lv_segmentation.ipynb", out,
                 {"profile": "smoke", "dataset": "sunnybrook", "data_dir": str(root),
                  "out_dir": str(tmp_path / "runs")}, cwd=ROOT)
    nb = nbformat.read(out, as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "\n".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/html", "")) for o in outputs)
    assert "official split by patient" in text and "SC-HF-I-05" in text   # the validation patient is reported
    assert "Table 1: APD (mm) and Dice (%) over good contours" in text
    assert "quoted by the paper (not a model of this chapter)" in text
    assert "APD (mm) on the sub-pixel and on the mask contour" in text
    ledger = json.loads((tmp_path / "runs" / "lv_segmentation" / "claims.json").read_text())
    assert ledger["context"]["dataset"] == "sunnybrook"
    assert all("Sunnybrook" in c["data"] for c in ledger["claims"])
    superior = [c for c in ledger["claims"] if c["claim"].startswith("The GAP network is superior")]
    assert len(superior) == 1 and superior[0]["verdict"] == "not testable here"
    stored = list((tmp_path / "runs" / "lv_segmentation").glob("*/predictions-*.npz"))
    assert len(stored) == 1   # smoke trains gap_net only; its report predictions sit in its run record


def test_the_public_sample_refuses_the_official_split_and_loads_with_random():
    """The real public Sunnybrook sample ($PAPERKIT_DATA/sunnybrook): three training patients."""
    import os

    if not os.environ.get("PAPERKIT_DATA"):
        pytest.skip("PAPERKIT_DATA is not set: no real Sunnybrook sample to test against")
    root = Path(os.environ["PAPERKIT_DATA"]) / "sunnybrook"
    if not root.is_dir():
        pytest.skip(f"{root} not present in PAPERKIT_DATA")
    with pytest.raises(DataError, match=r"(?s)holds only patients of the challenge's training list.*split='random'"):
        experiment.load_data(spec.SPEC.resolve(dataset="sunnybrook", profile="smoke"))
    data = experiment.load_data(spec.SPEC.resolve(dataset="sunnybrook", profile="smoke", split="random"))
    assert len(data["split"].subjects["test"]) == 1 and len(data["datasets"]["train"]) > 0
