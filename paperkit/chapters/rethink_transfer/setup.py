"""The training set-up of the rethink_transfer chapter: what the paper states, what its official code does.

The paper (§2.3) states few training details: U-Zeros for uncertain labels, 13 labels, a random
72/8/20 split of CheXpert's train set (all of its 223,414 images, every view), three repeats. The
official code (github PL97/TTL) fixes the rest, and differs from the paper on uncertain
labels (U-Ones). :func:`training_setup` gives the set-up of a run:

* ``official=False`` (default): what the paper states, and for everything it leaves open this
  chapter's *choice*, each marked as such (:attr:`Item.source` ``"choice"``);
* ``official=True``: the official code's behaviour wherever it has one.

Batch size and epochs are also the profile's scale: the paper profile uses the official code's
64 and 50 (the paper states neither), the smoke and classroom profiles scale them down, and the
rows say so. :func:`difference_rows` turns a set-up into the chapter's "differences" table, so the
notebook never types what it runs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
OFFICIAL_BATCH_SIZE = 64
OFFICIAL_EPOCHS = 50
OFFICIAL_LR = 1e-4
AUGMENTATIONS = ("none", "crop_flip")
MONITORS = ("val_auroc", "val_loss")
LOSSES = ("bce", "bce_pos_weight")
VIEWS = ("all", "frontal")

# Where a value comes from: the paper states it, the official code does it, this chapter chose it,
# or the profile scaled it down for a CPU.
PAPER, OFFICIAL, CHOICE, SCALED = "paper", "official code", "choice", "scaled for this profile"


@dataclass(frozen=True)
class Item:
    """One training setting: its value in this run and where that value comes from."""

    name: str
    value: Any
    source: str                 # PAPER, OFFICIAL, CHOICE or SCALED
    paper: str                  # what the paper says ("not stated" where it is silent)
    official: str               # what the official code does


@dataclass(frozen=True)
class TrainingSetup:
    """Everything :func:`paperkit.chapters.rethink_transfer.experiment.finetune` and ``load_task`` need to know."""

    official: bool
    uncertain: str              # "zeros" (U-Zeros) or "ones" (U-Ones)
    views: str                  # "all" or "frontal"
    channels: int               # 1 (grey) or 3 (grey repeated as RGB)
    normalize: tuple | None     # (mean, std) per channel, or None (images in [0, 1])
    augmentation: str           # "none" or "crop_flip" (RandomResizedCrop + horizontal flip)
    loss: str                   # "bce" or "bce_pos_weight"
    monitor: str                # what the LR scheduler and the kept checkpoint watch: "val_auroc" or "val_loss"
    batch_size: int
    epochs: int
    lr: float
    items: tuple[Item, ...] = field(default=(), compare=False)

    def run_key(self) -> dict:
        """What a fine-tuning run's key records of this set-up: only what differs from the paper profile's
        defaults, so records made before these switches existed keep their keys."""
        default = {"channels": 1, "normalize": None, "augmentation": "none", "loss": "bce", "monitor": "val_auroc"}
        mine = {"channels": self.channels, "normalize": self.normalize, "augmentation": self.augmentation,
                "loss": self.loss, "monitor": self.monitor}
        return {k: (list(map(list, v)) if k == "normalize" and v else v) for k, v in mine.items() if v != default[k]}

    def data_key(self) -> dict:
        """What a run's data key records of the labels and views (only what differs from U-Zeros, all views)."""
        return {**({"uncertain": self.uncertain} if self.uncertain != "zeros" else {}),
                **({"views": self.views} if self.views != "all" else {})}


def training_setup(*, official: bool, profile: str, batch_size: int, epochs: int, lr: float = 1e-4,
                   views: str = "all") -> TrainingSetup:
    """The set-up of a run: the paper's (``official=False``) or the official code's (``official=True``).

    ``batch_size``, ``epochs`` and ``lr`` are this run's (the profile's, after parameters): the paper profile's
    are the official code's values (the paper states neither), marked as a choice under the paper's
    set-up; the smoke and classroom profiles' are marked as scaled down. ``views`` is the CheXpert view
    setting (the paper used all views).
    """
    if not isinstance(official, bool):
        raise ValueError(f"official={official!r}: expected True (the official code's set-up) or False (the paper's)")
    if views not in VIEWS:
        raise ValueError(f"views={views!r}: expected one of {list(VIEWS)} (the paper's counts are all views)")

    def scale_source(value: int, official_value: int) -> str:
        if profile != "paper":
            return SCALED
        return OFFICIAL if official and value == official_value else CHOICE

    policy = "ones" if official else "zeros"
    policy_source = OFFICIAL if official else PAPER
    if official:
        values = dict(channels=3, normalize=(IMAGENET_MEAN, IMAGENET_STD), augmentation="crop_flip",
                      loss="bce_pos_weight", monitor="val_loss")
        method_source = OFFICIAL
    else:
        values = dict(channels=1, normalize=None, augmentation="none", loss="bce", monitor="val_auroc")
        method_source = CHOICE
    items = (
        Item("uncertain labels", {"zeros": "U-Zeros (-1 -> 0)", "ones": "U-Ones (-1 -> 1)"}[policy], policy_source,
             "U-Zeros (§2.3, footnote 5)", "U-Ones"),
        Item("CheXpert views", {"all": "all views of train.csv", "frontal": "frontal views only"}[views],
             PAPER if views == "all" else CHOICE, "all views (its split sizes add up to train.csv)", "not stated"),
        Item("split", "random by patient, about 72/8/20 %", PAPER,
             "random 72/8/20 % (by image or patient: not stated)", "—"),
        Item("input", "grey repeated as RGB" if values["channels"] == 3 else "one grey channel", method_source,
             "not stated", "RGB"),
        Item("normalisation", "ImageNet mean and std" if values["normalize"] else "none (pixels in [0, 1])",
             method_source, "not stated", "ImageNet mean and std"),
        Item("augmentation", "random resized crop + horizontal flip" if values["augmentation"] == "crop_flip"
             else "none", method_source, "not stated", "random resized crop + horizontal flip"),
        Item("loss", "BCE with pos_weight = negatives / positives per label" if values["loss"] == "bce_pos_weight"
             else "BCE", method_source, "not stated", "BCE with pos_weight"),
        Item("LR scheduler watches", "validation loss" if values["monitor"] == "val_loss"
             else "validation mean AUROC", method_source, "not stated", "validation loss"),
        Item("checkpoint kept", "lowest validation loss" if values["monitor"] == "val_loss"
             else "highest validation mean AUROC", method_source, "not stated", "lowest validation loss"),
        Item("optimiser and schedule", "Adam; ReduceLROnPlateau(factor 0.5, patience 5); stop when lr < 1e-6",
             OFFICIAL if official else CHOICE, "not stated",
             "Adam; ReduceLROnPlateau(factor 0.5, patience 5); stop when lr < 1e-6"),
        Item("learning rate", f"{lr:g}", scale_source(lr, OFFICIAL_LR), "not stated", f"{OFFICIAL_LR:g}"),
        Item("batch size", batch_size, scale_source(batch_size, OFFICIAL_BATCH_SIZE), "not stated",
             str(OFFICIAL_BATCH_SIZE)),
        Item("epochs (at most)", epochs, scale_source(epochs, OFFICIAL_EPOCHS), "not stated", str(OFFICIAL_EPOCHS)),
    )
    return TrainingSetup(official=official, uncertain=policy, views=views, batch_size=batch_size, epochs=epochs,
                         lr=lr, items=items, **values)


def difference_rows(setup: TrainingSetup, *, extra: tuple[Item, ...] = ()):
    """The chapter's differences table: one row per setting with the paper, the official code, this run and
    where this run's value comes from (``extra`` rows are appended, e.g. the model heads)."""
    import pandas as pd

    return pd.DataFrame([{"setting": i.name, "paper": i.paper, "official code": i.official,
                          "this run": str(i.value), "this run follows": i.source}
                         for i in (*setup.items, *extra)])


def chapter_items(S, kinds: dict | None = None) -> tuple[Item, ...]:
    """The rows of the differences table beyond the training set-up, from the chapter's settings ``S``:
    image size, repeats, BatchNorm recalibration, heads, truncation points and (``kinds``: architecture ->
    weight kind) where the TL weights came from."""
    rows = [
        Item("image size (px)", S.image_size, CHOICE if S.profile == "paper" else SCALED, "not stated", "not stated"),
        Item("repeats per experiment", S.repeats, PAPER if S.repeats == 3 else SCALED, "three (§2.3)", "—"),
        Item("BatchNorm statistics recomputed before each evaluation", "yes" if S.recalibrate_bn else "no",
             CHOICE if S.recalibrate_bn else OFFICIAL, "not stated", "no"),
        Item("model head", "global average pooling + linear", CHOICE, "final layers 'adjusted or appended'",
             "flattens the whole last feature map"),
        Item("Res-T1..T5 cut", "after 25/37/43/46/49 main-path convolutions", PAPER, "25/37/43/46/49 conv layers",
             "whole stages only"),
    ]
    if kinds:
        text = ", ".join(f"{arch}: {kind}" for arch, kind in sorted(kinds.items()))
        every = set(kinds.values()) == {"ImageNet"}
        rows.append(Item("TL weights", text, PAPER if every else CHOICE, "ImageNet for every model", "ImageNet"))
    return tuple(rows)


def train_transform(setup: TrainingSetup, image_size: int):
    """The training-set augmentation of ``setup`` (a torchvision v2 transform on a [0, 1] tensor), or None."""
    if setup.augmentation == "none":
        return None
    from torchvision.transforms import v2

    return v2.Compose([v2.RandomResizedCrop(image_size, antialias=True), v2.RandomHorizontalFlip()])
