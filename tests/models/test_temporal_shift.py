"""paperkit.models.temporal_shift: the one-pass shift equals the reference shift, forward and backward."""
import pytest
import torch

from paperkit.models.temporal_shift import temporal_shift


def reference_shift(x, num_segments, shift_div=8):
    """The canonical TSM shift written the plain way (zero-filled output, three sliced copies)."""
    nt, c, h, w = x.shape
    clips = x.view(nt // num_segments, num_segments, c, h, w)
    fold = c // shift_div
    out = torch.zeros_like(clips)
    out[:, :-1, :fold] = clips[:, 1:, :fold]
    out[:, 1:, fold:2 * fold] = clips[:, :-1, fold:2 * fold]
    out[:, :, 2 * fold:] = clips[:, :, 2 * fold:]
    return out.view(nt, c, h, w)


@pytest.mark.parametrize("batch, segments, channels, shift_div", [(2, 8, 64, 8), (1, 3, 16, 4), (3, 1, 8, 8),
                                                                  (2, 5, 10, 8)])
def test_the_shift_and_its_gradient_equal_the_reference(batch, segments, channels, shift_div):
    torch.manual_seed(0)
    x = torch.randn(batch * segments, channels, 5, 4, dtype=torch.float64, requires_grad=True)
    y = x.detach().clone().requires_grad_(True)
    out, ref = temporal_shift(x, segments, shift_div), reference_shift(y, segments, shift_div)
    assert torch.equal(out, ref)
    weight = torch.randn_like(out)
    (out * weight).sum().backward()
    (ref * weight).sum().backward()
    assert torch.equal(x.grad, y.grad)


def test_the_shift_passes_gradcheck_and_leaves_its_input_alone():
    x = torch.randn(2 * 4, 8, 3, 3, dtype=torch.float64, requires_grad=True)
    before = x.detach().clone()
    assert torch.autograd.gradcheck(lambda t: temporal_shift(t, 4, 4), (x,))
    temporal_shift(x, 4, 4)
    assert torch.equal(x.detach(), before)


def test_a_channels_last_input_is_shifted_the_same():
    x = torch.randn(2 * 4, 16, 6, 6).to(memory_format=torch.channels_last)
    assert torch.equal(temporal_shift(x, 4), reference_shift(x.contiguous(), 4))
