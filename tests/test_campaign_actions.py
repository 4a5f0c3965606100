"""The campaign actions beyond count and measure: energy (a timed run with energy),
memory (the predicted peak) and predict (latency from counts), each stored as a document
the report reads; and a count that falls back to real tensors for a data-dependent op."""

from __future__ import annotations

from pathlib import Path

import pytest

from flopwise.campaign import LocalExecutor, expand_plan, load_plan, run_campaign
from flopwise.campaign.summary import campaign_rows, table_coverage
from flopwise.report.campaign import campaign_tables
from flopwise.store import Store
from test_campaign import write_plan

#: A named profile, so predict never measures this machine's ceilings.
HARDWARE = "amd-epyc-9654"

ACTIONS_PLAN = f"""
name = "actions"
retries = 0
timeout_s = 300
actions = ["count", "energy", "memory", "predict"]
devices = ["cpu"]
[measure]
repeats = 3
hardware = "{HARDWARE}"
grid = "FR"
pue = 1.5
[[factories]]
path = "models.py:mlp"
grid = {{ width = [4] }}
"""

# A model whose forward indexes with a boolean mask (``nonzero`` underneath): its output
# size depends on the values, so it cannot run on meta tensors.
PICKY = """
import torch
from torch import nn


class Picky(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x):
        y = self.lin(x)
        return y[y > 0].sum()


def picky():
    return Picky(), (torch.randn(2, 4),)
"""


def test_actions_expand_by_kind():
    plan = expand_plan(
        {
            "models": ["torchvision:alexnet"],
            "actions": ["count", "measure", "energy", "memory", "predict"],
            "devices": ["cpu", "cuda"],
            "measure": {"repeats": 3, "hardware": HARDWARE},
        }
    )
    where = sorted((j.action, j.device, j.timing) for j in plan.jobs)
    assert where == [
        ("count", "meta", False),
        ("energy", "cpu", True),
        ("energy", "cuda", True),
        ("measure", "cpu", True),
        ("measure", "cuda", True),
        ("memory", "meta", False),
        ("predict", "cpu", False),
        ("predict", "cuda", False),
    ]
    options = {j.action: dict(j.options) for j in plan.jobs}
    assert (
        options["energy"]
        == options["measure"]
        == {
            "budget_s": 2.0,
            "hardware": HARDWARE,
            "repeats": 3,
        }
    )
    assert options["predict"] == {"hardware": HARDWARE} and options["memory"] == {}


def test_grid_and_pue_reach_energy_jobs_only():
    measure = {"repeats": 3, "hardware": HARDWARE, "grid": "FR", "pue": 1.5}
    plan = expand_plan(
        {"models": ["torchvision:alexnet"], "actions": ["measure", "energy"], "measure": measure}
    )
    options = {j.action: dict(j.options) for j in plan.jobs}
    assert options["energy"] == {"budget_s": 2.0, **measure}
    # A measure job's key does not move when only the energy settings change.
    assert options["measure"] == {"budget_s": 2.0, "hardware": HARDWARE, "repeats": 3}


@pytest.mark.parametrize(
    ("measure", "message"),
    [
        ({"grid": "Atlantis"}, "[measure] grid"),
        ({"pue": 0}, "[measure] pue must be a number > 0"),
        ({"pue": "high"}, "[measure] pue must be a number > 0"),
        ({"carbon": 1}, "unknown key(s) carbon"),
    ],
)
def test_bad_energy_settings_are_refused_before_anything_runs(measure, message):
    from flopwise.campaign import PlanError

    with pytest.raises(PlanError) as info:
        expand_plan({"models": ["torchvision:alexnet"], "actions": ["energy"], "measure": measure})
    assert message in str(info.value)


@pytest.fixture(scope="module")
def actions_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("actions")
    plan = load_plan(write_plan(folder, ACTIONS_PLAN))
    with Store(folder / "r.sqlite") as store:
        result = run_campaign(plan, store, LocalExecutor(workers=2, timeout_s=plan.timeout_s))
        docs = {o.job.action: store.get(o.run_id) for o in result.outcomes.values()}
        kinds = {o.job.action: store.info(o.run_id).kind for o in result.outcomes.values()}
        rows = campaign_rows(store, "actions")
    yield {"folder": folder, "result": result, "docs": docs, "kinds": kinds, "rows": rows}


def test_every_action_is_stored_with_its_document(actions_run):
    result, docs = actions_run["result"], actions_run["docs"]
    errors = {o.job.action: o.error for o in result.outcomes.values() if o.status != "ok"}
    assert errors == {} and result.count("ok") == 4
    assert actions_run["kinds"] == {
        "count": "profile",
        "energy": "measure",
        "memory": "profile",
        "predict": "profile",
    }
    assert docs["memory"]["schema"] == "flopwise.memory/1"
    assert docs["predict"]["schema"] == "flopwise.predict/1"
    for action, doc in docs.items():
        assert doc["campaign"]["action"] == action and doc["campaign"]["status"] == "ok"


def test_memory_peak_is_run_memorys_and_right_by_hand(actions_run):
    from flopwise.pipeline import run_memory

    spec = str(actions_run["folder"] / "models.py") + ":mlp"
    direct = run_memory(spec, [], factory_kwargs={"width": 4})
    # By hand, each tensor rounded up to the 64-byte allocator granularity: weight 4·4·4 =
    # 64, bias 16 -> 64, input 2·4·4 = 32 -> 64, the Linear's output 64 and ReLU's 64.
    assert direct.peak_bytes == 5 * 64
    assert actions_run["docs"]["memory"]["peak_bytes"] == direct.peak_bytes
    (row,) = actions_run["rows"]
    assert row["peak_memory"] == 320 and row["memory_status"] == "ok"


def test_predict_figure_is_predict_models(actions_run):
    from flopwise.pipeline import predict_model

    spec = str(actions_run["folder"] / "models.py") + ":mlp"
    direct = predict_model(spec, [], hardware=HARDWARE, device="cpu", factory_kwargs={"width": 4})
    doc = actions_run["docs"]["predict"]
    assert doc["predicted_s"] == pytest.approx(direct.predicted_s, rel=1e-12)
    assert doc["predicted_s"] > 0 and doc["hardware"]["name"] == direct.hardware["name"]
    # 2 FLOPs per multiply-add of the 2x4 @ 4x4 matmul, then 8 bias adds and 8 ReLUs.
    assert doc["flops"] == direct.flops == 2 * (2 * 4 * 4) + 2 * 4 + 2 * 4
    (row,) = actions_run["rows"]
    assert row["predicted"] == {"cpu": doc["predicted_s"]}


def test_energy_says_how_it_was_had(actions_run):
    doc = actions_run["docs"]["energy"]
    energy = doc["energy"]
    assert doc["measured"]["latency"]["median_s"] > 0
    assert energy["joules_per_run"] > 0
    # No power reader (a VM, a container without RAPL): the document says it is estimated
    # and by what model, never a bare number.
    assert energy["measured"] or (energy["method"] == "estimated" and energy["model"])
    (row,) = actions_run["rows"]
    assert row["energy"] == {"cpu": energy["joules_per_run"]}
    assert row["latency"] == {"cpu": doc["measured"]["latency"]["median_s"]}
    assert ("cpu" in row["energy_estimated"]) == (not energy["measured"])


def test_energy_job_uses_the_plans_grid_and_pue(actions_run):
    energy = actions_run["docs"]["energy"]["energy"]
    # France's 56 gCO2e/kWh from the bundled table (2023), times the plan's PUE of 1.5, on
    # the run's joules (3.6e6 J per kWh).
    assert energy["grid_region"] == "FR" and energy["grid_gco2e_per_kwh"] == 56
    assert energy["pue"] == 1.5
    expected = energy["joules_per_run"] / 3.6e6 * 56 * 1.5
    assert energy["gco2e_per_run"] == pytest.approx(expected, rel=1e-9)


def test_report_table_shows_peak_predicted_and_energy(actions_run):
    from rich.console import Console

    (table,) = campaign_tables(actions_run["rows"], "actions")
    console = Console(width=200, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(table)
    text = console.export_text()
    for column in ("peak mem", "latency", "predicted", "energy/run"):
        assert column in text
    assert "320 B" in text


def test_count_falls_back_to_real_tensors_for_data_dependent_ops(tmp_path: Path):
    plan_file = write_plan(
        tmp_path,
        """
name = "picky"
retries = 0
[[factories]]
path = "picky.py:picky"
""",
    )
    (tmp_path / "picky.py").write_text(PICKY)
    plan = load_plan(plan_file)
    with Store(tmp_path / "r.sqlite") as store:
        result = run_campaign(plan, store, LocalExecutor(workers=1))
        (outcome,) = result.outcomes.values()
        assert outcome.status == "ok", outcome.error
        doc = store.get(outcome.run_id)
        (row,) = campaign_rows(store, "picky")
    assert doc["fallback"]["tensors"] == "real" and doc["fallback"]["device"] == "cpu"
    assert "nonzero" in doc["fallback"]["reason"]
    assert doc["mode"]["tensors"] != "meta"
    assert doc["totals"]["macs"] == 2 * 4 * 4
    assert row["fallback"]["tensors"] == "real"


def test_rows_not_yet_timed_still_show_their_counts(actions_run):
    """A campaign stopped before its timing jobs: the device table lists every counted
    row, with ``-`` where nothing ran on the device yet."""
    import copy

    from rich.console import Console

    (done,) = actions_run["rows"]
    waiting = copy.deepcopy(done)
    waiting.update(model="later", jobs={}, latency={}, energy={}, predicted={}, status={})
    (table,) = campaign_tables([done, waiting], "actions")
    assert table.row_count == 2
    console = Console(width=200, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(table)
    (line,) = [t for t in console.export_text().splitlines() if "later" in t]
    cells = [c.strip() for c in line.split("│")[1:-1]]
    # model, inputs, FLOPs, MACs, params, peak mem; then latency, GFLOP/s, predicted, energy
    assert cells[2:6] == ["80", "32", "20", "320 B"]
    assert cells[6:] == ["-", "-", "-", "-"]


PREDICT_ONLY_PLAN = f"""
name = "predict-only"
retries = 0
timeout_s = 300
actions = ["predict"]
devices = ["cpu"]
[measure]
hardware = "{HARDWARE}"
[[factories]]
path = "models.py:mlp"
grid = {{ width = [4, 8] }}
"""


def test_a_predict_only_plan_reports_the_flops_its_predictions_counted(tmp_path: Path):
    """The predict documents carry the model's FLOPs and bytes: a plan with no count job
    still shows them (MACs and params, which they do not carry, stay '-')."""
    from rich.console import Console

    plan = load_plan(write_plan(tmp_path, PREDICT_ONLY_PLAN))
    with Store(tmp_path / "r.sqlite") as store:
        result = run_campaign(plan, store, LocalExecutor(workers=1, timeout_s=plan.timeout_s))
        assert result.count("ok") == 2, [o.error for o in result.outcomes.values()]
        rows = campaign_rows(store, "predict-only")
    # width w, batch 2: 2 FLOPs per multiply-add of the 2xw @ wxw matmul, w bias adds and
    # w ReLUs per sample. Bytes: float32 reads of x, weight, bias and writes of each output.
    for row, w in zip(rows, (4, 8), strict=True):
        assert row["flops"] == 2 * (2 * w * w) + 2 * w + 2 * w
        assert row["bytes"] == 4 * ((2 * w + w * w + w + 2 * w) + (2 * w + 2 * w))
        assert row["macs"] is None and row["params"] is None
    (table,) = campaign_tables(rows, "predict-only", table_coverage(rows))
    console = Console(width=200, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(table)
    text = console.export_text()
    lines = {w: next(t for t in text.splitlines() if f"width={w}" in t) for w in (4, 8)}
    cells = {w: [c.strip() for c in line.split("│")[1:-1]] for w, line in lines.items()}
    # model, inputs, FLOPs, MACs, params, predicted
    assert cells[4][2:5] == ["80", "-", "-"] and cells[8][2] == "288"
    assert "2 of 2 rows counted" in " ".join(text.split())
