"""The video4mri figure helpers."""
from types import SimpleNamespace

from paperkit.chapters.video4mri import figures


def test_interval_formats_the_bootstrap():
    row = SimpleNamespace(boot_mean=0.71234, boot_low=0.65, boot_high=0.7777)
    assert figures.interval(row) == "0.712 [0.650, 0.778]"


def test_train_model_passes_the_chapter_settings(monkeypatch):
    from paperkit.chapters.video4mri import experiment

    seen = {}
    monkeypatch.setattr(experiment, "train_video_classifier",
                        lambda name, train, test, **kw: (seen.update(kw, name=name)
                                                         or SimpleNamespace(metrics={"ok": 1})))
    S = SimpleNamespace(epochs=2, batch_size=4, warmup_epochs=1, n_boot=10, boot_fraction=0.4, recalibrate_bn=True,
                        crop_scale=None, seed=3, device="cpu", out_dir="runs", lr=1e-3, model_lr={})
    data = {"frames": lambda k: ("train", "test"), "data_key": {"dataset": "x"}, "class_names": ["a", "b"]}
    assert experiment.train_model(S, data, "tsm_r18", 8, "basic", tag="K=8").metrics == {"ok": 1}
    assert seen["data_key"] == {"dataset": "x", "segments": 8} and seen["num_classes"] == 2 and seen["tag"] == "K=8"
    assert seen["augmentation"] == "basic" and seen["seed"] == 3 and seen["name"] == "tsm_r18"


def test_paper_table1_fills_the_view_column_from_the_reference():
    t = figures.paper_table1().set_index("Dataset")
    assert t.loc["paper: PPMI", "Total subjects"] == "97(PD):81(NC)" and t.loc["paper: PPMI", "Total images"] == 222
    assert t["View"].to_dict() == {"paper: PPMI": "sagittal", "paper: ADNI": "sagittal", "paper: OASIS-1": "axial",
                                   "paper: OASIS-2": "sagittal"}


def test_fig1_paper_panel_takes_the_papers_parameter_counts():
    import pandas as pd

    from paperkit.models.video import paper_parameters_m

    results = pd.DataFrame({"model": ["tsm_r18", "r3d_18"], "params_m": [99.0, 98.0], "boot_mean": [0.7, 0.6],
                            "boot_low": [0.6, 0.5], "boot_high": [0.8, 0.7], "inference_ms": [3.0, 4.0]})
    models = ["tsm_r18", "r3d_18", "slowfast_r50"]
    fig = figures.fig1(results, models, "synthetic")
    ours, paper = fig.data[:2], fig.data[2:]
    assert [t.x[0] for t in ours] == [99.0, 98.0]  # this run's panel: counted here
    assert [t.x[0] for t in paper] == [paper_parameters_m()[m] for m in models]  # the paper's Table 2 counts
    assert [t.y[0] for t in paper] == [0.849, 0.809, 0.868]  # Table 2, PPMI


def test_slow_path_note_says_when_the_slow_pathway_sees_one_frame():
    assert "frames 0, 10, 20, 31" in figures.slow_path_note(32) and "single frame" not in figures.slow_path_note(32)
    assert "single frame" in figures.slow_path_note(8) and "frames 0," in figures.slow_path_note(8)
    assert "cannot run" in figures.slow_path_note(4) and "cannot run" in figures.slow_path_note(12)
