"""Checkpoints and training runs as an attacker or a careless user meets them (issue 19): a checkpoint whose pickle
would run code, a truncated one, invalid config values, an out_dir holding a better run, and what killed runs
leave behind."""

from __future__ import annotations

import io
import os
import pathlib
import pickletools
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import torch
from test_cli_training import CONFIG, TINY
from test_training import one_thread  # noqa: F401  (autouse: one intra-op thread)

from ecgformer.cli import main


class TouchOnLoad:
    """Unpickling this object creates ``marker`` (a stand-in for ``os.system``)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return pathlib.Path.touch, (self.marker,)


def malicious_checkpoint(path: Path, marker: Path) -> Path:
    """A checkpoint with the keys of a real one whose hyper-parameters would create ``marker`` when unpickled."""
    torch.save({"state_dict": {"model.weight": torch.zeros(2)}, "hyper_parameters": TouchOnLoad(marker)}, path)
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The out_dir of a one-epoch run of a tiny model."""
    out = tmp_path_factory.mktemp("run")
    assert main(["fit", "--config", str(CONFIG), f"--out_dir={out}", *TINY]) == 0
    return out


def dead_pid() -> int:
    """The pid of a process that has exited."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    return int(done.stdout)


def stale_name(target: Path, pid: int) -> Path:
    """The temporary name a process ``pid`` of this host would have used for ``target``."""
    from ecgformer.tempfiles import temporary_path

    live = temporary_path(target)
    return live.with_name(live.name.replace(f".{os.getpid()}.", f".{pid}.", 1))


def test_export_of_a_code_running_checkpoint_runs_nothing_and_names_it(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    marker = tmp_path / "pwned"
    checkpoint = malicious_checkpoint(tmp_path / "best.ckpt", marker)
    assert main(["export", str(checkpoint), "--out", str(tmp_path / "bundle")]) == 1
    err = capsys.readouterr().err.strip()
    assert not marker.exists()
    assert err.startswith(f"error: checkpoint {checkpoint}: refused to load") and len(err.splitlines()) == 1
    assert "pathlib" in err and not (tmp_path / "bundle").exists()


@pytest.mark.parametrize("stage", ["test", "validate", "predict", "fit"])
def test_training_commands_refuse_a_code_running_checkpoint(tmp_path: Path, stage: str,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    marker = tmp_path / "pwned"
    checkpoint = malicious_checkpoint(tmp_path / "evil.ckpt", marker)
    code = main([stage, "--config", str(CONFIG), f"--out_dir={tmp_path / 'run'}", *TINY, "--ckpt", str(checkpoint)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and not marker.exists()
    assert err.startswith(f"error: checkpoint {checkpoint}: refused to load"), err


def test_the_checkpoints_the_package_writes_need_no_global_beyond_tensors(trained: Path) -> None:
    """What read_checkpoint allows is exactly what fit writes: an OrderedDict, tensors and their storages."""
    from ecgformer.training.checkpoint_io import read_checkpoint

    for path in sorted((trained / "checkpoints").glob("*.ckpt")):
        with zipfile.ZipFile(path) as archive:
            data = archive.read(next(n for n in archive.namelist() if n.endswith("data.pkl")))
        ops = list(pickletools.genops(io.BytesIO(data)))
        imported = {f"{ops[k - 2][1]}.{ops[k - 1][1]}" if op.name == "STACK_GLOBAL" else arg.replace(" ", ".")
                    for k, (op, arg, _) in enumerate(ops) if op.name in ("GLOBAL", "STACK_GLOBAL")}
        allowed = {"collections.OrderedDict", "torch._utils._rebuild_tensor_v2"}
        assert {name for name in imported if not name.endswith("Storage")} <= allowed, imported
        assert read_checkpoint(path)["hyper_parameters"]["model"] == "ecgformer_t"


def test_a_truncated_checkpoint_is_one_line_naming_it(trained: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes((trained / "checkpoints" / "best.ckpt").read_bytes()[:5000])
    assert main(["export", str(truncated), "--out", str(tmp_path / "b")]) == 1
    assert main(["test", "--config", str(CONFIG), f"--out_dir={trained}", *TINY, "--ckpt", str(truncated)]) == 2
    assert main(["fit", "--config", str(CONFIG), f"--out_dir={tmp_path / 'resume'}", *TINY, "--ckpt",
                 str(truncated)]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 3 and all(line.startswith(f"error: checkpoint {truncated}: not a readable") for line in lines)
    from ecgformer.training.checkpoint_io import CheckpointError, read_checkpoint

    with pytest.raises(CheckpointError, match=f"checkpoint {truncated}: not a readable checkpoint"):
        read_checkpoint(truncated)


@pytest.mark.parametrize(("override", "key"), [
    ("--module.lr=-1", "module.lr"), ("--module.lr=fast", "module.lr"), ("--module.lr=.nan", "module.lr"),
    ("--data.batch_size=0", "data.batch_size"), ("--data.length_s=-2", "data.length_s"),
    ("--trainer.max_epochs=-5", "trainer.max_epochs"), ("--loss.name=bogus", "loss.name"),
    ("--module.ema_decay=1.5", "module.ema_decay"), ("--data.num_workers=-1", "data.num_workers"),
    ("--model.name=resnet9000", "model.name"), ("--seed=-1", "seed"), ("--data.eval_crop=middle", "data.eval_crop"),
])
def test_an_invalid_config_value_is_one_line_naming_the_key_and_range(tmp_path: Path, override: str, key: str,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fit", "--config", str(CONFIG), f"--out_dir={tmp_path}", override]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {key}: ") and " is not " in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "checkpoints").exists()


def test_unknown_loss_is_named_before_pos_weight(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fit", "--config", str(CONFIG), f"--out_dir={tmp_path}", "--loss.name=bogus",
                 "--loss.pos_weight=true"]) == 2
    err = capsys.readouterr().err
    assert "loss.name: 'bogus' is not one of bce" in err and "pos_weight" not in err


def test_bad_model_kwargs_json_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["export", "ecgformer_t", "--out", str(tmp_path / "b"), "--model-kwargs", "{dims: [1"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --model-kwargs is not valid JSON") and len(err.splitlines()) == 1


def test_fit_keeps_an_earlier_runs_checkpoints(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    (folder / "best.ckpt").write_bytes(b"the better model")
    assert main(["fit", "--config", str(CONFIG), f"--out_dir={tmp_path}", *TINY]) == 2
    err = capsys.readouterr().err
    assert "already holds checkpoints (best.ckpt)" in err and "--overwrite" in err and "--ckpt" in err
    assert (folder / "best.ckpt").read_bytes() == b"the better model"


def test_fit_clears_the_temporaries_of_dead_runs_only(tmp_path: Path) -> None:
    from ecgformer.tempfiles import temporary_path

    folder = tmp_path / "checkpoints"
    folder.mkdir()
    stale = stale_name(folder / "last.ckpt", dead_pid())
    stale.write_bytes(b"half a checkpoint")
    live = temporary_path(folder / "best.ckpt")  # this process is alive: its temporary stays
    live.write_bytes(b"being written")
    (folder / "best.ckpt").write_bytes(b"the better model")  # fit stops at it, after the clean-up
    assert main(["fit", "--config", str(CONFIG), f"--out_dir={tmp_path}", *TINY]) == 2
    assert not stale.exists() and live.exists()


def test_fit_overwrite_replaces_the_earlier_run(trained: Path) -> None:
    from ecgformer.training.checkpoint_io import read_checkpoint

    best = trained / "checkpoints" / "best.ckpt"
    before = best.read_bytes()
    assert main(["fit", "--config", str(CONFIG), f"--out_dir={trained}", *TINY, "--seed=1", "--overwrite"]) == 0
    assert best.read_bytes() != before and read_checkpoint(best)["epoch"] == 0


def test_a_write_killed_half_way_leaves_a_temporary_that_the_next_run_removes(tmp_path: Path) -> None:
    from ecgformer.tempfiles import remove_stale_temporaries

    target = tmp_path / "best.ckpt"
    target.write_bytes(b"old")
    script = ("import sys, time\nfrom ecgformer.tempfiles import atomic_write\n"
              "def slow(handle):\n    handle.write(b'partial'); handle.flush(); print('writing', flush=True); "
              "time.sleep(600)\n"
              f"atomic_write({str(target)!r}, slow)\n")
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline().strip() == "writing"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    left = [p for p in tmp_path.iterdir() if p.name != "best.ckpt"]
    assert len(left) == 1 and f".{process.pid}." in left[0].name and target.read_bytes() == b"old"
    assert remove_stale_temporaries(tmp_path) == left and not left[0].exists()
    assert target.read_bytes() == b"old"


def test_a_killed_cache_build_is_cleared_by_the_next_build(tmp_path: Path) -> None:
    from ecgformer.data.cache import RecordCache
    from ecgformer.data.synthetic import SyntheticECG

    source = SyntheticECG(n_records=6, fs=100, duration_s=2)
    first = RecordCache.build(source, None, tmp_path, progress=False)
    stale = stale_name(first.path, dead_pid())
    stale.mkdir()
    (stale / "signals.f32").write_bytes(b"\0" * 64)
    time.sleep(0.01)
    second = RecordCache.build(source, None, tmp_path, progress=False)
    assert second.path == first.path and sorted(p.name for p in tmp_path.iterdir()) == [first.path.name]


@pytest.mark.parametrize(("override", "words"), [
    ("--data.preprocess={bandpass: [40, 0.5]}", "preprocess.bandpass: low cut-off 40 Hz is not below high"),
    ("--data.preprocess={notch: 60}", "preprocess.notch: 60 Hz is not below the Nyquist frequency 50 Hz"),
    ("--data.preprocess={normalize: robust}", "preprocess.normalize: 'robust' is not one of"),
])
def test_preprocessing_the_records_cannot_carry_is_an_error(tmp_path: Path, override: str, words: str,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fit", "--config", str(CONFIG), f"--out_dir={tmp_path}", *TINY, override]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and words in err and len(err.splitlines()) == 1, err
