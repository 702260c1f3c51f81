"""The rethink_transfer runner: source pretraining substitute, TL vs RI fine-tuning, run-record reuse."""
import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from paperkit import runs
from paperkit.chapters.rethink_transfer import experiment as transfer


def _spots(n, size=96, seed=0):
    """Two labels: a bright spot (texture-like) and a wide central band (shape-like)."""
    g = torch.Generator().manual_seed(seed)
    x = 0.3 + 0.05 * torch.randn(n, 1, size, size, generator=g)
    y = (torch.rand(n, 2, generator=g) < 0.35).float()
    y[0, 0], y[1, 0], y[0, 1], y[1, 1] = 1, 0, 0, 1  # both classes present
    for i in range(n):
        if y[i, 0]:
            x[i, :, 20:30, 20:30] += 0.6
        if y[i, 1]:
            x[i, :, 40:56, 10:86] += 0.3
    return TensorDataset(x, y)


def test_label_metrics_skip_single_class_labels():
    y = np.array([[1, 0], [0, 0], [1, 0], [0, 0]])
    s = np.array([[0.9, 0.1], [0.2, 0.3], [0.8, 0.2], [0.1, 0.4]])
    out = transfer.label_metrics(y, s, ["a", "b"])
    assert list(out) == ["a"] and out["a"]["AUROC"] == 1.0 and out["a"]["AUPRC"] == pytest.approx(1.0)


def test_parent_of_truncations():
    assert transfer.parent_of("res_t3") == "resnet50" and transfer.parent_of("dens_t1") == "densenet121"
    assert transfer.parent_of("cbr_tiny") == "cbr_tiny"


@pytest.mark.slow
def test_tl_and_ri_runs_are_recorded_and_reused(tmp_path, monkeypatch):
    monkeypatch.setattr("paperkit.models.pretrained.imagenet_weights_available", lambda arch: False)
    source = transfer.pretrained_weights("cbr_tiny", image_size=96, n_images=48, epochs=1, batch_size=16,
                                         device="cpu", out_dir=tmp_path, progress=False)
    assert source.description.startswith("substitute: synthetic") and source.weights.exists()
    assert 0 <= source.accuracy <= 1 and source.chance == 1 / 8 and source.seconds > 0
    assert f"{source.accuracy:.0%} validation accuracy (chance 12%)" in source.description
    train, val, test = _spots(32, seed=1), _spots(16, seed=2), _spots(16, seed=3)
    kw = dict(train=train, val=val, test=test, labels=["spot", "band"], data_key={"toy": 1}, epochs=2,
              batch_size=16, lr=1e-3, device="cpu", out_dir=tmp_path, progress=False)
    tl = transfer.finetune("cbr_tiny", "tl", source=source, recalibrate_bn=True, **kw)
    ri = transfer.finetune("cbr_tiny", "ri", **kw)
    for m in (tl.metrics, ri.metrics):
        assert set(m["per_label"]) == {"spot", "band"} and 0 <= m["mean_AUPRC"] <= 1 and m["epochs_run"] == 2
    assert tl.metrics["source"].startswith("substitute") and ri.metrics["source"] == "random"
    assert not ri.reused and ri.run.path("test_predictions.npz").is_file() and ri.run.path("model.pt").is_file()
    frame = runs.load_runs("rethink_transfer", tmp_path)
    assert set(frame["stage"]) == {"source_pretrain", "finetune"} and len(frame) == 3
    again = transfer.finetune("cbr_tiny", "ri", **kw)  # finished record reused, not retrained
    assert again.reused and again.metrics == ri.metrics and again.run.key == ri.run.key
    with pytest.raises(ValueError, match="init='xx'"):
        transfer.finetune("cbr_tiny", "xx", **kw)


def test_a_fine_tune_key_names_its_source_weights_by_content_not_path(tmp_path):
    """Issue #18: the key held the source weights' absolute path, so two out_dirs gave two keys for one run."""
    import shutil

    import torch

    from paperkit.models.pretrained import weights_identity as _source_id

    a = tmp_path / "runs_a" / "rethink_transfer" / "k1" / "weights.pt"
    a.parent.mkdir(parents=True)
    torch.save({"w": torch.arange(5.0)}, a)
    b = tmp_path / "elsewhere" / "weights.pt"
    b.parent.mkdir()
    shutil.copy(a, b)
    assert _source_id(a) == _source_id(b) and str(tmp_path) not in str(_source_id(a))
    torch.save({"w": torch.arange(5.0) + 1}, b)
    assert _source_id(a) != _source_id(b)
    assert _source_id("imagenet") == "imagenet"
