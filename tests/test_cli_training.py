"""``ecgformer fit|validate|test|predict``: config overrides, the report from the command line, DDP on 2 CPU processes."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from test_training import one_thread  # noqa: F401  (autouse: one intra-op thread)

from ecgformer.cli import build_parser, main
from ecgformer.training import PER_CLASS_COLUMNS, REPORT_FILES, load_config
from ecgformer.training.config import ConfigError
from ecgformer.training.cli import add_training_parsers, split_overrides, stage_parser

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "ecgformer" / "configs" / "quickstart_synthetic.yaml"
TINY = ["--data.options={n_records: 48, fs: 100, duration_s: 4}", "--data.length_s=3", "--data.batch_size=8",
        "--data.cache=false", "--model.overrides={dims: [16, 16, 32, 32], depths: [1, 1, 1, 1], num_heads: [1, 1, 2, 2]}",
        "--trainer.max_epochs=1", "--trainer.enable_progress_bar=false", "--loggers=[csv]",
        "--data.num_workers=0"]


def test_overrides_apply_over_the_yaml_file(tmp_path: Path) -> None:
    overrides, rest = split_overrides(["--config", str(CONFIG), "--trainer.max_epochs=3", "--data.options.n_records",
                                       "40", "--module.lr=1e-4", f"--out_dir={tmp_path}"])
    assert rest == ["--config", str(CONFIG)]
    config = load_config(CONFIG, overrides)
    assert config["trainer"]["max_epochs"] == 3 and config["module"]["lr"] == 1e-4
    assert config["data"]["options"] == {"n_records": 40, "fs": 100, "duration_s": 10, "seed": 0}
    assert config["out_dir"] == str(tmp_path) and config["model"]["name"] == "ecgformer_t"
    assert main(["fit", "--config", str(CONFIG), "--data.batchsize=4"]) == 2


def test_all_configs_load() -> None:
    names = sorted(p.name for p in (REPO / "ecgformer" / "configs").glob("[a-z]*.yaml"))
    expected = ["cinc2017.yaml", "cinc2021.yaml", "ludb.yaml", "mitdb_windows.yaml", "quickstart_synthetic.yaml",
                *(f"ptbxl_{t}.yaml" for t in ("all", "diag", "form", "rhythm", "subdiag", "superdiag"))]
    assert names == sorted(expected)
    for name in names:
        config = load_config(REPO / "ecgformer" / "configs" / name)
        assert config["out_dir"] == f"runs/{name.removesuffix('.yaml')}"
    assert load_config(REPO / "ecgformer" / "configs" / "ptbxl_form.yaml")["data"]["task"] == "form"
    assert load_config(REPO / "ecgformer" / "configs" / "cinc2017.yaml")["module"]["single_label"] is True


def test_a_packaged_config_is_named_and_a_path_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """``--config NAME`` finds the YAML shipped inside the package; an existing file of the same name wins; an unknown
    name lists the packaged ones; ``ecgformer configs`` lists them all and prints one."""
    shipped = REPO / "ecgformer" / "configs"
    names = sorted(p.stem for p in shipped.glob("[a-z]*.yaml"))
    assert load_config("ptbxl_form") == load_config("ptbxl_form.yaml") == load_config(shipped / "ptbxl_form.yaml")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cinc2017.yaml").write_text("seed: 7\n")
    assert load_config("cinc2017.yaml")["seed"] == 7  # the file in the working directory
    assert load_config("cinc2017")["module"]["single_label"] is True  # the bare name: the packaged config
    with pytest.raises(ConfigError, match="'ptbxl_nope' is neither a file nor a packaged config.*ptbxl_form"):
        load_config("ptbxl_nope")
    assert main(["fit", "--config", "sub/ptbxl_form.yaml"]) == 2  # a missing path is not looked up by its name
    assert "neither a file nor a packaged config" in capsys.readouterr().err
    assert main(["configs"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert listed == names
    assert main(["configs", "ptbxl_form"]) == 0
    assert capsys.readouterr().out == (shipped / "ptbxl_form.yaml").read_text()


def test_the_data_root_is_the_environment_variable_else_the_user_data_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ecgformer.data import CinC2017, data_root
    from ecgformer.data.errors import DataError

    monkeypatch.setenv("ECGFORMER_DATA", str(tmp_path / "mine"))
    assert data_root() == tmp_path / "mine"
    monkeypatch.delenv("ECGFORMER_DATA")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    if sys.platform.startswith("linux"):
        assert data_root() == tmp_path / "xdg" / "ecgformer"
    with pytest.raises(DataError, match=f"{data_root() / 'cinc2017'} does not exist \\(\\$ECGFORMER_DATA is unset, so the "
                                        f"data root is the user data folder {data_root()}; set it or pass root="):
        CinC2017()
    monkeypatch.setenv("ECGFORMER_DATA", str(tmp_path / "mine"))
    with pytest.raises(DataError, match=f"data root \\$ECGFORMER_DATA={tmp_path / 'mine'}; set it or pass root="):
        CinC2017()


def test_fit_test_predict_from_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    common = ["--config", str(CONFIG), f"--out_dir={tmp_path}", *TINY, "--data.eval_crop=sliding",
              "--data.eval_stride_s=1.5"]  # evaluation averages overlapping windows per record
    assert main(["fit", *common]) == 0
    assert (tmp_path / "checkpoints" / "best.ckpt").is_file() and (tmp_path / "checkpoints" / "last.ckpt").is_file()
    saved = tmp_path / "config.yaml"  # the run's settings: --config re-reads them with no override repeated
    assert load_config(saved) == load_config(CONFIG, split_overrides(common)[0])
    assert yaml.safe_load(saved.read_text())["data"]["eval_stride_s"] == 1.5
    assert main(["test", "--config", str(saved)]) == 0
    report = tmp_path / "report"
    assert sorted(p.name for p in report.iterdir()) == sorted(REPORT_FILES)
    assert tuple(pd.read_csv(report / "per_class.csv").columns) == PER_CLASS_COLUMNS
    assert main(["fit", *common]) == 2  # an out_dir with checkpoints is kept
    assert "already holds checkpoints" in capsys.readouterr().err
    assert main(["predict", *common, "--output", str(tmp_path / "p.csv")]) == 0
    assert "predictions:" in capsys.readouterr().out
    written = (tmp_path / "p.csv").read_text()
    (tmp_path / "p.csv").write_text("kept")
    assert main(["predict", *common, "--output", str(tmp_path / "p.csv")]) == 2  # an existing file is kept
    assert (tmp_path / "p.csv").read_text() == "kept" and "--overwrite" in capsys.readouterr().err
    assert main(["predict", *common, "--output", str(tmp_path / "p.csv"), "--overwrite"]) == 0
    assert (tmp_path / "p.csv").read_text() == written
    assert main(["predict", *common, "bundle_dir"]) == 2  # checkpoint prediction takes no INPUT paths
    assert main(["test", *common, "--data.splits.test=[11]"]) == 2  # no fold 11: an error naming the split
    assert "split folds [11] selects no record" in capsys.readouterr().err


def test_ddp_two_cpu_processes(tmp_path: Path) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1", PL_DISABLE_FORK="1")
    command = [sys.executable, "-m", "ecgformer.cli", "fit", "--config", str(CONFIG), f"--out_dir={tmp_path}", *TINY,
               "--trainer.devices=2", "--trainer.strategy=ddp"]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240,
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "distributed_backend=gloo" in done.stderr + done.stdout
    checkpoint = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=False)
    assert checkpoint["thresholds"]["split"] == "val" and checkpoint["epoch"] == 0


def test_predict_without_config_or_ckpt_goes_to_bundle_prediction() -> None:
    seen: list[tuple[list[str], str]] = []
    parser = argparse.ArgumentParser()
    add_training_parsers(parser.add_subparsers(dest="command"),
                         bundle_predict=lambda a: seen.append((a.inputs, a.out)) or 7)
    args = parser.parse_args(["predict", "bundle/", "a.hea", "b.hea", "--output", "p.csv"])
    assert args.run(args) == 7 and seen == [(["bundle/", "a.hea", "b.hea"], "p.csv")]


def test_one_flag_name_per_meaning_across_commands() -> None:
    """Config overrides are --section.key=value for fit, bench train/declare and quickstart; output files are --out
    for predict as for export and bench (the older --set and --output spellings still parse)."""
    parser = build_parser()
    grid = ["--config", str(CONFIG), "--models", "ecgformer_t", "--out", "grid"]
    for command in (["bench", "train", *grid], ["bench", "declare", *grid, "--reason", "r"], ["quickstart"]):
        args = parser.parse_args([*command, "--trainer.max_epochs=2", "--data.length_s", "3"])
        assert args.overrides == ["trainer.max_epochs=2", "data.length_s=3"], command
    overrides, _ = split_overrides(["--config", str(CONFIG), "--trainer.max_epochs=2", "--data.length_s", "3"])
    assert overrides == ["trainer.max_epochs=2", "data.length_s=3"]  # fit, validate, test, predict
    old = parser.parse_args(["bench", "train", *grid, "--set", "trainer.max_epochs=2"])
    assert old.overrides == [] and old.set == ["trainer.max_epochs=2"]
    assert stage_parser("predict").parse_args(["--config", str(CONFIG), "--out", "p.csv"]).out == "p.csv"
    assert stage_parser("predict").parse_args(["--config", str(CONFIG), "--output", "p.csv"]).out == "p.csv"


def test_print_config_is_the_merged_config_and_reads_back(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fit", "--config", "quickstart_synthetic", "--trainer.max_epochs=5", "--data.options.n_records=40",
                 "--print_config"]) == 0
    printed = capsys.readouterr().out
    (tmp_path / "printed.yaml").write_text(printed)
    expected = load_config("quickstart_synthetic", ["trainer.max_epochs=5", "data.options.n_records=40"])
    assert yaml.safe_load(printed)["trainer"]["max_epochs"] == 5 and load_config(tmp_path / "printed.yaml") == expected


def test_help_shows_the_typed_keys(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fit", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    for key, kind in (("--data.batch_size", "int"), ("--module.lr", "float"), ("--data.pin_memory", "bool | null"),
                      ("--trainer.max_epochs", "Optional[int]"), ("--module.compile", "bool | dict[str, Any]")):
        assert key in text and f"type: {kind}" in text.split(key, 2)[-1][:400], key
    assert "--print_config" in text and "--trainer.logger" in text and "--trainer.callbacks" in text


def test_loggers_and_callbacks_are_class_path_entries(tmp_path: Path) -> None:
    from lightning.pytorch.callbacks import StochasticWeightAveraging
    from lightning.pytorch.loggers import CSVLogger

    from ecgformer.training import build_trainer

    logger = "trainer.logger=[{class_path: lightning.pytorch.loggers.CSVLogger, init_args: {name: mine}}]"
    callback = ("trainer.callbacks=[{class_path: lightning.pytorch.callbacks.StochasticWeightAveraging, "
                "init_args: {swa_lrs: 0.01}}]")
    config = load_config(CONFIG, [f"out_dir={tmp_path}", "trainer.enable_progress_bar=false", logger, callback])
    trainer = build_trainer(config)
    assert [type(lg) for lg in trainer.loggers] == [CSVLogger]
    assert Path(trainer.loggers[0].log_dir).parent == tmp_path / "mine"  # save_dir: out_dir when not given
    swa = [c for c in trainer.callbacks if isinstance(c, StochasticWeightAveraging)]
    assert len(swa) == 1 and swa[0]._swa_lrs == 0.01
    # the loggers: [names] key of earlier configs: W&B and MLflow too (their packages are needed to instantiate them)
    legacy = load_config(None, ["loggers=[csv, wandb, mlflow]", f"out_dir={tmp_path}"])["trainer"]["logger"]
    assert [entry["class_path"].rsplit(".", 1)[1] for entry in legacy] == ["CSVLogger", "WandbLogger", "MLFlowLogger"]
    assert load_config(None, ["loggers=[]"])["trainer"]["logger"] is False
    with pytest.raises(ConfigError, match="loggers: .*'neptune'.*trainer.logger class_path"):
        load_config(None, ["loggers=[neptune]"])
    with pytest.raises(ConfigError, match="trainer.logger"):
        load_config(None, ["trainer.logger=[{class_path: lightning.pytorch.callbacks.Timer}]"])  # not a Logger


def test_type_errors_are_one_line_naming_the_key(capsys: pytest.CaptureFixture[str]) -> None:
    for override, key in (("--data.batch_size=many", "data.batch_size"), ("--module.compile=fast", "module.compile"),
                          ("--trainer.max_epochs=[1]", "trainer.max_epochs"),
                          ("--data.pin_memory=3", "data.pin_memory")):
        assert main(["fit", "--config", str(CONFIG), override]) == 2, override
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1 and key in err, err
