"""Train and evaluate one Video4MRI classifier on volumes read as clips, with a run record.

Every model of the chapter (TSN, TSM, SlowFast, 3D ResNets) goes through :func:`train_video_classifier`:
the same data, loss, optimiser, schedule, augmentation and evaluation, so Table 2 compares
architectures. The recipe is the paper's §3.3-3.4:

* cross-entropy (soft targets when CutMix/MixUp mixed the batch), Kaiming-initialised weights
  (torchvision's and MONAI's defaults);
* learning rate ``lr`` after ``warmup_epochs`` of linear warm-up, then one cosine cycle to zero,
  stepped per optimiser step; weight decay only on the final FC layer of TSN/TSM (1e-4), dropout 0.4
  before the final FC of every model (the 3D ResNets' too, see :mod:`paperkit.models.resnet3d`);
* per-volume augmentation (random resized crop, brightness, rotation within +/-15 degrees; one draw
  for all slices of a volume) and batch CutMix (p 0.6) or MixUp (p 0.4) during the first 80% of
  the epochs; :data:`AUGMENTATIONS` are the rows of Table 3;
* evaluation with TSN's middle-frame sampling: bootstrap accuracy (40% of the test set with
  replacement, 100 times; mean and 95% percentile interval), plain accuracy, AUROC, training time
  per epoch, trainable parameters and inference time per sample, all measured here.

The paper names no optimiser; with a learning rate of 5e-5 it is almost surely an Adam variant,
so this uses Adam (``torch.optim.Adam``) with the decay as a per-group setting. That is a choice.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from torch import nn
from torch.utils.data import Dataset

from paperkit import step_cap
from paperkit.atomic import write_npz
from paperkit.augment import CROP_SCALE, BatchMix, VolumeTransform, mix_epochs, soft_cross_entropy
from paperkit.batchnorm import recalibrate_batchnorm
from paperkit.chapters.video4mri.claims import ItemPredictions
from paperkit.chapters.video4mri.spec import BRAIN, MODELS
from paperkit.data.fingerprint import fingerprint
from paperkit.metrics.classification import bootstrap_accuracy
from paperkit.models import count_parameters
from paperkit.models.video import create_video_model
from paperkit.runs import Run, TrainedModel, reuse_or_train
from paperkit.runtime import resolve_device
from paperkit.schedules import warmup_cosine
from paperkit.timing import SideBySide, inference_ms_per_sample, inference_step, time_side_by_side, training_step
from paperkit.train import Batches, fit, predict, steps_per_epoch

__all__ = ["AUGMENTATIONS", "PAPER_AUGMENTATION_ROWS", "train_video_classifier", "evaluate_predictions",
           "load_predictions", "metrics_table", "time_models"]

CHAPTER = "video4mri"
# Table 3's rows: (rotation on?, batch mixing mode). Crop (unless crop_scale=None) and brightness are always on.
AUGMENTATIONS: dict[str, tuple[bool, str]] = {
    "basic": (False, "none"),
    "rotate": (True, "none"),
    "mix": (False, "both"),
    "rotate+mixup": (True, "mixup"),
    "rotate+cutmix": (True, "cutmix"),
    "rotate+mix": (True, "both"),
}
# Models whose architecture changed after run records were written: the change goes into their run key, so an
# old record (same settings, the earlier model) is not reused for the new one.
ARCHITECTURE = {"slowfast_r50": "slow frames spread over the clip (linspace)",
                "r3d_18": "dropout before fc", "r3d_50": "dropout before fc"}
PAPER_AUGMENTATION_ROWS = {"basic": "TSM", "rotate": "TSM+rotate", "mix": "TSM+MixUp/CutMix",
                           "rotate+mixup": "TSM+rotate+MixUp", "rotate+cutmix": "TSM+rotate+CutMix",
                           "rotate+mix": "TSM+rotate+MixUp/CutMix"}


def evaluate_predictions(y_true: np.ndarray, probabilities: np.ndarray, *, n_boot: int = 100,
                         boot_fraction: float = 0.4, seed: int = 0) -> dict[str, float]:
    """Accuracy, the paper's bootstrap accuracy (mean and 95% interval) and AUROC of class probabilities.

    AUROC is binary (class 1's probability) for two classes, macro one-vs-rest for more; None when
    the test set holds a single class (undefined; a run record holds finite numbers only).
    """
    y_true = np.asarray(y_true).astype(int)
    probabilities = np.asarray(probabilities, dtype=float)
    if probabilities.ndim != 2 or len(probabilities) != len(y_true):
        raise ValueError(f"probabilities {probabilities.shape} vs {len(y_true)} labels: expected (n, classes)")
    boot = bootstrap_accuracy(y_true, probabilities, fraction=boot_fraction, n_boot=n_boot, seed=seed)
    if len(np.unique(y_true)) < 2:
        auroc = None
    elif probabilities.shape[1] == 2:
        auroc = float(roc_auc_score(y_true, probabilities[:, 1]))
    else:
        auroc = float(roc_auc_score(y_true, probabilities, multi_class="ovr", average="macro",
                                    labels=list(range(probabilities.shape[1]))))
    return {"accuracy": float((probabilities.argmax(1) == y_true).mean()), "boot_mean": boot.mean,
            "boot_low": boot.low, "boot_high": boot.high, "auroc": auroc}


def _optimizer(model: nn.Module, name: str, lr: float, fc_weight_decay: float) -> torch.optim.Optimizer:
    # Weight decay on the final FC of TSN/TSM only (§3.4); the other models train without decay.
    fc = getattr(model, "fc", None) if name.startswith(("tsn", "tsm")) else None
    fc_params = {id(p) for p in fc.parameters()} if isinstance(fc, nn.Module) else set()
    groups = [{"params": [p for p in model.parameters() if id(p) not in fc_params], "weight_decay": 0.0}]
    if fc_params:
        groups.append({"params": list(fc.parameters()), "weight_decay": fc_weight_decay})
    return torch.optim.Adam(groups, lr=lr)


def train_video_classifier(name: str, train: Dataset, test: Dataset, *, data_key: Mapping[str, Any],
                           num_classes: int, epochs: int, batch_size: int = 4, lr: float = 5e-5,
                           warmup_epochs: int = 5, augmentation: str = "rotate+mix", mix_fraction: float = 0.8,
                           fc_weight_decay: float = 1e-4, dropout: float = 0.4, n_boot: int = 100,
                           boot_fraction: float = 0.4, recalibrate_bn: bool = False,
                           crop_scale: tuple[float, float] | None = CROP_SCALE, seed: int = 0,
                           device: str | torch.device = "auto", out_dir: str | Path = "runs", force: bool = False,
                           progress: bool = True, tag: str = "") -> TrainedModel:
    """Train model ``name`` on ``train`` (TSN training sampling), evaluate on ``test``, or reuse its finished record.

    ``data_key`` identifies the data (dataset, split, K, frame size...) in the run's key; a finished
    run with the same key is reused (``force=True`` retrains). ``augmentation`` is a key of
    :data:`AUGMENTATIONS`. The record's metrics are the :func:`evaluate_predictions` numbers plus
    ``params_m``, ``seconds_per_epoch``, ``inference_ms``, ``epochs_run``, ``n_train`` and ``n_test``;
    the test set's labels, class probabilities and item ids (:func:`item_ids`) are stored in the run as
    ``test_predictions.npz``, what the ledger's paired comparisons read (:func:`load_predictions`).
    ``recalibrate_bn=True`` recomputes the BatchNorm statistics on the (unaugmented) training clips
    before testing (:func:`paperkit.batchnorm.recalibrate_batchnorm`); the paper does not, and
    only the short CPU profiles need it. ``crop_scale`` is the area range of the random resized
    crop (None: no crop, the frame is only resized; see :class:`paperkit.augment.VolumeTransform`).
    """
    if augmentation not in AUGMENTATIONS:
        raise ValueError(f"augmentation={augmentation!r}: expected one of {', '.join(AUGMENTATIONS)}")
    if len(train) == 0 or len(test) == 0:
        raise ValueError(f"train_video_classifier({name!r}): {len(train)} training and {len(test)} test volumes; "
                         "both sets need at least one")
    crop_scale = None if crop_scale is None else tuple(float(v) for v in crop_scale)  # a list from JSON too
    dev = resolve_device(device)
    config = {"stage": "classify", "model": name, "epochs": epochs, "batch_size": batch_size, "lr": lr,
              "warmup_epochs": warmup_epochs, "augmentation": augmentation, "mix_fraction": mix_fraction,
              "fc_weight_decay": fc_weight_decay, "dropout": dropout, "n_boot": n_boot,
              "boot_fraction": boot_fraction, "seed": seed, "num_classes": num_classes, "data": dict(data_key),
              **({"architecture": ARCHITECTURE[name]} if name in ARCHITECTURE else {}),
              **({"recalibrate_bn": True} if recalibrate_bn else {}),  # absent when off: older run keys stay valid
              **({"crop_scale": crop_scale} if crop_scale != CROP_SCALE else {})}
    torch.manual_seed(seed)
    model = create_video_model(name, num_classes=num_classes, in_channels=1, dropout=dropout)

    def train_and_test(run: Run):
        optimizer = _optimizer(model, name, lr, fc_weight_decay)
        steps = steps_per_epoch(len(train), batch_size)
        schedule = warmup_cosine(optimizer, min(warmup_epochs, max(epochs - 1, 0)) * steps, max(1, epochs * steps))
        rotate, mix_mode = AUGMENTATIONS[augmentation]
        mixer = BatchMix(num_classes, mode=mix_mode, until_epoch=mix_epochs(epochs, mix_fraction))
        volume_aug: dict[int, VolumeTransform] = {}  # by frame size, built on the first batch

        def forward(net: nn.Module, batch):
            clips, labels = batch
            size = int(clips.shape[-1])
            if size not in volume_aug:
                volume_aug[size] = VolumeTransform(size=size, train=True, degrees=15.0 if rotate else 0.0,
                                                   crop_scale=crop_scale)
            mixed, soft = mixer(volume_aug[size](clips), labels)  # one crop/brightness/angle per volume
            return net(mixed), soft

        t0 = time.perf_counter()
        result = fit(model, train, loss=soft_cross_entropy, optimizer=optimizer, scheduler=schedule, epochs=epochs,
                     batches=Batches(batch_size), forward=forward, checkpoint=run.checkpoint, device=dev, seed=seed,
                     progress=progress, desc=f"{name}{' ' + tag if tag else ''}", on_epoch_start=mixer.set_epoch)
        train_seconds = time.perf_counter() - t0
        if recalibrate_bn:
            recalibrate_batchnorm(model, train, batch_size=max(8, batch_size), device=dev)
        logits, target = predict(model, test, batch_size=max(1, batch_size), device=dev)
        probabilities = torch.softmax(logits.float(), dim=1).numpy()
        write_npz(run.path("test_predictions.npz"), y_true=target.numpy(), probabilities=probabilities,
                  item_ids=item_ids(test))
        example = torch.stack([test[i][0] for i in range(min(2, len(test)))])
        seconds = [r["seconds"] for r in result.history] or [train_seconds]
        metrics = {**evaluate_predictions(target.numpy(), probabilities, n_boot=n_boot, boot_fraction=boot_fraction,
                                          seed=seed),
                   "params_m": count_parameters(model, trainable_only=True) / 1e6,
                   "seconds_per_epoch": float(np.mean(seconds)),
                   "inference_ms": inference_ms_per_sample(model, example, device=dev),
                   "epochs_run": len(result.history), "n_train": len(train), "n_test": len(test)}
        return metrics, result.history

    return reuse_or_train(CHAPTER, config, model, train_and_test, name=name, out_dir=out_dir, force=force, device=dev)


def item_ids(test: Dataset) -> np.ndarray:
    """Ids of the test items in the order the model sees them: scan ids for brain MRI (``MRIFrames``),
    ``"#<position>"`` in the test set otherwise (MedMNIST's volumes carry no id)."""
    scans = getattr(test, "scans", None)
    if scans is not None:
        return np.array([str(getattr(s, "scan_id", s.path)) for s in scans])
    return np.array([f"#{i}" for i in range(len(test))])


def load_predictions(trained: TrainedModel) -> ItemPredictions:
    """The per-item test predictions a run stored (``test_predictions.npz``); ids are None in records written
    before they were stored. Raises ``FileNotFoundError`` naming the file when the run has none."""
    stored = trained.run.load_arrays("test_predictions.npz", f"run {trained.run.key} ({trained.name}) stored no "
                                     "test predictions; retrain it with force=True")
    return ItemPredictions(stored["y_true"].astype(int), stored["probabilities"].astype(float),
                           stored.get("item_ids"))


def clip_batch(dataset: Dataset, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``size`` clips of ``dataset`` and their labels, as one batch (for timing at the run's shapes)."""
    items = [dataset[i] for i in range(min(size, len(dataset)))]
    if not items:
        raise ValueError("clip_batch: the dataset is empty")
    return torch.stack([x for x, _ in items]), torch.as_tensor([int(y) for _, y in items])


def time_models(names, clips: torch.Tensor, labels: torch.Tensor, *, step: str, num_classes: int,
                device: str | torch.device = "auto", lr: float = 1e-3, warmup: int = 2, rounds: int = 15,
                seed: int = 0) -> SideBySide | None:
    """Time fresh models ``names`` side by side on one batch (:func:`paperkit.timing.time_side_by_side`).

    ``step="training"`` times a forward + cross-entropy + backward + Adam step, ``"inference"`` an
    eval-mode forward. Every model starts from the same seed; the weights do not change the time of
    a step. Returns None when ``names`` is empty.
    """
    if step not in ("training", "inference"):
        raise ValueError(f"step={step!r}: expected 'training' or 'inference'")
    if not names:
        return None
    dev = resolve_device(device)
    x, y = clips.to(dev), labels.to(dev)
    steps = {}
    for name in names:
        torch.manual_seed(seed)
        model = create_video_model(name, num_classes=num_classes, in_channels=1).to(dev)
        steps[name] = training_step(model, x, y, lr=lr) if step == "training" else inference_step(model, x)
    return time_side_by_side(steps, warmup=warmup, rounds=rounds, device=dev,
                             what=f"{step} step on clips {tuple(x.shape)}, {dev.type}, median of {rounds} rounds")


def learning_rate(S, name: str) -> float:
    """Model ``name``'s learning rate in settings ``S``: ``S.model_lr[name]`` if set, else ``S.lr``.

    Raises ``ValueError`` naming any ``model_lr`` key that is not a chapter model, or a rate that is
    not a positive number, so a typo cannot leave a model on the common rate unnoticed.
    """
    unknown = sorted(set(S.model_lr) - set(MODELS))
    if unknown:
        raise ValueError(f"model_lr names {unknown}: expected chapter models ({', '.join(MODELS)})")
    rate = S.model_lr.get(name, S.lr)
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or rate <= 0:
        raise ValueError(f"model_lr[{name!r}]={rate!r}: expected a positive learning rate")
    return float(rate)


def metrics_table(rows):
    """Run metrics (one dict per run) as a DataFrame; an undefined AUROC (None in a run record) becomes NaN."""
    import pandas as pd

    frame = pd.DataFrame(list(rows))
    if "auroc" in frame:
        frame["auroc"] = frame["auroc"].astype(float)
    return frame


def load_data(S) -> dict:
    """The cohort, its subject-level 7:3 split and a factory of clip datasets for this run.

    Returns ``cohort`` (None for MedMNIST), ``parts`` (``{"train", "test"}`` -> records or
    arrays), ``class_names``, ``view``, ``frames(K)`` -> ``(train, test)`` datasets with K TSN
    segments (training: a random slice per segment; test: the middle one), ``data_key``, and for brain
    MRI ``preprocessing`` (:func:`frame_preprocessing`) and ``loader_options`` (every option of the loader
    as used: ``S.loader_options`` over :func:`loader_defaults`). Synthetic volumes are written as NIfTI
    with an OASIS-2-style table and read back with the OASIS-2 loader, the path real data takes.
    """
    from paperkit.data.brain_mri import load_brain_mri, split_cohort
    from paperkit.data.mri_frames import MRIFrames

    options = loader_options(S.dataset, S.loader_options)  # checked first: a typo fails before any data is read
    preprocessing = frame_preprocessing(S)
    if S.dataset == "medmnist3d":
        return load_medmnist(S.data_dir, S.medmnist_flag, S.medmnist_size, axis=S.frame_axis, seed=S.seed,
                             batch_size=S.batch_size)
    if S.dataset == "synthetic":
        from paperkit.data.synthetic.brain import SYNTHETIC_LAYOUT, make_synthetic_brain

        root = make_synthetic_brain(S.data_dir, n_subjects=S.n_subjects, visits=S.visits, size=S.volume_size,
                                    seed=S.seed, difficulty=S.difficulty)
        cohort = load_brain_mri(SYNTHETIC_LAYOUT, root)
        data_key = {"dataset": "synthetic", "n_subjects": S.n_subjects, "visits": S.visits, "size": S.volume_size,
                    "difficulty": S.difficulty, "seed": S.seed}
    else:
        root = S.data_dir
        cohort = load_brain_mri(S.dataset, root, **options)
        data_key = {"dataset": S.dataset, "data": fingerprint(root),
                    **({"loader": dict(options)} if options else {})}  # absent when empty: older keys stay valid
    if S.view:
        cohort.view = S.view
    parts = split_cohort(cohort, (0.7, 0.3), seed=S.seed)
    if step_cap.current() is not None:  # a step-capped run evaluates `cap` batches of the test scans
        parts["test"] = parts["test"].like(step_cap.head(parts["test"], S.batch_size))

    def frames(segments: int):
        kwargs = dict(view=cohort.view, segments=segments, frame_size=S.frame_size, **preprocessing)
        return MRIFrames(parts["train"], train=True, **kwargs), MRIFrames(parts["test"], train=False, **kwargs)

    data_key = {**data_key, "view": cohort.view, "frame_size": S.frame_size, "normalize": preprocessing["normalize"],
                **({} if preprocessing["keep_aspect"] else {"keep_aspect": False}),  # absent when True (older keys)
                "test_subjects": sorted(set(parts["test"].subjects))}
    return {"cohort": cohort, "parts": parts, "class_names": list(cohort.class_names), "view": cohort.view,
            "frames": frames, "data_key": data_key, "root": root, "preprocessing": preprocessing,
            "loader_options": {**loader_defaults(cohort.dataset), **options}}


def frame_preprocessing(S) -> dict:
    """The frames' preprocessing of settings ``S`` as :class:`paperkit.data.mri_frames.MRIFrames` options.

    ``S.normalize`` is one of :data:`paperkit.data.mri_frames.NORMALIZATIONS` (``"none"``: the stored
    intensities, as the paper feeds them); ``S.keep_aspect`` True pads the short side to keep the physical
    aspect ratio, False resizes each slice to the square frame (PP-Care's plain resize). Bad values raise
    ``ValueError`` naming the setting and what it takes.
    """
    from paperkit.data.mri_frames import NORMALIZATIONS

    if S.normalize not in NORMALIZATIONS:
        raise ValueError(f"normalize={S.normalize!r}: expected one of {', '.join(NORMALIZATIONS)}")
    if not isinstance(S.keep_aspect, bool):
        raise ValueError(f"keep_aspect={S.keep_aspect!r}: expected True (pad to keep the aspect ratio) or False "
                         "(resize each slice to the square frame)")
    return {"normalize": S.normalize, "keep_aspect": S.keep_aspect}


def loader_defaults(dataset: str) -> dict:
    """The keyword options of ``dataset``'s brain-MRI loader with their defaults (file and cache options left out)."""
    import importlib
    import inspect

    from paperkit.data.brain_mri import BRAIN_DATASETS

    module, name = BRAIN_DATASETS[dataset]
    loader = getattr(importlib.import_module(module), name)
    return {k: p.default for k, p in inspect.signature(loader).parameters.items()
            if p.kind is p.KEYWORD_ONLY and k not in ("on_unreadable", "cache", "csv_path")}


def loader_options(dataset: str, options) -> dict:
    """``options`` checked against ``dataset``'s loader (:func:`loader_defaults`): a dict of known option names.

    Raises ``ValueError`` naming an unknown option and the ones the loader takes, or when ``options`` is
    not a dict, or when options are given for a dataset without a brain-MRI loader (synthetic, MedMNIST).
    """
    if not isinstance(options, dict):
        raise ValueError(f"loader_options={options!r}: expected a dict of loader options, e.g. {{'image': 'raw'}}")
    if not options:
        return {}
    if dataset not in BRAIN:
        raise ValueError(f"loader_options={options!r} with dataset={dataset!r}: loader options are for the real "
                         f"brain-MRI datasets ({', '.join(BRAIN)})")
    known = loader_defaults(dataset)
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ValueError(f"loader_options names {unknown}: the {dataset} loader takes "
                         + ", ".join(f"{k} (default {v!r})" for k, v in known.items()))
    return dict(options)


def load_medmnist(folder, flag: str, size: int, *, axis: int = 0, limit: int | None = None,
                  test_limit: int | None = None, frame_size: int | None = None, seed: int = 0,
                  batch_size: int = 4) -> dict:
    """A 3D MedMNIST set with its official split, as the same kind of dict as :func:`load_data`.

    Training uses the official ``train`` split (``limit``: a class-stratified subset of that many
    volumes, for CPU budgets); results are reported on the official ``test`` split (``test_limit``:
    a stratified subset, for the smoke profile only; under a step cap at most ``cap`` batches of
    ``batch_size``). ``axis`` is the volume axis read as frames.
    The ``val`` split is not used (no model selection).
    """
    import numpy as np

    from paperkit.data.datasets.medmnist3d import MedMNIST3DFrames, find_medmnist3d, load_medmnist3d

    path = find_medmnist3d(folder, flag, size)
    splits = load_medmnist3d(path)
    train_x, train_y = _stratified(*splits["train"], limit, seed)
    if step_cap.current() is not None:  # a step-capped run evaluates `cap` batches
        test_limit = min(test_limit or len(splits["test"][1]), step_cap.current() * batch_size)
    test_x, test_y = _stratified(*splits["test"], test_limit, seed)
    classes = int(max(train_y.max(), test_y.max())) + 1

    def frames(segments: int):
        kwargs = dict(axis=axis, segments=segments, frame_size=frame_size)  # None: the stored size
        return (MedMNIST3DFrames(train_x, train_y, train=True, **kwargs),
                MedMNIST3DFrames(test_x, test_y, train=False, **kwargs))

    data_key = {"dataset": "medmnist3d", "flag": flag, "size": size, "axis": axis, "limit": limit,
                "test_limit": test_limit,
                "frame_size": frame_size, "seed": seed, "file": path.name, "data": fingerprint(path)}
    counts = {name: np.bincount(y, minlength=classes).tolist() for name, (_, y) in splits.items()}
    return {"cohort": None, "parts": {"train": train_y, "test": test_y}, "counts": counts,
            "used_train": len(train_y), "class_names": [str(c) for c in range(classes)],
            "view": f"axis {axis}", "frames": frames, "data_key": data_key, "root": path}


def _stratified(x, y, limit: int | None, seed: int):
    """At most ``limit`` items of ``(x, y)`` keeping each class's share (all of them when ``limit`` is None)."""
    from paperkit.data.subsample import stratified_subsample

    if limit is None or limit >= len(y):
        return x, y
    keep = stratified_subsample(y, size=limit, seed=seed, rounding="half_even", min_per_stratum=1, draw="permutation")
    return x[keep], y[keep]


def train_model(S, data: Mapping[str, Any], name: str, segments: int, augmentation: str,
                tag: str = "") -> TrainedModel:
    """Train (or reuse) ``name`` with K = ``segments`` and one Table 3 augmentation; return the trained model.

    ``data`` is :func:`load_data`'s result and ``S`` the chapter settings; the run goes through
    :func:`train_video_classifier` (a run record, reused when it exists).
    """
    train_set, test_set = data["frames"](segments)
    trained = train_video_classifier(
        name, train_set, test_set, data_key={**data["data_key"], "segments": segments},
        num_classes=len(data["class_names"]), epochs=S.epochs, batch_size=S.batch_size, lr=learning_rate(S, name),
        warmup_epochs=S.warmup_epochs, augmentation=augmentation, n_boot=S.n_boot, boot_fraction=S.boot_fraction,
        recalibrate_bn=S.recalibrate_bn, crop_scale=S.crop_scale, seed=S.seed, device=S.device, out_dir=S.out_dir,
        tag=tag)
    return trained
