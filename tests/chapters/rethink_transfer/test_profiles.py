"""The chapter in its other profiles: the paper profile resolves and stops at once without ImageNet weights; the
official code's set-up runs end to end in the smoke profile."""
import json
from pathlib import Path

import nbformat
import pytest

from paperkit import book
from paperkit.chapters.rethink_transfer import experiment, spec

ROOT = Path(__file__).resolve().parents[3]
NOTEBOOK = ROOT / "nbs" / "rethink_transfer.ipynb"


def test_the_paper_profile_resolves_to_the_papers_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    S = spec.SPEC.resolve(profile="paper", device="cpu")
    assert (S.repeats, S.views, S.tl_weights, S.official, S.models) == (3, "all", "imagenet", False, spec.MODELS)
    setup = experiment.setup_of(S)
    assert setup.uncertain == "zeros" and setup.batch_size == S.batch_size
    with pytest.raises(FileNotFoundError, match="cbr_large_t_imagenet.pth"):
        experiment.check_weights(S)
    experiment.check_weights(spec.SPEC.resolve(profile="paper", device="cpu", tl_weights="auto"))
    with pytest.raises(ValueError, match="tl_weights='nope'"):
        experiment.check_weights(spec.SPEC.resolve(profile="paper", device="cpu", tl_weights="nope"))


@pytest.mark.slow
def test_the_paper_profile_stops_before_any_data_naming_the_missing_weights(tmp_path, monkeypatch):
    import papermill

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))   # an empty torch hub: no checkpoint anywhere
    with pytest.raises(papermill.PapermillExecutionError) as err:
        book.execute(NOTEBOOK, tmp_path / "out.ipynb", {"profile": "paper", "out_dir": str(tmp_path / "runs")},
                     cwd=ROOT)
    text = str(err.value)
    assert "FileNotFoundError" in text and "densenet121-a639ec97.pth" in text
    assert "paperkit.chapters.rethink_transfer.pretrain --arch cbr_small" in text
    assert not (tmp_path / "runs" / "rethink_transfer").exists()   # nothing trained, nothing generated


@pytest.mark.slow
def test_the_official_setup_runs_in_the_smoke_profile(tmp_path):
    out = tmp_path / "official.ipynb"
    book.execute(NOTEBOOK, out, {"profile": "smoke", "official": True, "out_dir": str(tmp_path / "runs")}, cwd=ROOT)
    nb = nbformat.read(out, as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    html = "\n".join(str(o.get("data", {}).get("text/html", "")) for o in outputs)
    assert "U-Ones (-1 -&gt; 1)" in html and "official=True" in html and "grey repeated as RGB" in html
    ledger = json.loads((tmp_path / "runs" / "rethink_transfer" / "claims.json").read_text())
    assert [c["verdict"] for c in ledger["claims"][1:]] == ["not testable here"] * (len(spec.CLAIMS) - 1)
