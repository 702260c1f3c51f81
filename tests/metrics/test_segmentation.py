"""Tests for paperkit.metrics.segmentation: hand cases, MONAI and brute-force scipy references."""
import warnings

import numpy as np
import pytest
import torch
from scipy.ndimage import binary_erosion, gaussian_filter
from scipy.spatial.distance import cdist

from paperkit.metrics import average_surface_distance, dice, hausdorff_distance


def random_blob(shape, seed, threshold=0.55):
    """A smooth random binary mask with a few connected blobs."""
    field = gaussian_filter(np.random.default_rng(seed).random(shape), sigma=2.5)
    return field > np.quantile(field, threshold)


def boundary_points(mask, spacing):
    """Physical coordinates of foreground pixels with a background face-neighbour."""
    edge = mask & ~binary_erosion(mask)
    return np.argwhere(edge) * np.asarray(spacing, dtype=float)


def directed_distances(source, target, spacing):
    return cdist(boundary_points(source, spacing), boundary_points(target, spacing)).min(axis=1)


# --- dice ---------------------------------------------------------------------------

def test_dice_on_hand_masks():
    pred = np.zeros((4, 4), dtype=bool)
    target = np.zeros((4, 4), dtype=bool)
    pred[0, :4] = True            # 4 pixels
    target[0, 1:4] = True         # 3 of them overlap
    target[1, 1:4] = True         # 6 pixels in total
    assert dice(pred, target) == pytest.approx(2 * 3 / (4 + 6))
    assert dice(torch.from_numpy(pred).int(), torch.from_numpy(target)) == pytest.approx(0.6)


def test_dice_empty_masks():
    empty = np.zeros((3, 5, 5), dtype=np.uint8)
    full = np.ones((3, 5, 5), dtype=np.uint8)
    assert dice(empty, empty) == 1.0
    assert dice(empty, full) == 0.0


def test_dice_matches_monai():
    from monai.metrics import compute_dice

    pred, target = random_blob((20, 24, 16), seed=1), random_blob((20, 24, 16), seed=2)
    expected = compute_dice(torch.from_numpy(pred[None, None]).float(), torch.from_numpy(target[None, None]).float(),
                            include_background=True).item()
    assert 0.2 < expected < 0.9
    assert dice(pred, target) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("pred, target, argument", [
    (np.zeros((4, 4)), np.zeros((4, 5)), "target"),
    (np.full((4, 4), 0.5), np.zeros((4, 4)), "pred"),
    (np.zeros((0, 4)), np.zeros((0, 4)), "pred"),
])
def test_dice_rejects_bad_input(pred, target, argument):
    with pytest.raises(ValueError, match=argument):
        dice(pred, target)


# --- Hausdorff and average surface distance ----------------------------------------

def test_hausdorff_on_shifted_squares_with_spacing():
    pred = np.zeros((30, 30), dtype=bool)
    pred[10:15, 10:15] = True
    target = np.roll(pred, 3, axis=0)  # 3 rows down
    assert hausdorff_distance(pred, target) == pytest.approx(3.0)
    assert hausdorff_distance(pred, target, spacing=(2.0, 1.0)) == pytest.approx(6.0)
    assert hausdorff_distance(pred, target, spacing=(1.0, 2.0)) == pytest.approx(3.0)


@pytest.mark.parametrize("shape, spacing", [((40, 52), (1.5, 0.7)), ((18, 22, 14), (2.5, 0.8, 0.9))])
@pytest.mark.parametrize("percentile", [None, 95])
def test_hausdorff_matches_brute_force(shape, spacing, percentile):
    pred, target = random_blob(shape, seed=3), random_blob(shape, seed=4)
    forward, backward = directed_distances(pred, target, spacing), directed_distances(target, pred, spacing)
    if percentile is None:
        expected = max(forward.max(), backward.max())
    else:
        expected = max(np.percentile(forward, percentile), np.percentile(backward, percentile))
    assert expected > 1.0
    assert hausdorff_distance(pred, target, spacing=spacing, percentile=percentile) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("shape, spacing", [((40, 52), (1.5, 0.7)), ((18, 22, 14), (2.5, 0.8, 0.9))])
def test_average_surface_distance_matches_brute_force(shape, spacing):
    pred, target = random_blob(shape, seed=5), random_blob(shape, seed=6)
    forward, backward = directed_distances(pred, target, spacing), directed_distances(target, pred, spacing)
    symmetric = average_surface_distance(pred, target, spacing=spacing)
    directed = average_surface_distance(pred, target, spacing=spacing, symmetric=False)
    assert symmetric == pytest.approx(np.concatenate([forward, backward]).mean(), rel=1e-5)
    assert directed == pytest.approx(forward.mean(), rel=1e-5)
    assert directed != pytest.approx(backward.mean(), rel=1e-3)


def test_surface_distances_empty_mask_conventions_without_warnings():
    empty = np.zeros((12, 12), dtype=bool)
    blob = empty.copy()
    blob[3:7, 4:9] = True
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert hausdorff_distance(empty, empty) == 0.0
        assert average_surface_distance(empty, empty) == 0.0
        assert hausdorff_distance(blob, empty, percentile=95) == float("inf")
        assert hausdorff_distance(empty, blob) == float("inf")
        assert average_surface_distance(empty, blob, symmetric=False) == float("inf")
        assert average_surface_distance(blob, empty) == float("inf")
        assert hausdorff_distance(blob, blob) == 0.0
    assert caught == []


@pytest.mark.parametrize("call, argument", [
    (lambda m: hausdorff_distance(m, m[:, :5]), "target"),
    (lambda m: hausdorff_distance(m, m, spacing=(1.0, 1.0, 1.0)), "spacing"),
    (lambda m: average_surface_distance(m, m, spacing=(1.0, -2.0)), "spacing"),
    (lambda m: hausdorff_distance(m, m, percentile=150), "percentile"),
    (lambda m: hausdorff_distance(m[0], m[0]), "pred"),
])
def test_surface_distances_reject_bad_input(call, argument):
    mask = np.zeros((6, 6), dtype=bool)
    mask[2:4, 2:4] = True
    with pytest.raises(ValueError, match=argument):
        call(mask)
