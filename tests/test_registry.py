"""One registry type behind every extension axis: lookups, duplicates, unknown names."""

from __future__ import annotations

import pytest

from ecgformer.data.registry import DATASETS, open_dataset
from ecgformer.export.formats import FORMATS, write_model
from ecgformer.layers import FFNS, NORMS, STEMS, create_ffn, create_norm, create_stem
from ecgformer.losses import LOSSES, create_loss
from ecgformer.mixers import create_mixer
from ecgformer.mixers.registry import MIXERS
from ecgformer.models import HEADS, create_head, create_model
from ecgformer.models.registry import MODELS
from ecgformer.registry import Registry, UnknownNameError


def test_registry_keeps_order_rejects_duplicates_and_names_the_axis() -> None:
    registry = Registry("widget", {"b": 2, "a": 1})
    assert list(registry) == ["b", "a"] and registry.names() == ["a", "b"] and len(registry) == 2
    assert registry["a"] == 1 and "b" in registry and "c" not in registry and registry.get("c") is None
    assert registry.decorator("c")(3) == 3 and registry["c"] == 3
    with pytest.raises(ValueError, match="widget 'a' is already registered"):
        registry.register("a", 5)
    with pytest.raises(ValueError, match="non-empty string name"):
        registry.register("", 5)
    with pytest.raises(ValueError, match=r"^unknown widget 'z'; registered: b, a, c$") as caught:
        registry["z"]
    assert isinstance(caught.value, KeyError)


AXES = [(MIXERS, "mixer", lambda: create_mixer("nope", 8)), (MODELS, "model", lambda: create_model("nope", 2)),
        (HEADS, "head", lambda: create_head("nope", 8, 2)), (NORMS, "norm", lambda: create_norm("nope", 8)),
        (STEMS, "stem", lambda: create_stem("nope", 1, 8, 2)), (FFNS, "ffn", lambda: create_ffn("nope", 8, 16)),
        (LOSSES, "loss", lambda: create_loss("nope")), (DATASETS, "dataset", lambda: open_dataset("nope")),
        (FORMATS, "export format", lambda: write_model(None, None, "nope", None))]


@pytest.mark.parametrize(("registry", "kind", "create"), AXES, ids=[kind for _, kind, _ in AXES])
def test_every_extension_axis_is_a_registry_and_its_factory_names_unknown_entries(registry: Registry, kind: str,
                                                                                  create: object) -> None:
    assert isinstance(registry, Registry) and registry.kind == kind and len(registry) >= 2
    with pytest.raises(UnknownNameError, match=f"unknown {kind} 'nope'; registered: "):
        create()


def test_every_dataset_reader_declares_what_the_package_asks() -> None:
    """Tasks and default task, download source and layout check for file readers: no code names a dataset."""
    for name, reader in DATASETS.items():
        assert reader.name == name and reader.default_task in reader.tasks, name
        if reader.reads_files:
            assert reader.download_source is not None and reader.download_source.include, name
            assert callable(reader.check_layout) and reader.dataset_leads or reader.dataset_lead_count, name
    assert DATASETS["ptbxl"].file_rates == (100, 500) and DATASETS["cinc2017"].file_rates == ()


def test_register_dataset_refuses_a_default_task_outside_its_tasks() -> None:
    from ecgformer.data.base import LabelledSource
    from ecgformer.data.registry import register_dataset

    class Confused(LabelledSource):
        name, tasks, default_task = "confused", ("a",), "b"

    with pytest.raises(ValueError, match="Confused: default_task 'b' is not one of its tasks"):
        register_dataset(Confused)
    assert "confused" not in DATASETS


def test_mitbih_reader_is_the_record_task_and_its_views_open_by_task() -> None:
    from ecgformer.data import MITBIH

    with pytest.raises(ValueError, match=r"open_dataset\('mitdb', task='beats'\) or MITBIH\(root\).beats\(\)"):
        MITBIH("/nonexistent", task="beats")
