"""A plan a campaign cannot run is refused when it loads: one ``error:`` line and exit
status 2, before any job runs or the results database is even created. And the reports of a
campaign say what is missing instead of showing nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from flopwise.campaign import PlanError, expand_plan, load_plan

FACTORY = """
import torch
from torch import nn


def mlp(width=4, depth=1):
    layers = []
    for _ in range(depth):
        layers += [nn.Linear(width, width), nn.ReLU()]
    return nn.Sequential(*layers), (torch.randn(2, width),)


def needs(width):
    return nn.Linear(width, width), (torch.randn(1, width),)


def anything(**kwargs):
    return nn.Linear(3, 3), (torch.randn(1, 3),)


NOT_A_FUNCTION = 3
"""

MODEL = 'models = ["torchvision:alexnet"]\n'

# (plan body, words the one error line must hold)
BAD_PLANS = [
    ('name = "x\n', "not valid TOML"),
    ('modelz = ["torchvision:alexnet"]\n', "unknown plan key(s) modelz"),
    ('models = ["torchvision:nomatch*"]\n', "matches no model"),
    (MODEL + '[inputs]\nspecs = ["1xfoox3"]\n', "dimension 'foo' is not an integer"),
    (MODEL + 'actions = ["bench"]\n', "unknown action 'bench'"),
    (MODEL + "actions = []\n", "actions = [] leaves nothing to run"),
    # devices: cpu, cuda or a GPU kind (lower case, '-' between words); nothing else
    (MODEL + 'actions = ["measure"]\ndevices = ["tpu"]\n', "device 'tpu'"),
    (MODEL + 'actions = ["measure"]\ndevices = ["cuda:0"]\n', "device 'cuda:0'"),
    (MODEL + 'actions = ["measure"]\ndevices = ["NVIDIA H100"]\n', "nvidia-h100"),
    (MODEL + 'actions = ["measure"]\ndevices = [3]\n', "devices must be"),
    # factories: the file, its import and the function are checked on the driver
    ('[[factories]]\npath = "nothere.py:make"\n', "model file not found"),
    ('[[factories]]\npath = "raises.py:make"\n', "import-time failure"),
    ('[[factories]]\npath = "models.py:mpl"\n', "no factory 'mpl'; did you mean mlp"),
    ('[[factories]]\npath = "models.py:NOT_A_FUNCTION"\n', "not callable"),
    ('[[factories]]\npath = "models.py:mlp"\ngrid = { width = 4 }\n', "non-empty lists"),
    ('[[factories]]\npath = "models.py:mlp"\ngrid = { widht = [4] }\n', "widht"),
    ('[[factories]]\npath = "models.py:needs"\n', "width"),
    ('[[factories]]\npath = "no_such_package_xyz.models:make"\n', "no_such_package_xyz"),
    # a model name that no source knows
    ('models = ["torchvision:resnet1800"]\n', "unknown model 'torchvision:resnet1800'"),
    ('models = ["zoo:resnet18"]\n', "unknown model source 'zoo:'"),
    # settings of the wrong type or range
    (MODEL + 'dtype = "float33"\n', "unknown dtype 'float33'"),
    (MODEL + 'retries = "two"\n', "retries must be an integer"),
    (MODEL + "retries = -1\n", "retries must be"),
    (MODEL + 'timeout_s = "long"\n', "timeout_s must be"),
    (MODEL + "timeout_s = -5\n", "timeout_s must be"),
    (MODEL + 'workers = "many"\n', "workers must be"),
    (MODEL + "workers = 0\n", "workers must be"),
    (MODEL + 'name = ""\n', "campaign name"),
    (MODEL + '[measure]\nbudget_s = "x"\n', "budget_s must be"),
    (MODEL + "[measure]\nbudget_s = -1\n", "budget_s must be"),
    (MODEL + "[measure]\nrepeats = -1\n", "repeats must be"),
    (MODEL + "[measure]\nrepeats = 1.5\n", "repeats must be"),
    (MODEL + 'actions = ["measure"]\n[measure]\nhardware = "nosuchhw"\n', "nosuchhw"),
    # input templates that Python's str.format cannot fill
    (MODEL + '[inputs.sweep]\ntemplate = "{0}x3"\nbatch = [1]\n', "template"),
    (MODEL + '[inputs.sweep]\ntemplate = "{batch!z}x3"\nbatch = [1]\n', "template"),
    (MODEL + "[inputs]\nspecs = [[]]\n", "inputs.specs"),
]


def _write(folder: Path, body: str) -> Path:
    (folder / "models.py").write_text(FACTORY)
    (folder / "raises.py").write_text('raise RuntimeError("import-time failure")\n')
    plan = folder / "plan.toml"
    plan.write_text(body)
    return plan


@pytest.mark.parametrize(("body", "words"), BAD_PLANS)
def test_bad_plan_is_one_line_and_exit_2_before_anything_runs(tmp_path, capsys, body, words):
    from flopwise.cli import main

    plan = _write(tmp_path, body)
    db = tmp_path / "results.sqlite"
    assert main(["campaign", str(plan), "--db", str(db), "--workers", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    assert words in err, err
    assert not db.exists()  # nothing ran: not even the database was created
    assert main(["campaign", str(plan), "--db", str(db), "--dry-run"]) == 2


def test_plan_file_that_is_not_utf8_is_a_usage_error(tmp_path, capsys):
    from flopwise.cli import main

    plan = tmp_path / "plan.toml"
    plan.write_bytes(b'name = "\xff"\n')
    assert main(["campaign", str(plan), "--dry-run"]) == 2
    assert "UTF-8" in capsys.readouterr().err


@pytest.mark.parametrize(
    "devices", [["cpu"], ["cuda"], ["nvidia-h100"], ["nvidia-l4", "amd-instinct-mi300x"]]
)
def test_good_devices_are_kept(devices):
    plan = expand_plan(
        {"models": ["torchvision:alexnet"], "actions": ["measure"], "devices": devices}
    )
    assert [j.device for j in plan.jobs] == devices


def test_one_spec_string_is_one_input_set():
    plan = expand_plan({"models": ["torchvision:alexnet"], "inputs": {"specs": "2x3x64x64"}})
    assert [j.inputs for j in plan.jobs] == [("2x3x64x64",)]


def test_factory_grid_with_kwargs_and_defaults_loads(tmp_path):
    plan = load_plan(
        _write(
            tmp_path,
            '[[factories]]\npath = "models.py:anything"\ngrid = { colour = ["red"] }\n'
            '[[factories]]\npath = "models.py:needs"\ngrid = { width = [2, 3] }\n'
            '[[factories]]\npath = "models.py:mlp"\n',
        )
    )
    assert [j.label.rpartition("/")[2] for j in plan.jobs] == [
        "models.py:anything(colour=red)",
        "models.py:needs(width=2)",
        "models.py:needs(width=3)",
        "models.py:mlp",
    ]


def test_bad_plan_messages_name_the_setting():
    with pytest.raises(PlanError, match="workers must be an integer >= 1"):
        expand_plan({"models": ["torchvision:alexnet"], "workers": 0})


# -- reports of campaigns ------------------------------------------------------------------


class AnswerAtOnce:
    """An executor that answers each job at once with ``results(job)``."""

    def __init__(self, results) -> None:
        self.results, self.queue = results, []

    def submit(self, job) -> None:
        self.queue.append(job)

    def poll(self, timeout: float):
        done, self.queue = [(j, self.results(j)) for j in self.queue], []
        return done

    def outstanding(self) -> int:
        return len(self.queue)

    def close(self) -> None:
        self.queue = []


def _count_doc(job) -> dict:
    flops = {"torchvision:alexnet": 1000, "torchvision:resnet18": 2000}[job.model]
    doc = {
        "schema": "flopwise.profile/1",
        "model": job.model,
        "totals": {"flops": flops, "macs": flops // 2, "params": 7},
    }
    return {"ok": True, "document": doc, "host": "fake-host", "elapsed_s": 0.01}


def _counts_campaign(db: Path, name: str = "zoo") -> None:
    from flopwise.campaign import run_campaign
    from flopwise.store import Store

    plan = expand_plan({"name": name, "models": ["torchvision:alexnet", "torchvision:resnet18"]})
    with Store(db) as store:
        run_campaign(plan, store, AnswerAtOnce(_count_doc))


def test_report_of_an_unknown_campaign_names_the_known_ones(tmp_path, capsys):
    from flopwise.cli import main

    db = tmp_path / "r.sqlite"
    _counts_campaign(db, "zoo")
    _counts_campaign(db, "other")
    assert main(["report", "--campaign", "zo", "--db", str(db)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
    assert "no campaign 'zo'" in err and "known: other, zoo" in err
    args = ["predict", "--calibrate", "--from-campaign", "zo", "--db", str(db)]
    assert main([*args, "--calibration", str(tmp_path / "cal.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert "no campaign 'zo'" in err and "known: other, zoo" in err


def test_report_with_no_campaign_stored_says_so(tmp_path, capsys):
    from flopwise.cli import main
    from flopwise.store import Store

    db = tmp_path / "r.sqlite"
    Store(db).close()
    assert main(["report", "--campaign", "zoo", "--db", str(db)]) == 2
    assert "no campaign has been stored in" in capsys.readouterr().err


class StopAfter(AnswerAtOnce):
    """Answers ``n`` jobs, then Ctrl-C (the campaign stops; the rest is not stored)."""

    def __init__(self, results, n: int) -> None:
        super().__init__(results)
        self.left = n

    def poll(self, timeout: float):
        if self.left <= 0:
            raise KeyboardInterrupt
        take, self.queue = self.queue[: self.left], self.queue[self.left :]
        self.left -= len(take)
        return [(j, self.results(j)) for j in take]


# Two models; on the CPU alexnet takes 0.5 s (4 GFLOPs: 8 GFLOP/s), resnet18's timing fails,
# and alexnet's energy is 62.5 µJ per run, estimated.
FLOPS = {"torchvision:alexnet": 4_000_000_000, "torchvision:resnet18": 8_000_000_000}


def _results(job) -> dict:
    base = {"host": "fake-host", "elapsed_s": 0.01}
    if job.model == "torchvision:resnet18" and job.action in ("measure", "energy"):
        return {**base, "ok": False, "error": "RuntimeError: out of memory"}
    doc = {
        "schema": "flopwise.profile/1",
        "model": job.model,
        "totals": {"flops": FLOPS[job.model], "macs": FLOPS[job.model] // 2, "params": 7},
    }
    if job.action == "measure":
        doc["measured"] = {"latency": {"median_s": 0.5, "trustworthy": True}}
    if job.action == "energy":
        doc["measured"] = {"latency": {"median_s": 0.5, "trustworthy": True}}
        doc["energy"] = {"joules_per_run": 62.5e-6, "measured": False, "method": "estimated"}
    return {**base, "ok": True, "document": doc}


def _report(tmp_path, capsys, executor, actions=("count", "measure")) -> str:
    from flopwise.campaign import run_campaign
    from flopwise.cli import main
    from flopwise.store import Store

    plan = expand_plan(
        {
            "name": "zoo",
            "retries": 0,
            "models": list(FLOPS),
            "actions": list(actions),
            "devices": ["cpu"],
        }
    )
    db = tmp_path / "r.sqlite"
    with Store(db) as store:
        run_campaign(plan, store, executor)
    capsys.readouterr()
    assert main(["report", "--campaign", "zoo", "--db", str(db)]) == 0
    return capsys.readouterr().out


def _flat(text: str) -> str:
    return " ".join(text.split())  # rich wraps captions to the table's width


def test_report_says_how_much_of_the_plan_is_stored(tmp_path, capsys):
    # 2 models × (count + measure on cpu) = 4 jobs; stopped after 3 results.
    out = _report(tmp_path, capsys, StopAfter(_results, 3))
    first = out.splitlines()[0]
    # Plan order: alexnet count, measure, resnet18 count (stored), resnet18 measure (not).
    assert "campaign zoo" in first and "3 of 4 jobs stored: 3 ok, 0 failed; 1 not run yet" in first


def test_every_report_table_states_its_units_and_coverage(tmp_path, capsys):
    out = _flat(_report(tmp_path, capsys, AnswerAtOnce(_results)))
    assert "4 of 4 jobs stored: 3 ok, 1 failed" in out
    # The device table: alexnet 0.5 s, 4 GFLOPs / 0.5 s = 8 GFLOP/s; resnet18 failed.
    assert "500 ms" in out and " 8 " in out
    # what a FLOP count and a latency are per
    assert "per forward pass: FLOPs, MACs, latency (median)" in out
    assert "GFLOP/s = FLOPs ÷ latency" in out
    assert "1 of 2 rows timed on cpu (1 failed)" in out
    assert "2 of 2 rows counted" in out


def test_report_counts_only_table_states_units_and_coverage(tmp_path, capsys):
    out = _flat(_report(tmp_path, capsys, AnswerAtOnce(_results), actions=("count",)))
    assert "campaign zoo · counts" in out
    assert "4 G" in out and "8 G" in out  # FLOPs, not zeros
    assert "2 of 2 rows counted" in out and "per forward pass" in out


def test_energy_per_run_is_shown_with_an_si_prefix(tmp_path, capsys):
    out = _flat(_report(tmp_path, capsys, AnswerAtOnce(_results), actions=("count", "energy")))
    assert "62.5 µJ~" in out  # was 6.25e-05 J~
    assert "e-05" not in out
    assert "latency (median), energy/run; GFLOP/s" in out


def test_calibrating_from_a_campaign_without_timings_says_so(tmp_path, capsys):
    from flopwise.cli import main

    db = tmp_path / "r.sqlite"
    _counts_campaign(db, "zoo")
    args = ["predict", "--calibrate", "--from-campaign", "zoo", "--db", str(db)]
    assert main([*args, "--calibration", str(tmp_path / "cal.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
    assert "campaign 'zoo' has no stored timings" in err
    assert not (tmp_path / "cal.json").exists()


def test_table_titles_do_not_wrap(tmp_path):
    """A title wider than its table (a long campaign name, ``(interrupted)``) widens the
    table instead of breaking onto a second line."""
    from rich.console import Console

    from flopwise.campaign import run_campaign
    from flopwise.campaign.summary import summary_counts
    from flopwise.report.campaign import summary_table
    from flopwise.store import Store

    name = "a-campaign-with-a-rather-long-name"
    plan = expand_plan({"name": name, "models": ["torchvision:alexnet", "torchvision:resnet18"]})
    with Store(tmp_path / "r.sqlite") as store:
        result = run_campaign(plan, store, StopAfter(_count_doc, 1))
    assert result.interrupted
    console = Console(width=200, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(summary_table(result, summary_counts(result)))
    first = console.export_text().splitlines()[0]
    assert first.startswith(f"campaign {name} · plan {plan.hash} · ")
    assert first.rstrip().endswith("(interrupted)")


def test_grid_points_are_listed_in_numeric_order(tmp_path):
    """width=4 before width=16 (a text sort put 16 first)."""
    from flopwise.campaign import run_campaign
    from flopwise.campaign.summary import campaign_rows
    from flopwise.store import Store

    plan = load_plan(
        _write(tmp_path, '[[factories]]\npath = "models.py:mlp"\ngrid = { width = [16, 4, 128] }\n')
    )

    def results(job) -> dict:
        doc = {"schema": "flopwise.profile/1", "model": job.label, "totals": {"flops": 1}}
        return {"ok": True, "document": doc, "host": "fake-host", "elapsed_s": 0.01}

    with Store(tmp_path / "r.sqlite") as store:
        run_campaign(plan, store, AnswerAtOnce(results))
        rows = campaign_rows(store, plan.name)
    assert [r["model"].rpartition(":")[2] for r in rows] == [
        "mlp(width=4)",
        "mlp(width=16)",
        "mlp(width=128)",
    ]


def test_calibration_takes_one_timing_per_model_measure_before_energy(tmp_path):
    """A plan with measure and energy times each model twice; a calibration takes one
    sample per model × inputs × device (the measure job's, as the report's latency does),
    and an energy job's timing where no measure job timed that model."""
    from flopwise.campaign import run_campaign
    from flopwise.campaign.summary import campaign_kinds
    from flopwise.store import Store

    def results(job) -> dict:
        seconds = {"measure": 0.5, "energy": 0.7}[job.action]
        doc = {"schema": "flopwise.profile/1", "model": job.model, "totals": {"flops": 1}}
        doc["measured"] = {"latency": {"median_s": seconds}}
        return {"ok": True, "document": doc, "host": "fake-host", "elapsed_s": 0.01}

    db = tmp_path / "r.sqlite"
    both = {"name": "t", "models": list(FLOPS), "actions": ["measure", "energy"]}
    energy_only = {"name": "e", "models": list(FLOPS), "actions": ["energy"]}
    with Store(db) as store:
        run_campaign(expand_plan(both), store, AnswerAtOnce(results))
        run_campaign(expand_plan(energy_only), store, AnswerAtOnce(results))
        actions = {i.id: store.get(i.id)["campaign"]["action"] for i in store.list_runs(limit=None)}
    (ids,) = campaign_kinds("t", db).values()
    assert sorted(actions[i] for i in ids) == ["measure", "measure"]  # was 4 samples
    (ids,) = campaign_kinds("e", db).values()
    assert sorted(actions[i] for i in ids) == ["energy", "energy"]


def _die_at_start(conn) -> None:
    """A worker that exits before it is ready (as one does when the driver's main module
    cannot be imported again in a spawned process, a script piped to ``python -``)."""
    import os

    os._exit(3)


class DyingWorkers(__import__("flopwise.campaign", fromlist=["LocalExecutor"]).LocalExecutor):
    worker_target = staticmethod(_die_at_start)


def test_a_worker_that_dies_while_starting_is_reported_at_once(tmp_path):
    """It used to be reported only after the 300 s start-up allowance."""
    from flopwise.campaign import run_campaign
    from flopwise.errors import FlopwiseError
    from flopwise.store import Store

    plan = expand_plan({"name": "dies", "models": ["torchvision:alexnet"]})
    executor = DyingWorkers(workers=1)
    executor.ready_timeout_s = 3600  # were the death missed, the test would hang, not pass
    with Store(tmp_path / "r.sqlite") as store, pytest.raises(FlopwiseError) as info:
        run_campaign(plan, store, executor)
    message = str(info.value)
    assert "exited with status 3 before it was ready" in message


def test_report_lists_the_failed_jobs_with_their_errors(tmp_path, capsys):
    out = _report(tmp_path, capsys, AnswerAtOnce(_results))
    assert "campaign zoo · failed jobs" in out
    (line,) = [t for t in out.splitlines() if "RuntimeError: out of memory" in t]
    cells = [c.strip() for c in line.split("│")[1:-1]]
    assert cells == ["torchvision:resnet18", "(default)", "measure@cpu", "1", cells[-1]]
    assert cells[-1] == "RuntimeError: out of memory"


def test_a_plan_that_only_times_still_shows_the_counts_its_profiles_carry(tmp_path, capsys):
    """A measure job's document is a whole profile (``flopwise profile --measure``): its
    FLOPs fill the row when the plan has no count action (they were ``-``, GFLOP/s too,
    and the Pareto front against FLOPs was empty)."""
    out = _report(tmp_path, capsys, AnswerAtOnce(_results), actions=("measure",))
    line = next(t for t in out.splitlines() if "torchvision:alexnet" in t)  # the cpu table
    cells = [c.strip() for c in line.split("│")[1:-1]]
    assert cells[2:] == ["4 G", "2 G", "7", "500 ms", "8"]
    assert "2 of 2 rows counted" not in _flat(out)  # resnet18's only job failed: no count
    assert "1 of 2 rows counted" in _flat(out)
    assert "1 of 1 model × input rows on the front" in _flat(out)


def test_an_accuracy_key_that_names_no_model_is_refused():
    """A typo in [accuracy] silently left a model out of the Pareto front."""
    data = {
        "models": ["torchvision:alexnet", "torchvision:resnet18"],
        "accuracy": {"alexnet": 56.5, "resnet181": 69.8},
    }
    with pytest.raises(PlanError, match=r"\[accuracy\] 'resnet181' names no model.*resnet18"):
        expand_plan(data)
    data["accuracy"] = {"alexnet": 56.5, "torchvision:resnet18": 69.8}
    assert expand_plan(data).accuracy == data["accuracy"]


def test_dry_run_estimate_does_not_split_one_job_over_workers():
    """One 4 s count job takes 4 s with 2 workers, not 2 s; 3 take 8 s (two rounds)."""
    from flopwise.campaign.plan import ESTIMATE_COUNT_S

    one = expand_plan({"models": ["torchvision:alexnet"]})
    assert one.estimate_s(workers=2) == ESTIMATE_COUNT_S
    three = expand_plan(
        {"models": ["torchvision:alexnet", "torchvision:vgg11", "torchvision:resnet18"]}
    )
    assert three.estimate_s(workers=2) == 2 * ESTIMATE_COUNT_S
    assert three.estimate_s(workers=1) == 3 * ESTIMATE_COUNT_S


def test_a_plan_that_never_times_has_no_latency_column(tmp_path, capsys):
    """predict (and count) only: the cpu table shows the predicted latency, without a
    latency column of '-' and a '0 of 2 rows timed (2 not timed yet)' that never fills."""

    def results(job) -> dict:
        if job.action == "predict":
            doc = {
                "schema": "flopwise.predict/1",
                "predicted_s": 1.5e-3,
                "method": "roofline floor",
            }
            return {"ok": True, "document": doc, "host": "fake-host", "elapsed_s": 0.01}
        return _results(job)

    out = _report(tmp_path, capsys, AnswerAtOnce(results), actions=("count", "predict"))
    header = next(t for t in out.splitlines() if "model" in t and "inputs" in t)
    assert "predicted" in header and "latency" not in header and "GFLOP/s" not in header
    line = next(t for t in out.splitlines() if "torchvision:alexnet" in t)
    assert [c.strip() for c in line.split("│")[1:-1]][2:] == ["4 G", "2 G", "7", "1.5 ms"]
    flat = _flat(out)
    assert "timed on" not in flat and "per forward pass: FLOPs, MACs, predicted latency" in flat


def test_the_noisy_mark_follows_the_latency_shown(tmp_path, capsys):
    """Measure's trustworthy 500 ms is shown; the energy job's noisy timing (not shown) must
    not put a '*' on it."""

    def results(job) -> dict:
        res = _results(job)
        if job.action == "energy" and res["ok"]:
            res["document"]["measured"]["latency"]["trustworthy"] = False
        return res

    out = _report(tmp_path, capsys, AnswerAtOnce(results), actions=("count", "measure", "energy"))
    line = next(t for t in out.splitlines() if "torchvision:alexnet" in t)
    assert "500 ms " in line and "500 ms*" not in line
    assert "spread above the trust threshold" not in out
