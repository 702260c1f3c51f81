"""The researcher's command for the lge_quality chapter on real-layout data, end to end on made fixtures:

``papermill nbs/lge_quality.ipynb out.ipynb -p dataset la2018 -p data_dir <scored LA 2018 folder>
-p seg_data_dir <segmentation cohort> -p profile smoke``: QA scans with a scores CSV (some without masks)
and a separate stage-1 cohort with train.list / test.list, as the paper arranges its 196 + 900 scans.
"""
import json
from pathlib import Path

import nbformat
import pytest

from tests.fixtures import la2018 as fx

ROOT = Path(__file__).resolve().parents[3]


def write_qa_folder(root: Path, n: int = 15, unmasked=(2, 7)) -> Path:
    """Scored NRRD scans in the challenge layout; the scans in ``unmasked`` have no laendo.nrrd."""
    rows = []
    for i in range(n):
        fx.write_nrrd_case(root, f"QA{i:02d}", *fx.tiny_case(i), mask_file=None if i in unmasked else "laendo.nrrd")
        rows.append([f"QA{i:02d}", *fx.scores_for(i)])
    fx.write_scores_csv(root / "scores.csv", rows)
    return root


def write_seg_folder(root: Path, n: int = 8) -> Path:
    """A segmentation cohort in the preprocessed HDF5 layout with train.list / test.list."""
    ids = [f"SEG{i:02d}" for i in range(n)]
    for i, case in enumerate(ids):
        fx.write_h5_case(root, case, *fx.tiny_case(i + 30))
    fx.write_lists(root, ids[:6], ids[6:])
    return root


@pytest.mark.slow
def test_notebook_runs_on_scored_la2018_with_a_separate_segmentation_cohort(tmp_path, monkeypatch):
    from paperkit import book

    qa, seg = write_qa_folder(tmp_path / "LA2018-scored"), write_seg_folder(tmp_path / "LA2018-seg")
    monkeypatch.delenv("PAPERKIT_DATA", raising=False)  # only the folders given are read
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # no ImageNet weights: smoke does not ask for them
    out = tmp_path / "out.ipynb"
    book.execute(ROOT / "nbs" / "lge_quality.ipynb", out,
                 {"profile": "smoke", "dataset": "la2018", "data_dir": str(qa), "seg_data_dir": str(seg),
                  "out_dir": str(tmp_path / "runs")}, cwd=ROOT)
    nb = nbformat.read(out, as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "\n".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/html", ""))
                     + str(o.get("data", {}).get("text/markdown", "")) for o in outputs)
    assert "Stage-1 cohort: a separate segmentation cohort (seg_data_dir, 8 scans with masks)" in text
    assert "train.list / test.list" in text
    assert "Stage 1 on its own test list: 2 scans" in text
    assert "your scores (not made by paperkit)" in text and "PROPERTY OF THE GENERATOR" not in text
    assert "Tied votes." in text and str(tmp_path / "torch") not in text
    runs = tmp_path / "runs" / "lge_quality"
    stage1 = [json.loads((p.parent / "metrics.json").read_text()) for p in runs.glob("*/stage1_test.csv")]
    assert len(stage1) == 1 and stage1[0]["test_cases"] == 2 and 0 <= stage1[0]["test_dice"] <= 1
    ledger = json.loads((runs / "claims.json").read_text())
    assert ledger["context"]["dataset"] == "la2018" and len(ledger["claims"]) == 4
    assert all(c["verdict"] == "not testable here" for c in ledger["claims"])  # smoke: nothing is judged
