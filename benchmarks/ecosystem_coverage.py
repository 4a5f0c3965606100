"""Whole-ecosystem coverage: does flopwise count every model people actually use?

Every torchvision model builder (classification, detection, segmentation, video, optical
flow, quantizable), every name in ``timm.list_models()`` and a list of transformers
architectures (the built-in ``hf:`` configs plus default configs of more model types in
``benchmarks/configs/ecosystem/``: decoders, encoders, encoder-decoders such as T5, BART,
mBART, Pegasus and Whisper, vision models such as ViT, DINOv2, SAM, BEiT, SegFormer, DETR,
dual encoders CLIP and SigLIP, wav2vec2, BLIP, the vision-language Llava) is built with random
weights through flopwise's own
model loader (``flopwise.sources.load_model``, what ``flopwise profile`` runs) and counted
with ``flopwise.profile`` at its default input, batch 1, on meta tensors. Default input:
timm's ``pretrained_cfg['input_size']``; torchvision's documented one (the evaluation crop
of its first weights entry: 224-600 px for classification, 520 for segmentation, 16-frame
clips for video, see :func:`documented_input`; the loader's 224² for detection and two
224² frames for optical flow); transformers models the inputs their kind gets from the
loader (``input_ids`` 1×128 or the position limit, ``pixel_values`` at the config's image
size, ``input_features``, ``input_values``, ``decoder_input_ids``; Llava's ``input_ids`` hold
the image tokens its processor inserts, recorded as ``placeholder``). For torchvision the record
also keeps the GMACs torchvision publishes for that input (``weights.meta['_ops']``), an
independent figure the report compares with. A model whose forward
needs data (detection post-processing calls ``nonzero``) falls back to real CPU tensors at
the same input, and the record says so. Every 25th model (the next one small enough after
every 25th) is also counted on real tensors and the totals compared with the meta count.

    nice -n 19 python benchmarks/ecosystem_coverage.py run                  # everything, resumes
    python benchmarks/ecosystem_coverage.py run --only torchvision --limit 10 --timeout 120
    python benchmarks/ecosystem_coverage.py run --only timm --retry         # redo crashes/timeouts
    python benchmarks/ecosystem_coverage.py realcheck --every 5             # denser real = meta
    python benchmarks/ecosystem_coverage.py realcheck --model hf:benchmarks/configs/ecosystem/t5.json
    python benchmarks/ecosystem_coverage.py report                          # JSONL -> .md

Each model runs in a worker process (one torch thread) that the driver kills on timeout or
when its memory passes ``--max-rss-gib``; the worker is restarted and the run goes on. The
driver appends one JSON line per model to ``results/ecosystem_coverage.jsonl`` (append-only:
a re-run skips models that already have a record; the report reads the last record of each
model) and prints a progress line per model.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import multiprocessing as mp
import os
import signal
import sys
import time
import traceback
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
JSONL = RESULTS / "ecosystem_coverage.jsonl"
REPORT = RESULTS / "ecosystem_coverage.md"
HF_EXTRA_DIR = HERE / "configs" / "ecosystem"
SCHEMA = "flopwise.ecosystem/1"
SOURCES_ORDER = ("torchvision", "hf", "timm")

#: The real-vs-meta sample: one model every REAL_CHECK_EVERY, the first one at or after it
#: that is small enough to run on real CPU tensors in a few seconds.
REAL_CHECK_EVERY = 25
REAL_CHECK_MAX_PARAMS = 60_000_000
REAL_CHECK_MAX_MACS = 20_000_000_000
#: Totals compared between the meta and the real count.
COMPARED = ("flops", "macs", "params", "activations", "bytes_read", "bytes_written")
#: A real-tensor fallback is not attempted when the weights alone would exceed this.
REAL_MAX_WEIGHT_BYTES = 4 * 2**30

RECORD_KEYS = (
    "schema",
    "spec",
    "source",
    "status",
    "tensors",
    "fallback_reason",
    "inputs",
    "params",
    "flops",
    "macs",
    "activations",
    "bytes_read",
    "bytes_written",
    "ops",
    "uncounted",
    "error",
    "real_check",
    "reference",
    "build_s",
    "count_s",
    "finished_at",
)
STATUSES = ("complete", "incomplete", "crash", "timeout")


# ---------------------------------------------------------------------------------------
# model lists


def torchvision_specs() -> list[str]:
    """Every torchvision builder, grouped by task (classification first)."""
    from torchvision import models

    modules = [
        models,
        models.detection,
        models.segmentation,
        models.video,
        models.optical_flow,
        models.quantization,
    ]
    seen: list[str] = []
    for module in modules:
        for name in models.list_models(module=module):
            if name not in seen:
                seen.append(name)
    for name in models.list_models():  # anything not in a per-task list
        if name not in seen:
            seen.append(name)
    return [f"torchvision:{n}" for n in seen]


def timm_specs() -> list[str]:
    """Every timm model, interleaved across timm's architecture modules (the first model of
    each module, then the second of each ...) so a partial run covers every family."""
    import timm

    per_module = [timm.list_models(module=m) for m in timm.list_modules()]
    order: list[str] = []
    seen: set[str] = set()
    for rank in range(max((len(p) for p in per_module), default=0)):
        for names in per_module:
            if rank < len(names) and names[rank] not in seen:
                seen.add(names[rank])
                order.append(names[rank])
    order += [n for n in timm.list_models() if n not in seen]
    return [f"timm:{n}" for n in order]


def hf_specs() -> list[str]:
    """The built-in ``hf:`` configs, then the default configs in configs/ecosystem/."""
    from flopwise.sources import list_builtin

    specs = [f"hf:{n}" for n in list_builtin()]
    specs += [f"hf:{_rel(p)}" for p in sorted(HF_EXTRA_DIR.glob("*.json"))]
    return specs


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def all_specs(only: str | None) -> list[str]:
    lists = {"torchvision": torchvision_specs, "hf": hf_specs, "timm": timm_specs}
    chosen = [only] if only else list(SOURCES_ORDER)
    return [spec for source in chosen for spec in lists[source]()]


def source_of(spec: str) -> str:
    return spec.split(":", 1)[0]


# ---------------------------------------------------------------------------------------
# one model (runs in the worker; importable for tests)


def _one_line(exc: BaseException | str, limit: int = 300) -> str:
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    name = type(exc).__name__ if isinstance(exc, BaseException) else ""
    line = f"{name}: {first}" if name and first else (name or first)
    return line[:limit]


def describe_error(stage: str, exc: BaseException) -> dict[str, Any]:
    """Where and why a stage failed: the exception, its root cause and the innermost frames
    inside flopwise and outside it (the first tells a flopwise bug from a model limit)."""
    root: BaseException = exc
    while root.__cause__ is not None and root.__cause__ is not root:
        root = root.__cause__
    frames = traceback.extract_tb(root.__traceback__)
    flopwise_frame = model_frame = None
    for fr in frames:
        where = f"{_short_path(fr.filename)}:{fr.lineno} in {fr.name}"
        if "/flopwise/" in fr.filename:
            flopwise_frame = where
        else:
            model_frame = where
    return {
        "stage": stage,
        "type": type(exc).__name__,
        "message": _one_line(exc),
        "root": _one_line(root) if root is not exc else None,
        "last_flopwise_frame": flopwise_frame,
        "last_frame": f"{_short_path(frames[-1].filename)}:{frames[-1].lineno} in {frames[-1].name}"
        if frames
        else None,
        "last_model_frame": model_frame,
    }


def _short_path(filename: str) -> str:
    for marker in ("site-packages/", "/src/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


class StageFailed(Exception):
    """A build or count step failed; carries the original exception and what is known."""

    def __init__(
        self, stage: str, exc: BaseException, weight_bytes: int = 0, inputs: list | None = None
    ) -> None:
        super().__init__(str(exc))
        self.stage, self.exc, self.weight_bytes, self.inputs = (
            stage,
            exc,
            weight_bytes,
            inputs or [],
        )


def _count(
    spec: str, device: str
) -> tuple[Any, list[dict[str, Any]], dict[str, Any] | None, float, float]:
    """Build ``spec`` on ``device`` ("meta" or "cpu") and count it at its default input;
    returns the profile, the input shapes, the published reference (or None) and the
    build and count seconds."""
    import flopwise
    from flopwise.sources import load_model

    t0 = time.perf_counter()
    try:
        loaded = load_model(spec, device=device)
        specs, reference = documented_input(loaded)
        args, kwargs = loaded.inputs(specs)
    except Exception as exc:
        raise StageFailed("build", exc) from exc
    build_s = time.perf_counter() - t0
    inputs = _input_shapes(args, kwargs, specs if specs is not None else loaded.default_inputs)
    t1 = time.perf_counter()
    try:
        prof = flopwise.profile(
            loaded.model,
            *args,
            kwargs=kwargs,
            tensors="meta" if device == "meta" else "auto",
            name=loaded.name,
        )
    except Exception as exc:
        raise StageFailed("count", exc, _weight_bytes(loaded.model), inputs) from exc
    return prof, inputs, reference, build_s, time.perf_counter() - t1


def documented_input(loaded: Any) -> tuple[list[str] | None, dict[str, Any] | None]:
    """The input torchvision documents for a model (None: the loader's default) and the
    GMACs torchvision publishes for it at that input (``weights.meta['_ops']``).

    torchvision's documented input is its first weights entry's evaluation transform:
    ``crop_size`` (classification 224-600, video 112 or 224 at 16 frames) or segmentation's
    ``resize_size`` (520). A ViT built without weights only takes the ``image_size`` it was
    built for (vit_h_14 is documented at 518 with SWAG weights, built at 224 without), so
    there the built size wins and no published figure applies. Detection and optical flow
    keep the loader's default (detection models resize to 800 px inside the model).
    timm and hf: the loader's default (timm: ``pretrained_cfg['input_size']``)."""
    if loaded.source != "torchvision":
        return None, None
    from torchvision import models

    name = loaded.name.split(":", 1)[1]
    try:
        weights = next(iter(models.get_model_weights(name)))
    except (ValueError, StopIteration, KeyError):
        return None, None
    keywords = dict(getattr(weights.transforms, "keywords", {}) or {})
    kind = getattr(getattr(weights.transforms, "func", None), "__name__", "")
    size = keywords.get("crop_size")
    if size is None and kind == "SemanticSegmentation":
        size = keywords.get("resize_size")
    ops = weights.meta.get("_ops")
    reference = (
        {"gmacs": float(ops), "weights": f"{type(weights).__name__}.{weights.name}"}
        if ops is not None
        else None
    )
    if size is None:
        # Detection resizes inside the model, so its figure holds at any input; optical flow
        # does not, and torchvision does not say at which frame size it measured.
        return None, None if name in models.list_models(module=models.optical_flow) else reference
    side = size if isinstance(size, int) else size[0]
    built = getattr(loaded.model, "image_size", None)
    if isinstance(built, int) and built != side:
        return [f"1x3x{built}x{built}"], None
    if name in models.list_models(module=models.video):
        return [f"1x3x16x{side}x{side}"], reference
    return [f"1x3x{side}x{side}"], reference


def _weight_bytes(model: Any) -> int:
    return sum(p.numel() * p.element_size() for p in model.parameters())


def _input_shapes(args: tuple, kwargs: dict, specs: Iterable[Any] = ()) -> list[dict[str, Any]]:
    """Shape and dtype of each tensor input; a named input whose spec places a token
    (Llava's image tokens in ``input_ids``) also keeps ``placeholder`` (token, count)."""
    import torch

    placed = {
        getattr(s, "name", None): {"token": s.placeholder[0], "count": s.placeholder[1]}
        for s in specs
        if getattr(s, "placeholder", None) is not None
    }
    out = [
        {"shape": list(a.shape), "dtype": str(a.dtype).replace("torch.", "")}
        for a in args
        if isinstance(a, torch.Tensor)
    ]
    out += [
        {"name": k, "shape": list(v.shape), "dtype": str(v.dtype).replace("torch.", "")}
        | ({"placeholder": placed[k]} if k in placed else {})
        for k, v in kwargs.items()
        if isinstance(v, torch.Tensor)
    ]
    return out


def _totals(prof: Any) -> dict[str, Any]:
    t = prof.totals
    return {
        "params": t.params,
        "flops": t.flops,
        "macs": t.macs,
        "activations": t.activations,
        "bytes_read": t.bytes_read,
        "bytes_written": t.bytes_written,
        "ops": t.ops,
        "uncounted": [
            {"op": u.op, "calls": u.calls, "output_elements": u.output_elements}
            for u in prof.uncounted
        ],
    }


def _blank_record(spec: str) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "spec": spec,
        "source": source_of(spec),
        "status": None,
        "tensors": None,
        "fallback_reason": None,
        "inputs": [],
        "params": None,
        "flops": None,
        "macs": None,
        "activations": None,
        "bytes_read": None,
        "bytes_written": None,
        "ops": None,
        "uncounted": [],
        "error": None,
        "real_check": None,
        "reference": None,
        "build_s": None,
        "count_s": None,
        "finished_at": None,
    }


def profile_one(spec: str, *, real_check: bool = False) -> dict[str, Any]:
    """Count one model (a flopwise MODEL string) and return its JSONL record.

    Meta tensors first; if the meta count fails (data-dependent ops, a model that reads
    values), the same model at the same input on real CPU tensors, with the meta error kept
    in ``fallback_reason``. ``status`` is ``complete`` (every op counted), ``incomplete``
    (``uncounted`` names the ops) or ``crash`` (``error`` says at which stage and why).
    With ``real_check`` the record also gets :func:`compare_real` of a meta count.
    Never raises for a model's failure.
    """
    import torch

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    rec = _blank_record(spec)
    try:
        prof, inputs, reference, build_s, count_s = _count(spec, "meta")
        rec["tensors"] = "meta"
    except StageFailed as meta_fail:
        if meta_fail.stage == "build" or meta_fail.weight_bytes > REAL_MAX_WEIGHT_BYTES:
            rec["status"] = "crash"
            rec["error"] = describe_error(f"meta {meta_fail.stage}", meta_fail.exc)
            rec["inputs"] = meta_fail.inputs
            return _finish(rec)
        rec["fallback_reason"] = _one_line(meta_fail.exc)
        try:
            prof, inputs, reference, build_s, count_s = _count(spec, "cpu")
            rec["tensors"] = "real"
        except StageFailed as real_fail:
            rec["status"] = "crash"
            rec["error"] = describe_error(f"real {real_fail.stage}", real_fail.exc)
            rec["error"]["meta_error"] = describe_error(f"meta {meta_fail.stage}", meta_fail.exc)
            rec["inputs"] = real_fail.inputs
            return _finish(rec)
    rec.update(_totals(prof))
    rec["inputs"] = inputs
    rec["reference"] = reference
    rec["build_s"] = round(build_s, 3)
    rec["count_s"] = round(count_s, 3)
    rec["status"] = "complete" if prof.complete else "incomplete"
    if real_check and rec["tensors"] == "meta":
        rec["real_check"] = compare_real(spec, rec)
    return _finish(rec)


def _finish(rec: dict[str, Any]) -> dict[str, Any]:
    rec["finished_at"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    return rec


def small_enough(rec: dict[str, Any]) -> bool:
    """A meta-counted model cheap enough to run on real CPU tensors in a few seconds."""
    return (
        rec.get("tensors") == "meta"
        and rec.get("params") is not None
        and rec["params"] <= REAL_CHECK_MAX_PARAMS
        and (rec.get("macs") or 0) <= REAL_CHECK_MAX_MACS
    )


def compare_real(spec: str, meta_rec: dict[str, Any]) -> dict[str, Any]:
    """Count ``spec`` again on real CPU tensors and compare with the meta record: every
    total in COMPARED and the set of uncounted ops must be equal."""
    import torch

    torch.set_num_threads(1)
    try:
        prof, _inputs, _ref, _b, count_s = _count(spec, "cpu")
    except StageFailed as fail:
        return {
            "ran": False,
            "match": False,
            "error": describe_error(f"real {fail.stage}", fail.exc),
        }
    real = _totals(prof)
    diffs = {
        key: {"meta": meta_rec[key], "real": real[key]}
        for key in COMPARED
        if meta_rec[key] != real[key]
    }
    meta_ops = sorted(u["op"] for u in meta_rec["uncounted"])
    real_ops = sorted(u["op"] for u in real["uncounted"])
    if meta_ops != real_ops:
        diffs["uncounted"] = {"meta": meta_ops, "real": real_ops}
    return {
        "ran": True,
        "match": not diffs,
        "diffs": diffs,
        "real": {k: real[k] for k in COMPARED},
        "count_s": round(count_s, 3),
    }


# ---------------------------------------------------------------------------------------
# worker process and driver


def _worker(conn: Any) -> None:
    """Serve (action, spec, payload) requests until told to stop."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    while True:
        try:
            msg = conn.recv()
        except EOFError:
            return
        if msg is None:
            return
        action, spec, payload = msg
        if action == "count":
            conn.send(profile_one(spec))
        else:
            conn.send(compare_real(spec, payload))


class Worker:
    """A spawned worker process with a timeout and a memory cap per request."""

    def __init__(self, max_rss_bytes: int) -> None:
        self.max_rss = max_rss_bytes
        self.ctx = mp.get_context("spawn")
        self.proc: Any = None
        self.conn: Any = None
        self.served = 0

    def start(self) -> None:
        parent, child = self.ctx.Pipe()
        self.proc = self.ctx.Process(target=_worker, args=(child,), daemon=True)
        self.proc.start()
        child.close()
        self.conn = parent
        self.served = 0

    def stop(self, kill: bool = False) -> None:
        if self.proc is None:
            return
        if not kill:
            try:
                self.conn.send(None)
                self.proc.join(10)
            except (OSError, BrokenPipeError):
                pass
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(10)
        self.conn.close()
        self.proc = None

    def rss(self) -> int:
        try:
            with open(f"/proc/{self.proc.pid}/status", encoding="ascii") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            return 0
        return 0

    def ask(self, msg: tuple, timeout: float) -> tuple[str, Any]:
        """("ok", reply) | ("timeout", seconds) | ("oom", rss) | ("died", exitcode)."""
        if self.proc is None:
            self.start()
        self.conn.send(msg)
        start = time.monotonic()
        while True:
            if self.conn.poll(0.5):
                try:
                    reply = self.conn.recv()
                except (EOFError, OSError):
                    self.proc.join(5)
                    code = self.proc.exitcode
                    self.stop(kill=True)
                    return "died", code
                self.served += 1
                return "ok", reply
            if not self.proc.is_alive():
                code = self.proc.exitcode
                self.stop(kill=True)
                return "died", code
            rss = self.rss()
            if rss > self.max_rss:
                self.stop(kill=True)
                return "oom", rss
            if time.monotonic() - start > timeout:
                self.stop(kill=True)
                return "timeout", timeout


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _failure_record(spec: str, kind: str, detail: Any, stage: str) -> dict[str, Any]:
    rec = _blank_record(spec)
    if kind == "timeout":
        rec["status"] = "timeout"
        message = f"no result within {detail:.0f} s"
    elif kind == "oom":
        rec["status"] = "crash"
        message = f"worker passed the memory cap ({detail / 2**30:.1f} GiB resident)"
    else:
        rec["status"] = "crash"
        message = f"worker process died (exit code {detail})"
    rec["error"] = {
        "stage": stage,
        "type": kind,
        "message": message,
        "root": None,
        "last_flopwise_frame": None,
        "last_frame": None,
        "last_model_frame": None,
    }
    return _finish(rec)


def read_records(path: Path = JSONL) -> dict[str, dict[str, Any]]:
    """The last record of each model in the JSONL file (later lines win)."""
    records: dict[str, dict[str, Any]] = {}
    if not path.exists():
        return records
    with path.open(encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:  # a line cut short by a killed run
                continue
            records[rec["spec"]] = rec
    return records


def run(
    only: str | None,
    limit: int | None,
    timeout: float,
    max_rss_gib: float,
    retry: bool,
    path: Path = JSONL,
    redo: bool = False,
    restart_every: int = 100,
    incomplete: bool = False,
) -> None:
    """Count every model without a record yet (``retry``: also crashes and timeouts;
    ``incomplete``: also models last recorded incomplete, after new formulas land;
    ``redo``: every model), appending one record per model to ``path``."""
    specs = all_specs(only)
    done = read_records(path)
    again = {"crash", "timeout"} if retry else set()
    again |= {"incomplete"} if incomplete else set()
    todo = [s for s in specs if redo or s not in done or done[s]["status"] in again]
    if limit is not None:
        todo = todo[:limit]
    print(
        f"{len(specs)} models listed, {len(specs) - len(todo)} skipped (already done), "
        f"{len(todo)} to run; results -> {_rel(path)}",
        flush=True,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    # `kill PID` stops the run cleanly (the worker is killed, no record is cut short).
    signal.signal(signal.SIGTERM, _interrupt)
    worker = Worker(int(max_rss_gib * 2**30))
    tally: Counter[str] = Counter()
    since_check = REAL_CHECK_EVERY  # the first small model gets a real check
    t_start = time.monotonic()
    try:
        for i, spec in enumerate(todo, 1):
            if worker.proc is not None and worker.served >= restart_every:
                worker.stop()  # bounded memory growth across hundreds of models
            t0 = time.monotonic()
            kind, reply = worker.ask(("count", spec, None), timeout)
            rec = reply if kind == "ok" else _failure_record(spec, kind, reply, "count")
            since_check += 1
            if since_check >= REAL_CHECK_EVERY and small_enough(rec):
                since_check = 0
                kind, reply = worker.ask(("real", spec, rec), timeout)
                rec["real_check"] = (
                    reply
                    if kind == "ok"
                    else {
                        "ran": False,
                        "match": False,
                        "error": _failure_record(spec, kind, reply, "real check")["error"],
                    }
                )
            with path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(rec) + "\n")
            tally[rec["status"]] += 1
            check = ""
            if rec.get("real_check"):
                check = " real=meta" if rec["real_check"]["match"] else " REAL!=META"
            extra = ""
            if rec["status"] == "incomplete":
                extra = " " + ",".join(u["op"] for u in rec["uncounted"][:4])
            elif rec["error"]:
                extra = " " + rec["error"]["message"][:100]
            elapsed = time.monotonic() - t_start
            print(
                f"[{i}/{len(todo)} {elapsed / 60:.0f} min] {spec} {rec['status']}"
                f"{' (real tensors)' if rec['tensors'] == 'real' else ''}{check}"
                f" {time.monotonic() - t0:.1f}s{extra} | "
                + " ".join(f"{s}={tally[s]}" for s in STATUSES if tally[s]),
                flush=True,
            )
    finally:
        worker.stop(kill=True)


def realcheck(
    only: str | None,
    every: int,
    limit: int | None,
    timeout: float,
    max_rss_gib: float,
    path: Path = JSONL,
    models: list[str] | None = None,
) -> None:
    """A denser real = meta sample after a run: every ``every``-th model that was counted
    on meta, is small enough and has no real check yet gets one; its record is appended
    again with ``real_check`` filled (the later line wins). ``models``: exactly these
    recorded models instead, whatever their size."""
    records = read_records(path)
    if models:
        missing = [m for m in models if m not in records or records[m].get("tensors") != "meta"]
        if missing:
            raise SystemExit(f"no meta-counted record for {', '.join(missing)}; run them first")
        candidates, every = [records[m] for m in models], 1
    else:
        candidates = [
            records[s]
            for s in all_specs(only)
            if s in records and records[s]["real_check"] is None and small_enough(records[s])
        ]
    chosen = candidates[::every][:limit] if limit is not None else candidates[::every]
    print(f"{len(candidates)} models without a real check, checking {len(chosen)}", flush=True)
    signal.signal(signal.SIGTERM, _interrupt)
    worker = Worker(int(max_rss_gib * 2**30))
    tally: Counter[str] = Counter()
    try:
        for i, rec in enumerate(chosen, 1):
            if worker.proc is not None and worker.served >= 100:
                worker.stop()
            kind, reply = worker.ask(("real", rec["spec"], rec), timeout)
            rec = dict(rec)
            rec["real_check"] = (
                reply
                if kind == "ok"
                else {
                    "ran": False,
                    "match": False,
                    "error": _failure_record(rec["spec"], kind, reply, "real check")["error"],
                }
            )
            with path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(rec) + "\n")
            tally["equal" if rec["real_check"]["match"] else "DIFFERENT"] += 1
            print(
                f"[{i}/{len(chosen)}] {rec['spec']} "
                f"{'real=meta' if rec['real_check']['match'] else 'REAL!=META'} | "
                + " ".join(f"{k}={v}" for k, v in tally.items()),
                flush=True,
            )
    finally:
        worker.stop(kill=True)


# ---------------------------------------------------------------------------------------
# report


def _pct(a: int, b: int) -> str:
    return f"{100 * a / b:.1f}%" if b else "—"


def _g(value: int | None) -> str:
    return "—" if value is None else f"{value / 1e9:.2f}"


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def classify_crash(rec: dict[str, Any]) -> str:
    """A short cause label for a crash, for grouping."""
    err = rec.get("error") or {}
    if err.get("type") in ("timeout", "oom", "died"):
        return {"timeout": "timeout", "oom": "memory cap", "died": "worker died"}[err["type"]]
    msg = err.get("message", "")
    if "ModelTooLarge" in msg or "needs" in msg and "GiB" in msg:
        return "too large for real tensors"
    stage = err.get("stage", "")
    return f"{stage}: {err.get('type', '?')}"


def suspect_flopwise(rec: dict[str, Any]) -> bool:
    """A crash whose innermost frame is flopwise code (not a model raising on an input)."""
    err = rec.get("error") or {}
    last = err.get("last_frame") or ""
    return last.startswith("flopwise/")


def render_report(records: Iterable[dict[str, Any]], *, meta: dict[str, Any] | None = None) -> str:
    """The markdown results table: coverage per source, crashes with causes, every
    incomplete model with its uncounted ops, uncounted ops by number of models blocked,
    real-tensor fallbacks and the real-vs-meta sample."""
    recs = sorted(records, key=lambda r: (SOURCES_ORDER.index(r["source"]), r["spec"]))
    out: list[str] = ["# Ecosystem coverage", ""]
    if meta:
        out += [
            f"Generated {meta.get('generated', '')} by `python benchmarks/ecosystem_coverage.py "
            f"report` from `results/ecosystem_coverage.jsonl`; torch {meta.get('torch', '?')}, "
            f"torchvision {meta.get('torchvision', '?')}, timm {meta.get('timm', '?')}, "
            f"transformers {meta.get('transformers', '?')}."
            + (
                f" The JSONL also holds {meta['superseded']} superseded records of earlier "
                "passes (each model's last record is used)."
                if meta.get("superseded")
                else ""
            ),
            "",
        ]
    out += [
        "Each model: built with random weights through flopwise's loader, counted with "
        "`flopwise.profile` at its default input (batch 1) on meta tensors; where the meta "
        "count fails (data-dependent ops such as detection post-processing) it is counted on "
        "real CPU tensors at the same input (marked *real*; detection models resize to 800 px "
        "internally whatever the input). *complete*: every op had a formula or is in the zero "
        "set. Runs are on 2 shared cores, one torch thread, per-model timeout; unfinished "
        "sources are listed with how many of their models were tried.",
        "",
    ]
    if not recs:
        return "\n".join([*out, "No results yet.", ""])
    listed = meta.get("listed", {}) if meta else {}
    # ---- summary
    out += [
        "## Summary",
        "",
        "| source | listed | tried | complete | incomplete | crash | timeout | complete % "
        "| counted (complete + incomplete) % | on real tensors |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in recs:
        groups[r["source"]].append(r)
    for source in [*[s for s in SOURCES_ORDER if s in groups], "all"]:
        rows = recs if source == "all" else groups[source]
        c = Counter(r["status"] for r in rows)
        n = len(rows)
        n_listed = sum(listed.values()) if source == "all" else listed.get(source)
        real = sum(r.get("tensors") == "real" for r in rows)
        name = f"**{source}**" if source == "all" else source
        out.append(
            f"| {name} | {n_listed if n_listed is not None else '—'} | {n} | {c['complete']} | "
            f"{c['incomplete']} | {c['crash']} | {c['timeout']} | {_pct(c['complete'], n)} | "
            f"{_pct(c['complete'] + c['incomplete'], n)} | {real} |"
        )
    out.append("")
    # ---- uncounted ops by models blocked
    blocked: dict[str, list[str]] = defaultdict(list)
    calls: Counter[str] = Counter()
    for r in recs:
        if r["status"] == "incomplete":
            for u in r["uncounted"]:
                blocked[u["op"]].append(r["spec"])
                calls[u["op"]] += u["calls"]
    out += ["## Uncounted ops, by models they keep incomplete", ""]
    if blocked:
        only_op = Counter(
            r["uncounted"][0]["op"]
            for r in recs
            if r["status"] == "incomplete" and len(r["uncounted"]) == 1
        )
        out += [
            "A formula for an op would make the models in *sole blocker* complete.",
            "",
            "| op | models | sole blocker | calls | examples |",
            "|---|---|---|---|---|",
        ]
        for op, models in sorted(blocked.items(), key=lambda kv: (-len(kv[1]), kv[0])):
            examples = ", ".join(models[:4]) + (" …" if len(models) > 4 else "")
            out.append(
                f"| `{op}` | {len(models)} | {only_op[op]} | {calls[op]} | {_cell(examples)} |"
            )
    else:
        out.append("None: every counted model is complete.")
    out.append("")
    # ---- crashes
    crashes = [r for r in recs if r["status"] in ("crash", "timeout")]
    out += ["## Crashes and timeouts", ""]
    if crashes:
        causes = Counter(classify_crash(r) for r in crashes)
        out += ["| cause | models |", "|---|---|"]
        out += [f"| {_cell(k)} | {v} |" for k, v in causes.most_common()]
        out += [
            "",
            "*flopwise?* = the innermost frame of the failure is flopwise code (worth a look); "
            "otherwise the model itself raised (on meta tensors and again on real ones).",
            "",
            "| model | stage | error | innermost frame | flopwise? |",
            "|---|---|---|---|---|",
        ]
        for r in crashes:
            err = r.get("error") or {}
            message = err.get("message", "")
            if err.get("root"):
                message += f" (root: {err['root']})"
            frame = err.get("last_frame") or ""
            out.append(
                f"| {r['spec']} | {err.get('stage', '')} | {_cell(message[:220])} | "
                f"{_cell(frame)} | {'yes' if suspect_flopwise(r) else ''} |"
            )
    else:
        out.append("None.")
    out.append("")
    # ---- incomplete models
    incomplete = [r for r in recs if r["status"] == "incomplete"]
    out += ["## Incomplete models", ""]
    if incomplete:
        out += [
            "| model | tensors | input | GMACs | uncounted ops (calls) |",
            "|---|---|---|---|---|",
        ]
        for r in incomplete:
            ops = ", ".join(f"`{u['op']}` ({u['calls']})" for u in r["uncounted"])
            out.append(
                f"| {r['spec']} | {r['tensors']} | {_inputs_text(r['inputs'])} | "
                f"{_g(r['macs'])} | {ops} |"
            )
    else:
        out.append("None.")
    out.append("")
    # ---- fallbacks
    fallbacks = [r for r in recs if r.get("tensors") == "real"]
    out += ["## Counted on real tensors (meta count failed)", ""]
    if fallbacks:
        out += ["| model | status | why meta failed |", "|---|---|---|"]
        for r in fallbacks:
            out.append(f"| {r['spec']} | {r['status']} | {_cell(r['fallback_reason'])} |")
    else:
        out.append("None.")
    out.append("")
    # ---- published figures
    refs = [r for r in recs if r.get("reference") and r.get("macs") is not None]
    out += ["## Against torchvision's published GMACs", ""]
    if refs:
        close = [r for r in refs if matches_published(r)]
        out += [
            f"torchvision publishes GMACs for each weights entry (`weights.meta['_ops']`, "
            f"which its docs call GFLOPS); flopwise's MACs are within 1% of it (or of its "
            f"rounding) for "
            f"{len(close)} of {len(refs)} models counted at the documented input. Rows off "
            "by more than 1%:",
            "",
            "| model | input | tensors | flopwise GMACs | published | ratio | uncounted | why |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in refs:
            if matches_published(r):
                continue
            ratio = r["macs"] / 1e9 / r["reference"]["gmacs"]
            ops = ", ".join(u["op"] for u in r["uncounted"]) or "—"
            out.append(
                f"| {r['spec']} | {_inputs_text(r['inputs'])} | {r['tensors']} | "
                f"{r['macs'] / 1e9:.3f} | {r['reference']['gmacs']:.3f} | {ratio:.3f} | {ops} | "
                f"{published_note(r['spec'])} |"
            )
    else:
        out.append("No torchvision model with a published figure counted yet.")
    out.append("")
    out += hf_section(recs)
    # ---- real vs meta
    checks = [r for r in recs if r.get("real_check")]
    out += ["## Real = meta (sample)", ""]
    if checks:
        ok = sum(r["real_check"]["match"] for r in checks)
        out += [
            f"{ok} of {len(checks)} sampled models give identical totals ({', '.join(COMPARED)}) "
            "and the same uncounted ops on meta and real CPU tensors.",
            "",
            "| model | params | GMACs (meta) | GMACs (real) | equal | differences |",
            "|---|---|---|---|---|---|",
        ]
        for r in checks:
            chk = r["real_check"]
            real_macs = (chk.get("real") or {}).get("macs")
            if not chk.get("ran"):
                diff = "real run failed: " + (chk.get("error") or {}).get("message", "")
            else:
                diff = "; ".join(
                    f"{k}: {v['meta']} vs {v['real']}" for k, v in (chk.get("diffs") or {}).items()
                )
            out.append(
                f"| {r['spec']} | {r['params']:,} | {_g(r['macs'])} | {_g(real_macs)} | "
                f"{'yes' if chk['match'] else '**no**'} | {_cell(diff[:300])} |"
            )
    else:
        out.append("No model sampled yet.")
    out.append("")
    return "\n".join(out)


def hf_section(recs: list[dict[str, Any]]) -> list[str]:
    """One row per transformers model (built-in configs and configs/ecosystem/*.json): the
    default inputs its kind gets, parameters, GMACs, status, uncounted ops and, where
    sampled, whether real and meta tensors gave the same totals."""
    rows = [r for r in recs if r["source"] == "hf"]
    out = ["## Transformers architectures", ""]
    if not rows:
        return [*out, "No transformers model counted yet.", ""]
    out += [
        "Each built from its config alone on meta tensors (random weights, nothing "
        "downloaded); a config file names only `model_type` (and `architectures` where the "
        "head matters), the other fields are transformers' defaults for that type. Llava "
        "(transformers' defaults: CLIP ViT-L/14 at 336 px and a Llama-2-7B-sized decoder, "
        "llava-1.5-7b's shape) also states its text vocabulary, 32,064 as llava-1.5 ships "
        "it: the default 32,000 ids do not include the image token id 32000, whose "
        "embedding lookup then fails on real tensors. Its `input_ids` start with the 576 image tokens "
        "its processor inserts ((336/14)² patches; the class token's feature is dropped), "
        "then 128 text tokens; its MACs equal the closed form by hand, and real = meta is "
        "checked on a tiny Llava (tests/test_hf_architectures.py; this one's fp32 weights, "
        "28 GB, do not fit the benchmark host).",
        "",
        "| model | inputs | params | GMACs | status | uncounted ops (calls) | real = meta |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        name = r["spec"].split(":", 1)[1]
        if name.endswith(".json"):
            name = f"{Path(name).stem} (configs/ecosystem)"
        if r["status"] in ("crash", "timeout"):
            status = f"{r['status']}: {(r.get('error') or {}).get('message', '')[:120]}"
        else:
            status = r["status"]
        ops = ", ".join(f"`{u['op']}` ({u['calls']})" for u in r["uncounted"]) or "—"
        chk = r.get("real_check")
        same = "—" if not chk else ("yes" if chk["match"] else "**no**")
        if chk and not chk["match"] and real_meta_note(r["spec"]):
            same += f": {real_meta_note(r['spec'])}"
        params = "—" if r["params"] is None else f"{r['params']:,}"
        out.append(
            f"| {name} | {_inputs_text(r['inputs'])} | {params} | {_g(r['macs'])} | "
            f"{_cell(status)} | {ops} | {same} |"
        )
    return [*out, ""]


#: Why a transformers model's meta count differs from its real one, found by comparing the
#: two runs op by op (MACs are equal in both).
_REAL_META_NOTES = {
    "detr": "transformers builds the encoder's padding mask (arange, index, where ...) only "
    "for fake tensors (on real ones it reads the mask, finds no padding and passes none): "
    "extra elementwise flops and bytes on meta",
    "segformer": "nn.Linear at each mlp.fc2 lowers to mm + add on real CPU tensors and to "
    "addmm on fake ones (its input's strides differ: at::linear folds only a contiguous "
    "input into addmm): equal flops and MACs, more bytes on real",
}
#: BART-style decoders make an all-ones mask themselves; transformers materializes the
#: causal mask only for fake tensors: MACs differ by exactly the upper triangle of each
#: decoder self-attention (12 layers x 16 heads x 8,128 pairs x 64 x 2 = 199,753,728).
_CAUSAL_ON_REAL_ONLY = (
    "transformers builds the decoder's causal mask only for fake tensors (on real ones it "
    "passes is_causal=True): dense decoder self-attention on meta, MACs higher by exactly "
    "the upper triangle (docs/conventions.md section 8)"
)
_REAL_META_NOTES.update(dict.fromkeys(("bart", "mbart", "pegasus"), _CAUSAL_ON_REAL_ONLY))


def real_meta_note(spec: str) -> str:
    """A known reason for a transformers model's meta count to differ from its real one."""
    return _REAL_META_NOTES.get(Path(spec.split(":", 1)[-1]).stem, "")


#: Why a torchvision model's count differs from its published figure, checked by hand:
#: ``get_model("fcn_resnet50", weights=None, weights_backbone=None, aux_loss=True)`` counts
#: 152.717 GMACs at 520², deeplabv3_resnet50 178.722, both equal to the published figures.
_SEGMENTATION_NOTE = (
    "published figure includes the auxiliary classifier torchvision builds with weights "
    "(aux_loss=True); without weights there is none (with aux_loss=True flopwise matches)"
)
_TWO_STAGE_NOTE = (
    "RoI heads run per proposal / detection kept by NMS, which depends on the weights and "
    "the image: random weights on noise keep a different number (one-stage retinanet, fcos, "
    "ssd match exactly)"
)


def published_note(spec: str) -> str:
    """A known reason for a gap to torchvision's published figure, or ''."""
    name = spec.split(":", 1)[-1]
    if name.startswith(("fcn_", "deeplabv3_")):
        return _SEGMENTATION_NOTE
    if "rcnn" in name:
        return _TWO_STAGE_NOTE
    return ""


def matches_published(rec: dict[str, Any]) -> bool:
    """flopwise's MACs within 1% of the published GMACs (or within its 3-decimal rounding)."""
    published = rec["reference"]["gmacs"]
    gmacs = rec["macs"] / 1e9
    return abs(gmacs - published) <= max(0.01 * published, 0.0005)


def _inputs_text(inputs: list[dict[str, Any]]) -> str:
    parts = []
    for i in inputs:
        shape = "×".join(str(d) for d in i["shape"])
        text = f"{i['name']} {shape}" if i.get("name") else shape
        if i.get("placeholder"):  # image tokens a vision-language processor inserts
            place = i["placeholder"]
            text += f" (first {place['count']}: image token {place['token']})"
        parts.append(text)
    return ", ".join(parts) or "—"


def report(path: Path = JSONL, out: Path = REPORT) -> str:
    """Render ``out`` from the records in ``path``; returns the markdown."""
    import timm
    import torch
    import torchvision

    try:
        import transformers

        tf_version = transformers.__version__
    except ImportError:
        tf_version = "not installed"
    listed = {
        "torchvision": len(torchvision_specs()),
        "hf": len(hf_specs()),
        "timm": len(timm.list_models()),
    }
    meta = {
        "generated": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "timm": timm.__version__,
        "transformers": tf_version,
        "listed": listed,
    }
    records = read_records(path)
    with path.open(encoding="utf-8") as f:
        meta["superseded"] = sum(1 for line in f if line.strip()) - len(records)
    text = render_report(records.values(), meta=meta)
    out.write_text(text, encoding="utf-8")
    return text


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="count models (resumes: skips those already done)")
    p_run.add_argument("--only", choices=("torchvision", "timm", "hf"))
    p_run.add_argument("--limit", type=int, help="run at most N models not yet done")
    p_run.add_argument("--timeout", type=float, default=120.0, help="seconds per model")
    p_run.add_argument("--max-rss-gib", type=float, default=6.0, help="memory cap per worker")
    p_run.add_argument("--retry", action="store_true", help="also redo crashes and timeouts")
    p_run.add_argument(
        "--redo", action="store_true", help="run every listed model again (a new record each)"
    )
    p_run.add_argument(
        "--incomplete", action="store_true", help="also redo models last recorded incomplete"
    )
    p_run.add_argument("--results", type=Path, default=JSONL)
    p_chk = sub.add_parser("realcheck", help="add real = meta checks to recorded models")
    p_chk.add_argument("--only", choices=("torchvision", "timm", "hf"))
    p_chk.add_argument("--every", type=int, default=5, help="check every N-th candidate")
    p_chk.add_argument("--limit", type=int, help="check at most N models")
    p_chk.add_argument("--timeout", type=float, default=120.0, help="seconds per model")
    p_chk.add_argument("--max-rss-gib", type=float, default=6.0, help="memory cap per worker")
    p_chk.add_argument("--results", type=Path, default=JSONL)
    p_chk.add_argument(
        "--model",
        action="append",
        dest="models",
        help="check this recorded model whatever its size (repeatable; replaces the sample)",
    )
    p_rep = sub.add_parser("report", help="render the markdown table from the JSONL results")
    p_rep.add_argument("--results", type=Path, default=JSONL)
    p_rep.add_argument("--output", type=Path, default=REPORT)
    args = parser.parse_args(argv)
    if args.command == "run":
        run(
            args.only,
            args.limit,
            args.timeout,
            args.max_rss_gib,
            args.retry,
            path=args.results,
            redo=args.redo,
            incomplete=args.incomplete,
        )
    elif args.command == "realcheck":
        realcheck(
            args.only,
            args.every,
            args.limit,
            args.timeout,
            args.max_rss_gib,
            path=args.results,
            models=args.models,
        )
    else:
        report(args.results, args.output)
        print(f"wrote {_rel(args.output)}")


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent / "src"))  # the checkout's flopwise, not an installed one
    main()
