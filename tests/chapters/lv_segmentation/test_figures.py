"""The lv_segmentation figure helpers."""
import numpy as np
import pandas as pd
import pytest

from paperkit.chapters.lv_segmentation import figures


def test_crop_takes_the_square_of_the_box():
    image = np.arange(100).reshape(10, 10)
    out = figures.crop(image, (2, 3, 4))
    assert out.shape == (4, 4) and out[0, 0] == 23 and out[-1, -1] == 56


def summary_of(models):
    from paperkit.chapters.lv_segmentation.figures import APD_COLUMNS

    rows = {name: {**{c: 1.0 + k for c in APD_COLUMNS}, "Dice good (%)": 90.0 + k, "no contour (images)": k}
            for k, name in enumerate(models)}
    return pd.DataFrame(rows).T


def test_table1_shows_every_paper_row_beside_the_models_trained_here():
    from paperkit import reference

    paper = reference.load("lv_segmentation", source="Table 1")
    table = figures.table1(paper, summary_of(["gap_net", "unet", "unet_residual"]), run_data="test set, synthetic")
    assert list(dict.fromkeys(table["setting"]))[:len(paper.setting.unique())] == list(paper.setting.unique())
    assert table["setting"].iloc[-1] == "unet_residual"                        # not in the paper: last
    ours = table[(table.setting == "Ours") & (table.metric == "Dice")].iloc[0]
    assert ours["paper"] == "94.48" and ours["this run"] == "90.00" and ours["row"] == "trained in this run"
    jolly = table[(table.setting == "Jolly") & (table.metric == "APD")].iloc[0]
    assert jolly["paper"] == "22.20" and jolly["this run"] == "—" and jolly["row"].startswith("quoted by the paper")
    fcn = table[table.setting == "FCN-8s"].iloc[0]
    assert fcn["this run"] == "—" and fcn["row"] == "a model of this chapter, not trained in this run"
    assert table[table.setting == "U-Net"]["no contour (images)"].tolist() == [1, 1]
    with pytest.raises(ValueError, match="lacks columns"):
        figures.table1(paper, pd.DataFrame({"x": [1]}), run_data="x")


def test_apd_table_and_the_skipped_baselines():
    out = figures.apd_table(summary_of(["gap_net", "fcn8s"]))
    assert list(out["model"]) == ["gap_net", "fcn8s"] and "APD good, mask (mm)" in out.columns
    with pytest.raises(ValueError, match="lacks columns"):
        figures.apd_table(pd.DataFrame({"x": [1]}))
    baselines = ["fcn8s", "unet", "unetpp", "attention_unet"]
    assert figures.skipped_baselines(["gap_net", "unet"], baselines) == ["fcn8s", "unetpp", "attention_unet"]
    assert figures.describe_list(figures.skipped_baselines(["gap_net", *baselines], baselines), none="none") == "none"
    assert figures.describe_list(["a", "b", "c"]) == "a, b and c" and figures.describe_list(["a"]) == "a"
    assert len({figures.model_color(k) for k in range(6)}) == 6
