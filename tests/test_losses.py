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


def test_defaults_are_the_published_ones(batch: tuple) -> None:
    """Focal loss: alpha 0.25, gamma 2 (Lin et al. 2017); ASL: gamma_pos 0, gamma_neg 4, clip 0.05 (Ridnik et al.
    2021); cross-entropy without smoothing; every reduction a mean over the elements."""
    z, y = batch
    zt, yt = as_tensors(z, y, torch.float64)
    for got in (focal_loss(zt, yt), FocalLoss()(zt, yt)):
        np.testing.assert_allclose(got.item(), ref_focal(z, y, 0.25, 2.0).mean(), rtol=1e-10)
    for got in (asymmetric_loss(zt, yt), AsymmetricLoss()(zt, yt)):
        np.testing.assert_allclose(got.item(), ref_asl(z, y, 0.0, 4.0, 0.05).mean(), rtol=1e-10)
    np.testing.assert_allclose(BCELoss()(zt, yt).item(), ref_bce(z, y).mean(), rtol=1e-10)
    target = np.arange(16) % 4
    got = SoftmaxCrossEntropyLoss()(zt[:, :4], torch.tensor(target))
    np.testing.assert_allclose(got.item(), ref_softmax_ce(z[:, :4], target).mean(), rtol=1e-10)


def ref_smoothed_ce(z: np.ndarray, target: np.ndarray, smoothing: float) -> np.ndarray:
    """Label smoothing: the target distribution is (1 - eps) one-hot + eps / C everywhere."""
    log_p = z - np.log(np.exp(z).sum(-1, keepdims=True))
    soft = (1 - smoothing) * np.eye(z.shape[-1])[target] + smoothing / z.shape[-1]
    return -(soft * log_p).sum(-1)


def test_modules_pass_every_option_through(batch: tuple) -> None:
    """Each module against the formula with non-default options, reduction included."""
    z, y = batch
    zt, yt = as_tensors(z, y, torch.float64)
    pos_weight = np.linspace(0.5, 3.0, 7)
    np.testing.assert_allclose(BCELoss(pos_weight=pos_weight, reduction="none")(zt, yt).numpy(),
                               ref_bce(z, y, pos_weight), rtol=1e-6)  # the weights are a float32 buffer
    np.testing.assert_allclose(FocalLoss(alpha=0.6, gamma=1.0, reduction="sum")(zt, yt).item(),
                               ref_focal(z, y, 0.6, 1.0).sum(), rtol=1e-10)
    np.testing.assert_allclose(AsymmetricLoss(gamma_pos=1.0, gamma_neg=2.0, clip=0.1, reduction="none")(zt, yt).numpy(),
                               ref_asl(z, y, 1.0, 2.0, 0.1), rtol=1e-10, atol=1e-12)
    target = np.arange(16) % 4
    weight = np.array([1.0, 2.0, 0.5, 3.0])
    got = SoftmaxCrossEntropyLoss(weight=weight, label_smoothing=0.2, reduction="sum")(zt[:, :4], torch.tensor(target))
    # torch's smoothed, weighted sum: each class's term of the soft target is weighted by that class's weight
    log_p = z[:, :4] - np.log(np.exp(z[:, :4]).sum(-1, keepdims=True))
    soft = 0.8 * np.eye(4)[target] + 0.2 / 4
    np.testing.assert_allclose(got.item(), -(soft * weight * log_p).sum(), rtol=1e-6)
    got = softmax_cross_entropy(zt[:, :4], torch.tensor(target), label_smoothing=0.3, reduction="none")
    np.testing.assert_allclose(got.numpy(), ref_smoothed_ce(z[:, :4], target, 0.3), rtol=1e-10)
    assert repr(FocalLoss(alpha=0.3)) == "FocalLoss(alpha=0.3, gamma=2.0, reduction=mean)"


def test_integer_targets_and_weights_of_another_dtype(batch: tuple) -> None:
    """0/1 targets may come as integers or booleans, weights in any dtype: the loss is that of the float values, in
    the logits' dtype."""
    z, y = batch
    y = (y > 0.5).astype(np.float64)
    zt = torch.tensor(z, dtype=torch.float32)
    for target in (torch.tensor(y, dtype=torch.long), torch.tensor(y, dtype=torch.bool)):
        for loss, reference in ((lambda a, b: bce_loss(a, b, pos_weight=torch.arange(1.0, 8.0, dtype=torch.float64)),
                                 ref_bce(z, y, np.arange(1.0, 8.0)).mean()),
                                (focal_loss, ref_focal(z, y, 0.25, 2.0).mean()),
                                (asymmetric_loss, ref_asl(z, y, 0.0, 4.0, 0.05).mean())):
            got = loss(zt, target)
            assert got.dtype == torch.float32
            np.testing.assert_allclose(got.item(), reference, rtol=1e-5)
    target = np.arange(16) % 4
    one_hot = torch.nn.functional.one_hot(torch.tensor(target), 4)  # int64 class probabilities
    # summed: torch's weighted mean divides by the summed weights for indices but by the batch size for probabilities
    got = softmax_cross_entropy(zt[:, :4], one_hot, weight=torch.tensor([1.0, 2.0, 0.5, 3.0], dtype=torch.float64),
                                reduction="sum")
    expected = softmax_cross_entropy(zt[:, :4], torch.tensor(target), weight=torch.tensor([1.0, 2.0, 0.5, 3.0]),
                                     reduction="sum")
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, expected)


def test_module_buffers_are_float32_until_the_module_is_cast() -> None:
    """Integer and float64 weights become float32 buffers, which .double() and .half() then convert."""
    for weights in ([1, 2, 3], torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64), np.array([1, 2, 3])):
        module = BCELoss(pos_weight=weights)
        assert module.pos_weight.dtype == torch.float32
        assert module.double().pos_weight.dtype == torch.float64
        assert SoftmaxCrossEntropyLoss(weight=weights).half().weight.dtype == torch.float16


def test_argument_bounds_are_inclusive_where_documented() -> None:
    z, y = torch.zeros(2, 3, dtype=torch.float64), torch.tensor([[1.0, 0, 1], [0, 1, 0]], dtype=torch.float64)
    # alpha = 0 weighs out the positives: only the negatives' term (1 - alpha) p^gamma (-log(1 - p)) remains
    np.testing.assert_allclose(focal_loss(z, y, alpha=0.0, reduction="sum").item(), 3 * 0.5 ** 2 * np.log(2))
    for bad in ({"gamma_pos": -1.0}, {"gamma_neg": -1.0}, {"clip": -0.1}):
        with pytest.raises(ValueError, match="gamma_pos, gamma_neg >= 0"):
            asymmetric_loss(z, y, **bad)
    with pytest.raises(ValueError, match="gamma"):
        focal_loss(z, y, gamma=-0.5)
    with pytest.raises(ValueError, match="reduction must be one of"):
        softmax_cross_entropy(z, torch.zeros(2, dtype=torch.long), reduction="avg")
