"""Campaign plans: a TOML file that names models × inputs × actions × devices.

A plan expands, on the driver, into a list of :class:`Job`. Each job has a deterministic
key (a hash of what the job computes), and the plan a hash of all its jobs and settings:
re-running the same plan finds the jobs already stored under the same plan hash and job
key and skips them. See ``docs/campaigns.md`` for the format.
"""

from __future__ import annotations

import fnmatch
import hashlib
import itertools
import json
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flopwise.errors import FlopwiseError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

#: What a campaign job can do: ``count`` (FLOPs/MACs/bytes on meta tensors), ``measure``
#: (a timed run), ``energy`` (a timed run with energy), ``memory`` (the predicted peak and
#: its breakdown) and ``predict`` (latency predicted from counts, nothing timed).
SUPPORTED_ACTIONS = ("count", "measure", "energy", "memory", "predict")
#: Actions the issue names that campaigns do not run yet (refused with a clear message).
PLANNED_ACTIONS: tuple[str, ...] = ()

#: Timing actions run alone (one at a time locally, alone on their node on Ray).
TIMING_ACTIONS = frozenset({"measure", "energy"})
#: Actions whose result does not depend on the device: one job each, on meta tensors.
DEVICE_FREE_ACTIONS = frozenset({"count", "memory"})
#: The ``[measure]`` keys each action's jobs carry (and so their key depends on).
ACTION_OPTIONS: dict[str, tuple[str, ...]] = {
    "measure": ("budget_s", "hardware", "repeats"),
    "energy": ("budget_s", "grid", "hardware", "pue", "repeats"),
    "predict": ("hardware",),
}


def job_devices(action: str, devices: list[str]) -> list[str]:
    """The device kinds ``action`` runs on: :data:`COUNT_DEVICE` alone for a device-free
    action, else every device of the plan."""
    return [COUNT_DEVICE] if action in DEVICE_FREE_ACTIONS else devices


def action_options(
    action: str, measure_options: tuple[tuple[str, Any], ...]
) -> tuple[tuple[str, Any], ...]:
    """The plan's ``[measure]`` options that ``action`` uses (:data:`ACTION_OPTIONS`)."""
    wanted = ACTION_OPTIONS.get(action, ())
    return tuple((k, v) for k, v in measure_options if k in wanted)


#: Rough seconds per job for ``--dry-run`` when nothing better is known: building a model
#: and counting it on meta tensors, and building + warm-up + the timing budget.
ESTIMATE_COUNT_S = 4.0
ESTIMATE_MEASURE_OVERHEAD_S = 15.0

# The device a counting job runs on: counts do not depend on where they run (DESIGN.md:
# "counting semantics beat kernels"), so a count is one job per model × input, on meta
# tensors, whatever devices the plan lists.
COUNT_DEVICE = "meta"

_PLAN_KEYS = {
    "name",
    "models",
    "exclude",
    "factories",
    "inputs",
    "actions",
    "devices",
    "dtype",
    "retries",
    "timeout_s",
    "workers",
    "measure",
    "accuracy",
}


class PlanError(FlopwiseError):
    """A campaign plan that cannot be read or expanded (the message says where)."""


@dataclass(frozen=True)
class Job:
    """One unit of work: a model (with factory parameters), an input set, an action and a
    device kind. ``key`` is a hash of exactly these fields and the action's options, so the
    same job in two runs of a plan has the same key."""

    model: str
    params: tuple[tuple[str, Any], ...]
    inputs: tuple[str, ...]
    action: str
    device: str
    dtype: str = "float32"
    options: tuple[tuple[str, Any], ...] = ()

    @property
    def label(self) -> str:
        """The model as shown and stored: the spec, with grid parameters if any."""
        if not self.params:
            return self.model
        inside = ",".join(f"{k}={v}" for k, v in self.params)
        return f"{self.model}({inside})"

    @property
    def key(self) -> str:
        """16 hex digits of SHA-256 over the job's canonical JSON."""
        return _digest(self.to_dict())[:16]

    @property
    def timing(self) -> bool:
        """Whether the job times something (and so must not share its machine)."""
        return self.action in TIMING_ACTIONS

    def describe(self) -> str:
        """One line: ``label  inputs  action@device``."""
        inputs = " ".join(self.inputs) or "(default inputs)"
        return f"{self.label}  {inputs}  {self.action}@{self.device}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (what a worker receives)."""
        return {
            "model": self.model,
            "params": {k: v for k, v in self.params},
            "inputs": list(self.inputs),
            "action": self.action,
            "device": self.device,
            "dtype": self.dtype,
            "options": {k: v for k, v in self.options},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Job:
        """The inverse of :meth:`to_dict`."""
        return cls(
            model=data["model"],
            params=tuple(sorted(data.get("params", {}).items())),
            inputs=tuple(data.get("inputs", ())),
            action=data["action"],
            device=data["device"],
            dtype=data.get("dtype", "float32"),
            options=tuple(sorted(data.get("options", {}).items())),
        )


@dataclass
class Plan:
    """An expanded plan: its settings and its jobs, in a stable order."""

    name: str
    jobs: list[Job]
    retries: int = 2
    timeout_s: float | None = 1800.0
    workers: int | None = None
    source: Path | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    #: ``[accuracy]``: model name → accuracy (higher is better), for the report's Pareto
    #: front. Not part of :attr:`hash`: it changes no measurement.
    accuracy: dict[str, float] = field(default_factory=dict)

    def accuracy_of(self, job: Job) -> float | None:
        """The plan's accuracy for ``job``, looked up by its label as the tables show it
        (with grid parameters), its model spec, either without the folder of a factory file
        (``models.py:make(depth=2,width=64)``) or without the source prefix or file
        (``resnet18`` for ``torchvision:resnet18``, ``make(depth=2,width=64)``); None when
        the table has none. The label comes first: a grid point beats its factory."""
        for name in accuracy_keys(job):
            if name in self.accuracy:
                return self.accuracy[name]
        return None

    @property
    def hash(self) -> str:
        """16 hex digits of SHA-256 over the name, the settings that change results and
        every job key, in order: any change to what is computed changes the hash."""
        return _digest(
            {"name": self.name, "settings": self.settings, "jobs": [j.key for j in self.jobs]}
        )[:16]

    def estimate_s(self, workers: int = 1, known: dict[str, float] | None = None) -> float:
        """A rough duration on one machine: counting jobs packed over ``workers``, timing
        jobs one after the other. ``known`` gives seconds per job key (from earlier runs of
        the same jobs); other jobs take the defaults :data:`ESTIMATE_COUNT_S` and budget +
        :data:`ESTIMATE_MEASURE_OVERHEAD_S`."""
        import heapq

        known = known or {}
        counting: list[float] = []
        timing = 0.0
        for job in self.jobs:
            if job.timing:
                budget = float(dict(job.options).get("budget_s", 2.0))
                timing += known.get(job.key, budget + ESTIMATE_MEASURE_OVERHEAD_S)
            else:
                counting.append(known.get(job.key, ESTIMATE_COUNT_S))
        # Packed as the pool does, each job to the first free worker (longest first): a job
        # is not split over workers, so one job takes its own time however many there are.
        loads = [0.0] * max(1, min(workers, len(counting)))
        for seconds in sorted(counting, reverse=True):
            heapq.heapreplace(loads, loads[0] + seconds)
        return max(loads) + timing


def accuracy_keys(job: Job) -> list[str]:
    """The ``[accuracy]`` keys that name ``job``'s model, most specific first: its label
    and its spec, each as written, without the folder of a factory file and without the
    source prefix or file."""
    names = []
    for text in (job.label, job.model):
        names += [text, os.path.basename(text), text.rpartition(":")[2]]
    return list(dict.fromkeys(names))


def _digest(obj: Any) -> str:
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


# ---------------------------------------------------------------------------------------
# Reading and expanding


def load_plan(path: str | Path) -> Plan:
    """Read a TOML plan file and expand it (see :func:`expand_plan`)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PlanError(f"no plan file {path}") from None
    except UnicodeDecodeError as exc:
        raise PlanError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise PlanError(f"{path}: not valid TOML: {exc}") from None
    plan = expand_plan(data, base=path.parent, default_name=path.stem)
    plan.source = path
    return plan


def expand_plan(
    data: dict[str, Any], base: Path = Path("."), default_name: str = "campaign"
) -> Plan:
    """Turn a parsed plan into jobs.

    Models: ``models`` (names, or globs over built-in lists such as ``timm:*resnet*``,
    ``torchvision:*``, ``torchvision.classification:*``, ``hf:*llama*``) minus ``exclude``
    (globs over the expanded names), plus ``[[factories]]`` (``path = "file.py:fn"`` relative
    to the plan, ``grid = {param = [values]}``). Inputs: ``inputs.specs`` (each a spec or a
    list of specs) and ``inputs.sweep`` tables (``template`` with ``{name}`` fields and a list
    per name); none means each model's default inputs. Actions: ``count``, ``measure``.
    Devices: ``cpu``, ``cuda`` or a kind such as ``nvidia-h100`` (measure jobs run once per
    device kind; count jobs once, on meta tensors).
    """
    unknown = set(data) - _PLAN_KEYS
    if unknown:
        raise PlanError(
            f"unknown plan key(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(_PLAN_KEYS))}"
        )
    name = str(data.get("name", default_name))
    if not name or ":" in name:
        raise PlanError(f"campaign name {name!r} must be non-empty and hold no ':'")
    model_points = _model_points(data, base)
    input_sets = _expand_inputs(data.get("inputs", {}))
    actions = _actions(data)
    devices = _devices(data)
    dtype = _dtype(data)
    measure_options = _measure_options(data)
    jobs: list[Job] = []
    seen: set[str] = set()
    for (model, params), inputs, action in itertools.product(model_points, input_sets, actions):
        for device in job_devices(action, devices):
            job = Job(
                model=model,
                params=params,
                inputs=inputs,
                action=action,
                device=device,
                dtype=dtype,
                options=action_options(action, measure_options),
            )
            if job.key not in seen:  # a model named twice (a name and a glob) runs once
                seen.add(job.key)
                jobs.append(job)
    accuracy = _accuracy(data)
    _check_accuracy_keys(accuracy, jobs)
    retries = _integer(data.get("retries", 2), "retries", 0)
    timeout = data.get("timeout_s", 1800.0)  # None (from Python) or 0: no limit
    timeout = None if timeout is None else _number(timeout, "timeout_s", 0.0, "0: no limit; ")
    workers = data.get("workers")
    return Plan(
        name=name,
        jobs=jobs,
        retries=retries,
        timeout_s=timeout or None,
        workers=None if workers is None else _integer(workers, "workers", 1),
        settings={"dtype": dtype},
        accuracy=accuracy,
    )


def _integer(value: Any, key: str, least: int, note: str = "") -> int:
    """``value`` as an int >= ``least``; anything else (a string, a float) raises."""
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise PlanError(f"{key} must be an integer >= {least} ({note}got {value!r})")
    return value


def _number(value: Any, key: str, least: float, note: str = "") -> float:
    """``value`` as a float >= ``least``; anything else (a string, NaN) raises."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= least:
        raise PlanError(f"{key} must be a number >= {least:g} ({note}got {value!r})")
    return float(value)


def _dtype(data: dict[str, Any]) -> str:
    """The plan's dtype, as written, checked as the models' floating dtype."""
    from flopwise.sources.specs import parse_dtype

    dtype = data.get("dtype", "float32")
    if not isinstance(dtype, str):
        raise PlanError(f"dtype must be a string such as float32 (got {dtype!r})")
    try:
        parsed = parse_dtype(dtype)
    except FlopwiseError as exc:
        raise PlanError(f"dtype: {exc}") from None
    if not parsed.is_floating_point:
        raise PlanError(f"dtype {dtype!r}: the models' weights need a floating dtype")
    return dtype


def _model_points(
    data: dict[str, Any], base: Path
) -> list[tuple[str, tuple[tuple[str, Any], ...]]]:
    """(model, factory parameters) of the plan: ``models`` minus ``exclude``, then every
    point of every ``[[factories]]`` grid; none raises."""
    models = _expand_models(_str_list(data.get("models", []), "models"))
    excludes = _str_list(data.get("exclude", []), "exclude")
    models = [m for m in models if not any(fnmatch.fnmatchcase(m, pat) for pat in excludes)]
    model_points: list[tuple[str, tuple[tuple[str, Any], ...]]] = [(m, ()) for m in models]
    for entry in _table_list(data.get("factories", []), "factories"):
        model_points += _expand_factory(entry, base)
    if not model_points:
        raise PlanError("the plan names no models (models = [...] or [[factories]])")
    return model_points


def _actions(data: dict[str, Any]) -> list[str]:
    """The plan's actions (default ``count``); a planned or unknown action raises."""
    actions = _str_list(data.get("actions", ["count"]), "actions")
    if not actions:
        raise PlanError(
            f"actions = [] leaves nothing to run; give some of {', '.join(SUPPORTED_ACTIONS)}"
        )
    for action in actions:
        if action in PLANNED_ACTIONS:
            raise PlanError(
                f"action {action!r} is not supported by campaigns yet; "
                f"supported: {', '.join(SUPPORTED_ACTIONS)}"
            )
        if action not in SUPPORTED_ACTIONS:
            raise PlanError(f"unknown action {action!r}; supported: {', '.join(SUPPORTED_ACTIONS)}")
    return actions


def _devices(data: dict[str, Any]) -> list[str]:
    """The real devices measure jobs run on (default ``cpu``); none, meta or fake raises."""
    devices = _str_list(data.get("devices", ["cpu"]), "devices")
    if not devices:
        raise PlanError("devices = [] leaves nothing to run on; give e.g. devices = ['cpu']")
    for device in devices:
        if device in ("meta", "fake"):
            raise PlanError(
                f"device {device!r}: counts already run on meta tensors; list real devices"
            )
        if not _is_device_kind(device):
            raise PlanError(
                f"device {device!r}: give cpu, cuda (any GPU) or a GPU kind, its name in lower "
                f"case with '-' for other characters (NVIDIA H100 80GB HBM3: "
                f"nvidia-h100-80gb-hbm3, or a prefix such as nvidia-h100)"
            )
    return devices


def _is_device_kind(device: str) -> bool:
    """``cpu``, ``cuda``, or a GPU kind as :func:`~flopwise.campaign.worker.device_kind_of`
    writes one: words of lower-case letters and digits joined by ``-``, at least two (a
    vendor and a model), so ``tpu``, ``mps`` or ``cuda:0`` are not taken for one."""
    if device in ("cpu", "cuda"):
        return True
    return re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)+", device) is not None


def _measure_options(data: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    """The ``[measure]`` table as the sorted (key, value) options of measure jobs. ``grid``
    and ``pue`` (energy jobs' gCO2e) are kept only when the plan sets them, so that a plan
    without them keeps its job keys."""
    measure = data.get("measure", {})
    if not isinstance(measure, dict):
        raise PlanError("[measure] must be a table (budget_s, repeats, hardware, grid, pue)")
    unknown = set(measure) - {"budget_s", "repeats", "hardware", "grid", "pue"}
    if unknown:
        raise PlanError(f"[measure]: unknown key(s) {', '.join(sorted(unknown))}")
    budget = _number(measure.get("budget_s", 2.0), "[measure] budget_s", 0.0)
    if budget == 0:
        raise PlanError("[measure] budget_s must be > 0 (or give repeats = N)")
    options: dict[str, Any] = {
        "budget_s": budget,
        "repeats": _integer(
            measure.get("repeats", 0), "[measure] repeats", 0, "0: the budget decides; "
        ),
        # The hardware profile of the roofline: "host" measures (once, cached) the
        # ceilings of the machine each job runs on.
        "hardware": _hardware_option(measure.get("hardware", "host")),
    }
    if "grid" in measure:
        options["grid"] = _grid_option(measure["grid"])
    if "pue" in measure:
        options["pue"] = _pue_option(measure["pue"])
    return tuple(sorted(options.items()))


def _hardware_option(value: Any) -> str:
    """``[measure] hardware``: ``host`` (each worker's own, measured there) or a profile
    :func:`~flopwise.measure.hardware.get_profile` knows, checked now."""
    from flopwise.measure.hardware import get_profile

    text = str(value)
    if text == "host" or text.startswith("host:"):
        return text
    try:
        get_profile(text, measure_if_missing=False)
    except FlopwiseError as exc:
        raise PlanError(f"[measure] hardware: {exc}") from None
    return text


def _grid_option(value: Any) -> str:
    """``[measure] grid``: a region of the bundled table or g/kWh, checked now (as text)."""
    from flopwise.measure.energy.carbon import UnknownRegion, grid_intensity

    text = str(value).strip()
    try:
        grid_intensity(text)
    except UnknownRegion as exc:
        raise PlanError(f"[measure] grid: {exc}") from None
    return text


def _pue_option(value: Any) -> float:
    """``[measure] pue``: the data centre's power usage effectiveness, a number > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise PlanError(f"[measure] pue must be a number > 0 (got {value!r})")
    return float(value)


def _accuracy(data: dict[str, Any]) -> dict[str, float]:
    """The ``[accuracy]`` table (model = number) as floats; anything else raises."""
    accuracy = data.get("accuracy", {})
    if not isinstance(accuracy, dict) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in accuracy.values()
    ):
        raise PlanError('[accuracy] must be a table of model = number, e.g. "resnet18" = 69.76')
    return {str(k): float(v) for k, v in accuracy.items()}


def _check_accuracy_keys(accuracy: dict[str, float], jobs: list[Job]) -> None:
    """Refuse an ``[accuracy]`` key that names no model of the plan (a typo would leave
    that model out of the Pareto front without a word)."""
    import difflib

    names = {name for job in jobs for name in accuracy_keys(job)}
    for key in accuracy:
        if key not in names:
            close = difflib.get_close_matches(key, sorted(names), n=3, cutoff=0.6)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise PlanError(f"[accuracy] {key!r} names no model of the plan{hint}")


def _str_list(value: Any, key: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PlanError(f"{key} must be a string or a list of strings")
    return list(value)


def _table_list(value: Any, key: str) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise PlanError(f"{key} must be a table or an array of tables ([[{key}]])")
    return value


def _expand_models(names: Sequence[str]) -> list[str]:
    out: list[str] = []
    for name in names:
        if "*" in name or "?" in name or "[" in name:
            found = expand_model_glob(name)
            if not found:
                raise PlanError(f"models: {name!r} matches no model")
            out += found
        else:
            _check_model(name, (), "models")
            out.append(name)
    return list(dict.fromkeys(out))


def _check_model(spec: str, params: Sequence[str], where: str) -> None:
    """Refuse, before anything runs, a model no worker could build (a name no source knows,
    a factory file missing or failing to import, a grid parameter the factory does not
    take): :func:`~flopwise.sources.models.check_model_spec`."""
    from flopwise.sources.models import check_model_spec

    try:
        check_model_spec(spec, params)
    except FlopwiseError as exc:
        raise PlanError(f"{where}: {exc}") from None


#: torchvision sub-packages a glob can be restricted to (``torchvision.detection:*``).
_TV_MODULES = (
    "classification",
    "detection",
    "segmentation",
    "video",
    "optical_flow",
    "quantization",
)


def expand_model_glob(pattern: str) -> list[str]:
    """The model specs a glob names, sorted: ``timm:GLOB`` (``timm.list_models``),
    ``torchvision:GLOB`` (every builder), ``torchvision.<kind>:GLOB`` (one of
    classification, detection, segmentation, video, optical_flow, quantization) and
    ``hf:GLOB`` (the built-in configs). Matching is case-sensitive ``fnmatch``."""
    prefix, sep, glob = pattern.partition(":")
    if not sep:
        raise PlanError(
            f"models: glob {pattern!r} needs a source prefix (timm:, torchvision:, hf:)"
        )
    head, _, sub = prefix.partition(".")
    if head in ("torchvision", "tv"):
        from flopwise.errors import require

        require("torchvision", "vision", "torchvision model globs")
        import torchvision.models as tvm

        if sub:
            if sub not in _TV_MODULES:
                raise PlanError(
                    f"models: unknown torchvision kind {sub!r}; one of {', '.join(_TV_MODULES)}"
                )
            module = tvm if sub == "classification" else getattr(tvm, sub)
            names = tvm.list_models(module=module)
        else:
            names = tvm.list_models()
        return [f"torchvision:{n}" for n in sorted(names) if fnmatch.fnmatchcase(n, glob)]
    if head == "timm" and not sub:
        from flopwise.errors import require

        require("timm", "vision", "timm model globs")
        import timm

        return [f"timm:{n}" for n in sorted(timm.list_models(glob))]
    if head == "hf" and not sub:
        from flopwise.sources.hf_configs import list_builtin

        return [f"hf:{n}" for n in list_builtin() if fnmatch.fnmatchcase(n, glob)]
    raise PlanError(
        f"models: cannot expand {pattern!r}; globs work over timm:, torchvision:[.kind] and hf:"
    )


def _expand_factory(entry: dict[str, Any], base: Path) -> list[tuple[str, tuple]]:
    spec = entry.get("path")
    if not isinstance(spec, str) or ":" not in spec:
        raise PlanError('[[factories]] needs path = "file.py:function" (or "pkg.module:function")')
    target, _, fn = spec.rpartition(":")
    if target.endswith(".py") and not Path(target).is_absolute():
        # Relative to the plan file, made absolute so workers anywhere find the same file.
        target = str((base / target).resolve())
    spec = f"{target}:{fn}"
    grid = entry.get("grid", {})
    if not isinstance(grid, dict) or not all(isinstance(v, list) and v for v in grid.values()):
        raise PlanError(
            f"{spec}: grid must be a table of non-empty lists, e.g. {{width = [8, 16]}}"
        )
    unknown = set(entry) - {"path", "grid"}
    if unknown:
        raise PlanError(f"[[factories]] {spec}: unknown key(s) {', '.join(sorted(unknown))}")
    names = sorted(grid)
    _check_model(spec, names, "[[factories]]")
    points = []
    for values in itertools.product(*(grid[n] for n in names)):
        points.append((spec, tuple(zip(names, values, strict=True))))
    return points


def _expand_inputs(section: Any) -> list[tuple[str, ...]]:
    if not isinstance(section, dict):
        raise PlanError("[inputs] must be a table with specs = [...] and/or [[inputs.sweep]]")
    unknown = set(section) - {"specs", "sweep"}
    if unknown:
        raise PlanError(f"[inputs]: unknown key(s) {', '.join(sorted(unknown))}")
    sets: list[tuple[str, ...]] = []
    specs = section.get("specs", [])
    if not isinstance(specs, str | list):
        raise PlanError("inputs.specs must be a spec string or a list of input sets")
    for entry in [specs] if isinstance(specs, str) else specs:  # one string: one set
        if isinstance(entry, str):
            sets.append((entry,))
        elif isinstance(entry, list) and entry and all(isinstance(s, str) for s in entry):
            sets.append(tuple(entry))
        else:
            raise PlanError(
                "inputs.specs entries are a spec string or a non-empty list of spec strings"
            )
    for sweep in _table_list(section.get("sweep", []), "inputs.sweep"):
        template = sweep.get("template")
        templates = [template] if isinstance(template, str) else template
        if not isinstance(templates, list) or not templates:
            raise PlanError('[[inputs.sweep]] needs template = "{batch}x3x224x224" (or a list)')
        axes = {k: v for k, v in sweep.items() if k != "template"}
        for key, values in axes.items():
            if not isinstance(values, list) or not values:
                raise PlanError(f"[[inputs.sweep]] {key} must be a non-empty list")
        names = sorted(axes)
        for values in itertools.product(*(axes[n] for n in names)):
            point = dict(zip(names, values, strict=True))
            try:
                sets.append(tuple(t.format(**point) for t in templates))
            except KeyError as exc:
                raise PlanError(f"[[inputs.sweep]] template field {exc} has no values") from None
            except (IndexError, ValueError) as exc:  # {0}, {batch!z}: not a named field
                raise PlanError(
                    f"[[inputs.sweep]] template {templates}: {exc}; "
                    'write fields by name, e.g. "{batch}x3x224x224"'
                ) from None
    # The specs are checked here, on the driver, so a typo fails before any job runs.
    from flopwise.sources.specs import parse_input_specs

    for input_set in sets:
        try:
            parse_input_specs(input_set)
        except FlopwiseError as exc:
            raise PlanError(f"inputs: {exc}") from None
    return list(dict.fromkeys(sets)) or [()]
