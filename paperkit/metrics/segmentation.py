"""Overlap and surface-distance metrics for one binary mask against another.

Masks are NumPy arrays or PyTorch tensors of any spatial shape (2-D or 3-D for the
distance metrics), holding booleans or 0/1 values. Distances are in physical units
(mm) given the pixel/voxel spacing, and are computed by MONAI; these wrappers fix the
behaviour for empty masks (no foreground), which MONAI leaves as NaN/inf with a warning:

- both masks empty: Dice 1.0, Hausdorff (and HD95) 0.0, average surface distance 0.0;
- exactly one empty: Dice 0.0, Hausdorff inf, average surface distance inf.
"""
from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np
import torch

__all__ = ["dice", "hausdorff_distance", "average_surface_distance"]


def _as_mask(mask, name: str) -> np.ndarray:
    """Return ``mask`` as a boolean NumPy array, refusing empty or non-binary input."""
    if isinstance(mask, torch.Tensor):
        mask = mask.detach().cpu().numpy()
    array = np.asarray(mask)
    if array.size == 0:
        raise ValueError(f"{name} is empty: expected a mask with at least one pixel")
    if array.dtype != bool:
        if not np.issubdtype(array.dtype, np.number) or not np.all(np.isin(array, [0, 1])):
            raise ValueError(
                f"{name} is not a binary mask: expected booleans or 0/1 values (threshold probabilities first)"
            )
        array = array.astype(bool)
    return array


def _as_mask_pair(pred, target) -> tuple[np.ndarray, np.ndarray]:
    pred_mask = _as_mask(pred, "pred")
    target_mask = _as_mask(target, "target")
    if pred_mask.shape != target_mask.shape:
        raise ValueError(f"pred has shape {pred_mask.shape} but target has {target_mask.shape}: "
                         "expected the same shape")
    return pred_mask, target_mask


def _spacing_list(spacing, ndim: int) -> list[float]:
    """Spacing as one positive number per array axis (``None`` means 1 per axis)."""
    if spacing is None:
        return [1.0] * ndim
    values = np.atleast_1d(np.asarray(spacing, dtype=float))
    if values.ndim != 1 or len(values) not in (1, ndim):
        raise ValueError(f"spacing={spacing!r}: expected a number or {ndim} numbers, one per mask axis")
    if not np.all(np.isfinite(values) & (values > 0)):
        raise ValueError(f"spacing={spacing!r}: expected positive finite values")
    return [float(v) for v in np.broadcast_to(values, (ndim,))]


def _empty_mask_distance(pred_mask: np.ndarray, target_mask: np.ndarray) -> float | None:
    """The distance for empty masks (0.0 both empty, inf one empty), or ``None`` if both have foreground."""
    pred_any, target_any = bool(pred_mask.any()), bool(target_mask.any())
    if not pred_any and not target_any:
        return 0.0
    if pred_any != target_any:
        return float("inf")
    return None


def _batched(mask: np.ndarray) -> torch.Tensor:
    # MONAI expects [batch, channel, *spatial]; one batch item, one foreground channel.
    return torch.from_numpy(mask[None, None].astype(np.float32))


def _check_distance_dims(mask: np.ndarray) -> None:
    if mask.ndim not in (2, 3):
        raise ValueError(f"pred has {mask.ndim} dimensions: expected a 2-D or 3-D mask for surface distances")


def dice(pred, target) -> float:
    """Dice coefficient ``2|P & T| / (|P| + |T|)`` of two binary masks.

    Parameters
    ----------
    pred, target : array-like or torch.Tensor
        Binary masks (booleans or 0/1) of the same shape, any number of dimensions.

    Returns
    -------
    float
        Dice in [0, 1]. If both masks are empty the prediction is perfect and the result
        is 1.0 (MONAI's ``compute_dice`` returns NaN here unless ``ignore_empty=False``);
        if exactly one is empty it is 0.0.

    Raises
    ------
    ValueError
        If the shapes differ, a mask is empty (no pixels) or not binary.
    """
    pred_mask, target_mask = _as_mask_pair(pred, target)
    total = int(pred_mask.sum()) + int(target_mask.sum())
    if total == 0:
        return 1.0
    return 2.0 * int(np.logical_and(pred_mask, target_mask).sum()) / total


def pixel_accuracy(pred, target) -> float:
    """Share of pixels whose binary label ``pred`` gets right: ``(TP + TN) / all``.

    Under class imbalance this is dominated by the background: a left ventricle covering 2% of
    an image gives an all-background prediction 98% accuracy with Dice 0 (the paper's Fig. 7).

    Raises
    ------
    ValueError
        If the shapes differ, a mask is empty (no pixels) or not binary.
    """
    pred_mask, target_mask = _as_mask_pair(pred, target)
    return float((pred_mask == target_mask).mean())


def hausdorff_distance(pred, target, spacing: float | Sequence[float] | None = None,
                       percentile: float | None = None) -> float:
    """Symmetric Hausdorff distance between the boundaries of two binary masks, in mm.

    Wraps ``monai.metrics.compute_hausdorff_distance``. The boundary of a mask is its
    foreground pixels that touch the background (including the image border) through a
    face; distances are Euclidean between pixel centres, scaled by ``spacing``.

    Parameters
    ----------
    pred, target : array-like or torch.Tensor
        Binary 2-D or 3-D masks of the same shape.
    spacing : float or sequence of float, optional
        Pixel/voxel size per array axis, in the order of the array axes (rows, columns
        [, slices]); a single number means isotropic. ``None`` measures in pixels.
    percentile : float, optional
        If given (0-100), use this percentile of each directed boundary distance instead
        of the maximum, then take the larger of the two; 95 gives the usual HD95.

    Returns
    -------
    float
        The distance. Both masks empty -> 0.0; exactly one empty -> ``inf``
        (MONAI would warn and return NaN or inf; we return these values silently).

    Raises
    ------
    ValueError
        On shape mismatch, empty or non-binary masks, a mask that is not 2-D or 3-D,
        invalid ``spacing`` or ``percentile`` outside [0, 100].
    """
    pred_mask, target_mask = _as_mask_pair(pred, target)
    _check_distance_dims(pred_mask)
    spacing_values = _spacing_list(spacing, pred_mask.ndim)
    if percentile is not None and not 0 <= percentile <= 100:
        raise ValueError(f"percentile={percentile}: expected a value in [0, 100]")
    empty_case = _empty_mask_distance(pred_mask, target_mask)
    if empty_case is not None:
        return empty_case
    from monai.metrics import compute_hausdorff_distance  # imported here: MONAI is slow to import

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # empty-mask warnings cannot occur here; keep MONAI quiet
        distance = compute_hausdorff_distance(_batched(pred_mask), _batched(target_mask), include_background=True,
                                              percentile=percentile, spacing=spacing_values)
    return float(distance.item())


def average_surface_distance(pred, target, spacing: float | Sequence[float] | None = None,
                             symmetric: bool = True) -> float:
    """Average surface distance between the boundaries of two binary masks, in mm.

    Wraps ``monai.metrics.compute_average_surface_distance`` (same boundary definition as
    :func:`hausdorff_distance`). With ``symmetric=True`` this is the average symmetric
    surface distance (ASSD): the mean over the distances from every ``pred`` boundary
    pixel to the ``target`` boundary *and* from every ``target`` boundary pixel to the
    ``pred`` boundary, pooled (so the longer boundary weighs more). With
    ``symmetric=False`` only the ``pred`` -> ``target`` distances are averaged.

    Parameters
    ----------
    pred, target : array-like or torch.Tensor
        Binary 2-D or 3-D masks of the same shape.
    spacing : float or sequence of float, optional
        Pixel/voxel size per array axis (rows, columns [, slices]); a single number means
        isotropic. ``None`` measures in pixels.
    symmetric : bool, default True
        Pool both directions (ASSD) or measure ``pred`` -> ``target`` only.

    Returns
    -------
    float
        The distance. Both masks empty -> 0.0; exactly one empty -> ``inf`` (in either
        direction, also when ``symmetric=False``).

    Raises
    ------
    ValueError
        On shape mismatch, empty or non-binary masks, a mask that is not 2-D or 3-D, or
        invalid ``spacing``.
    """
    pred_mask, target_mask = _as_mask_pair(pred, target)
    _check_distance_dims(pred_mask)
    spacing_values = _spacing_list(spacing, pred_mask.ndim)
    empty_case = _empty_mask_distance(pred_mask, target_mask)
    if empty_case is not None:
        return empty_case
    from monai.metrics import compute_average_surface_distance  # imported here: MONAI is slow to import

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        distance = compute_average_surface_distance(_batched(pred_mask), _batched(target_mask),
                                                    include_background=True, symmetric=symmetric,
                                                    spacing=spacing_values)
    return float(distance.item())
