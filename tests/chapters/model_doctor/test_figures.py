"""The model_doctor figure helpers: kernel sets and their overlap, derivative maps, overlays, the gains table."""
import math

import numpy as np
import pytest
import torch

from paperkit.chapters.model_doctor import figures


def test_top_sets_hold_the_mass_and_mean_overlap_is_jaccard():
    values = torch.tensor([[8.0, 1.0, 1.0, 0.0], [0.0, 1.0, 1.0, 8.0], [1.0, 1.0, 1.0, 1.0]])
    sets = figures.top_sets(values)
    assert sets[0] == {0} and sets[1] == {3} and len(sets[2]) == 4
    assert figures.mean_overlap(sets[:2]) == 0.0
    assert figures.mean_overlap([{0, 1}, {1, 2}]) == pytest.approx(1 / 3)
    assert math.isnan(figures.mean_overlap([{0}]))


def test_layer_sparsity_measures_the_seen_classes_only():
    values = {"conv": torch.tensor([[8.0, 1.0, 1.0, 0.0], [0.0, 1.0, 1.0, 8.0], [0.0, 0.0, 0.0, 0.0]])}
    sparsity, overlap, kernels = figures.layer_sparsity(values, ["conv"], torch.tensor([True, True, False]))["conv"]
    assert kernels == 4 and overlap == 0.0 and sparsity == pytest.approx(0.25)


def test_derivative_maps_and_background_share():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(),
                                torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 3))
    images = torch.rand(2, 1, 8, 8)
    maps, prob = figures.derivative_maps(model, images, torch.tensor([0, 2]), "0")
    assert maps.shape == (2, 8, 8) and (maps >= 0).all() and prob.sum(1).allclose(torch.ones(2))
    heat = torch.zeros(4, 4)
    heat[0, 0], heat[3, 3] = 3.0, 1.0
    mask = torch.zeros(4, 4)
    mask[0, 0] = 1  # the foreground holds 3 of the 4 units of mass
    assert figures.background_share(heat, mask) == pytest.approx(0.25)
    assert math.isnan(figures.background_share(heat, None))


def test_cam_overlay_is_grad_cams_blend_and_as_rgb8_keeps_uint8():
    image = torch.full((1, 4, 4), 0.5)
    heat = np.zeros((4, 4), np.float32)
    heat[0, 0] = 1.0
    tile = figures.cam_overlay(image, heat)
    assert tile.shape == (4, 4, 3) and tile.dtype == np.uint8
    assert tile[0, 0, 0] > tile[0, 0, 2] and tile[3, 3, 2] > tile[3, 3, 0]  # jet: red where hot, blue where cold
    assert figures.as_rgb8([tile, tile]).shape == (2, 4, 4, 3) and figures.as_rgb8([tile])[0] is not None
    assert figures.as_rgb8([np.full((2, 2, 3), 2.0)]).max() == 255  # floats are clipped to [0, 1]


def test_derivative_tiles_titles():
    images = torch.rand(2, 3, 4, 4)
    maps = torch.rand(2, 4, 4)
    tiles, titles = figures.derivative_tiles(images, maps, torch.tensor([0.9, 0.4]), (("high", [0]), ("low", [1])),
                                             torch.ones(2, 4, 4))
    assert len(tiles) == 2 and titles == ["high p=0.90, bg 0%", "low p=0.40, bg 0%"]
    titles = figures.derivative_tiles(images, maps, torch.tensor([0.9, 0.4]), (("high", [0]),), None)[1]
    assert titles == ["high p=0.90"]
