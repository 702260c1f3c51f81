"""What the paper's one-number "95% CI" can be under its protocol, and ours from the same resampling."""
import numpy as np
import pytest

from paperkit.chapters.video4mri import uncertainty
from paperkit.chapters.video4mri.experiment import evaluate_predictions


def test_the_protocol_sd_is_what_the_resampling_gives():
    sd = uncertainty.protocol_sd(0.75, 100, 0.4)
    assert sd == pytest.approx(np.sqrt(0.75 * 0.25 / 40))
    sim = uncertainty.simulate_protocol(0.75, 100, reps=200, seed=1)
    assert np.mean(sim["SD"]) == pytest.approx(sd, rel=0.05)
    assert np.median(sim["half-width"]) / sd == pytest.approx(1.96, rel=0.1)  # a 95% half-width is about 2 SD
    assert np.allclose(sim["width"], 2 * sim["half-width"])
    with pytest.raises(ValueError, match="accuracy=1.2"):
        uncertainty.protocol_sd(1.2, 100)
    with pytest.raises(ValueError, match="n_test=1"):
        uncertainty.protocol_sd(0.5, 1)


def test_the_papers_number_is_neither_an_sd_nor_a_width():
    reading = uncertainty.read_paper_ci(reps=100)
    assert len(reading) == 40  # Table 2: 7 models x 4 datasets; Table 3: 6 rows x 2 datasets
    s = uncertainty.summary(reading)
    assert 1.2 < s["ratio_min"] < s["ratio_max"] < 1.8  # what an earlier measurement found: 1.25-1.74x the SD
    assert s["sd_cells"] == 0 and s["width_cells"] == 0
    assert s["half_width_cells"] + s["none_cells"] == 40 and s["below_half_width_cells"] == s["none_cells"]
    ppmi = reading.set_index(["source", "dataset", "setting"]).loc[("Table 2", "PPMI", "SlowFast")]
    assert ppmi["test items"] == 67 and ppmi["draw"] == 27  # 30% of Table 1's 222 images; 40% of those per draw
    assert ppmi["ratio"] == pytest.approx(0.107 / np.sqrt(0.868 * 0.132 / 27))


def test_our_spread_is_the_resampling_of_the_stored_metrics():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 50)
    p1 = np.clip(y * 0.4 + rng.random(50) * 0.6, 0, 1)  # about 70% right
    probabilities = np.c_[1 - p1, p1]
    ours = uncertainty.our_spread(y, probabilities, fraction=0.4, n_boot=100, seed=3)
    stored = evaluate_predictions(y, probabilities, n_boot=100, boot_fraction=0.4, seed=3)
    assert (ours["mean"], ours["low"], ours["high"]) == (stored["boot_mean"], stored["boot_low"], stored["boot_high"])
    assert ours["width"] == pytest.approx(2 * ours["half-width"]) and 0 < ours["SD"] < ours["width"]
