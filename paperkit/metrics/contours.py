"""Contour evaluation of the MICCAI 2009 LV segmentation challenge (Radau et al., 2009).

The challenge scores each automatic contour against the expert's by the *average
perpendicular distance* (APD), calls a contour "good" when its APD is below a limit,
and reports the percentage of good contours plus the APD and Dice averaged over the
good contours only. This module re-implements the official MATLAB evaluation
(``compare_contours.m`` by Perry Radau, Sunnybrook) in Python, and also offers the
symmetric nearest-point distance that many Python re-implementations use instead, so a
chapter can show how far the two disagree.

Contours are ``(N, 2)`` arrays of ``(x, y)`` pixel coordinates (x = column, y = row) of a
closed polygon; the closing edge from the last point back to the first is implicit and a
repeated closing point is dropped. ``spacing`` is the pixel size in mm in the same
``(x, y)`` order. Note that the DICOM attribute PixelSpacing is ordered (row, column),
i.e. ``(y, x)``: reverse it before passing it here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from scipy import ndimage
from scipy.spatial import cKDTree
from skimage.draw import polygon as polygon_indices
from skimage.measure import find_contours

from paperkit.metrics.segmentation import dice

__all__ = [
    "perpendicular_point_distances",
    "perpendicular_distance",
    "symmetric_nearest_distance",
    "undefined_normal_share",
    "trace_contour",
    "polygon_to_mask",
    "ContourEvaluation",
    "evaluate_contours",
]

# Pairwise arrays are (chunk, n_manual, 2); chunking keeps memory bounded for dense contours.
_CHUNK = 1024


def _as_contour(contour, name: str) -> np.ndarray:
    """Return a closed-polygon contour as a float (N, 2) array without a repeated closing point."""
    if isinstance(contour, torch.Tensor):
        contour = contour.detach().cpu().numpy()
    points = np.asarray(contour)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"{name} has shape {points.shape}: expected an (N, 2) array of (x, y) points")
    if not np.issubdtype(points.dtype, np.number) or not np.all(np.isfinite(points)):
        raise ValueError(f"{name} must hold finite numeric (x, y) coordinates")
    points = points.astype(float)
    if len(points) > 1 and np.array_equal(points[0], points[-1]):
        points = points[:-1]  # the polygon is closed implicitly
    if len(points) < 3:
        raise ValueError(f"{name} has {len(points)} distinct points: expected at least 3 for a closed polygon")
    return points


def _spacing_xy(spacing) -> np.ndarray:
    """Pixel size as an (x, y) pair of positive numbers."""
    values = np.atleast_1d(np.asarray(spacing, dtype=float))
    if values.ndim != 1 or len(values) not in (1, 2):
        raise ValueError(f"spacing={spacing!r}: expected a number or an (x, y) pair in mm")
    if not np.all(np.isfinite(values) & (values > 0)):
        raise ValueError(f"spacing={spacing!r}: expected positive finite values")
    return np.broadcast_to(values, (2,)).astype(float)


def _parabola_slopes(previous: np.ndarray, current: np.ndarray, following: np.ndarray) -> np.ndarray:
    """dy/dx at ``current`` of the parabola y(x) through three points (x values distinct).

    With three sites MATLAB's ``csapi`` (not-a-knot cubic spline) is this parabola, so this
    is the tangent slope the official code takes from ``fnder(csapi(...))``.
    """
    x0, y0 = previous[:, 0], previous[:, 1]
    x1, y1 = current[:, 0], current[:, 1]
    x2, y2 = following[:, 0], following[:, 1]
    # Derivative of the Lagrange interpolating polynomial, evaluated at the middle site.
    return (y0 * (x1 - x2) / ((x0 - x1) * (x0 - x2))
            + y1 * (2 * x1 - x0 - x2) / ((x1 - x0) * (x1 - x2))
            + y2 * (x1 - x0) / ((x2 - x0) * (x2 - x1)))


def _normal_directions(points: np.ndarray) -> np.ndarray:
    """Unit normal of the contour at every point, estimated as the official code does."""
    previous, following = np.roll(points, 1, axis=0), np.roll(points, -1, axis=0)
    tangents = np.empty_like(points)
    vertical = previous[:, 0] == following[:, 0]
    horizontal = ~vertical & (previous[:, 1] == following[:, 1])
    curved = ~vertical & ~horizontal
    tangents[vertical] = (0.0, 1.0)
    tangents[horizontal] = (1.0, 0.0)
    # A parabola in x needs three distinct x values; otherwise fall back to the chord.
    chord = curved & ((points[:, 0] == previous[:, 0]) | (points[:, 0] == following[:, 0]))
    parabola = curved & ~chord
    tangents[chord] = following[chord] - previous[chord]
    slopes = _parabola_slopes(previous[parabola], points[parabola], following[parabola])
    tangents[parabola] = np.stack([np.ones_like(slopes), slopes], axis=1)
    normals = np.stack([-tangents[:, 1], tangents[:, 0]], axis=1)
    return normals / np.linalg.norm(normals, axis=1, keepdims=True)


def _local_lines(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Anchor point and unit direction of the local line the official code fits at each manual point.

    Vertical (horizontal) through the point when its two neighbours share x (y); otherwise
    the least-squares line y = m x + b through the point and its two neighbours, which
    passes through their centroid (MATLAB ``polyfit(..., 1)``).
    """
    previous, following = np.roll(points, 1, axis=0), np.roll(points, -1, axis=0)
    anchors = points.copy()
    directions = np.empty_like(points)
    vertical = previous[:, 0] == following[:, 0]
    horizontal = ~vertical & (previous[:, 1] == following[:, 1])
    fitted = ~vertical & ~horizontal
    directions[vertical] = (0.0, 1.0)
    directions[horizontal] = (1.0, 0.0)
    triples = np.stack([previous[fitted], points[fitted], following[fitted]], axis=1)
    centroids = triples.mean(axis=1)
    deviations = triples - centroids[:, None, :]
    slopes = (deviations[..., 0] * deviations[..., 1]).sum(axis=1) / (deviations[..., 0] ** 2).sum(axis=1)
    anchors[fitted] = centroids
    directions[fitted] = np.stack([np.ones_like(slopes), slopes], axis=1)
    return anchors, directions / np.linalg.norm(directions, axis=1, keepdims=True)


def _chosen_manual_points(auto_points: np.ndarray, normals: np.ndarray, manual_points: np.ndarray) -> np.ndarray:
    """Index of the manual point the official code pairs with each automatic point."""
    offsets = manual_points[None, :, :] - auto_points[:, None, :]
    to_point = np.linalg.norm(offsets, axis=2)
    # Only the nearer half of the manual contour: keeps the far wall, which the normal
    # line also crosses, out of the search.
    candidate = to_point < to_point.max(axis=1, keepdims=True) / 2
    candidate[~candidate.any(axis=1)] = True  # official code fails here; we search all points
    to_normal = np.abs(normals[:, None, 0] * offsets[..., 1] - normals[:, None, 1] * offsets[..., 0])
    to_normal[~candidate] = np.inf
    tie_tolerance = 1e-9 * (1.0 + np.abs(manual_points).max())
    tied = to_normal <= to_normal.min(axis=1, keepdims=True) + tie_tolerance
    # Among equally close points take the one nearest the automatic point (first if still tied).
    return np.argmin(np.where(tied, to_point, np.inf), axis=1)


def perpendicular_point_distances(auto, manual, spacing: float | Sequence[float] = (1.0, 1.0)) -> np.ndarray:
    """Perpendicular distance (mm) from every automatic contour point to the manual contour.

    Follows the official MICCAI 2009 challenge code (``calc_dist`` in ``compare_contours.m``)
    step by step, after scaling both contours to mm (which also handles anisotropic
    pixels; the official code multiplies pixel distances by the row spacing only):

    1. Normal of the automatic contour at point ``a`` from its neighbours ``p`` and ``n``
       (the contour wraps around): horizontal if ``p`` and ``n`` share x, vertical if they
       share y, otherwise perpendicular to the tangent of the parabola y(x) through
       ``p, a, n`` (MATLAB ``csapi`` on three points).
    2. Keep the manual points closer to ``a`` than half the distance to the farthest
       manual point, so the opposite wall of the contour is ignored.
    3. Among those, take the manual point closest to the *normal line*; ties go to the
       one closest to ``a``.
    4. Fit a local line at that manual point: vertical/horizontal through it if its
       neighbours share x/y, otherwise the least-squares line through it and its two
       neighbours (MATLAB ``polyfit``).
    5. The distance is from ``a`` to where the normal line crosses that local line.

    So the official code does *not* intersect the normal with the polygon's segments. When
    the normal misses the manual contour (for example near a corner, or where the contours
    are far apart) it still pairs ``a`` with the manual point nearest the normal line and
    extends that point's local line until it meets the normal; the distance can then
    exceed the distance to the manual contour, and grows without bound as the two lines
    become parallel.

    Deviations from the official code, all in degenerate cases where it stops with an
    error or is ill-defined (on an error its caller drops the whole contour, see
    :func:`evaluate_contours`):

    - Normal and local line exactly parallel: we return the distance from ``a`` to the
      chosen manual point.
    - No manual point in the nearer half (all equidistant, as at the centre of a
      circle): we search all manual points.
    - ``a`` shares its x with exactly one neighbour, so the parabola is undefined (the
      official code hands ``csapi`` a repeated site): we take the chord ``n - p`` as
      the tangent.
    - A horizontal tangent from the parabola gives a vertical normal (the official code
      divides by zero and carries infinities into the line equations).

    Ties in step 3 are detected within floating-point tolerance rather than by exact
    equality.

    Parameters
    ----------
    auto, manual : array-like of shape (N, 2)
        Automatic and manual contours, ``(x, y)`` pixel coordinates of closed polygons.
    spacing : float or (float, float), default (1.0, 1.0)
        Pixel size in mm along x and y (a number means square pixels).

    Returns
    -------
    np.ndarray of shape (N_auto,)
        Distance in mm for each automatic point (after dropping a repeated closing point).

    Raises
    ------
    ValueError
        If a contour is not an (N, 2) array of finite numbers with at least 3 distinct
        points, or ``spacing`` is not one or two positive numbers.
    """
    scale = _spacing_xy(spacing)
    auto_points = _as_contour(auto, "auto") * scale
    manual_points = _as_contour(manual, "manual") * scale
    normals = _normal_directions(auto_points)
    anchors, directions = _local_lines(manual_points)

    chosen = np.concatenate([
        _chosen_manual_points(auto_points[start:start + _CHUNK], normals[start:start + _CHUNK], manual_points)
        for start in range(0, len(auto_points), _CHUNK)
    ])
    # Solve auto + t * normal = anchor + s * direction for t (both unit vectors, so |t| is the distance).
    line_points, line_directions = anchors[chosen], directions[chosen]
    to_anchor = line_points - auto_points
    determinant = line_directions[:, 0] * normals[:, 1] - line_directions[:, 1] * normals[:, 0]
    parallel = np.abs(determinant) < 1e-12
    safe_determinant = np.where(parallel, 1.0, determinant)
    t = (line_directions[:, 0] * to_anchor[:, 1] - line_directions[:, 1] * to_anchor[:, 0]) / safe_determinant
    distances = np.abs(t)
    distances[parallel] = np.linalg.norm(manual_points[chosen[parallel]] - auto_points[parallel], axis=1)
    return distances


def perpendicular_distance(auto, manual, spacing: float | Sequence[float] = (1.0, 1.0)) -> float:
    """Average perpendicular distance (APD, mm) of the MICCAI 2009 LV challenge.

    The mean of :func:`perpendicular_point_distances` over the automatic contour's points.
    It is directed (automatic -> manual), as in the challenge; see that function for the
    algorithm and for what happens when the normal misses the manual contour.

    Parameters
    ----------
    auto, manual : array-like of shape (N, 2)
        Automatic and manual contours, ``(x, y)`` pixel coordinates of closed polygons.
    spacing : float or (float, float), default (1.0, 1.0)
        Pixel size in mm along x and y.

    Returns
    -------
    float
        APD in mm.

    Raises
    ------
    ValueError
        As :func:`perpendicular_point_distances`.
    """
    return float(perpendicular_point_distances(auto, manual, spacing).mean())


def symmetric_nearest_distance(auto, manual, spacing: float | Sequence[float] = (1.0, 1.0)) -> float:
    """Symmetric mean nearest-point distance (mm) between two contours' points.

    For every point of each contour, the distance to the nearest *point* (vertex) of the
    other contour; the two sets of distances are pooled and averaged (like MONAI's
    symmetric average surface distance). Many Python re-implementations of the MICCAI
    2009 evaluation compute this and call it APD, but it is a different number: it is
    symmetric, it measures to vertices rather than along the normal (so it depends on
    how densely the contours are sampled), and it never over-shoots the way the
    official normal-line construction can near corners. Report it under its own name.

    Parameters
    ----------
    auto, manual : array-like of shape (N, 2)
        Contours as ``(x, y)`` pixel coordinates.
    spacing : float or (float, float), default (1.0, 1.0)
        Pixel size in mm along x and y.

    Returns
    -------
    float
        Mean nearest-point distance in mm.

    Raises
    ------
    ValueError
        As :func:`perpendicular_point_distances`.
    """
    scale = _spacing_xy(spacing)
    auto_points = _as_contour(auto, "auto") * scale
    manual_points = _as_contour(manual, "manual") * scale
    auto_to_manual, _ = cKDTree(manual_points).query(auto_points)
    manual_to_auto, _ = cKDTree(auto_points).query(manual_points)
    return float(np.concatenate([auto_to_manual, manual_to_auto]).mean())


def undefined_normal_share(contour) -> float:
    """Share of ``contour``'s points where the official code's normal is undefined.

    Step 1 of :func:`perpendicular_point_distances` fits a parabola y(x) through a point and its
    two neighbours; when the point shares its x with exactly one neighbour, the official code hands
    MATLAB's ``csapi`` a repeated site and its result is not defined (we take the chord instead).
    A contour traced on a binary mask is a staircase of half-pixel steps and lands there often; one
    traced on a probability map (:func:`trace_contour` of the probabilities) almost never.
    """
    points = _as_contour(contour, "contour")
    previous, following = np.roll(points, 1, axis=0), np.roll(points, -1, axis=0)
    vertical = previous[:, 0] == following[:, 0]
    horizontal = ~vertical & (previous[:, 1] == following[:, 1])
    shared = (points[:, 0] == previous[:, 0]) | (points[:, 0] == following[:, 0])
    return float(np.mean(~vertical & ~horizontal & shared))


def _area(points: np.ndarray) -> float:
    x, y = points[:, 0], points[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def trace_contour(image, level: float = 0.5) -> np.ndarray | None:
    """The outline of the largest region of ``image >= level`` as a closed ``(N, 2)`` ``(x, y)`` contour, or None.

    ``image`` is a 2-D map: a probability map (the outline is then sub-pixel, interpolated where the
    probability crosses ``level``, as :func:`skimage.measure.find_contours` does) or a binary mask
    (a staircase through pixel-edge midpoints). Only the largest connected region (8-connectivity, as
    ``find_contours`` joins diagonal pixels) is outlined: a challenge contour is one closed curve.
    The image is padded so that a region touching the border still gets a closed curve. None when
    no pixel reaches ``level`` or the outline has fewer than three points.
    """
    values = np.asarray(image, dtype=float)
    if values.ndim != 2:
        raise ValueError(f"trace_contour: image has shape {values.shape}: expected a 2-D map")
    if not np.all(np.isfinite(values)):
        raise ValueError("trace_contour: image holds NaN or infinite values; expected finite probabilities")
    inside = values >= level
    labels, count = ndimage.label(inside, structure=np.ones((3, 3)))
    if count == 0:
        return None
    sizes = ndimage.sum(inside, labels, index=range(1, count + 1))
    largest = labels == (int(np.argmax(sizes)) + 1)
    # Other regions sink below the level, so only the largest one's outline is traced (values stay as they are
    # inside and on its rim, which keeps the sub-pixel crossing points of that outline).
    keep = ndimage.binary_dilation(largest, structure=np.ones((3, 3)))
    below = min(float(values.min()), level) - 1.0
    kept = np.where(keep & ~(inside & ~largest), values, np.minimum(values, below))
    padded = np.pad(kept, 1, constant_values=below)
    curves = [c for c in find_contours(padded, level, fully_connected="high")
              if len(c) > 3 and np.allclose(c[0], c[-1])]
    if not curves:
        return None
    rc = max(curves, key=lambda c: _area(c)) - 1.0
    rc = rc[:-1]  # find_contours repeats the first point to close the curve
    if len(rc) < 3:
        return None
    return rc[:, ::-1].copy()  # (row, col) -> (x, y)


def polygon_to_mask(contour, shape: tuple[int, int]) -> np.ndarray:
    """Fill a closed contour into a boolean mask (``skimage.draw.polygon``).

    Parameters
    ----------
    contour : array-like of shape (N, 2)
        ``(x, y)`` pixel coordinates, x = column and y = row, 0-based.
    shape : (int, int)
        ``(rows, columns)`` of the image.

    Returns
    -------
    np.ndarray of bool with the given shape
        True for pixels whose centre lies inside the polygon; parts outside the image
        are clipped. MATLAB's ``poly2mask`` (used by the official code) decides boundary
        pixels on a sub-pixel grid, so a few boundary pixels can differ.

    Raises
    ------
    ValueError
        If the contour is invalid or ``shape`` is not two positive integers.
    """
    points = _as_contour(contour, "contour")
    if len(shape) != 2 or any(int(size) != size or size < 1 for size in shape):
        raise ValueError(f"shape={shape!r}: expected (rows, columns) as two positive integers")
    mask = np.zeros(tuple(int(size) for size in shape), dtype=bool)
    rows, columns = polygon_indices(points[:, 1], points[:, 0], shape=mask.shape)
    mask[rows, columns] = True
    return mask


@dataclass(frozen=True, eq=False)
class ContourEvaluation:
    """Outcome of :func:`evaluate_contours`.

    Attributes
    ----------
    apd : np.ndarray of shape (n,)
        Distance (mm) per contour pair; NaN where the automatic contour is missing.
    good : np.ndarray of bool, shape (n,)
        ``apd < limit_mm`` (a missing contour is not good).
    good_percent : float
        Percentage of good contours among all ``n`` manual contours.
    mean_apd_good : float
        Mean ``apd`` over the good contours only (NaN if there are none).
    dice : np.ndarray of shape (n,) or None
        Dice of the filled polygons per pair (NaN where missing), if a shape was given.
    mean_dice_good : float or None
        Mean Dice over the good contours only (NaN if none), if a shape was given.
    limit_mm : float
        The limit used.
    method : str
        ``"perpendicular"`` or ``"nearest"``.
    """

    apd: np.ndarray
    good: np.ndarray
    good_percent: float
    mean_apd_good: float
    dice: np.ndarray | None
    mean_dice_good: float | None
    limit_mm: float
    method: str


_METHODS = {"perpendicular": perpendicular_distance, "nearest": symmetric_nearest_distance}


def evaluate_contours(autos: Sequence, manuals: Sequence, spacing: float | Sequence[float] = (1.0, 1.0),
                      limit_mm: float = 5.0, method: str = "perpendicular",
                      shape: tuple[int, int] | None = None) -> ContourEvaluation:
    """Score automatic contours against manual ones the way the MICCAI 2009 challenge does.

    Each pair gets a distance (the APD by default); a contour is *good* when it is below
    ``limit_mm``. As in the challenge, ``mean_apd_good`` and ``mean_dice_good`` average over
    the good contours only, so they must be read together with ``good_percent``: a
    method can look accurate by failing on the hard slices.

    Differences from the official ``compare_contours.m`` that change numbers:

    - The published copy of the official script hard-codes ``dist_limit = 4`` mm, while
      papers reporting on this data call a contour good when APD < 5 mm; the default
      here is 5 mm, pass ``limit_mm=4`` to match the script.
    - The official script stores a sentinel (-999) when the distance computation fails
      (see :func:`perpendicular_point_distances`): such a contour is excluded from the
      mean APD and Dice but is still counted as good, since only APD >= limit counts as
      bad. Here the computation does not fail, so every present contour is scored.
    - A missing automatic contour (``None``) counts as not good and stays in the
      denominator of ``good_percent``, as in the official script.

    Parameters
    ----------
    autos : sequence of (N, 2) arrays or None
        Automatic contours; ``None`` for a slice where the method produced none.
    manuals : sequence of (N, 2) arrays
        Manual contours, paired with ``autos`` by position.
    spacing : float or (float, float), default (1.0, 1.0)
        Pixel size in mm along x and y, shared by all contours (evaluate one series at a
        time, as the official script does per patient).
    limit_mm : float, default 5.0
        A contour is good when its distance is strictly below this limit.
    method : {"perpendicular", "nearest"}, default "perpendicular"
        :func:`perpendicular_distance` (the challenge's APD) or
        :func:`symmetric_nearest_distance`.
    shape : (int, int), optional
        Image ``(rows, columns)``; if given, Dice of the filled polygons is also computed.

    Returns
    -------
    ContourEvaluation

    Raises
    ------
    ValueError
        If the sequences are empty or differ in length, a manual contour is missing or
        invalid, ``limit_mm`` is not positive, or ``method`` is unknown.
    """
    if method not in _METHODS:
        raise ValueError(f"method={method!r}: expected one of {sorted(_METHODS)}")
    if not limit_mm > 0:
        raise ValueError(f"limit_mm={limit_mm}: expected a positive distance in mm")
    autos, manuals = list(autos), list(manuals)
    if not manuals:
        raise ValueError("manuals is empty: expected at least one manual contour")
    if len(autos) != len(manuals):
        raise ValueError(f"autos has {len(autos)} contours but manuals has {len(manuals)}: expected one per manual")
    if any(manual is None for manual in manuals):
        raise ValueError("manuals contains None: expected a manual contour for every pair")
    distance = _METHODS[method]

    apd = np.full(len(manuals), np.nan)
    dice_values = np.full(len(manuals), np.nan) if shape is not None else None
    for index, (auto, manual) in enumerate(zip(autos, manuals)):
        if auto is None:
            continue
        apd[index] = distance(auto, manual, spacing)
        if dice_values is not None:
            dice_values[index] = dice(polygon_to_mask(auto, shape), polygon_to_mask(manual, shape))

    good = np.zeros(len(manuals), dtype=bool)
    present = ~np.isnan(apd)
    good[present] = apd[present] < limit_mm
    n_good = int(good.sum())
    mean_apd_good = float(apd[good].mean()) if n_good else float("nan")
    mean_dice_good = None
    if dice_values is not None:
        mean_dice_good = float(dice_values[good].mean()) if n_good else float("nan")
    return ContourEvaluation(apd=apd, good=good, good_percent=100.0 * n_good / len(manuals),
                             mean_apd_good=mean_apd_good, dice=dice_values, mean_dice_good=mean_dice_good,
                             limit_mm=float(limit_mm), method=method)
