"""The CPU dropout: keep rate, scaling, seeding, thread independence, gradients, memory, fallbacks."""

import numba
import pytest
import torch
import torch.nn.functional as F

from sensitive_hue.models.dropout import Dropout, cpu_dropout


def _mask(shape, p, dtype=torch.float32):
    """The mask of the next call: dropout of ones."""
    return cpu_dropout(torch.ones(shape, dtype=dtype), p)


@pytest.mark.parametrize("p", [0.1, 0.2, 0.5, 0.9])
def test_mask_keeps_one_minus_p_scaled(p):
    torch.manual_seed(0)
    mask = _mask((400, 1000), p)
    kept = mask > 0
    values = torch.unique(mask).tolist()
    assert len(values) == 2 and values[0] == 0.0 and values[1] == pytest.approx(1 / (1 - p))
    # 400k Bernoulli(1 - p) draws: the keep rate is within 5 standard errors of 1 - p.
    assert abs(kept.double().mean().item() - (1 - p)) < 5 * (p * (1 - p) / kept.numel()) ** 0.5
    assert mask.double().mean().item() == pytest.approx(1.0, abs=0.01)  # unbiased, like nn.Dropout


def test_mask_has_no_visible_structure():
    """Neighbouring entries, rows and consecutive calls are uncorrelated."""
    torch.manual_seed(1)
    a = (_mask((500, 512), 0.5) > 0).double()
    b = (_mask((500, 512), 0.5) > 0).double()

    def corr(x, y):
        return torch.corrcoef(torch.stack([x.flatten(), y.flatten()]))[0, 1].item()

    assert abs(corr(a[:, 1:], a[:, :-1])) < 0.02
    assert abs(corr(a[1:], a[:-1])) < 0.02
    assert abs(corr(a, b)) < 0.02


def test_seeded_by_torch_and_independent_of_threads():
    previous = numba.get_num_threads(), torch.get_num_threads()
    masks = []
    try:
        for threads in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            torch.set_num_threads(threads)
            torch.manual_seed(7)
            masks.append(_mask((64, 100, 128), 0.2))
    finally:
        numba.set_num_threads(previous[0])
        torch.set_num_threads(previous[1])
    assert torch.equal(masks[0], masks[1])
    assert not torch.equal(_mask((64, 100, 128), 0.2), masks[0])  # the next call draws a new key


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_module_is_x_times_mask_with_the_same_mask_in_backward(dtype):
    drop = Dropout(0.3)
    x = torch.randn(8, 20, 16, dtype=dtype).transpose(1, 2)  # non-contiguous input
    x[0, 0, 0] = float("nan")
    x.requires_grad_(True)
    grad = torch.randn(8, 16, 20, dtype=dtype)
    torch.manual_seed(3)
    y = drop(x)
    torch.manual_seed(3)
    mask = _mask(x.shape, 0.3, dtype)
    assert y.dtype == dtype
    torch.testing.assert_close(y, x.detach() * mask, rtol=0, atol=0, equal_nan=True)  # NaN propagates like x * mask
    y.backward(grad)
    assert torch.equal(x.grad, grad * mask)
    drop.eval()
    assert drop(x) is x
    assert Dropout(0.0).train()(x) is x


def test_no_mask_is_kept_for_backward():
    """Only the key survives until backward: no saved tensors from the dropout itself."""
    saved = []
    x = torch.randn(64, 100, 32, requires_grad=True)
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t.numel()) or t, lambda t: t):
        Dropout(0.2)(x).sum().backward()
    assert saved == []


def test_fallbacks_match_torch_dropout():
    x = torch.randn(4, 5, 6).to(torch.bfloat16)
    torch.manual_seed(0)
    expected = F.dropout(x, 0.2, training=True)
    torch.manual_seed(0)
    assert torch.equal(Dropout(0.2)(x), expected)
    assert torch.count_nonzero(Dropout(1.0)(torch.ones(10))) == 0
    with pytest.raises(ValueError, match="dropout probability"):
        Dropout(1.5)
