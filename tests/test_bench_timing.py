"""The benchmark timing helpers and ``ecgformer bench mixers``: slopes, allocator policy, per-run hooks."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from ecgformer.bench.mixers import loglog_slope
from ecgformer.bench.timing import median_ms
from ecgformer.cli import main


@pytest.mark.parametrize("power", [1.0, 2.0])
def test_loglog_slope_recovers_the_power_of_a_power_law(power: float) -> None:
    lengths = [1000, 2500, 5000]
    assert loglog_slope(lengths, [3e-6 * n ** power for n in lengths]) == pytest.approx(power)
    assert loglog_slope([1000], [1.0]) is None


def test_median_ms_runs_the_before_hook_untimed_ahead_of_every_timed_run() -> None:
    calls: list[str] = []
    median_ms(lambda: calls.append("run"), repeats=4, warmup=2, before=lambda: calls.append("before"))
    assert calls == ["run", "run"] + ["before", "run"] * 4


@pytest.mark.parametrize("policy", ["system", "reuse"])
def test_reuse_freed_memory_stops_page_faults_of_large_temporaries(policy: str) -> None:
    """Counted by the kernel (minor page faults): under glibc's defaults every 64 MiB temporary is mapped afresh
    (one fault per 4 KiB page); after :func:`reuse_freed_memory` (set before the first large allocation, as the
    benchmark does) freed blocks are reused: once the heap has grown past the alignment slack of the first
    blocks, later allocations fault no page."""
    script = textwrap.dedent(f"""
        import json, resource, torch
        from ecgformer.bench.timing import reuse_freed_memory

        def faults_of_one_allocation():
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            torch.ones(16 * 2**20)  # 64 MiB, freed at once
            return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

        applied = reuse_freed_memory() if {policy!r} == "reuse" else True
        print(json.dumps({{"faults": [faults_of_one_allocation() for _ in range(12)], "applied": applied}}))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    measured = json.loads(out.stdout.strip().splitlines()[-1])
    if not measured["applied"]:
        pytest.skip("not glibc: the allocator policy does not apply")
    if policy == "system":
        assert min(measured["faults"]) >= 16000  # 64 MiB / 4 KiB = 16384 pages, every time
    else:
        assert min(measured["faults"]) < 500


def test_bench_mixers_cli_reports_slopes_and_its_measurement_policy(capsys: pytest.CaptureFixture[str],
                                                                    tmp_path) -> None:
    out = tmp_path / "mixers.json"
    assert main(["bench", "mixers", "--quick", "--mixers", "conv", "attention", "--json", "--out", str(out)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert json.loads(out.read_text())["slopes"] == result["slopes"]
    assert result["config"]["cache"] == "flushed before each run"
    assert result["config"]["allocator"] in ("reuse", "system")
    assert {row["mixer"] for row in result["rows"]} == {"conv", "attention"}
    for row in result["rows"]:
        assert row["fwd_ms"] > 0 and row["fwd_bwd_ms"] > 0 and row["params"] > 0
    slopes = {fit["mixer"]: fit for fit in result["slopes"]}
    assert "met" in slopes["conv"] and "met" not in slopes["attention"]  # only linear-by-design ones are judged
    assert all(np.isfinite(fit["fwd_slope"]) for fit in result["slopes"])
