import pytest
from torch import nn

from paperkit import models


@pytest.fixture
def toy_registered():
    @models.register("toy_mlp", chapter="demo")
    def toy_mlp(num_classes: int = 2, width: int = 4) -> nn.Module:
        """A toy two-layer perceptron."""
        return nn.Sequential(nn.Linear(3, width), nn.ReLU(), nn.Linear(width, num_classes))
    yield toy_mlp
    models.unregister("toy_mlp")


def test_create_and_list(toy_registered):
    net = models.create("toy_mlp", num_classes=5)
    assert net[-1].out_features == 5
    assert "toy_mlp" in models.list_models() and models.list_models("toy_*", chapter="demo") == ["toy_mlp"]
    assert models.list_models(chapter="no-such-chapter") == []
    assert models.model_info("toy_mlp").summary == "A toy two-layer perceptron."


def test_unknown_name_suggests_close_matches(toy_registered):
    with pytest.raises(ValueError, match=r"unknown model 'toy_mpl'.*Did you mean 'toy_mlp'"):
        models.create("toy_mpl")


def test_bad_kwargs_name_the_model_and_its_parameters(toy_registered):
    with pytest.raises(TypeError, match=r"toy_mlp.*num_clases.*accepts: num_classes, width"):
        models.create("toy_mlp", num_clases=3)


def test_duplicate_registration_is_refused(toy_registered):
    with pytest.raises(ValueError, match="already registered"):
        models.register("toy_mlp")(lambda: nn.Identity())
