"""The mixer contract, checked for every registered mixer and the notable variants of each family."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import ecgformer
from ecgformer.mixers import mixer_info, register_mixer
from ecgformer.mixers.registry import mixers_markdown

# every registered mixer with its defaults, plus configurations that take other code paths
VARIANTS = {
    "swin": [{"shift": True}],
    "sr": [{"mode": "conv"}],
    "dilated": [{"dilations": 2, "rel_pos_bias": True}],
    "hilo": [{"alpha": 1.0}, {"alpha": 0.0}],
}
CASES = [(name, {}) for name in ecgformer.list_mixers()] + [
    (name, kwargs) for name, variants in VARIANTS.items() if name in ecgformer.list_mixers() for kwargs in variants]
IDS = [name + "".join(f"-{key}={value}" for key, value in kwargs.items()) for name, kwargs in CASES]

DIM, HEADS = 64, 4
EXPORT_DIM = 32
EXPORT_LENGTHS = (1, 61, 203)  # one token, padded windows, several windows with a partial last one


def make(name: str, kwargs: dict, dim: int = DIM, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return ecgformer.create_mixer(name, dim, num_heads=HEADS, **kwargs).eval()


def tokens(batch: int, length: int, dim: int = DIM, seed: int = 1, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.randn(batch, length, dim, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def test_metadata_of_every_mixer() -> None:
    for name in ecgformer.list_mixers():
        info = mixer_info(name)
        assert info.family and info.paper and info.origin_2d and len(info.changes_1d) > 40, name
        assert info.cls.__doc__ and len(info.cls.__doc__) > 100, f"{name} needs a docstring naming its paper"
        flat_doc = " ".join(info.cls.__doc__.replace("`", "").split())
        assert " ".join(info.changes_1d.replace("`", "").split()[:4]) in flat_doc, f"{name}: 1D changes not from the doc"
        assert info.preset_params > 0 and f"ecgformer_s_{name}" in ecgformer.list_models()


def test_readme_mixer_table_is_generated_from_the_registry() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert mixers_markdown() in readme, "regenerate README's mixer table with ecgformer.mixers.mixers_markdown()"


def test_a_mixer_without_a_port_paragraph_is_refused() -> None:
    class Undocumented(nn.Module):
        """A mixer whose docstring forgets what changed in 1D."""

    with pytest.raises(ValueError, match="Undocumented: a mixer's docstring needs a paragraph starting with '1D port'"):
        register_mixer("undocumented", family="f", paper="p", origin_2d="o", preset_params=1)(Undocumented)
    assert "undocumented" not in ecgformer.list_mixers()


@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=IDS)
def test_shape_and_dtype(name: str, kwargs: dict) -> None:
    mixer = make(name, kwargs)
    with torch.no_grad():
        for length in (1, 3, 17, 250, 1001):
            x = tokens(2, length)
            out = mixer(x)
            assert out.shape == x.shape and out.dtype == x.dtype, (length, out.shape, out.dtype)
        x = tokens(2, 17, dtype=torch.float64)
        assert mixer.double()(x).dtype == torch.float64


@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=IDS)
def test_rejects_wrong_input_shape(name: str, kwargs: dict) -> None:
    mixer = make(name, kwargs)
    for bad in (torch.randn(2, 17, DIM + 1), torch.randn(17, DIM), torch.randn(2, 0, DIM)):
        with pytest.raises(ValueError):
            mixer(bad)


@pytest.mark.parametrize(("name", "kwargs", "argument"), [
    ("attention", {"num_heads": 5}, "num_heads"),
    ("swin", {"window_size": 0}, "window_size"),
    ("sr", {"mode": "linear"}, "mode"),
    ("sr", {"sr_ratio": 0}, "sr_ratio"),
    ("sr", {"num_tokens": 0}, "num_tokens"),
    ("hilo", {"alpha": 1.5}, "alpha"),
    ("hilo", {"window_size": 0}, "window_size"),
    ("dilated", {"kernel_size": 4}, "kernel_size"),
    ("dilated", {"dilations": (1, 2, 3, 4, 5)}, "dilations"),
    ("dilated", {"dilations": 0}, "dilations"),
    ("dilated", {"backend": "cuda"}, "backend"),
    ("focal_attention", {"pool_sizes": (1, 4), "regions": (32,)}, "pool_sizes"),
    ("focal_attention", {"regions": (8, 16, 16)}, "regions"),
    ("conv", {"kernel_size": 6}, "kernel_size"),
])
def test_bad_constructor_arguments_name_the_argument(name: str, kwargs: dict, argument: str) -> None:
    kwargs = {"num_heads": HEADS, **kwargs}
    with pytest.raises(ValueError, match=argument):
        ecgformer.create_mixer(name, DIM, **kwargs)


@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=IDS)
def test_batch_independence_and_eval_determinism(name: str, kwargs: dict) -> None:
    mixer = make(name, kwargs)
    x = tokens(3, 37)
    with torch.no_grad():
        out = mixer(x)
        assert torch.equal(mixer(x), out), "eval forward must be deterministic"
        changed = x.clone()
        changed[1:] = tokens(2, 37, seed=5) * 3.0
        torch.testing.assert_close(mixer(changed)[0], out[0], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(mixer(x[:1])[0], out[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=IDS)
def test_gradients_reach_every_parameter(name: str, kwargs: dict) -> None:
    mixer = make(name, kwargs).train()
    x = tokens(2, 37).requires_grad_()
    (mixer(x) * tokens(2, 37, seed=2)).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    for param_name, param in mixer.named_parameters():
        assert param.grad is not None, f"{param_name} gets no gradient"
        assert torch.isfinite(param.grad).all() and param.grad.abs().sum() > 0, f"{param_name} has a zero gradient"


@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=IDS)
def test_no_nan_for_zero_and_large_inputs(name: str, kwargs: dict) -> None:
    mixer = make(name, kwargs)
    with torch.no_grad():
        for x in (torch.zeros(2, 45, DIM), tokens(2, 45) * 1e4):
            assert torch.isfinite(mixer(x)).all()


@pytest.fixture(scope="module")
def onnx_sessions() -> dict:
    """One ONNX export per case (slow), shared by the tests of the module."""
    return {}


def exported(cache: dict, name: str, kwargs: dict) -> tuple[nn.Module, object]:
    import onnxruntime as ort
    from torch.export import Dim

    key = (name, tuple(sorted(kwargs.items())))
    if key not in cache:
        mixer = make(name, kwargs, dim=EXPORT_DIM)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(mixer, (tokens(2, 45, EXPORT_DIM),), dynamo=True, verbose=False,
                                        dynamic_shapes={"x": {0: Dim.DYNAMIC, 1: Dim.DYNAMIC}})
        cache[key] = mixer, ort.InferenceSession(program.model_proto.SerializeToString(),
                                                 providers=["CPUExecutionProvider"])
    return cache[key]


@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=IDS)
def test_onnx_export_matches_eager_at_several_lengths(onnx_sessions: dict, name: str, kwargs: dict) -> None:
    mixer, session = exported(onnx_sessions, name, kwargs)
    input_name = session.get_inputs()[0].name
    for batch, length in zip((1, 3, 2), EXPORT_LENGTHS):
        x = tokens(batch, length, EXPORT_DIM, seed=length)
        with torch.no_grad():
            expected = mixer(x).numpy()
        got = session.run(None, {input_name: x.numpy()})[0]
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4, err_msg=f"length {length}")


@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=IDS)
def test_torchscript_trace_matches_eager(name: str, kwargs: dict) -> None:
    mixer = make(name, kwargs, dim=EXPORT_DIM)
    x = tokens(2, 45, EXPORT_DIM)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(mixer, (x,), check_trace=False)
        for batch, length in ((2, 45), (3, 1), (1, 203)):  # the traced graph serves other batches and lengths
            x = tokens(batch, length, EXPORT_DIM, seed=length)
            torch.testing.assert_close(traced(x), mixer(x), rtol=1e-5, atol=1e-5)
