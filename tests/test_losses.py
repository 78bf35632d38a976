import subprocess
import sys

import torch

from rlfn.train.config import LossConfig
from rlfn.train.losses import ContrastiveLoss, RandomShallowExtractor, SRLoss


def _batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    hr = torch.rand(2, 3, 24, 24, generator=g)
    sr = (hr + 0.1 * torch.randn(2, 3, 24, 24, generator=g)).clamp(0, 1).requires_grad_(True)
    neg = torch.nn.functional.avg_pool2d(hr, 3, 1, 1)  # a blurred stand-in for bicubic-upsampled LR
    return sr, hr, neg


def test_contrastive_finite_positive_differentiable():
    sr, hr, neg = _batch()
    loss = ContrastiveLoss([1.0, 1.0])(sr, hr, neg)
    assert torch.isfinite(loss) and loss.item() > 0
    loss.backward()
    assert sr.grad is not None and torch.isfinite(sr.grad).all() and sr.grad.abs().sum() > 0


def test_contrastive_prefers_positive():
    """Closer to HR than to the negative → smaller loss; the anchor equal to HR gives 0."""
    _, hr, neg = _batch()
    cl = ContrastiveLoss([1.0, 1.0])
    assert cl(hr.clone(), hr, neg).item() == 0.0
    assert cl(0.9 * hr + 0.1 * neg, hr, neg) < cl(0.1 * hr + 0.9 * neg, hr, neg)


def test_extractor_frozen_and_independent_of_global_seed():
    torch.manual_seed(1)
    a = RandomShallowExtractor(16, seed=0)
    torch.manual_seed(2)
    b = RandomShallowExtractor(16, seed=0)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert not any(p.requires_grad for p in a.parameters())
    a.train()
    assert not a.training
    c = RandomShallowExtractor(16, seed=1)
    assert not torch.equal(a.conv1.weight, c.conv1.weight)
    sr, hr, neg = _batch()
    ContrastiveLoss([1.0, 1.0])(sr, hr, neg).backward()  # no gradient lands in the extractor
    loss = SRLoss(LossConfig(contrastive=0.1))
    assert all(p.grad is None for p in loss.parameters())


def test_extractor_same_in_another_process():
    code = ("import torch; from rlfn.train.losses import RandomShallowExtractor as R; e = R(16, seed=0); "
            "print(repr([float(p.double().sum()) for p in e.parameters()]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    here = [float(p.double().sum()) for p in RandomShallowExtractor(16, seed=0).parameters()]
    assert eval(out) == here


def test_combined_weights():
    sr, hr, neg = _batch()
    total, parts = SRLoss(LossConfig(l1=1.0, l2=2.0, contrastive=0.5))(sr, hr, neg)
    assert set(parts) == {"l1", "l2", "contrastive"}
    expected = parts["l1"] + 2 * parts["l2"] + 0.5 * parts["contrastive"]
    assert torch.allclose(total, expected)
    total, parts = SRLoss(LossConfig(l1=0.0, l2=1.0))(sr, hr)
    assert set(parts) == {"l2"} and torch.allclose(total, torch.mean((sr - hr) ** 2))
