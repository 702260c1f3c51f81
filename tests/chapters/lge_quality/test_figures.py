"""The lge_quality figure helpers: CAMs of a QA network, their agreement, and where they fall."""
import math

import numpy as np
import pytest
import torch

from paperkit import models as registry
from paperkit.chapters.lge_quality import figures


def test_map_correlation_skips_flat_maps():
    a = [np.array([[0.0, 1.0], [2.0, 3.0]]), np.zeros((2, 2))]
    assert figures.map_correlation(a, [2 * a[0] + 1, np.ones((2, 2))]) == pytest.approx(1.0)
    assert figures.map_correlation(a, [-a[0], np.ones((2, 2))]) == pytest.approx(-1.0)
    assert math.isnan(figures.map_correlation([np.zeros((2, 2))], [np.ones((2, 2))]))


@pytest.fixture(scope="module")
def qa_net():
    torch.manual_seed(0)
    return registry.create("qa_resnet34", width=0.125)


def test_cam_maps_give_one_unit_map_per_image_and_the_predicted_label(qa_net):
    images = torch.rand(3, 1, 32, 32)
    maps, predicted = figures.cam_maps(qa_net, images, device="cpu")
    assert maps.shape == (3, 32, 32) and len(predicted) == 3 and set(predicted) <= {0, 1}
    assert maps.min() >= 0 and maps.max() <= 1 + 1e-6


def test_attention_table_rows_and_chance_share(qa_net):
    images = torch.rand(4, 1, 32, 32)
    masks = np.zeros((4, 32, 32), bool)
    masks[:2, 10:14, 10:14] = True  # two slices with atrium, two without
    table, maps, preds = figures.attention_table({"qa_resnet34": qa_net}, {"qa_resnet34": "QA"}, images, masks,
                                                 device="cpu")
    assert list(table["model"]) == ["QA"] and set(maps) == set(preds) == {"qa_resnet34"}
    # the 4x4 square grown twice by a 3x3 cross is 8x8 less 3 pixels at each corner: 52 of 1024 pixels
    assert table.loc[0, "atrium area share (chance)"] == pytest.approx(52 / 1024)
    assert 0 <= table.loc[0, "HiResCAM atrium share (layer3)"] <= 1
