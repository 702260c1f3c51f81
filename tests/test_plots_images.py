"""The image traces shared by the image chapters: grayscale image, mask outline, closed contour."""
import numpy as np
import pytest

from paperkit import plots


def test_gray_is_a_plain_grayscale_heatmap():
    trace = plots.gray(np.eye(3))
    assert trace.type == "heatmap" and trace.showscale is False and trace.hoverinfo == "skip"
    assert trace.colorscale[0][1] == "rgb(0, 0, 0)"


def test_mask_outline_keeps_only_the_boundary_pixels():
    mask = np.zeros((7, 7), bool)
    mask[1:6, 1:6] = True  # a 5x5 square: 16 boundary pixels around a 3x3 interior
    trace = plots.mask_outline(mask, "red", "atrium", showlegend=True)
    points = set(zip(trace.y, trace.x))
    assert len(points) == 16 and (3, 3) not in points and (1, 1) in points
    assert trace.name == "atrium" and trace.showlegend is True and trace.marker.color == "red"


def test_contour_trace_closes_the_contour():
    square = np.array([[0, 0], [4, 0], [4, 4], [0, 4]])
    trace = plots.contour_trace(square, "blue", "expert", dash="dot")
    assert list(trace.x) == [0, 4, 4, 0, 0] and list(trace.y) == [0, 0, 4, 4, 0]
    assert trace.line.dash == "dot" and trace.mode == "lines"
    with pytest.raises(ValueError, match=r"expected \(N, 2\)"):
        plots.contour_trace(np.zeros(5), "blue", "expert")
