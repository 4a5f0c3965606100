"""Campaigns on a local Ray cluster started in the test (offline): a 20-job plan completes,
a raising job and a crashing worker are recorded with their errors, an interrupted run
keeps what finished and the re-run does only the rest, and the local executor stores the
same jobs, counts and statuses as Ray."""

from __future__ import annotations

from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

import flopwise  # noqa: E402
from flopwise.campaign import (  # noqa: E402
    LocalExecutor,
    RayExecutor,
    load_plan,
    run_campaign,
)
from flopwise.store import Store  # noqa: E402
from test_campaign import InterruptAfter, calls, write_plan  # noqa: E402

pytestmark = pytest.mark.slow

PLAN = """
name = "ray20"
retries = 1
timeout_s = 300
[[factories]]
path = "models.py:mlp"
grid = { width = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17] }
[[factories]]
path = "models.py:trouble"
grid = { mode = ["raise", "crash", "flaky"] }
"""


@pytest.fixture(scope="module")
def cluster():
    # Workers import the flopwise under test, wherever it lives.
    src = str(Path(flopwise.__file__).resolve().parents[1])
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": src}},
    )
    yield
    ray.shutdown()


def _table(store: Store) -> dict[str, tuple]:
    """job key -> (model, status, flops, macs, params) of the newest run of each job."""
    out: dict[str, tuple] = {}
    for info in store.list_runs(limit=None):  # newest first
        doc = store.get(info.id)
        key = doc["campaign"]["job_key"]
        if key not in out:
            totals = doc.get("totals") or {}
            out[key] = (
                info.model,
                doc["campaign"]["status"],
                totals.get("flops"),
                totals.get("macs"),
                totals.get("params"),
            )
    return out


def test_twenty_jobs_on_ray_match_the_local_executor(cluster, tmp_path):
    plan_file = write_plan(tmp_path, PLAN)
    plan = load_plan(plan_file)
    assert len(plan.jobs) == 20
    with Store(tmp_path / "ray.sqlite") as ray_store:
        result = run_campaign(plan, ray_store, RayExecutor(address=None, timeout_s=300))
        assert not result.interrupted
        assert result.count("ok") == 18 and result.count("failed") == 2
        raised = [o for o in result.outcomes.values() if "mode=raise" in o.job.label][0]
        assert "this model always fails" in raised.error and raised.attempts == 2
        crashed = [o for o in result.outcomes.values() if "mode=crash" in o.job.label][0]
        assert crashed.status == "failed" and crashed.attempts == 2
        assert "Error" in crashed.error  # Ray's worker-crash error, by name
        ray_table = _table(ray_store)
    (tmp_path / "flaky.marker").unlink()  # the local run meets the same transient failure
    with Store(tmp_path / "local.sqlite") as local_store:
        run_campaign(plan, local_store, LocalExecutor(workers=2, timeout_s=300))
        local_table = _table(local_store)
    assert set(ray_table) == {j.key for j in plan.jobs}
    assert local_table == ray_table
    # Counts are right, not just equal: Linear(w, w) on a batch of 2 is 2·w·w MACs.
    for model, status, _, macs, params in ray_table.values():
        if "mlp(width=" in model:
            width = int(model.split("width=")[1].rstrip(")"))
            assert status == "ok" and macs == 2 * width * width and params == width * width + width


def test_interrupted_ray_campaign_keeps_finished_jobs_and_resumes(cluster, tmp_path):
    plan_file = write_plan(
        tmp_path,
        """
name = "resume"
[[factories]]
path = "models.py:mlp"
grid = { width = [1, 2, 3, 4, 5, 6, 7, 8] }
""",
    )
    plan = load_plan(plan_file)
    with Store(tmp_path / "r.sqlite") as store:
        first = run_campaign(plan, store, InterruptAfter(RayExecutor(address=None), 3))
        assert first.interrupted
        finished = {k for k, o in first.outcomes.items() if o.status == "ok"}
        assert len(finished) >= 3 and store.count() == len(finished)
        ran_before = len(calls(tmp_path))
        second = run_campaign(plan, store, RayExecutor(address=None))
        assert not second.interrupted
        assert {k for k, o in second.outcomes.items() if o.status == "skipped"} == finished
        assert second.count("ok") == len(plan.jobs) - len(finished)
        assert store.count() == len(plan.jobs)
        # Only the unfinished jobs ran again (jobs cancelled mid-flight may have started).
        assert len(calls(tmp_path)) - ran_before >= len(plan.jobs) - len(finished)


def test_task_resources_follow_the_job():
    """Counting jobs take one CPU; timing jobs every CPU of the smallest node able to run
    them (so they are alone there), a GPU, and the custom resource of their device kind."""
    from flopwise.campaign import Job

    executor = RayExecutor.__new__(RayExecutor)  # no cluster: only the placement rules
    executor._nodes = [
        {"CPU": 16.0, "GPU": 1.0, "device:nvidia-h100": 1.0},
        {"CPU": 8.0, "GPU": 2.0, "device:nvidia-l4": 2.0},
        {"CPU": 4.0},
    ]

    def job(action, device):
        return Job(model="m", params=(), inputs=(), action=action, device=device)

    assert executor.options_for(job("count", "meta")) == {"num_cpus": 1}
    assert executor.options_for(job("measure", "cpu")) == {"num_cpus": 4}
    assert executor.options_for(job("measure", "cuda")) == {"num_cpus": 8, "num_gpus": 1}
    assert executor.options_for(job("measure", "nvidia-h100")) == {
        "num_cpus": 16,
        "num_gpus": 1,
        "resources": {"device:nvidia-h100": 1},
    }
    refused = executor.options_for(job("measure", "nvidia-a100"))
    assert isinstance(refused, str) and "device:nvidia-a100" in refused
    # energy times like measure; memory is counted on meta tensors; predict prices on the
    # device kind's calibration, so it needs that node, though not the whole of it.
    assert executor.options_for(job("energy", "cpu")) == {"num_cpus": 4}
    assert executor.options_for(job("memory", "meta")) == {"num_cpus": 1}
    assert executor.options_for(job("predict", "cpu")) == {"num_cpus": 1}
    assert executor.options_for(job("predict", "nvidia-l4")) == {
        "num_cpus": 1,
        "num_gpus": 1,
        "resources": {"device:nvidia-l4": 1},
    }


def test_energy_memory_and_predict_run_on_ray(cluster, tmp_path):
    """The three actions beyond count and measure run as Ray tasks and store the same
    documents as the local executor: the same peak, the same prediction, energy read or
    estimated (and saying which)."""
    from test_campaign_actions import ACTIONS_PLAN

    plan = load_plan(write_plan(tmp_path, ACTIONS_PLAN))
    with Store(tmp_path / "ray.sqlite") as store:
        result = run_campaign(plan, store, RayExecutor(address=None, timeout_s=300))
        errors = {o.job.action: o.error for o in result.outcomes.values() if o.status != "ok"}
        assert errors == {} and result.count("ok") == 4
        ray_docs = {o.job.action: store.get(o.run_id) for o in result.outcomes.values()}
    with Store(tmp_path / "local.sqlite") as store:
        result = run_campaign(plan, store, LocalExecutor(workers=2, timeout_s=300))
        local_docs = {o.job.action: store.get(o.run_id) for o in result.outcomes.values()}
    assert ray_docs["memory"]["peak_bytes"] == local_docs["memory"]["peak_bytes"] == 320
    assert ray_docs["predict"]["predicted_s"] == local_docs["predict"]["predicted_s"] > 0
    energy = ray_docs["energy"]["energy"]
    assert energy["joules_per_run"] > 0
    assert energy["measured"] or energy["method"] == "estimated"
    assert ray_docs["count"]["totals"] == local_docs["count"]["totals"]
