"""The lv_segmentation figure helpers."""
import numpy as np

from paperkit.chapters.lv_segmentation import figures


def test_crop_takes_the_square_of_the_box():
    image = np.arange(100).reshape(10, 10)
    out = figures.crop(image, (2, 3, 4))
    assert out.shape == (4, 4) and out[0, 0] == 23 and out[-1, -1] == 56
