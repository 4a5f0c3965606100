"""Executors: where campaign jobs run. One interface, two implementations.

- :class:`LocalExecutor`: worker processes on this machine, started once and reused.
  Counting jobs are packed (one per worker); a timing job starts only when nothing else
  runs and nothing else starts until it ends, so timings are not disturbed. A job that
  outlives its timeout has its worker killed; a worker that dies (segfault, OOM killer)
  fails exactly the job it was running. Workers are replaced as needed.
- :class:`RayExecutor`: one Ray task per job with its resource needs (``num_gpus``, a
  custom resource ``device:<kind>``); timing jobs (measure, energy) ask for every CPU of
  their node so that nothing else is scheduled beside them. Ray is an optional extra (``flopwise[ray]``).

Both return the worker's result dict (:func:`flopwise.campaign.worker.run_job`) or, when
the worker could not return one (crash, timeout), a dict with ``ok: False`` and the reason.
Retries are the driver's business (:mod:`flopwise.campaign.runner`), the same for both.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
import time
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from flopwise.campaign.plan import Job
from flopwise.campaign.worker import RESULT_SCHEMA, run_job
from flopwise.errors import FlopwiseError


def failure(reason: str, host: str | None = None) -> dict[str, Any]:
    """A result dict for a job whose worker returned nothing (crash, timeout, lost node)."""
    import socket

    return {
        "schema": RESULT_SCHEMA,
        "ok": False,
        "error": reason,
        "host": host or socket.gethostname(),
        "elapsed_s": None,
    }


class Executor(ABC):
    """Runs jobs somewhere and hands back their results, in completion order."""

    name: str = "?"

    @abstractmethod
    def submit(self, job: Job) -> None:
        """Queue a job (the executor decides when and where it runs)."""

    @abstractmethod
    def poll(self, timeout: float) -> list[tuple[Job, dict[str, Any]]]:
        """Wait up to ``timeout`` seconds and return the jobs that finished (each with its
        result dict); an empty list when none did."""

    @abstractmethod
    def outstanding(self) -> int:
        """Jobs submitted and not yet returned by :meth:`poll`."""

    @abstractmethod
    def close(self) -> None:
        """Stop every worker now; jobs still running are abandoned (idempotent)."""

    def describe(self) -> str:
        """One line for the terminal: what runs where."""
        return self.name


# ---------------------------------------------------------------------------------------
# Local


def _worker_main(conn: Connection) -> None:
    # Ctrl-C reaches the whole process group; the driver decides what stops, not the worker.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    conn.send("ready")  # imports are done: a job's timeout starts from here, not from spawn
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        conn.send(run_job(job))


#: Seconds a fresh worker may take to import torch and flopwise.
_READY_TIMEOUT_S = 300


@dataclass
class _Slot:
    process: mp.process.BaseProcess
    conn: Connection
    job: Job | None = None
    deadline: float | None = None


class LocalExecutor(Executor):
    """Worker processes on this machine (see the module docstring).

    ``workers``: how many counting jobs run at once (default: CPU count, at most 8).
    ``timeout_s``: a job running longer has its worker killed and fails with a timeout.
    """

    name = "local"
    #: What a worker process runs (a test replaces it) and the seconds it may take to be
    #: ready (importing torch and flopwise).
    worker_target = staticmethod(_worker_main)
    ready_timeout_s: float = _READY_TIMEOUT_S

    def __init__(self, workers: int | None = None, timeout_s: float | None = None) -> None:
        self.workers = max(1, workers or min(os.cpu_count() or 1, 8))
        self.timeout_s = timeout_s
        # spawn, not fork: the driver may hold threads (torch, rich) that fork would copy
        # in an unknown state.
        self._ctx = mp.get_context("spawn")
        self._slots: list[_Slot] = []
        self._counts: deque[Job] = deque()
        self._timings: deque[Job] = deque()
        self._closed = False

    def describe(self) -> str:
        return f"local: {self.workers} worker process(es), timing jobs one at a time"

    def submit(self, job: Job) -> None:
        (self._timings if job.timing else self._counts).append(job)

    def outstanding(self) -> int:
        running = sum(1 for s in self._slots if s.job is not None)
        return running + len(self._counts) + len(self._timings)

    def _start_slot(self) -> _Slot:
        parent, child = self._ctx.Pipe()
        process = self._ctx.Process(target=self.worker_target, args=(child,), daemon=True)
        process.start()
        child.close()
        # Wait for "ready" or the process's end, whichever comes first: a worker that dies
        # while importing does not always close the pipe, and must not cost the whole wait.
        wait([parent, process.sentinel], timeout=self.ready_timeout_s)
        try:
            ready = parent.poll() and parent.recv() == "ready"
        except (EOFError, OSError):  # it died while importing
            ready = False
        if not ready:
            process.kill()
            process.join(timeout=5)
            if process.exitcode not in (None, -signal.SIGKILL):
                raise FlopwiseError(
                    f"a campaign worker process exited with status {process.exitcode} before "
                    "it was ready (its error is above; a driver script must be a file that "
                    "guards its code with `if __name__ == '__main__':`, for spawned workers "
                    "import it again)"
                )
            raise FlopwiseError(
                f"a campaign worker process did not start within {self.ready_timeout_s:g} s"
            )
        slot = _Slot(process=process, conn=parent)
        self._slots.append(slot)
        return slot

    def _stop_slot(self, slot: _Slot) -> None:
        slot.conn.close()
        if slot.process.is_alive():
            slot.process.kill()  # our own child, by its handle
        slot.process.join(timeout=5)
        self._slots.remove(slot)

    def _dispatch(self) -> None:
        running = [s for s in self._slots if s.job is not None]
        if any(s.job.timing for s in running):  # a timing job runs alone
            return
        if self._counts:
            idle = [s for s in self._slots if s.job is None]
            while self._counts and len(running) < self.workers:
                slot = idle.pop() if idle else self._start_slot()
                self._send(slot, self._counts.popleft())
                running.append(slot)
            return
        if self._timings and not running:
            idle = [s for s in self._slots if s.job is None]
            self._send(idle[0] if idle else self._start_slot(), self._timings.popleft())

    def _send(self, slot: _Slot, job: Job) -> None:
        slot.job = job
        slot.deadline = time.monotonic() + self.timeout_s if self.timeout_s else None
        slot.conn.send(job.to_dict())

    def poll(self, timeout: float) -> list[tuple[Job, dict[str, Any]]]:
        if self._closed:
            return []
        self._dispatch()
        busy = [s for s in self._slots if s.job is not None]
        if not busy:
            return []
        now = time.monotonic()
        deadlines = [s.deadline - now for s in busy if s.deadline is not None]
        wait_s = max(0.0, min([timeout, *deadlines]))
        waitables: list[Any] = [s.conn for s in busy] + [s.process.sentinel for s in busy]
        wait(waitables, timeout=wait_s)
        finished: list[tuple[Job, dict[str, Any]]] = []
        for slot in list(busy):
            job = slot.job
            assert job is not None
            result: dict[str, Any] | None = None
            dead = False
            if slot.conn.poll():
                try:
                    result = slot.conn.recv()
                except (EOFError, OSError):
                    dead = True
            elif not slot.process.is_alive():
                dead = True
            if result is not None:
                slot.job, slot.deadline = None, None
                finished.append((job, result))
            elif dead:
                slot.process.join(timeout=5)
                code = slot.process.exitcode
                why = (
                    f"killed by signal {-code}"
                    if code is not None and code < 0
                    else f"exit code {code}"
                )
                hint = " (out of memory?)" if code == -signal.SIGKILL else ""
                self._stop_slot(slot)
                finished.append((job, failure(f"worker process died: {why}{hint}")))
            elif slot.deadline is not None and time.monotonic() >= slot.deadline:
                self._stop_slot(slot)
                finished.append((job, failure(f"timed out after {self.timeout_s:g} s")))
        self._dispatch()
        return finished

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for slot in list(self._slots):
            if slot.job is None:
                try:
                    slot.conn.send(None)  # idle: ask it to leave
                    slot.process.join(timeout=2)
                except (OSError, ValueError):
                    pass
            self._stop_slot(slot)
        self._counts.clear()
        self._timings.clear()


# ---------------------------------------------------------------------------------------
# Ray


def _ray_run_job(job: dict[str, Any]) -> dict[str, Any]:
    """The Ray task body (module-level so Ray pickles it by reference)."""
    return run_job(job)


class RayExecutor(Executor):
    """One Ray task per job on a Ray cluster (``address``: ``"auto"``, ``"HOST:PORT"``,
    ``"ray://HOST:PORT"``, or None for the cluster already initialised in this process or a
    new local one).

    Resources per job: counting jobs 1 CPU; timing jobs every CPU of the smallest node that
    can run them (so nothing else is placed beside them), plus ``num_gpus=1`` and the custom
    resource ``device:<kind>`` for GPU kinds (``cuda`` asks for any GPU). Jobs for a device
    kind no alive node offers fail at once with that reason. At most ``window`` jobs are in
    Ray at a time (default: twice the cluster's CPUs), and ``timeout_s`` counts from
    submission, so a queue does not eat a job's time budget.
    """

    name = "ray"

    def __init__(
        self,
        address: str | None = "auto",
        timeout_s: float | None = None,
        window: int | None = None,
        init_kwargs: dict[str, Any] | None = None,
    ) -> None:
        try:
            import ray
        except ImportError:
            raise FlopwiseError(
                "the Ray executor needs Ray; install it with: pip install 'flopwise[ray]'"
            ) from None
        self._ray = ray
        if not ray.is_initialized():
            try:
                ray.init(address=address, **(init_kwargs or {}))
            except ConnectionError as exc:
                raise FlopwiseError(f"cannot reach the Ray cluster at {address}: {exc}") from None
        self.timeout_s = timeout_s
        self._task = ray.remote(max_retries=0)(_ray_run_job)  # retries are the driver's
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        self._nodes = [n.get("Resources", {}) for n in nodes]
        cpus = sum(int(r.get("CPU", 0)) for r in self._nodes)
        self.window = window or max(2, 2 * cpus)
        self._queue: deque[Job] = deque()
        self._refs: dict[Any, tuple[Job, float]] = {}
        self._immediate: list[tuple[Job, dict[str, Any]]] = []
        self._closed = False

    def describe(self) -> str:
        cpus = sum(int(r.get("CPU", 0)) for r in self._nodes)
        gpus = sum(int(r.get("GPU", 0)) for r in self._nodes)
        kinds = sorted({k for r in self._nodes for k in r if k.startswith("device:")})
        extra = f", {', '.join(kinds)}" if kinds else ""
        return f"ray: {len(self._nodes)} node(s), {cpus} CPU(s), {gpus} GPU(s){extra}"

    def options_for(self, job: Job) -> dict[str, Any] | str:
        """Ray task options for ``job``, or the reason no node can run it. A job that does
        not time (count, memory, predict) takes one CPU; one on a GPU kind (predict with
        that GPU's calibration) also its GPU resources, as a timing job does."""
        if job.device in ("meta", "cpu") and not job.timing:
            return {"num_cpus": 1}
        if job.device == "cpu":
            needs: dict[str, float] = {}
        elif job.device == "cuda":
            needs = {"GPU": 1}
        else:
            needs = {"GPU": 1, f"device:{job.device}": 1}
        able = [r for r in self._nodes if all(r.get(k, 0) >= v for k, v in needs.items())]
        if not able:
            wanted = ", ".join(needs) or "CPU"
            return f"no node in the Ray cluster offers {wanted} (device {job.device!r})"
        cpus = min(int(r.get("CPU", 1)) for r in able) if job.timing else 1
        options: dict[str, Any] = {"num_cpus": cpus}
        if "GPU" in needs:
            options["num_gpus"] = 1
        custom = {k: v for k, v in needs.items() if k != "GPU"}
        if custom:
            options["resources"] = custom
        return options

    def submit(self, job: Job) -> None:
        self._queue.append(job)

    def outstanding(self) -> int:
        return len(self._queue) + len(self._refs) + len(self._immediate)

    def _fill(self) -> None:
        while self._queue and len(self._refs) < self.window:
            job = self._queue.popleft()
            options = self.options_for(job)
            if isinstance(options, str):
                self._immediate.append((job, failure(options)))
                continue
            ref = self._task.options(**options).remote(job.to_dict())
            self._refs[ref] = (job, time.monotonic())

    def poll(self, timeout: float) -> list[tuple[Job, dict[str, Any]]]:
        if self._closed:
            return []
        ray = self._ray
        self._fill()
        finished, self._immediate = self._immediate, []
        if self._refs and not finished:  # block until one is done (or the timeout)
            ray.wait(list(self._refs), num_returns=1, timeout=timeout)
        if self._refs:
            ready, _ = ray.wait(list(self._refs), num_returns=len(self._refs), timeout=0)
            for ref in ready:
                job, _ = self._refs.pop(ref)
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayError as exc:
                    # A crashed worker, a lost node, an OOM kill: Ray says which.
                    text = str(exc).strip().splitlines()
                    result = failure(f"{type(exc).__name__}: {text[-1] if text else exc}")
                finished.append((job, result))
        if self.timeout_s:
            now = time.monotonic()
            for ref, (job, started) in list(self._refs.items()):
                if now - started > self.timeout_s:
                    ray.cancel(ref, force=True)
                    del self._refs[ref]
                    finished.append((job, failure(f"timed out after {self.timeout_s:g} s")))
        self._fill()
        return finished

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for ref in list(self._refs):
            with contextlib.suppress(Exception):  # already finished or its node is gone
                self._ray.cancel(ref, force=True)
        self._refs.clear()
        self._queue.clear()
