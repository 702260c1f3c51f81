"""SupCon (Eq. 4) against a literal loop, its multi-label sum (Eq. 5), QA/Dice losses (Eqs. 1-3), LARS."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from paperkit.losses import (
    SupConLoss,
    dice_loss,
    make_lars,
    multi_label_supcon_loss,
    multitask_loss,
    qa_loss,
    supcon_loss,
)
from paperkit.models.lge_quality import QAOutput


def supcon_by_loop(features, labels, temperature):
    """Eq. 4 written out anchor by anchor; returns the per-anchor losses of anchors with positives."""
    if features.dim() == 3:
        views = features.shape[1]
        features = features.reshape(-1, features.shape[-1])
        labels = [label for label in labels.tolist() for _ in range(views)]
    else:
        labels = labels.tolist()
    z = [f / f.norm() for f in features.double()]
    terms = []
    for i in range(len(z)):
        positives = [p for p in range(len(z)) if p != i and labels[p] == labels[i]]
        if not positives:
            continue
        denominator = sum(math.exp(float(z[i] @ z[a]) / temperature) for a in range(len(z)) if a != i)
        terms.append(-sum(math.log(math.exp(float(z[i] @ z[p]) / temperature) / denominator)
                          for p in positives) / len(positives))
    return terms


@pytest.mark.parametrize("shape", [(12, 16), (6, 2, 16)])
@pytest.mark.parametrize("temperature", [0.07, 0.5])
def test_supcon_matches_the_literal_loop(shape, temperature):
    torch.manual_seed(0)
    features = torch.randn(*shape) * 3
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 0, 1, 2, 1, 0][:shape[0]])
    terms = supcon_by_loop(features, labels, temperature)
    assert (abs(supcon_loss(features, labels, temperature).item() - sum(terms) / len(terms))
            < 1e-5 * max(1, abs(sum(terms))))
    got_sum = supcon_loss(features, labels, temperature, reduction="sum").item()
    assert abs(got_sum - sum(terms)) < 1e-5 * max(1, abs(sum(terms)))


def test_anchor_without_positives_is_left_out():
    torch.manual_seed(1)
    features = torch.randn(5, 8)
    labels = torch.tensor([0, 0, 1, 1, 2])  # class 2 has a single sample
    terms = supcon_by_loop(features, labels, 0.07)
    assert len(terms) == 4
    assert abs(supcon_loss(features, labels).item() - sum(terms) / 4) < 1e-5
    lonely = supcon_loss(torch.randn(3, 8, requires_grad=True), torch.tensor([0, 1, 2]))
    assert lonely.item() == 0.0 and lonely.requires_grad


def test_supcon_is_scale_invariant_and_carries_gradient():
    torch.manual_seed(2)
    features = torch.randn(8, 4, requires_grad=True)
    labels = torch.tensor([0, 1] * 4)
    loss = supcon_loss(features, labels)
    assert torch.allclose(loss, supcon_loss(features * 7.0, labels), atol=1e-5)
    loss.backward()
    assert features.grad is not None and features.grad.abs().sum() > 0


def test_supcon_prefers_clustered_embeddings():
    labels = torch.tensor([0, 0, 1, 1])
    clustered = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    mixed = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.9, 0.1], [0.1, 0.9]])
    assert supcon_loss(clustered, labels) < supcon_loss(mixed, labels)


def test_multi_label_is_the_sum_over_label_sets():
    torch.manual_seed(3)
    features = torch.randn(10, 2, 8)
    labels = torch.randint(0, 2, (10, 4))
    expected = sum(supcon_loss(features, labels[:, k]) for k in range(4))
    assert torch.allclose(multi_label_supcon_loss(features, labels), expected)
    assert torch.allclose(SupConLoss()(features, labels), expected)


def test_supcon_input_errors():
    with pytest.raises(ValueError, match="labels"):
        supcon_loss(torch.randn(4, 3), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="temperature"):
        supcon_loss(torch.randn(4, 3), torch.tensor([0, 1, 0, 1]), temperature=0)


def fake_output(batch=4, with_mask=False):
    torch.manual_seed(4)
    return QAOutput(torch.randn(batch, 3), torch.randn(batch, 1), torch.randn(batch, 512),
                    torch.randn(batch, 1, 8, 8) if with_mask else None)


def test_qa_loss_is_bce_over_four_outputs():
    out = fake_output()
    attributes = torch.tensor([[1, 0, 1], [0, 0, 0], [1, 1, 1], [0, 1, 0]], dtype=torch.float32)
    qa = torch.tensor([1.0, 0.0, 1.0, 0.0])
    manual = torch.stack([F.binary_cross_entropy_with_logits(out.attributes[:, k], attributes[:, k]) for k in range(3)]
                         + [F.binary_cross_entropy_with_logits(out.qa[:, 0], qa)]).mean()
    assert torch.allclose(qa_loss(out, attributes, qa), manual)
    with pytest.raises(ValueError, match="attributes"):
        qa_loss(out, attributes[:, :2], qa)


def test_dice_and_multitask_losses():
    mask = torch.zeros(2, 1, 8, 8)
    mask[:, :, 2:6, 2:6] = 1
    perfect = (mask * 2 - 1) * 20
    assert dice_loss(perfect, mask).item() < 1e-3
    assert dice_loss(-perfect, mask).item() > 0.9
    out = fake_output(2, with_mask=True)
    attributes, qa = torch.ones(2, 3), torch.ones(2)
    assert torch.allclose(multitask_loss(out, attributes, qa, mask),
                          qa_loss(out, attributes, qa) + dice_loss(out.mask, mask))
    with pytest.raises(ValueError, match="mask"):
        multitask_loss(fake_output(2), attributes, qa, mask)


def test_lars_steps_and_groups():
    torch.manual_seed(5)
    model = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 4))
    optimizer = make_lars(model, lr=0.5)
    weights, others = optimizer.param_groups
    assert weights["weight_decay"] > 0 and weights["always_adapt"]
    assert others["weight_decay"] == 0 and not others["always_adapt"]
    x, y = torch.randn(64, 8), torch.randint(0, 4, (64,))
    before = model[0].weight.detach().clone()
    losses = []
    for _ in range(20):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert not torch.equal(before, model[0].weight) and losses[-1] < losses[0]


def test_lars_refuses_a_frozen_model():
    model = nn.Linear(2, 2).requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable"):
        make_lars(model)
