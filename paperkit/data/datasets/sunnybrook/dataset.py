"""The Sunnybrook torch dataset: ``(image, mask)`` slices, centre-cropped, resized and normalised.

Samples come from :func:`paperkit.data.datasets.sunnybrook.load_sunnybrook` (layouts documented
in :mod:`paperkit.data.datasets.sunnybrook.layout`).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from torch.utils.data import Dataset

from paperkit.data.datasets.sunnybrook.pairing import SunnybrookSample

__all__ = ["SegmentationSlices", "covering_crop_fraction"]


def covering_crop_fraction(samples: Sequence[SunnybrookSample], margin: float = 1.5, minimum: float = 0.25) -> float:
    """The smallest ``crop_fraction`` of :class:`SegmentationSlices` whose centred square holds every mask.

    Each mask's farthest pixel from the image centre sets a half-side, widened ``margin`` times
    (room for hearts placed differently in other patients); the result is rounded up to 0.05 and
    kept within ``[minimum, 1]``. Compute it on the *training* samples only, so the crop is not
    tuned on the images it is scored on. A tighter crop gives the LV more network pixels, which
    matters for coarse-output networks such as the GAP network (output stride 8).
    """
    if not samples:
        raise ValueError("covering_crop_fraction: no samples (expected the training images with masks)")
    if margin < 1:
        raise ValueError(f"margin={margin}: expected at least 1 (the crop must hold the masks)")
    needed = minimum
    for sample in samples:
        rows, cols = np.nonzero(np.asarray(sample.mask))
        if rows.size == 0:
            continue
        height, width = np.shape(sample.mask)
        half = max(np.abs(rows + 0.5 - height / 2).max(), np.abs(cols + 0.5 - width / 2).max()) + 0.5
        needed = max(needed, 2 * half * margin / min(height, width))
    return float(min(1.0, np.ceil(needed * 20 - 1e-9) / 20))


class SegmentationSlices(Dataset):
    """Torch dataset of ``(image, mask)`` pairs, each a float tensor of shape ``1 x H x W``.

    Preprocessing, in order: (1) centre crop to the largest centred square, shrunk to
    ``crop_fraction`` of its side (the LV sits near the centre of Sunnybrook short-axis
    images; 1.0 keeps the whole square); (2) resize to ``image_size`` (int or ``(H, W)``)
    -- bilinear with antialiasing for the image, bilinear then ``>= 0.5`` for the mask;
    (3) normalise each image to zero mean and unit standard deviation. The mask is 0/1.
    With ``augment=True``, random horizontal/vertical flips, (for square outputs) quarter
    turns and, with ``affine=True``, a small random affine map (rotation within 15 degrees,
    scale 0.9-1.1, shift up to 5%; torchvision's ``RandomAffine``) are applied to image and
    mask together, drawn from torch's global generator (so ``torch.manual_seed`` and
    DataLoader worker seeding control them).
    """

    def __init__(self, samples: Sequence[SunnybrookSample], image_size: int | tuple[int, int] = 128,
                 augment: bool = False, crop_fraction: float = 1.0, affine: bool = True):
        self.samples = list(samples)
        size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        if len(size) != 2 or any(int(s) != s or s < 1 for s in size):
            raise ValueError(f"image_size={image_size!r}: expected a positive int or (H, W)")
        if not 0 < crop_fraction <= 1:
            raise ValueError(f"crop_fraction={crop_fraction!r}: expected a value in (0, 1]")
        self.image_size = (int(size[0]), int(size[1]))
        self.augment = bool(augment)
        self.affine = bool(affine)
        self.crop_fraction = float(crop_fraction)

    def __len__(self) -> int:
        return len(self.samples)

    def crop_box(self, index: int) -> tuple[int, int, int]:
        """``(top, left, side)`` of the square crop taken from sample ``index``'s stored image.

        A prediction made at ``image_size`` maps back to the stored image by resizing it to
        ``side x side`` and placing it at ``(top, left)``; pixels outside the crop are background.
        """
        rows, cols = np.shape(self.samples[index].image)
        side = max(1, int(round(min(rows, cols) * self.crop_fraction)))
        return (rows - side) // 2, (cols - side) // 2, side

    def _prepare(self, sample: SunnybrookSample, box: tuple[int, int, int]):
        import torch
        import torch.nn.functional as F

        image = torch.as_tensor(np.asarray(sample.image, dtype=np.float32))
        mask = torch.as_tensor(np.asarray(sample.mask, dtype=np.float32))
        top, left, side = box
        image = image[top:top + side, left:left + side]
        mask = mask[top:top + side, left:left + side]
        if (side, side) != self.image_size:
            image = F.interpolate(image[None, None], size=self.image_size, mode="bilinear",
                                  align_corners=False, antialias=True)[0, 0]
            mask = (F.interpolate(mask[None, None], size=self.image_size, mode="bilinear",
                                  align_corners=False)[0, 0] >= 0.5).float()
        image = (image - image.mean()) / image.std().clamp_min(1e-6)
        return image, mask

    def __getitem__(self, index: int):
        import torch

        image, mask = self._prepare(self.samples[index], self.crop_box(index))
        if self.augment:
            if torch.rand(()) < 0.5:
                image, mask = image.flip(-1), mask.flip(-1)
            if torch.rand(()) < 0.5:
                image, mask = image.flip(-2), mask.flip(-2)
            if self.image_size[0] == self.image_size[1]:
                k = int(torch.randint(0, 4, ()))
                image, mask = torch.rot90(image, k, (-2, -1)), torch.rot90(mask, k, (-2, -1))
            if self.affine:
                image, mask = self._random_affine(image, mask)
        return image[None].contiguous(), mask[None].contiguous()

    @staticmethod
    def _random_affine(image, mask):
        # Hearts differ in size, position and orientation; with a few dozen training images the network
        # would otherwise learn each patient's pose. Bilinear for the image, nearest for the mask.
        from torchvision import tv_tensors
        from torchvision.transforms import v2

        transform = v2.RandomAffine(degrees=15, translate=(0.05, 0.05), scale=(0.9, 1.1))
        img, msk = transform(tv_tensors.Image(image[None]), tv_tensors.Mask(mask[None]))
        return img.as_subclass(type(image))[0], msk.as_subclass(type(mask))[0]
