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
