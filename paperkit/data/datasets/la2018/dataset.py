"""The LA 2018 torch dataset: axial slices of cases, resized and normalised, with ids and labels.

Cases come from :func:`paperkit.data.datasets.la2018.load_la2018` (layouts documented in
:mod:`paperkit.data.datasets.la2018.layout`).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from torch.utils.data import Dataset

from paperkit.data.datasets.la2018.case import LACase
from paperkit.data.datasets.la2018.scores import SCORE_COLUMNS
from paperkit.data.io.errors import DataError

__all__ = ["LGESlices", "default_augmentation"]


def default_augmentation():
    """The paper's geometric augmentation, each with p = 0.5, for image + mask jointly (torchvision v2).

    Random horizontal flip; perspective (distortion 0.2); shift-scale-rotate as albumentations'
    ``ShiftScaleRotate`` defaults (shift 6.25 %, scale +-10 %, rotation +-45 deg). Masks are
    resampled with nearest neighbours by torchvision.
    """
    from torchvision.transforms import v2

    return v2.Compose([
        v2.RandomHorizontalFlip(p=0.5),
        v2.RandomPerspective(distortion_scale=0.2, p=0.5),
        v2.RandomApply([v2.RandomAffine(degrees=45, translate=(0.0625, 0.0625), scale=(0.9, 1.1))], p=0.5),
    ])


class LGESlices(Dataset):
    """Torch dataset of axial slices of LA 2018 cases, resized and normalised, with case ids and labels.

    Per case the volume is normalised (``normalize="volume"``: zero mean, unit std over the
    volume; ``"slice"``: per slice; ``None``: as stored), the chosen axial slices (last axis)
    are resized to ``image_size`` -- bilinear with antialiasing for the image (plain linear
    interpolation would alias when shrinking 576 px slices, adding edges the sharpness score is
    about), nearest for the mask -- and kept in memory.

    ``slices``: ``"mask"`` (slices where the LA mask has a voxel: ground truth standing in
    for stage 1), ``"all"``, or ``{case_id: indices}`` (e.g. from
    :func:`~paperkit.chapters.lge_quality.experiment.slices_with_atrium`
    on the stage-1 UNet's output). ``augment``: ``True`` for :func:`default_augmentation`,
    a callable taking and returning ``(tv_tensors.Image, tv_tensors.Mask)``, or ``False``.

    A case without an atrium mask (:attr:`LACase.has_mask` False) gets an empty mask and
    ``has_mask`` False (per item, and in the ``has_mask`` tensor over items); ``slices="mask"``
    refuses it.

    Items are dicts: ``image`` (1, H, W) float, ``mask`` (1, H, W) float 0/1, ``has_mask``, ``case_id``,
    ``case_index``, ``slice``; when every case has scores also ``attributes`` (3,) and ``qa``
    (1,) float 0/1 labels and ``scores`` (4,) int64 raw 1-5 scores. ``slice_case_ids`` lists
    each item's case id (for :func:`~paperkit.chapters.lge_quality.experiment.scan_mode`).
    """

    def __init__(self, cases: Sequence[LACase], image_size: int = 128, slices="mask", augment=False,
                 normalize: str | None = "volume"):
        import torch

        self.cases = list(cases)
        if not self.cases:
            raise ValueError("LGESlices: expected at least one case, got none")
        if normalize not in ("volume", "slice", None):
            raise ValueError(f"normalize={normalize!r}: expected 'volume', 'slice' or None")
        if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 8:
            raise ValueError(f"image_size={image_size!r}: expected an int >= 8")
        scored = [c.scores is not None for c in self.cases]
        if any(scored) and not all(scored):
            missing = [c.case_id for c in self.cases if c.scores is None]
            raise DataError(f"LGESlices: cases {', '.join(missing[:5])} have no scores while others do; "
                            "expected all or none scored")
        self.with_labels = all(scored)
        self.image_size = image_size
        self.normalize = normalize
        self.transform = default_augmentation() if augment is True else (augment or None)
        images, masks, index, has_mask = [], [], [], []
        for ci, case in enumerate(self.cases):
            chosen = self._choose(case, slices)
            if slices == "mask" and not case.has_mask:
                raise DataError(f"LGESlices: case {case.case_id} ({case.image_path.parent}) has no atrium mask, so "
                                "slices='mask' cannot choose its slices; pass slices='all' or {case_id: indices} "
                                "(e.g. stage 1's selection)")
            image, mask = case.load()
            if mask is None:  # a scan without a segmentation: an empty mask, flagged by has_mask
                mask = np.zeros(image.shape, dtype=np.uint8)
            if chosen is None:
                chosen = np.flatnonzero(mask.any(axis=(0, 1))) if slices == "mask" else np.arange(image.shape[-1])
            chosen = np.asarray(chosen, dtype=np.int64)
            if chosen.size and (chosen.min() < 0 or chosen.max() >= image.shape[-1]):
                raise ValueError(f"slices for case {case.case_id}: indices outside 0..{image.shape[-1] - 1}")
            if normalize == "volume":
                image = (image - image.mean()) / max(float(image.std()), 1e-6)
            img = torch.from_numpy(np.ascontiguousarray(np.moveaxis(image[..., chosen], -1, 0)))[:, None].float()
            msk = torch.from_numpy(np.ascontiguousarray(np.moveaxis(mask[..., chosen], -1, 0)))[:, None].float()
            if len(chosen):
                img = torch.nn.functional.interpolate(img, size=(image_size,) * 2, mode="bilinear",
                                                      align_corners=False, antialias=True)
                msk = torch.nn.functional.interpolate(msk, size=(image_size,) * 2, mode="nearest")
            else:  # no slice chosen for this case
                img = msk = torch.zeros(0, 1, image_size, image_size)
            if normalize == "slice" and len(chosen):
                mean = img.mean(dim=(1, 2, 3), keepdim=True)
                img = (img - mean) / img.std(dim=(1, 2, 3), keepdim=True).clamp_min(1e-6)
            images.append(img)
            masks.append(msk.to(torch.uint8))
            index += [(ci, int(z)) for z in chosen]
            has_mask += [case.has_mask] * len(chosen)
        self.has_mask = torch.tensor(has_mask, dtype=torch.bool)
        self.images = torch.cat(images) if index else torch.zeros(0, 1, image_size, image_size)
        self.masks = torch.cat(masks) if index else torch.zeros(0, 1, image_size, image_size, dtype=torch.uint8)
        self.index = index

    @staticmethod
    def _choose(case: LACase, slices):
        if isinstance(slices, str):
            if slices not in ("mask", "all"):
                raise ValueError(f"slices={slices!r}: expected 'mask', 'all' or a {{case_id: indices}} mapping")
            return None
        if case.case_id not in slices:
            raise KeyError(f"slices: no entry for case {case.case_id!r}; expected one per case")
        return slices[case.case_id]

    @property
    def slice_case_ids(self) -> list[str]:
        """The case id of every item, in order."""
        return [self.cases[ci].case_id for ci, _ in self.index]

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> dict:
        import torch
        from torchvision import tv_tensors

        ci, z = self.index[i]
        case = self.cases[ci]
        image, mask = self.images[i], self.masks[i]
        if self.transform is not None:
            image, mask = self.transform(tv_tensors.Image(image), tv_tensors.Mask(mask))
        item = {"image": image.as_subclass(torch.Tensor).float(), "mask": mask.as_subclass(torch.Tensor).float(),
                "has_mask": torch.tensor(case.has_mask), "case_id": case.case_id, "case_index": ci, "slice": z}
        if self.with_labels:
            item["attributes"] = torch.as_tensor(case.attribute_labels, dtype=torch.float32)
            item["qa"] = torch.tensor([case.qa_label], dtype=torch.float32)
            item["scores"] = torch.tensor([case.scores[c] for c in SCORE_COLUMNS[1:]], dtype=torch.int64)
        return item
