"""Losses against direct float64 implementations of their formulas; stability at extreme logits."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ecgformer.losses import (
    AsymmetricLoss,
    BCELoss,
    FocalLoss,
    SoftmaxCrossEntropyLoss,
    asymmetric_loss,
    bce_loss,
    create_loss,
    focal_loss,
    softmax_cross_entropy,
)


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def ref_bce(z: np.ndarray, y: np.ndarray, pos_weight: np.ndarray | None = None) -> np.ndarray:
    p = sigmoid(z)
    w = np.ones(z.shape[-1]) if pos_weight is None else pos_weight
    return -(w * y * np.log(p) + (1 - y) * np.log(1 - p))


def ref_focal(z: np.ndarray, y: np.ndarray, alpha: float, gamma: float) -> np.ndarray:
    p = sigmoid(z)
    pos = -alpha * (1 - p) ** gamma * np.log(p)
    neg = -(1 - alpha) * p ** gamma * np.log(1 - p)
    return y * pos + (1 - y) * neg


def ref_asl(z: np.ndarray, y: np.ndarray, gamma_pos: float, gamma_neg: float, clip: float) -> np.ndarray:
    p = sigmoid(z)
    p_m = np.maximum(p - clip, 0.0)
    pos = -(1 - p) ** gamma_pos * np.log(p)
    neg = -p_m ** gamma_neg * np.log(1 - p_m)
    return y * pos + (1 - y) * neg


def ref_softmax_ce(z: np.ndarray, target: np.ndarray) -> np.ndarray:
    probabilities = np.exp(z) / np.exp(z).sum(-1, keepdims=True)
    return -np.log(probabilities[np.arange(len(target)), target])


@pytest.fixture
def batch() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    z = rng.uniform(-8, 8, size=(16, 7))
    y = (rng.random((16, 7)) < 0.3).astype(np.float64)
    y[0] = rng.random(7)  # soft labels
    return z, y


def as_tensors(z: np.ndarray, y: np.ndarray, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.tensor(z, dtype=dtype), torch.tensor(y, dtype=dtype)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_bce_matches_formula(batch: tuple, dtype: torch.dtype) -> None:
    z, y = batch
    pos_weight = np.linspace(0.5, 4.0, 7)
    tol = 1e-10 if dtype == torch.float64 else 1e-5
    got = bce_loss(*as_tensors(z, y, dtype), pos_weight=torch.tensor(pos_weight), reduction="none")
    np.testing.assert_allclose(got.double().numpy(), ref_bce(z, y, pos_weight), rtol=tol, atol=tol)
    got = bce_loss(*as_tensors(z, y, dtype))
    np.testing.assert_allclose(got.item(), ref_bce(z, y).mean(), rtol=tol)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize(("alpha", "gamma"), [(0.25, 2.0), (0.5, 0.0), (0.75, 1.5), (1.0, 3.0)])
def test_focal_matches_formula(batch: tuple, dtype: torch.dtype, alpha: float, gamma: float) -> None:
    z, y = batch
    tol = 1e-10 if dtype == torch.float64 else 1e-5
    got = focal_loss(*as_tensors(z, y, dtype), alpha=alpha, gamma=gamma, reduction="none")
    np.testing.assert_allclose(got.double().numpy(), ref_focal(z, y, alpha, gamma), rtol=tol, atol=tol)
    got = focal_loss(*as_tensors(z, y, dtype), alpha=alpha, gamma=gamma, reduction="sum")
    np.testing.assert_allclose(got.item(), ref_focal(z, y, alpha, gamma).sum(), rtol=tol)


def test_focal_with_gamma_0_is_alpha_weighted_bce(batch: tuple) -> None:
    z, y = as_tensors(*batch, torch.float64)
    expected = 0.5 * bce_loss(z, y, reduction="none")
    torch.testing.assert_close(focal_loss(z, y, alpha=0.5, gamma=0.0, reduction="none"), expected)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize(("gamma_pos", "gamma_neg", "clip"), [(0.0, 4.0, 0.05), (1.0, 2.0, 0.0), (0.0, 0.5, 0.2),
                                                               (0.0, 0.0, 0.0)])
def test_asymmetric_matches_formula(batch: tuple, dtype: torch.dtype, gamma_pos: float, gamma_neg: float,
                                    clip: float) -> None:
    z, y = batch
    tol = 1e-10 if dtype == torch.float64 else 1e-5
    got = asymmetric_loss(*as_tensors(z, y, dtype), gamma_pos=gamma_pos, gamma_neg=gamma_neg, clip=clip,
                          reduction="none")
    np.testing.assert_allclose(got.double().numpy(), ref_asl(z, y, gamma_pos, gamma_neg, clip), rtol=tol, atol=tol)


def test_asymmetric_without_focusing_or_clip_is_bce(batch: tuple) -> None:
    z, y = as_tensors(*batch, torch.float64)
    torch.testing.assert_close(asymmetric_loss(z, y, 0.0, 0.0, 0.0), bce_loss(z, y))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_softmax_cross_entropy_matches_formula(dtype: torch.dtype) -> None:
    rng = np.random.default_rng(1)
    z, target = rng.uniform(-6, 6, size=(12, 4)), rng.integers(0, 4, size=12)
    tol = 1e-10 if dtype == torch.float64 else 1e-5
    logits = torch.tensor(z, dtype=dtype)
    got = softmax_cross_entropy(logits, torch.tensor(target), reduction="none")
    np.testing.assert_allclose(got.double().numpy(), ref_softmax_ce(z, target), rtol=tol, atol=tol)
    one_hot = torch.nn.functional.one_hot(torch.tensor(target), 4).to(dtype)
    np.testing.assert_allclose(softmax_cross_entropy(logits, one_hot).item(), ref_softmax_ce(z, target).mean(),
                               rtol=tol)
    weight = np.array([1.0, 2.0, 0.5, 3.0])
    weighted = softmax_cross_entropy(logits, torch.tensor(target), weight=torch.tensor(weight))
    expected = (weight[target] * ref_softmax_ce(z, target)).sum() / weight[target].sum()
    np.testing.assert_allclose(weighted.item(), expected, rtol=tol)


MULTI_LABEL = [
    ("bce", lambda z, y: bce_loss(z, y, pos_weight=torch.full((z.shape[-1],), 3.0))),
    ("focal", lambda z, y: focal_loss(z, y)),
    ("focal_gamma_half", lambda z, y: focal_loss(z, y, gamma=0.5)),
    ("asl", lambda z, y: asymmetric_loss(z, y)),
    ("asl_gamma_half", lambda z, y: asymmetric_loss(z, y, gamma_pos=0.5, gamma_neg=0.5)),
    ("asl_no_clip", lambda z, y: asymmetric_loss(z, y, clip=0.0)),
]


@pytest.mark.parametrize(("name", "loss"), MULTI_LABEL, ids=[name for name, _ in MULTI_LABEL])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_finite_values_and_gradients_at_extreme_logits(name: str, loss: object, dtype: torch.dtype) -> None:
    z = torch.tensor([[100.0, -100.0, 100.0, -100.0, 0.0, 30.0]], dtype=dtype).repeat(2, 1).requires_grad_()
    y = torch.tensor([[1.0, 0.0, 0.0, 1.0, 1.0, 0.0], [0.0, 1.0, 1.0, 0.0, 0.5, 1.0]], dtype=dtype)
    value = loss(z, y)
    value.backward()
    assert torch.isfinite(value), name
    assert torch.isfinite(z.grad).all(), (name, z.grad)
    # confidently right -> no loss; confidently wrong -> about 100 nats (times weights)
    per_element = loss(z.detach()[:1, :2], y[:1, :2])
    assert per_element < 1e-6, (name, per_element)


def test_softmax_cross_entropy_finite_at_extreme_logits() -> None:
    z = torch.tensor([[100.0, -100.0, 0.0], [-100.0, 100.0, -100.0]], requires_grad=True)
    value = softmax_cross_entropy(z, torch.tensor([1, 0]))
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(z.grad).all()


@pytest.mark.parametrize("loss", [
    lambda z, y: focal_loss(z, y, gamma=2.0), lambda z, y: focal_loss(z, y, gamma=0.5),
    lambda z, y: asymmetric_loss(z, y), lambda z, y: asymmetric_loss(z, y, gamma_pos=1.0, gamma_neg=0.7, clip=0.1)])
def test_gradients_match_finite_differences(loss: object) -> None:
    rng = np.random.default_rng(2)
    z = torch.tensor(rng.uniform(-4, 4, size=(4, 5)), requires_grad=True)
    y = torch.tensor((rng.random((4, 5)) < 0.5).astype(np.float64))
    assert torch.autograd.gradcheck(lambda logits: loss(logits, y), (z,))


def test_modules_match_functions_and_carry_tensors(batch: tuple) -> None:
    z, y = as_tensors(*batch, torch.float64)
    pos_weight = [1.0, 2.0, 3.0, 1.0, 0.5, 2.0, 1.0]
    torch.testing.assert_close(BCELoss(pos_weight=pos_weight)(z, y),
                               bce_loss(z, y, pos_weight=torch.tensor(pos_weight)))
    torch.testing.assert_close(FocalLoss(alpha=0.3, gamma=1.0)(z, y), focal_loss(z, y, alpha=0.3, gamma=1.0))
    torch.testing.assert_close(AsymmetricLoss(clip=0.1)(z, y), asymmetric_loss(z, y, clip=0.1))
    target = torch.tensor([0, 1, 2, 3] * 4)
    torch.testing.assert_close(SoftmaxCrossEntropyLoss(label_smoothing=0.1)(z[:, :4], target),
                               softmax_cross_entropy(z[:, :4], target, label_smoothing=0.1))
    module = BCELoss(pos_weight=pos_weight).double()
    assert dict(module.named_buffers())["pos_weight"].dtype == torch.float64
    assert isinstance(create_loss("asl", gamma_neg=2.0), AsymmetricLoss)


def test_bad_arguments_raise() -> None:
    z, y = torch.zeros(2, 3), torch.zeros(2, 3)
    with pytest.raises(ValueError, match="shape"):
        focal_loss(z, torch.zeros(2, 4))
    with pytest.raises(ValueError, match="reduction"):
        bce_loss(z, y, reduction="avg")
    with pytest.raises(ValueError, match="alpha"):
        focal_loss(z, y, alpha=1.5)
    with pytest.raises(ValueError, match="clip"):
        asymmetric_loss(z, y, clip=1.0)
    with pytest.raises(ValueError, match="targets"):
        softmax_cross_entropy(z, torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="loss"):
        create_loss("hinge")
