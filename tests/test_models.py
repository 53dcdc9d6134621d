"""Every registered model: shapes at ECG lengths, gradients, determinism, classifier reset, ONNX, TorchScript, size.

Full-size presets run forward, backward, determinism and size checks; the ONNX exports (dynamo, the slow part)
and TorchScript traces use each preset at a small width and depth (same layout, mixers, stem and head), built by
:func:`small`, and are cached per module.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pytest
import torch

import ecgformer
from ecgformer.models import (
    Inception1d,
    MetaFormer1d,
    XResNet1d,
    model_info,
    resolve_mixers,
)

NAMES = ecgformer.list_models()
NUM_CLASSES = 5


def small(name: str) -> dict[str, object]:
    """Overrides that shrink the preset ``name`` for export tests, keeping its layout."""
    info = model_info(name)
    if info.cls is MetaFormer1d:
        stages = len(info.config["dims"])
        depths = (2,) if stages == 1 else tuple(2 if i == stages - 2 else 1 for i in range(stages))
        return {"dims": (24,) * stages, "depths": depths, "num_heads": 3}
    if info.cls is XResNet1d:
        return {"layers": (1, 1, 1, 1), "width": 8, "stem_widths": (8, 8, 16)}
    if info.cls is Inception1d:
        return {"depth": 3, "filters": 8, "bottleneck": 8}
    raise AssertionError(f"no small configuration for {info.cls.__name__} ({name}); add one here")


def build(name: str, seed: int = 0, **overrides: object) -> ecgformer.models.EcgModel:
    torch.manual_seed(seed)
    return ecgformer.create_model(name, num_classes=NUM_CLASSES, **overrides)


@functools.cache
def full(name: str) -> ecgformer.models.EcgModel:
    """The full-size preset in eval mode (shared by the read-only tests)."""
    return build(name).eval()


def ecg(batch: int, length: int, leads: int = 12, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, leads, length, generator=torch.Generator().manual_seed(seed))


def test_registry_lists_presets_and_baselines() -> None:
    expected = {"ecgformer_t", "ecgformer_s", "ecgformer_b", "ecgformer_s_100hz", "smt1d_s", "vit1d_s", "xresnet1d50",
                "xresnet1d101", "inception1d"} | {f"ecgformer_s_{mixer}" for mixer in ecgformer.list_mixers()}
    assert expected <= set(NAMES)
    with pytest.raises(ValueError, match="unknown model"):
        ecgformer.create_model("resnet9000", num_classes=2)


def test_cli_lists_every_preset_and_mixer(capsys: pytest.CaptureFixture[str]) -> None:
    """``ecgformer list`` (the name ``export --help`` points to) prints one line per registered preset or mixer."""
    from ecgformer.cli import main

    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == sorted(NAMES)
    assert lines[sorted(NAMES).index("ecgformer_s")].split()[1] == "5.00M"
    assert main(["list", "mixers"]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()] == ecgformer.list_mixers()


def test_100hz_preset_keeps_enough_tokens_for_attention() -> None:
    """A 2.5 s crop at 100 Hz (250 samples), tokens per stage, each stride rounding up: ecgformer_s (stem 4, then
    2, 4, 2) gives 63 / 32 / 8 / 4, the 100 Hz preset (stem 2, then 2, 2, 2) 125 / 63 / 32 / 16; everything but the
    strides is ecgformer_s's."""
    for name, expected in (("ecgformer_s", [63, 32, 8, 4]), ("ecgformer_s_100hz", [125, 63, 32, 16])):
        model, lengths = full(name), []
        hooks = [stage.register_forward_hook(lambda _m, _i, out: lengths.append(out.shape[1]))
                 for stage in model.stages]
        with torch.no_grad():
            model.forward_features(ecg(1, 250))
        for hook in hooks:
            hook.remove()
        assert lengths == expected, name
    assert model_info("ecgformer_s_100hz").config == {**model_info("ecgformer_s").config, "stem_stride": 2,
                                                       "downsample_stride": (2, 2, 2)}


@pytest.mark.parametrize("name", NAMES)
def test_parameter_count_matches_stated_size(name: str) -> None:
    params = sum(p.numel() for p in full(name).parameters())
    stated = model_info(name).params
    assert abs(params - stated) <= 0.2 * stated, f"{name}: {params:,} parameters, stated {stated:,}"


@pytest.mark.parametrize("name", NAMES)
def test_forward_shapes_at_ecg_lengths(name: str) -> None:
    model = full(name)
    with torch.no_grad():
        for batch, length in ((2, 1000), (2, 5000), (1, 1001)):  # 1001: a multiple of no stride
            out = model(ecg(batch, length))
            assert out.shape == (batch, NUM_CLASSES) and torch.isfinite(out).all(), (length, out.shape)
        tokens = model.forward_features(ecg(2, 1001))
        assert tokens.shape[:2] == (2, -(-1001 // model.token_stride))
        single_lead = build(name, in_chans=1).eval()
        out = single_lead(ecg(2, 9000, leads=1))
        assert out.shape == (2, NUM_CLASSES) and torch.isfinite(out).all()


@pytest.mark.parametrize("name", NAMES)
def test_backward_reaches_every_parameter(name: str) -> None:
    overrides = {"drop_path_rate": 0.0} if model_info(name).cls is MetaFormer1d else {}
    model = build(name, **overrides).train()
    x = ecg(2, 1000).requires_grad_()
    torch.nn.functional.binary_cross_entropy_with_logits(model(x), torch.ones(2, NUM_CLASSES)).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    for param_name, param in model.named_parameters():
        assert param.grad is not None, f"{name}: {param_name} gets no gradient"
        assert torch.isfinite(param.grad).all(), f"{name}: {param_name} has a non-finite gradient"


@pytest.mark.parametrize("name", NAMES)
def test_eval_is_deterministic_and_batch_independent(name: str) -> None:
    model = full(name)
    x = ecg(3, 1000)
    with torch.no_grad():
        out = model(x)
        assert torch.equal(model(x), out)
        torch.testing.assert_close(model(x[:1]), out[:1], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_reset_classifier_changes_class_count(name: str) -> None:
    model = build(name).eval()
    features = model.forward_head(model.forward_features(ecg(2, 1000)), pre_logits=True)
    model.reset_classifier(7)
    assert model.num_classes == 7
    with torch.no_grad():
        assert model(ecg(2, 1000)).shape == (2, 7)
        assert model.forward_head(model.forward_features(ecg(2, 1000)), pre_logits=True).shape == features.shape


@pytest.mark.parametrize("name", NAMES)
def test_rejects_wrong_inputs_naming_the_argument(name: str) -> None:
    model = full(name)
    with pytest.raises(ValueError, match="in_chans=12"):
        model(ecg(2, 1000, leads=8))
    with pytest.raises(ValueError, match="B, leads, T"):
        model(torch.randn(12, 1000))
    if model.min_length > 1:
        with pytest.raises(ValueError, match="min_length"):
            model(ecg(1, model.min_length - 1))
    with torch.no_grad():
        assert model(ecg(1, model.min_length)).shape == (1, NUM_CLASSES)


@pytest.fixture(scope="module")
def onnx_cache() -> dict:
    """One dynamo ONNX export per preset (at small width), shared by the module."""
    return {}


def exported(cache: dict, name: str) -> tuple[torch.nn.Module, object]:
    import onnxruntime as ort
    from torch.export import Dim

    if name not in cache:
        model = build(name, **small(name)).eval()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # traced at 2000 samples: every stage holds several windows (a size-1 dimension at trace time is
            # specialised by torch.export; focal_attention traced at exactly one window fails at longer inputs)
            program = torch.onnx.export(model, (ecg(2, 2000),), dynamo=True, verbose=False,
                                        dynamic_shapes={"x": {0: Dim.DYNAMIC, 2: Dim.DYNAMIC}})
        cache[name] = model, ort.InferenceSession(program.model_proto.SerializeToString(),
                                                  providers=["CPUExecutionProvider"])
    return cache[name]


@pytest.mark.parametrize("name", NAMES)
def test_onnx_export_matches_onnxruntime(onnx_cache: dict, name: str) -> None:
    model, session = exported(onnx_cache, name)
    input_name = session.get_inputs()[0].name
    for batch, length in ((1, 1000), (3, 777), (2, 2500)):
        x = ecg(batch, length, seed=length)
        with torch.no_grad():
            expected = model(x).numpy()
        got = session.run(None, {input_name: x.numpy()})[0]
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4, err_msg=f"{name} at {batch} x {length}")


@pytest.mark.parametrize("name", NAMES)
def test_torchscript_trace_serves_other_batches_and_lengths(name: str) -> None:
    model = build(name, **small(name)).eval()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(model, (ecg(2, 1000),), check_trace=False)
        for batch, length in ((1, 1000), (3, 777)):
            x = ecg(batch, length, seed=length)
            torch.testing.assert_close(traced(x), model(x), rtol=1e-4, atol=1e-5)


# ---- backbone options ------------------------------------------------------------------------------------------

SMALL_S = {"dims": (24, 24, 48, 48), "depths": (1, 1, 2, 1), "num_heads": 3}


@pytest.mark.parametrize("head", ["avg", "avgmax", "class_attention", "query", "benchmark"])
def test_heads(head: str) -> None:
    model = build("ecgformer_s", head=head, **SMALL_S).train()
    x = ecg(2, 1000)
    model(x).sum().backward()
    assert all(p.grad is not None for p in model.parameters()), head
    model.eval()
    model.reset_classifier(9)
    with torch.no_grad():
        assert model(x).shape == (2, 9)


def test_query_head_exposes_per_label_attention_maps() -> None:
    model = build("ecgformer_s", head="query", **SMALL_S).eval()
    with torch.no_grad():
        tokens = model.forward_features(ecg(2, 1000))
        maps = model.head.attention_maps(tokens)
    assert maps.shape == (2, NUM_CLASSES, tokens.shape[1])
    torch.testing.assert_close(maps.sum(-1), torch.ones(2, NUM_CLASSES))


@pytest.mark.parametrize("head", ["class_attention", "query"])
def test_attention_heads_export_to_onnx(head: str) -> None:
    import onnxruntime as ort
    from torch.export import Dim

    model = build("ecgformer_t", head=head, **SMALL_S).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(model, (ecg(2, 1000),), dynamo=True, verbose=False,
                                    dynamic_shapes={"x": {0: Dim.DYNAMIC, 2: Dim.DYNAMIC}})
    session = ort.InferenceSession(program.model_proto.SerializeToString(), providers=["CPUExecutionProvider"])
    x = ecg(3, 1500, seed=3)
    with torch.no_grad():
        np.testing.assert_allclose(session.run(None, {session.get_inputs()[0].name: x.numpy()})[0],
                                   model(x).numpy(), rtol=1e-4, atol=1e-4)


def test_mixer_layout_per_stage_and_per_block() -> None:
    layout = resolve_mixers(["conv", {"name": "swin", "window_size": 8}, ["smt", "attention"], "sr"], (1, 2, 5, 1))
    assert [name for name, _ in layout[2]] == ["smt", "attention", "smt", "attention", "smt"]
    assert layout[1] == [("swin", {"window_size": 8})] * 2
    model = build("ecgformer_s", mixers=["conv", "conv", "hilo", "sr"], **SMALL_S)  # an ablation of the hybrid layout
    assert [block.mixer_name for stage in model.stages for block in stage.blocks] == ["conv", "conv", "hilo", "hilo",
                                                                                      "sr"]
    swin = build("ecgformer_s_swin", **SMALL_S)
    assert [block.mixer.shift_size > 0 for block in swin.stages[2].blocks] == [False, True]
    smt = build("smt1d_s")
    assert [block.mixer_name for block in smt.stages[2].blocks] == ["smt", "attention"] * 3
    ramp = build("ecgformer_s_inception")
    low = [block.mixer.low_dim / block.mixer.dim for stage in ramp.stages for block in stage.blocks]
    assert low == sorted(low) and low[0] < 0.5 < low[-1], "iFormer's frequency ramp: low-frequency share rises"
    for bad in (["conv"] * 3, [{"window_size": 8}] * 4, [[]] * 4):
        with pytest.raises(ValueError, match="mixers"):
            build("ecgformer_s", mixers=bad)
    with pytest.raises(ValueError, match="unknown mixer"):
        build("ecgformer_s", mixers="nope")


def test_drop_path_layer_scale_and_cpe_options() -> None:
    model = build("ecgformer_s", drop_path_rate=0.3, layer_scale=1e-3, cpe="block", **SMALL_S)
    rates = [block.drop_path.p for stage in model.stages for block in stage.blocks]
    assert rates[0] == 0.0 and rates[-1] == pytest.approx(0.3) and rates == sorted(rates)
    block = model.stages[0].blocks[0]
    assert block.cpe is not None and torch.allclose(block.ls1.gamma, torch.full((24,), 1e-3))
    with pytest.raises(ValueError, match="cpe"):
        build("ecgformer_s", cpe="absolute")


def test_gradient_checkpointing_gives_the_same_gradients() -> None:
    def grads(checkpointing: bool) -> list[torch.Tensor]:
        model = build("ecgformer_s", grad_checkpointing=checkpointing, drop_path_rate=0.0, **SMALL_S).train()
        model(ecg(2, 800)).square().sum().backward()
        return [p.grad for p in model.parameters()]

    for plain, checkpointed in zip(grads(False), grads(True)):
        torch.testing.assert_close(plain, checkpointed, rtol=1e-5, atol=1e-6)


def test_auxiliary_loss_collects_pathway_balance_loss() -> None:
    model = build("ecgformer_s_pathway", **SMALL_S).train()
    model(ecg(4, 600))
    aux = model.auxiliary_loss()
    expected = sum(m.balance_loss for m in model.modules() if getattr(m, "balance_loss", None) is not None)
    torch.testing.assert_close(aux, expected)
    assert aux.requires_grad
    model.eval()
    assert model.auxiliary_loss().item() == 0.0
    plain = build("ecgformer_t").train()
    plain(ecg(2, 600))
    assert plain.auxiliary_loss().item() == 0.0


def test_bench_models_compile_times_compiled_models(monkeypatch: pytest.MonkeyPatch) -> None:
    """``--compile`` compiles every timed model (here with dynamo's eager backend: inductor takes minutes on a CPU)
    and the timed calls run through dynamo (its frame counter grows)."""
    from torch._dynamo.utils import counters

    from ecgformer.bench.models import run_models_benchmark

    compiled: list[str] = []
    original = torch.nn.Module.compile

    def eager_compile(module: torch.nn.Module, *args: object, **kwargs: object) -> None:
        compiled.append(type(module).__name__)
        original(module, backend="eager")

    monkeypatch.setattr(torch.nn.Module, "compile", eager_compile)
    torch._dynamo.reset()
    counters.clear()
    result = run_models_benchmark(["ecgformer_t"], batch=2, length=256, repeats=1, log=lambda s: None, compiled=True)
    assert compiled == ["MetaFormer1d"] and result["config"]["compile"] is True
    assert counters["frames"]["ok"] > 0 and result["rows"][0]["train_ecg_s"] > 0


def test_bench_models_smoke() -> None:
    from ecgformer.bench.mixers import count_gflops
    from ecgformer.bench.models import run_models_benchmark
    from ecgformer.bench.report import result_markdown

    result = run_models_benchmark(["ecgformer_t", "inception1d"], batch=2, length=256, repeats=1, log=lambda s: None)
    assert [row["model"] for row in result["rows"]] == ["ecgformer_t", "inception1d"]
    for row in result["rows"]:
        assert row["params"] > 0 and row["gflops"] > 0 and row["train_ecg_s"] > 0 and row["infer_ecg_s"] > 0
    assert result_markdown(result).count("\n") == 3
    strides = {"stem_stride": 2, "downsample_stride": [2, 2, 2]}  # a grid's model.overrides: 4x the tokens of the preset
    result = run_models_benchmark(["ecgformer_t", "inception1d"], batch=2, length=256, repeats=1, log=lambda s: None,
                                  model_overrides={"ecgformer_t": strides})
    plain, with_strides = (ecgformer.create_model("ecgformer_t", num_classes=5, in_chans=12, **kw) for kw in ({}, strides))
    assert plain.token_stride == 4 * with_strides.token_stride
    assert result["rows"][0]["params"] == sum(p.numel() for p in with_strides.parameters())
    assert result["rows"][0]["gflops"] > 2 * count_gflops(lambda: plain(torch.zeros(1, 12, 256)))
