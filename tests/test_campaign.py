"""Campaigns: plans expand into deterministic jobs; the local executor runs them, retries
failures, records errors, and a re-run skips what is stored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from flopwise.campaign import (
    Executor,
    LocalExecutor,
    PlanError,
    expand_plan,
    load_plan,
    run_campaign,
)
from flopwise.campaign.runner import parse_label, stored_jobs
from flopwise.store import Store

# A factory file: an MLP with a (width, depth) grid, and a model whose forward misbehaves
# on purpose. Every factory call appends a line to calls.log, so a test can count how many
# times a job really ran (in whatever worker process).
FACTORY = """
import os, pathlib, time
import torch
from torch import nn

HERE = pathlib.Path(__file__).parent


def _log(text):
    with open(HERE / "calls.log", "a") as fh:
        fh.write(text + "\\n")


def mlp(width=4, depth=1):
    _log(f"mlp {width} {depth}")
    layers = []
    for _ in range(depth):
        layers += [nn.Linear(width, width), nn.ReLU()]
    return nn.Sequential(*layers), (torch.randn(2, width),)


class Trouble(nn.Module):
    def __init__(self, mode):
        super().__init__()
        self.mode = mode
        self.lin = nn.Linear(3, 5)

    def forward(self, x):
        if self.mode == "raise":
            raise ValueError("this model always fails")
        if self.mode == "crash":
            os._exit(3)
        if self.mode == "hang":
            time.sleep(600)
        if self.mode == "flaky":
            marker = HERE / "flaky.marker"
            if not marker.exists():
                marker.write_text("failed once")
                raise RuntimeError("transient failure")
        return self.lin(x)


def trouble(mode="raise"):
    _log(f"trouble {mode}")
    return Trouble(mode), (torch.randn(1, 3),)
"""

WIDTHS, DEPTHS = (4, 8), (1, 2)
RETRIES = 1


def write_plan(folder: Path, body: str) -> Path:
    (folder / "models.py").write_text(FACTORY)
    plan = folder / "plan.toml"
    plan.write_text(body)
    return plan


MAIN_PLAN = f"""
name = "unit"
retries = {RETRIES}
timeout_s = 120
actions = ["count"]

[[factories]]
path = "models.py:mlp"
grid = {{ width = {list(WIDTHS)}, depth = {list(DEPTHS)} }}

[[factories]]
path = "models.py:trouble"
grid = {{ mode = ["raise", "crash", "flaky"] }}
"""


class InterruptAfter(Executor):
    """Delegates to ``inner`` and raises KeyboardInterrupt (as Ctrl-C would) once ``n``
    results have been handed back."""

    def __init__(self, inner: Executor, n: int) -> None:
        self.inner, self.n, self.seen = inner, n, 0

    def submit(self, job):
        self.inner.submit(job)

    def poll(self, timeout):
        if self.seen >= self.n:
            raise KeyboardInterrupt
        got = self.inner.poll(timeout)
        self.seen += len(got)
        return got

    def outstanding(self):
        return self.inner.outstanding()

    def close(self):
        self.inner.close()


def calls(folder: Path) -> list[str]:
    log = folder / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


@pytest.fixture(scope="module")
def campaign_run(tmp_path_factory):
    """One local campaign over the main plan (2 workers), then the same plan again."""
    folder = tmp_path_factory.mktemp("campaign")
    plan = load_plan(write_plan(folder, MAIN_PLAN))
    store = Store(folder / "results.sqlite")
    first = run_campaign(plan, store, LocalExecutor(workers=2, timeout_s=plan.timeout_s))
    calls_after_first = calls(folder)
    runs_after_first = store.count()
    second = run_campaign(load_plan(folder / "plan.toml"), store, LocalExecutor(workers=2))
    yield {
        "folder": folder,
        "plan": plan,
        "store": store,
        "first": first,
        "second": second,
        "calls_after_first": calls_after_first,
        "runs_after_first": runs_after_first,
    }
    store.close()


def _outcome(result, label_part: str):
    (outcome,) = [o for o in result.outcomes.values() if label_part in o.job.label]
    return outcome


def test_every_grid_point_is_counted_and_stored(campaign_run):
    store, first = campaign_run["store"], campaign_run["first"]
    assert len(campaign_run["plan"].jobs) == len(WIDTHS) * len(DEPTHS) + 3
    for width in WIDTHS:
        for depth in DEPTHS:
            outcome = _outcome(first, f"mlp(depth={depth},width={width})")
            assert outcome.status == "ok" and outcome.attempts == 1
            doc = store.get(outcome.run_id)
            # Hand-computed: each Linear(w, w) on a batch of 2 does 2·w·w MACs and has
            # w·w + w parameters.
            assert doc["totals"]["macs"] == depth * 2 * width * width
            assert doc["totals"]["params"] == depth * (width * width + width)
            # The same count as profiling the model directly in this process.
            torch.manual_seed(0)
            layers = []
            for _ in range(depth):
                layers += [nn.Linear(width, width), nn.ReLU()]
            from flopwise import profile

            direct = profile(nn.Sequential(*layers), torch.randn(2, width))
            assert doc["totals"]["flops"] == direct.totals.flops
            section = doc["campaign"]
            assert section["job_key"] == outcome.job.key
            assert section["plan_hash"] == campaign_run["plan"].hash
            assert section["status"] == "ok" and section["host"]
            info = store.info(outcome.run_id)
            assert parse_label(info.label) == {
                "name": "unit",
                "plan_hash": campaign_run["plan"].hash,
                "job_key": outcome.job.key,
                "status": "ok",
            }
            assert info.model == f"{outcome.job.model}(depth={depth},width={width})"


def test_raising_job_is_retried_then_recorded_with_its_error(campaign_run):
    first, store = campaign_run["first"], campaign_run["store"]
    outcome = _outcome(first, "mode=raise")
    assert outcome.status == "failed"
    assert outcome.attempts == RETRIES + 1
    assert "this model always fails" in outcome.error
    assert campaign_run["calls_after_first"].count("trouble raise") == RETRIES + 1
    doc = store.get(outcome.run_id)
    assert doc["campaign"]["status"] == "failed"
    assert "this model always fails" in doc["campaign"]["error"]
    assert "Traceback" in doc["campaign"]["traceback"]
    assert store.info(outcome.run_id).label.endswith(":failed")


def test_crashing_worker_fails_only_its_job(campaign_run):
    outcome = _outcome(campaign_run["first"], "mode=crash")
    assert outcome.status == "failed"
    assert outcome.attempts == RETRIES + 1
    assert "worker process died: exit code 3" in outcome.error
    # The other jobs were not lost with the worker: every mlp point succeeded first time.
    assert campaign_run["first"].count("ok") == len(WIDTHS) * len(DEPTHS) + 1


def test_transient_failure_succeeds_on_retry(campaign_run):
    outcome = _outcome(campaign_run["first"], "mode=flaky")
    assert outcome.status == "ok"
    assert outcome.attempts == 2
    assert campaign_run["calls_after_first"].count("trouble flaky") == 2


def test_rerun_skips_stored_jobs_and_retries_failed_ones(campaign_run):
    second, store = campaign_run["second"], campaign_run["store"]
    before = campaign_run["calls_after_first"]
    new_calls = calls(campaign_run["folder"])[len(before) :]
    # Only the two failed jobs ran again (each RETRIES + 1 times); no ok job was redone.
    assert sorted(set(new_calls)) == ["trouble crash", "trouble raise"]
    assert len(new_calls) == 2 * (RETRIES + 1)
    assert second.count("skipped") == len(WIDTHS) * len(DEPTHS) + 1
    assert second.count("failed") == 2
    assert store.count() == campaign_run["runs_after_first"] + 2
    stored = stored_jobs(store, "unit", campaign_run["plan"].hash)
    assert set(stored) == {j.key for j in campaign_run["plan"].jobs}


def test_job_keys_and_plan_hash_are_deterministic(tmp_path):
    data = {"name": "d", "models": ["torchvision:resnet18", "torchvision:alexnet"]}
    a, b = expand_plan(dict(data)), expand_plan(dict(data))
    assert [j.key for j in a.jobs] == [j.key for j in b.jobs]
    assert a.hash == b.hash
    assert len({j.key for j in a.jobs}) == 2
    other = expand_plan({**data, "dtype": "bfloat16"})
    assert other.hash != a.hash
    assert {j.key for j in other.jobs}.isdisjoint({j.key for j in a.jobs})


def test_plan_product_of_models_inputs_actions_devices():
    plan = expand_plan(
        {
            "models": ["torchvision:resnet18", "torchvision:alexnet", "torchvision:resnet18"],
            "inputs": {
                "sweep": {"template": "{batch}x3x{res}x{res}", "batch": [1, 8], "res": [64]}
            },
            "actions": ["count", "measure"],
            "devices": ["cpu", "nvidia-h100"],
        }
    )
    # 2 distinct models × 2 inputs × (1 count on meta + 2 measure devices)
    assert len(plan.jobs) == 2 * 2 * (1 + 2)
    assert {j.inputs for j in plan.jobs} == {("1x3x64x64",), ("8x3x64x64",)}
    assert {(j.action, j.device) for j in plan.jobs} == {
        ("count", "meta"),
        ("measure", "cpu"),
        ("measure", "nvidia-h100"),
    }


def test_globs_expand_over_builtin_lists():
    import torchvision.models as tvm

    plan = expand_plan({"models": ["torchvision:resnet*"], "exclude": ["*wide*"]})
    expected = sorted(f"torchvision:{n}" for n in tvm.list_models() if n.startswith("resnet"))
    assert [j.model for j in plan.jobs] == expected and len(expected) == 5
    timm = pytest.importorskip("timm")
    plan = expand_plan({"models": ["timm:resnet1*"]})
    assert [j.model for j in plan.jobs] == sorted(f"timm:{n}" for n in timm.list_models("resnet1*"))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"models": ["torchvision:alexnet"], "actions": ["fly"]}, "unknown action"),
        ({"models": ["torchvision:nothing_like_this*"]}, "matches no model"),
        ({"models": ["zoo:*"]}, "cannot expand"),
        ({"models": []}, "names no models"),
        ({"models": ["torchvision:alexnet"], "inputs": {"specs": ["1x3xfoo"]}}, "inputs:"),
        ({"models": ["torchvision:alexnet"], "colour": 1}, "unknown plan key"),
        ({"name": "a:b", "models": ["torchvision:alexnet"]}, "no ':'"),
    ],
)
def test_bad_plans_are_refused_clearly(data, message):
    with pytest.raises(PlanError, match=message):
        expand_plan(data)


def test_measure_job_runs_alone_and_stores_a_timing(tmp_path):
    plan_file = write_plan(
        tmp_path,
        """
name = "timed"
actions = ["count", "measure"]
devices = ["cpu"]
[measure]
budget_s = 0.05
hardware = "amd-epyc-9654"
[[factories]]
path = "models.py:mlp"
grid = { width = [4] }
""",
    )
    plan = load_plan(plan_file)
    with Store(tmp_path / "r.sqlite") as store:
        result = run_campaign(plan, store, LocalExecutor(workers=2))
        assert result.count("ok") == 2
        measured = [o for o in result.outcomes.values() if o.job.action == "measure"]
        (outcome,) = measured
        doc = store.get(outcome.run_id)
        assert store.info(outcome.run_id).kind == "measure"
        assert doc["measured"]["latency"]["median_s"] > 0
        assert doc["totals"]["macs"] == 2 * 4 * 4
        from flopwise.campaign.summary import campaign_rows

        (row,) = campaign_rows(store, "timed")
        assert row["latency"] == {"cpu": doc["measured"]["latency"]["median_s"]}
        assert row["macs"] == 2 * 4 * 4 and row["status"] == {"cpu": "ok"}


@pytest.mark.slow
def test_hanging_job_times_out(tmp_path):
    plan_file = write_plan(
        tmp_path,
        """
name = "hang"
retries = 0
timeout_s = 8
[[factories]]
path = "models.py:trouble"
grid = { mode = ["hang", "flaky"] }
""",
    )
    with Store(tmp_path / "r.sqlite") as store:
        result = run_campaign(load_plan(plan_file), store, LocalExecutor(workers=2, timeout_s=8))
        hang = _outcome(result, "mode=hang")
        assert hang.status == "failed" and "timed out after 8 s" in hang.error


def test_cli_dry_run_then_run(tmp_path, capsys):
    from flopwise.cli import main

    plan_file = write_plan(
        tmp_path,
        """
name = "cli"
[[factories]]
path = "models.py:mlp"
grid = { width = [4, 8] }
""",
    )
    db = tmp_path / "cli.sqlite"
    assert main(["campaign", str(plan_file), "--dry-run", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "2 jobs, 0 already stored, 2 to run" in out
    assert out.count("count@meta") == 2
    assert main(["campaign", str(plan_file), "--db", str(db), "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "all" in out and "failed" in out
    assert main(["campaign", str(plan_file), "--dry-run", "--db", str(db)]) == 0
    assert "2 already stored, 0 to run" in capsys.readouterr().out
    with Store(db) as store:
        docs = [store.get(r.id) for r in store.list_runs(limit=None)]
    assert sorted(d["totals"]["macs"] for d in docs) == [2 * 4 * 4, 2 * 8 * 8]
    assert json.dumps(docs)  # JSON-clean
    # A plan with one more point: a new plan hash, so nothing counts as done, but the two
    # jobs it shares with the first plan have known durations.
    plan_file.write_text(plan_file.read_text().replace("[4, 8]", "[4, 8, 16]"))
    assert main(["campaign", str(plan_file), "--dry-run", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "3 jobs, 0 already stored, 3 to run" in out
    assert "2 job(s) timed by earlier runs" in out
    assert main(["report", "--campaign", "cli", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "mlp(width=4)" in out and "mlp(width=8)" in out
    assert " 32 " in out and " 128 " in out  # the MACs, 2·4·4 and 2·8·8


def test_interrupt_keeps_finished_jobs_and_rerun_does_the_rest(tmp_path):
    plan = load_plan(
        write_plan(
            tmp_path,
            """
name = "stop"
[[factories]]
path = "models.py:mlp"
grid = { width = [1, 2, 3, 4, 5] }
""",
        )
    )
    with Store(tmp_path / "r.sqlite") as store:
        first = run_campaign(plan, store, InterruptAfter(LocalExecutor(workers=1), 2))
        assert first.interrupted and first.count("ok") == 2 and first.remaining == 3
        assert store.count() == 2
        before = len(calls(tmp_path))
        second = run_campaign(plan, store, LocalExecutor(workers=1))
        assert second.count("skipped") == 2 and second.count("ok") == 3
        # With one worker nothing else was in flight when the interruption came: exactly the
        # three unfinished jobs ran again.
        assert len(calls(tmp_path)) - before == 3
        assert store.count() == 5


@pytest.mark.parametrize(
    ("kind", "gpu", "matches"),
    [
        ("nvidia-h100", "NVIDIA H100 80GB HBM3", True),
        ("nvidia-h100", "NVIDIA H100", True),
        ("nvidia-h100", "NVIDIA H1000", False),
        ("nvidia-h100", "NVIDIA H200", False),
        ("nvidia-l4", "NVIDIA L4", True),
        ("cuda", "NVIDIA L4", True),
    ],
)
def test_device_kinds_match_gpu_names(kind, gpu, matches):
    from flopwise.campaign.worker import device_kind_of, kind_matches

    assert device_kind_of("NVIDIA H100 80GB HBM3") == "nvidia-h100-80gb-hbm3"
    assert kind_matches(kind, gpu) is matches


def test_proxy_correlations_and_device_agreement_by_hand():
    from flopwise.campaign.summary import device_agreement, proxy_correlations

    def row(flops, cpu, gpu):
        return {
            "flops": flops,
            "macs": None,
            "bytes": None,
            "params": None,
            "latency": {"cpu": cpu, "nvidia-l4": gpu},
        }

    # CPU latency ranks (1, 3, 2) against FLOPs ranks (1, 2, 3): Σd² = 2, so
    # ρ = 1 - 6·2 / (3·(9 - 1)) = 0.5; τ-b = (concordant 2 - discordant 1) / 3 = 1/3.
    # The L4 latencies rank exactly as the FLOPs do (ρ = 1), and against the CPU ρ = 0.5.
    rows = [row(10, 1.0, 0.1), row(20, 3.0, 0.2), row(30, 2.0, 0.3)]
    got = proxy_correlations(rows)
    rho, tau, n = got["cpu"]["flops"]
    assert rho == pytest.approx(0.5) and tau == pytest.approx(1 / 3) and n == 3
    assert got["nvidia-l4"]["flops"][0] == pytest.approx(1.0)
    assert "macs" not in got["cpu"]  # no values, no figure
    ((a, b, agreement, n),) = device_agreement(rows)
    assert (a, b, n) == ("cpu", "nvidia-l4", 3) and agreement == pytest.approx(0.5)
    assert proxy_correlations(rows[:2]) == {}  # two points always correlate: left out


def test_progress_eta_is_the_runs_mean_rate_even_for_minute_long_jobs():
    # Timing jobs take minutes; rich's default 30-second rate window would leave the ETA
    # blank all campaign. Two jobs in 240 s with 8 left: 8 x 120 s = 16 min.
    import io

    from rich.console import Console

    from flopwise.commands.campaign import _Progress

    now = [0.0]
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120)
    with _Progress(console, enabled=True, clock=lambda: now[0]) as progress:
        progress(0, 0, 10)
        for done in (1, 2):
            now[0] += 120.0
            progress(done, 0, 10 - done)
        progress._bar.refresh()
    text = out.getvalue()
    assert "2 done · 0 failed · 8 left" in text
    assert "0:16:00" in text


def test_flops_line_is_the_least_squares_line():
    from flopwise.campaign.runner import _flops_line

    # Points on seconds = 10 + 0.01·FLOPs, then one off the line on each side.
    assert _flops_line([(80, 10.8), (288, 12.88), (1088, 20.88)]) == pytest.approx((10, 0.01))
    a, b = _flops_line([(0, 1.0), (10, 2.0), (20, 5.0)])
    # By hand: mean x 10, mean y 8/3; Sxy = (-10)(-5/3) + 0 + 10(7/3) = 40, Sxx = 200.
    assert (a, b) == pytest.approx((8 / 3 - 0.2 * 10, 0.2))
    assert _flops_line([(80, 1.0), (288, 2.0)]) is None  # too few points
    assert _flops_line([(80, 3.0), (288, 2.0), (1088, 1.0)]) is None  # no upward trend


class _ElapsedByHand(Executor):
    """Delegates to ``inner``; each measure job's stored ``elapsed_s`` becomes
    10 s + 0.01 s per FLOP of its MLP, and the widest one fails (so it is still to do)."""

    def __init__(self, inner: Executor, widest: int) -> None:
        self.inner, self.widest = inner, widest

    def submit(self, job):
        self.inner.submit(job)

    def poll(self, timeout):
        out = []
        for job, res in self.inner.poll(timeout):
            width = dict(job.params)["width"]
            if job.action == "measure" and width == self.widest:
                res = {**res, "ok": False, "error": "RuntimeError: held back"}
                res.pop("document", None)
            elif job.action == "measure":
                res = {**res, "elapsed_s": 10 + 0.01 * (4 * width * width + 4 * width)}
            out.append((job, res))
        return out

    def outstanding(self):
        return self.inner.outstanding()

    def close(self):
        self.inner.close()


def test_dry_run_scales_timings_left_by_their_counted_flops(tmp_path):
    from flopwise.campaign.runner import dry_run
    from flopwise.report.campaign import dry_run_lines

    body = """
name = "scaled"
retries = 0
timeout_s = 120
actions = ["count", "measure"]
[measure]
repeats = 1
hardware = "amd-epyc-9654"
[[factories]]
path = "models.py:mlp"
grid = { width = [4, 8, 16, 32] }
"""
    plan = load_plan(write_plan(tmp_path, body))
    db = tmp_path / "r.sqlite"
    with Store(db) as store:
        executor = _ElapsedByHand(LocalExecutor(workers=1, timeout_s=120), widest=32)
        result = run_campaign(plan, store, executor)
    assert result.count("ok") == 7 and result.count("failed") == 1
    dry = dry_run(plan, db, workers=1)
    (left,) = dry.todo
    assert left.action == "measure" and dict(left.params) == {"width": 32}
    # Width 32 at batch 2: Linear 2·(2·32·32) + bias 2·32 + ReLU 2·32 = 4224 FLOPs, on the
    # line through the three stored timings: 10 + 0.01 · 4224 s.
    assert dry.scaled == {left.key: pytest.approx(52.24)}
    assert dry.estimate_s == pytest.approx(52.24)
    assert "1 job(s) scaled by their counted FLOPs" in dry_run_lines(dry, 10)[-1]


def test_cli_exits_1_when_a_job_failed_and_0_once_nothing_is_left(tmp_path, capsys):
    from flopwise.cli import main

    plan_file = write_plan(
        tmp_path,
        """
name = "exits"
retries = 0
[[factories]]
path = "models.py:mlp"
grid = { width = [4] }
[[factories]]
path = "models.py:trouble"
grid = { mode = ["raise"] }
""",
    )
    db = str(tmp_path / "exits.sqlite")
    assert main(["campaign", str(plan_file), "--db", db, "--workers", "1"]) == 1
    captured = capsys.readouterr()
    assert "ValueError: this model always fails" in captured.out
    assert "1 job(s) failed (stored with their errors)" in captured.err
    # Only the failed job runs again, and fails again.
    assert main(["campaign", str(plan_file), "--db", db, "--workers", "1"]) == 1
    # Without the failing model nothing is left to fail: 0.
    plan_file.write_text(
        plan_file.read_text().split('[[factories]]\npath = "models.py:trouble"')[0]
    )
    assert main(["campaign", str(plan_file), "--db", db, "--workers", "1"]) == 0
