import pytest
import torch

from paperkit.nearest import dice_per_item, nearest_neighbours


def test_nearest_neighbour_is_the_closest_item():
    pool = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    queries = torch.tensor([[9.0, 1.0], [1.0, 8.0], [0.5, 0.5]])
    assert nearest_neighbours(queries, pool).tolist() == [1, 2, 0]


def test_leave_one_out_never_returns_the_item_itself():
    items = torch.tensor([[0.0], [1.0], [5.0]])
    assert nearest_neighbours(items, items).tolist() == [0, 1, 2]
    assert nearest_neighbours(items, items, exclude=torch.arange(3)).tolist() == [1, 0, 1]


@pytest.mark.parametrize("queries, pool, exclude, match", [
    (torch.zeros(2, 3), torch.zeros(2, 4), None, "same shape"),
    (torch.zeros(2, 3), torch.zeros(0, 3), None, "at least 1"),
    (torch.zeros(2, 3), torch.zeros(3, 3), torch.tensor([0, 3]), "one pool index"),
    (torch.zeros(2, 3), torch.zeros(3, 3), torch.tensor([0]), "one pool index"),
])
def test_bad_input_is_named(queries, pool, exclude, match):
    with pytest.raises(ValueError, match=match):
        nearest_neighbours(queries, pool, exclude=exclude)


def test_dice_per_item():
    pred = torch.tensor([[1, 1, 0, 0], [0, 0, 0, 0], [1, 0, 0, 0]])
    target = torch.tensor([[1, 0, 0, 0], [0, 0, 0, 0], [0, 1, 0, 0]])
    assert dice_per_item(pred, target).tolist() == pytest.approx([2 / 3, 1.0, 0.0])
    with pytest.raises(ValueError, match="differ"):
        dice_per_item(pred, target[:, :2])
