"""Tests for paperkit.metrics.contours (MICCAI 2009 LV challenge evaluation)."""
import numpy as np
import pytest
import torch
from scipy.interpolate import CubicSpline
from scipy.spatial.distance import cdist

from paperkit.metrics import (
    evaluate_contours,
    perpendicular_distance,
    perpendicular_point_distances,
    polygon_to_mask,
    symmetric_nearest_distance,
)
from paperkit.metrics.contours import _parabola_slopes


def circle(radius, n_points=400, centre=(64.3, 70.1)):
    angles = np.linspace(0.0, 2 * np.pi, n_points, endpoint=False)
    return np.stack([centre[0] + radius * np.cos(angles), centre[1] + radius * np.sin(angles)], axis=1)


def rectangle(x0, y0, width, height, step=1):
    """Closed polygon sampled every ``step`` px: bottom, right, top, left edges, corners included once."""
    along_x, along_y = np.arange(0, width, step, dtype=float), np.arange(0, height, step, dtype=float)
    bottom = np.stack([x0 + along_x, np.full_like(along_x, y0)], axis=1)
    right = np.stack([np.full_like(along_y, x0 + width), y0 + along_y], axis=1)
    top = np.stack([x0 + width - along_x, np.full_like(along_x, y0 + height)], axis=1)
    left = np.stack([np.full_like(along_y, x0), y0 + height - along_y], axis=1)
    return np.concatenate([bottom, right, top, left])


def index_of(contour, point):
    return int(np.flatnonzero(np.all(contour == point, axis=1))[0])


# --- perpendicular distance ---------------------------------------------------------

def test_concentric_circles_give_radius_difference():
    inner, outer = circle(20.0), circle(23.0)
    assert perpendicular_distance(inner, outer) == pytest.approx(3.0, abs=0.01)
    assert perpendicular_distance(outer, inner, spacing=1.25) == pytest.approx(3.75, abs=0.01)
    assert perpendicular_distance(torch.from_numpy(inner), outer, spacing=(1.25, 1.25)) == pytest.approx(3.75, abs=0.01)


def test_square_shifted_two_pixels_with_1_5_mm_spacing():
    auto = rectangle(10, 10, 40, 40)
    manual = auto + (2.0, 0.0)
    distances = perpendicular_point_distances(auto, manual, spacing=1.5)
    # Away from corners the normal meets the parallel manual edge: 0 along x, 2 px = 3 mm across.
    assert distances[index_of(auto, (30, 10))] == pytest.approx(0.0)
    assert distances[index_of(auto, (30, 50))] == pytest.approx(0.0)
    assert distances[index_of(auto, (10, 30))] == pytest.approx(3.0)
    assert distances[index_of(auto, (50, 30))] == pytest.approx(3.0)
    # Corner (10, 10): neighbours share no coordinate with each other but x with the point, so the
    # normal is the diagonal; it meets the manual left edge (x = 12) at (12, 12): sqrt(8) px.
    assert distances[index_of(auto, (10, 10))] == pytest.approx(np.sqrt(8) * 1.5)
    # (11, 10): the vertical normal x = 11 misses the manual contour (x >= 12). The official code
    # takes the manual point nearest the normal line, corner (12, 10), fits the least-squares
    # line through (12, 11), (12, 10), (13, 10) -- slope -1/2 through (37/3, 31/3) -- and meets
    # it at y = 11: 1 px.
    assert distances[index_of(auto, (11, 10))] == pytest.approx(1.0 * 1.5)
    # (12, 10) lies on the manual corner; the same local line passes 0.5 px above it.
    assert distances[index_of(auto, (12, 10))] == pytest.approx(0.5 * 1.5)
    # Half the points are 3 mm away, the rest 0, plus small corner effects.
    assert distances.mean() == pytest.approx(1.5, abs=0.1)
    assert perpendicular_distance(auto, manual, spacing=1.5) == pytest.approx(distances.mean())


def test_anisotropic_spacing_is_x_then_y():
    auto = rectangle(10, 10, 40, 40)
    spacing = (1.5, 0.5)  # mm per pixel along x, along y
    shifted_x = perpendicular_point_distances(auto, auto + (2.0, 0.0), spacing)
    shifted_y = perpendicular_point_distances(auto, auto + (0.0, 2.0), spacing)
    assert shifted_x[index_of(auto, (10, 30))] == pytest.approx(3.0)
    assert shifted_y[index_of(auto, (30, 10))] == pytest.approx(1.0)


def test_parallel_normal_falls_back_to_the_chosen_manual_point():
    auto = rectangle(0, 0, 10, 10)
    manual = rectangle(20, -5, 40, 10)
    distances = perpendicular_point_distances(auto, manual)
    # At (5, 0) the normal is vertical, the nearest manual point to it is (20, 0) on the vertical
    # left edge, so normal and local line are parallel (the official code errors out here).
    assert distances[index_of(auto, (5, 0))] == pytest.approx(15.0)


def test_parabola_slope_equals_three_point_not_a_knot_spline():
    rng = np.random.default_rng(2)
    points = np.sort(rng.random((20, 3)) * 10, axis=1)  # distinct increasing x per row
    values = rng.random((20, 3)) * 10
    expected = [CubicSpline(x, y, bc_type="not-a-knot")(x[1], 1) for x, y in zip(points, values)]
    triples = [np.stack([points[:, i], values[:, i]], axis=1) for i in range(3)]
    np.testing.assert_allclose(_parabola_slopes(*triples), expected, rtol=1e-8)


def test_repeated_closing_point_is_ignored():
    auto, manual = circle(10.0, 60), circle(13.0, 80)
    closed = np.concatenate([auto, auto[:1]])
    assert perpendicular_distance(closed, manual) == pytest.approx(perpendicular_distance(auto, manual))


# --- symmetric nearest distance -----------------------------------------------------

def test_symmetric_nearest_distance_matches_brute_force():
    rng = np.random.default_rng(8)
    auto = circle(15.0, 90) + rng.normal(0, 0.8, size=(90, 2))
    manual = circle(17.0, 130)
    spacing = np.array([1.3, 0.6])
    pairwise = cdist(auto * spacing, manual * spacing)
    expected = np.concatenate([pairwise.min(axis=1), pairwise.min(axis=0)]).mean()
    assert symmetric_nearest_distance(auto, manual, spacing) == pytest.approx(expected)


def test_symmetric_nearest_distance_differs_from_perpendicular_distance():
    dense = rectangle(10, 10, 40, 40)
    coarse = rectangle(10, 10, 40, 40, step=10)  # same square, a vertex every 10 px
    # Dense -> coarse: offsets 0..9 from a vertex give distances 0,1,2,3,4,5,4,3,2,1 (mean 2.5)
    # for 160 points; coarse -> dense: 16 points at distance 0.
    assert symmetric_nearest_distance(dense, coarse, 2.0) == pytest.approx(2.0 * 160 * 2.5 / 176)
    # Along the edges the normal meets the coarse edges exactly; only corners add distance.
    assert perpendicular_distance(dense, coarse, 2.0) < 0.5 * symmetric_nearest_distance(dense, coarse, 2.0)


@pytest.mark.parametrize("auto, spacing, argument", [
    (np.zeros((10, 3)), 1.0, "auto"),
    (np.array([[0.0, 0.0], [1.0, 1.0], [0.0, 0.0]]), 1.0, "auto"),
    (np.array([[0.0, 0.0], [1.0, np.nan], [2.0, 0.0]]), 1.0, "auto"),
    (rectangle(0, 0, 5, 5), (1.0, -1.0), "spacing"),
    (rectangle(0, 0, 5, 5), (1.0, 1.0, 1.0), "spacing"),
])
def test_contour_distances_reject_bad_input(auto, spacing, argument):
    for distance in (perpendicular_distance, symmetric_nearest_distance):
        with pytest.raises(ValueError, match=argument):
            distance(auto, rectangle(0, 0, 5, 5), spacing)


# --- masks and the challenge summary ------------------------------------------------

def test_polygon_to_mask_uses_x_as_column():
    contour = np.array([[1.5, 2.5], [6.5, 2.5], [6.5, 8.5], [1.5, 8.5]])  # x 1.5..6.5, y 2.5..8.5
    mask = polygon_to_mask(contour, (10, 20))
    expected = np.zeros((10, 20), dtype=bool)
    expected[3:9, 2:7] = True
    np.testing.assert_array_equal(mask, expected)
    with pytest.raises(ValueError, match="shape"):
        polygon_to_mask(contour, (10, 0))


def test_evaluate_contours_good_filter_and_means():
    manual = circle(20.0)
    autos = [circle(21.0), circle(23.0), circle(26.0), None]  # APD ~1, ~3, ~6 mm, missing
    manuals = [manual] * 4
    result = evaluate_contours(autos, manuals, spacing=1.0, limit_mm=5.0, shape=(128, 140))
    np.testing.assert_allclose(result.apd[:3], [1.0, 3.0, 6.0], atol=0.01)
    assert np.isnan(result.apd[3])
    np.testing.assert_array_equal(result.good, [True, True, False, False])
    assert result.good_percent == pytest.approx(50.0)
    assert result.mean_apd_good == pytest.approx(result.apd[:2].mean())
    # Dice of filled discs r and R is about (r/R)^2 * 2 / (1 + (r/R)^2); averaged over the good two only.
    assert np.isnan(result.dice[3])
    assert result.mean_dice_good == pytest.approx(result.dice[:2].mean())
    assert 0.8 < result.dice[1] < result.dice[0] < 1.0

    strict = evaluate_contours(autos, manuals, spacing=1.0, limit_mm=2.0, method="nearest")
    np.testing.assert_array_equal(strict.good, [True, False, False, False])
    assert strict.good_percent == pytest.approx(25.0)
    assert strict.dice is None and strict.mean_dice_good is None


def test_evaluate_contours_with_no_good_contour_reports_nan_means():
    result = evaluate_contours([circle(30.0)], [circle(20.0)], spacing=1.0, shape=(140, 140))
    assert result.good_percent == 0.0
    assert np.isnan(result.mean_apd_good) and np.isnan(result.mean_dice_good)


@pytest.mark.parametrize("kwargs, argument", [
    (dict(autos=[circle(5.0)], manuals=[circle(5.0), circle(6.0)]), "autos"),
    (dict(autos=[], manuals=[]), "manuals"),
    (dict(autos=[circle(5.0)], manuals=[None]), "manuals"),
    (dict(autos=[circle(5.0)], manuals=[circle(5.0)], method="hausdorff"), "method"),
    (dict(autos=[circle(5.0)], manuals=[circle(5.0)], limit_mm=0.0), "limit_mm"),
])
def test_evaluate_contours_rejects_bad_input(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        evaluate_contours(**kwargs)


def test_trace_contour_outlines_the_largest_region_and_closes_at_the_border():
    from paperkit.metrics.contours import trace_contour

    image = np.zeros((40, 40))
    image[5:25, 0:15] = 0.9      # the largest region, touching the left border
    image[30:34, 30:34] = 1.0    # a smaller, brighter one
    contour = trace_contour(image)
    assert -1 < contour[:, 0].min() < 0                       # closed just outside the image's first column
    assert contour[:, 1].min() > 3 and contour[:, 1].max() < 26 and contour[:, 0].max() < 16
    assert not np.allclose(contour[0], contour[-1])          # the closing point is not repeated
    assert trace_contour(np.zeros((5, 5))) is None
    with pytest.raises(ValueError, match="expected a 2-D map"):
        trace_contour(np.zeros((2, 5, 5)))
    with pytest.raises(ValueError, match="NaN"):
        trace_contour(np.full((5, 5), np.nan))


def test_undefined_normal_share_counts_points_sharing_x_with_one_neighbour():
    from paperkit.metrics.contours import undefined_normal_share

    square = rectangle(10, 10, 4, 4)       # corners and edge points: vertical/horizontal or one shared x
    share = undefined_normal_share(square)
    assert 0 < share < 1
    assert undefined_normal_share(circle(10.0, n_points=90)) == 0
    with pytest.raises(ValueError, match="contour has shape"):
        undefined_normal_share(np.zeros((4, 3)))
