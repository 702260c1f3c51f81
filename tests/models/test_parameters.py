"""count_parameters and parameter_table (paperkit/models/parameters.py)."""
import pytest
from torch import nn

from paperkit.models.parameters import count_parameters, parameter_table


def toy_model():
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))  # 144 + 34 parameters


def test_count_parameters_all_or_trainable_only():
    m = toy_model()
    assert count_parameters(m, trainable_only=True) == count_parameters(m, trainable_only=False) == 178
    m[0].weight.requires_grad_(False)
    assert count_parameters(m, trainable_only=True) == 16 + 16 * 2 + 2
    assert count_parameters(m, trainable_only=False) == 178


def test_count_parameters_needs_the_keyword():
    with pytest.raises(TypeError, match="trainable_only"):
        count_parameters(toy_model())  # no default: the caller says which count it means
    with pytest.raises(TypeError):
        count_parameters(toy_model(), True)


def test_parameter_table_columns_and_paper_comparison():
    table = parameter_table("small_cnn", num_classes=10, in_channels=1, image_size=28)
    assert list(table.columns) == ["name", "parameters", "params_m", "mb_fp32"] and list(table["name"]) == ["small_cnn"]
    count = table["parameters"][0]
    assert table["params_m"][0] == count / 1e6 and table["mb_fp32"][0] == count * 4 / 1e6
    paper = count / 1e6 * 1.1
    compared = parameter_table(["small_cnn"], paper_m={"small_cnn": paper}, num_classes=10, in_channels=1,
                               image_size=28)
    assert compared["paper_params_m"][0] == paper
    assert compared["relative_diff"][0] == pytest.approx(1 / 1.1 - 1)


def test_parameter_table_names_a_model_missing_from_the_paper_counts():
    with pytest.raises(ValueError, match=r"no count for \['small_cnn'\]"):
        parameter_table(["small_cnn"], paper_m={"tsn_r18": 11.19})
