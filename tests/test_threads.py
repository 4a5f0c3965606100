"""Ops run by worker threads during a profile are counted, or the profile says it missed
them (a dispatch mode is thread-local; issue 10)."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import _get_current_dispatch_mode_stack

import flopwise
from flopwise.errors import FlopwiseError

KINDS = ["real", "fake", "meta"]


class PoolMatmul(nn.Module):
    """Splits the batch into 4 chunks and multiplies each by ``w`` in a thread pool made
    inside forward; one chunk per task, so the work is all in worker threads."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(16, 32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with ThreadPoolExecutor(max_workers=2) as pool:
            parts = list(pool.map(lambda c: c @ self.w, x.chunk(4)))
        return torch.cat(parts)


class PoolModules(nn.Module):
    """Runs a submodule per chunk in threads (the shape of DataParallel's parallel_apply)."""

    def __init__(self, pool: ThreadPoolExecutor | None = None) -> None:
        super().__init__()
        self.lin = nn.Linear(16, 8, bias=False)
        self.pool = pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pool is not None:
            return torch.cat(list(self.pool.map(self.lin, x.chunk(2))))
        threads, out = [], [None, None]

        def work(i: int, c: torch.Tensor) -> None:
            out[i] = self.lin(c)

        for i, c in enumerate(x.chunk(2)):
            threads.append(threading.Thread(target=work, args=(i, c)))
            threads[-1].start()
        for t in threads:
            t.join()
        return torch.cat(out)


@pytest.mark.parametrize("kind", KINDS)
def test_pool_inside_forward_is_counted(kind):
    prof = flopwise.profile(PoolMatmul(), torch.randn(8, 16), tensors=kind)
    # four [2,16] @ [16,32] matmuls: 4 * 2*16*32 = 4096 MACs, 8192 FLOPs; cat is free.
    assert prof.totals.macs == 4 * 2 * 16 * 32 == 4096
    assert prof.totals.flops == 8192
    assert prof.complete and prof.incomplete_reasons == []
    assert sum(r.op == "aten.mm" for r in prof.ops) == 4
    # the workers' ops belong where the thread that started them was: the root module
    assert {r.module_path for r in prof.ops if r.op == "aten.mm"} == {""}


@pytest.mark.parametrize("kind", KINDS)
def test_modules_run_in_new_threads_keep_their_path(kind):
    prof = flopwise.profile(PoolModules(), torch.randn(6, 16), tensors=kind)
    # two [3,16] x [16,8] linears: 2 * 3*16*8 MACs
    assert prof.totals.macs == 2 * 3 * 16 * 8
    assert prof.module("lin").macs == prof.totals.macs
    assert prof.module("lin").calls == 2
    assert prof.complete


def test_pool_built_before_profile_is_reported_incomplete():
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(lambda: None).result()  # the worker thread exists before the profile
        prof = flopwise.profile(PoolModules(pool), torch.randn(6, 16))
    assert not prof.complete
    assert prof.uncounted == []
    (reason,) = prof.incomplete_reasons
    assert "thread" in reason and "not counted" in reason
    doc = json.loads(prof.to_json())
    assert doc["complete"] is False and doc["incomplete_reasons"] == [reason]
    assert "INCOMPLETE" in prof.table() and "thread" in prof.table()


def test_nothing_left_behind_after_threads():
    before = threading.getprofile()
    flopwise.profile(PoolMatmul(), torch.randn(8, 16))
    assert threading.getprofile() is before
    assert _get_current_dispatch_mode_stack() == []
    # a thread started after the profile runs with no mode pushed
    seen = []
    t = threading.Thread(target=lambda: seen.append(_get_current_dispatch_mode_stack()))
    t.start()
    t.join()
    assert seen == [[]]


def test_thread_hook_removed_when_model_raises():
    class Boom(nn.Module):
        def forward(self, x):
            with ThreadPoolExecutor(1) as pool:
                pool.submit(lambda: x @ x).result()
            raise ValueError("boom")

    before = threading.getprofile()
    with pytest.raises(FlopwiseError):
        flopwise.profile(Boom(), torch.randn(4, 4))
    assert threading.getprofile() is before
    assert _get_current_dispatch_mode_stack() == []


class EarlierPoolMatmul(nn.Module):
    """Raw matmuls (no submodule) in a pool that exists before the profile: the capture
    cannot see them, so the profile must not claim to be complete."""

    def __init__(self, pool: ThreadPoolExecutor) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(16, 32))
        self.pool = pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = list(self.pool.map(self._work, x.chunk(4)))
        return torch.cat(parts)

    def _work(self, c: torch.Tensor) -> torch.Tensor:
        out = c
        for _ in range(50):  # enough work for the thread's CPU clock to move
            out = (c @ self.w)[:, :16] + out
        return out @ self.w


@pytest.mark.parametrize("kind", ["real", "meta"])
def test_raw_ops_in_earlier_pool_make_profile_incomplete(kind):
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(lambda: None).result()
        prof = flopwise.profile(EarlierPoolMatmul(pool), torch.randn(8, 16), tensors=kind)
    assert [r.op for r in prof.ops if r.op != "aten.chunk"] == ["aten.split.Tensor", "aten.cat"]
    assert not prof.complete
    (reason,) = prof.incomplete_reasons
    assert "made outside the capture" in reason and "not counted" in reason


def test_model_constant_and_literal_are_not_taken_for_thread_work():
    """Tensors a model owns as plain attributes, and torch.tensor literals, are not work of
    another thread even while an earlier thread is busy."""

    class Consts(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.scale = torch.full((4,), 2.0)  # not a buffer

        def forward(self, x):
            return x * self.scale + torch.tensor(1.0)

    stop = threading.Event()

    def spin():
        while not stop.is_set():
            sum(range(1000))

    busy = threading.Thread(target=spin, daemon=True)
    busy.start()
    try:
        prof = flopwise.profile(Consts(), torch.randn(3, 4))
    finally:
        stop.set()
        busy.join()
    assert prof.complete, prof.incomplete_reasons
