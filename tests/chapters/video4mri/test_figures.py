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
