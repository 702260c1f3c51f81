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


def test_score_correlations_say_where_the_scores_came_from(tmp_path):
    """Synthetic scores correlate because the generator makes them so: the caption must say so, computed
    from the data folder, and only scores from outside paperkit are set beside the paper's Table 1."""
    from paperkit.data.datasets.la2018 import load_la2018
    from paperkit.data.synthetic.lge import make_synthetic_lge
    from tests.fixtures import la2018 as fx

    root = make_synthetic_lge(tmp_path / "syn", n_cases=6, size=32, n_slices=8, seed=2)
    table, caption, reading = figures.score_correlations(load_la2018(root), root)
    assert "PROPERTY OF THE GENERATOR" in caption and "paperkit.data.synthetic.lge" in caption
    assert "do not corroborate" in reading and "not evidence" in caption
    assert list(table["score"]) == ["myocardium_nulling", "sharpness", "enhancement_aorta_valve", "fibrosis_quality"]
    own = tmp_path / "own"
    for i in range(5):
        fx.write_nrrd_case(own, f"C{i}", *fx.tiny_case(i))
    fx.write_scores_csv(own / "scores.csv", [[f"C{i}", *fx.scores_for(i)] for i in range(5)])
    _, caption, reading = figures.score_correlations(load_la2018(own), own)
    assert "your scores" in caption and "GENERATOR" not in caption and "beside the paper's Table 1" in reading


def test_preview_slices_and_two_line_titles(tmp_path):
    from paperkit.data.datasets.la2018 import load_la2018
    from tests.fixtures import la2018 as fx

    for i in range(5):
        fx.write_nrrd_case(tmp_path, f"C{i}", *fx.tiny_case(i), mask_file=None if i == 0 else "laendo.nrrd")
    fx.write_scores_csv(tmp_path / "scores.csv", [[f"C{i}", *fx.scores_for(i)] for i in range(5)])
    cases = load_la2018(tmp_path, masks="optional")
    picks, images, masks = figures.preview_slices(cases, 32)
    assert len(picks) == 4 and images.shape == masks.shape == (4, 32, 32)
    scores = [c.scores["fibrosis_quality"] for c in picks]
    assert scores == sorted(scores)
    for case, mask in zip(picks, masks):
        assert mask.any() == case.has_mask  # the middle atrium slice, or an empty mask without one
    title = figures.strip_title(picks[0], {"sharpness": "S", "fibrosis_quality": "Q"})
    assert title.startswith(f"{picks[0].case_id}<br>S ")
