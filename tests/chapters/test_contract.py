import json

import pytest

from paperkit import ledger as claims
from paperkit.chapters.contract import PROFILES, ChapterSpec, Stopwatch

SPEC = ChapterSpec(
    name="demo", title="Demo",
    datasets={"synthetic": "synthetic demo data", "real": "a real dataset"},
    models=["a", "b", "c"],
    profiles={"smoke": {"models": ["a"], "epochs": 1, "size": 8},
              "classroom": {"models": ["a", "b"], "epochs": 3, "size": 32},
              "paper": {"models": ["a", "b", "c"], "epochs": 100, "size": 224}})


def test_resolve_merges_profile_and_overrides(tmp_path, monkeypatch):
    monkeypatch.setenv("PAPERKIT_CACHE", str(tmp_path / "cache"))
    s = SPEC.resolve(profile="smoke", size=None, device="cpu")
    assert s.models == ["a"] and s.epochs == 1 and s.size == 8 and s.device.type == "cpu"
    assert s.data_dir == tmp_path / "cache" / "synthetic" / "demo" and s.data_dir.is_dir()
    s = SPEC.resolve(profile="classroom", models="a, c", epochs=2, size=16)
    assert s.models == ["a", "c"] and s.epochs == 2 and s.size == 16
    assert "classroom profile, seed 0" in s.data_label and s.data_label.startswith("synthetic demo data")
    cfg = s.as_config(model="a")
    assert cfg["model"] == "a" and cfg["data_dir"] is None and "out_dir" not in cfg
    json.dumps(cfg)
    with pytest.raises(AttributeError, match="nope"):
        s.nope


@pytest.mark.parametrize("kwargs, match", [
    ({"dataset": "adni"}, r"dataset='adni' is not valid; choose one of: 'synthetic', 'real'"),
    ({"profile": "fast"}, r"profile='fast'.*'smoke', 'classroom', 'paper'"),
    ({"models": ["a", "zz"]}, r"unknown \['zz'\].*a, b, c"),
    ({"epochs": 0}, r"epochs=0"),
    ({"seed": "1"}, r"seed='1'"),
    ({"device": "gpu9"}, r"gpu9"),
    ({"sise": 16}, r"unknown parameter\(s\) \['sise'\].*this chapter's: size"),  # a typo is not ignored
])
def test_bad_parameters_fail_with_the_valid_choices(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SPEC.resolve(**kwargs)


def test_real_dataset_needs_its_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("PAPERKIT_DATA", raising=False)
    with pytest.raises(FileNotFoundError, match="PAPERKIT_DATA"):
        SPEC.resolve(dataset="real")
    with pytest.raises(FileNotFoundError, match=r"data_dir = .*missing: folder not found"):
        SPEC.resolve(dataset="real", data_dir=str(tmp_path / "missing"))
    (tmp_path / "real").mkdir()
    monkeypatch.setenv("PAPERKIT_DATA", str(tmp_path))
    assert SPEC.resolve(dataset="real").data_dir == tmp_path / "real"


def test_dataset_settings_replace_the_profile_for_that_dataset_only(tmp_path, monkeypatch):
    (tmp_path / "real").mkdir()
    monkeypatch.setenv("PAPERKIT_DATA", str(tmp_path))
    spec = ChapterSpec(SPEC.name, SPEC.title, SPEC.datasets, SPEC.models, SPEC.profiles,
                       dataset_settings={"real": {"classroom": {"epochs": 30, "models": ["c"]}}})
    assert spec.resolve(dataset="real").epochs == 30 and spec.resolve(dataset="real").models == ["c"]
    assert spec.resolve(dataset="real", profile="smoke").epochs == 1
    assert spec.resolve().epochs == 3 and spec.resolve().models == ["a", "b"]
    assert spec.resolve(dataset="real", epochs=5, models="a").epochs == 5  # the parameters cell still wins
    for bad in ({"adni": {"classroom": {"epochs": 1}}}, {"real": {"fast": {"epochs": 1}}},
                {"real": {"classroom": {"epoch": 1}}}):
        with pytest.raises(ValueError, match="dataset_settings"):
            ChapterSpec("x", "X", SPEC.datasets, SPEC.models, SPEC.profiles, dataset_settings=bad)


def test_spec_validation():
    with pytest.raises(ValueError, match="synthetic"):
        ChapterSpec("x", "X", {"real": ""}, ["a"], {p: {"models": ["a"], "epochs": 1} for p in PROFILES})
    with pytest.raises(ValueError, match=r"profiles \['paper'\]"):
        ChapterSpec("x", "X", {"synthetic": ""}, ["a"], {p: {"models": ["a"], "epochs": 1} for p in PROFILES[:2]})
    assert str(Stopwatch()).endswith(" s")


def test_the_header_shows_recorded_executions_only(tmp_path, monkeypatch):
    from paperkit.chapters.contract import finish

    monkeypatch.setenv("PAPERKIT_CACHE", str(tmp_path / "cache"))
    header = SPEC.header(tmp_path)
    assert header.count("not executed here yet") == 3  # nothing typed: no record, no time
    settings = SPEC.resolve(profile="smoke", out_dir=str(tmp_path), device="cpu")
    clock = Stopwatch()
    clock.start -= 75  # a run of 75 s
    assert "took 75 s" in finish(settings, clock)
    header = SPEC.header(tmp_path)
    smoke_row = next(line for line in header.splitlines() if line.startswith("| `smoke`"))
    assert "75 s on synthetic" in smoke_row and "cores" in smoke_row
    assert header.count("not executed here yet") == 2


def test_ledger_verdicts_are_computed_and_saved(tmp_path):
    led = claims.Ledger("demo", "synthetic demo data")
    led.add("A beats B", "Table 1", "A 0.9 vs B 0.8", 0.9 > 0.8)
    led.add("B beats A", "Table 1", "A 0.9 vs B 0.8", 0.8 > 0.9)
    import numpy as np
    led.add("numpy bools work", "-", "-", np.float64(1) > 0)
    led.add("needs real data", "Table 2", "no real data here", None)
    assert list(led.frame()["verdict"]) == ["supported", "not supported", "supported", "not testable here"]
    with pytest.raises(TypeError, match="holds"):
        led.add("typed by hand", "-", "-", "supported")
    led.save(tmp_path, profile="smoke", dataset="synthetic")
    df = claims.load_ledgers(tmp_path)
    assert len(df) == 4 and set(df["chapter"]) == {"demo"} and set(df["run profile"]) == {"smoke"}
    assert (df["data"] == "synthetic demo data").all()
    assert 'color:#1a7f37' in claims.ledger_html(led.frame(), "x")


def test_start_checks_parameters_and_sets_up_plotly(capsys, tmp_path, monkeypatch):
    import plotly.io as pio

    from paperkit import plots
    from paperkit.chapters.contract import start
    monkeypatch.setenv("PAPERKIT_CACHE", str(tmp_path))
    chapter, s, clock = start("rethink_transfer", profile="smoke", n_draws=None, device="cpu")
    assert chapter.SPEC.name == "rethink_transfer" and s.n_draws == chapter.SPEC.profiles["smoke"]["n_draws"]
    assert pio.renderers.default == plots.RENDERER and clock.seconds >= 0
    assert "profile=smoke" in capsys.readouterr().out
    with pytest.raises(ValueError, match="unknown chapter"):
        start("video5mri")


def test_judge_adds_a_claims_functions_verdict():
    led = claims.Ledger("demo", "synthetic")
    led.judge(("c1", "Table 1"), (None, "needs a trained model"))
    led.judge(("c2", "Fig. 2"), (False, "0.4 vs 0.5"), data="other data")
    frame = led.frame()
    assert list(frame["verdict"]) == ["not testable here", "not supported"]
    assert list(frame["our_evidence"]) == ["needs a trained model", "0.4 vs 0.5"]
    assert list(frame["data"]) == ["synthetic", "other data"]


def test_readme_lists_every_chapters_datasets():
    import re
    from pathlib import Path

    from paperkit.chapters import CHAPTERS, get

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    rows = {m.group(1): re.findall(r"`([^`]+)`", m.group(2))
            for m in re.finditer(r"^\| (\w+) \| (.+) \|$", readme, re.M)}
    for name in CHAPTERS:
        listed = [d for d in rows.get(name, []) if not d.endswith(".md")]
        assert listed == list(get(name).SPEC.datasets), f"README's dataset row for {name} differs from its ChapterSpec"
