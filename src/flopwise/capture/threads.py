"""Seeing ops run by other Python threads during a capture.

A ``TorchDispatchMode`` is thread-local: ops a model runs in worker threads (a
``ThreadPoolExecutor`` inside ``forward``, ``DataParallel``'s ``parallel_apply``) never reach
the capturing thread's mode. While a capture is open, :class:`ThreadRelay` uses the public
``threading.setprofile`` hook, which runs once at the start of every thread started through
``threading``, to run that thread's target under a :class:`_Relay` mode that hands each op to
the capture. Threads that already existed when the capture started (a pool built earlier)
cannot be reached this way; :meth:`ThreadRelay.busy_earlier_threads` names those that used
CPU time during the capture, so the profile can say it may have missed their work.

Everything is undone on exit: the ``threading`` hook is restored, and each relay is popped
when its thread's target returns. A thread started during the capture that is still running
afterwards (a pool never shut down) keeps an inert relay, which passes every op straight
through, until its target returns.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from torch.utils._python_dispatch import TorchDispatchMode, _pop_mode, _push_mode


def _cpu_ns(ident: int) -> int | None:
    """CPU time a thread has used (ns), or None where the platform cannot tell."""
    try:
        return time.clock_gettime_ns(time.pthread_getcpuclockid(ident))
    except (AttributeError, OSError, OverflowError, ValueError):
        return None


class _Relay(TorchDispatchMode):
    """Pushed in a worker thread: forwards each op to the capturing mode while it is open."""

    def __init__(self, owner: ThreadRelay) -> None:
        super().__init__()
        self.owner = owner

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        mode = self.owner.mode
        if not self.owner.active:
            return func(*args, **(kwargs or {}))
        return mode.__torch_dispatch__(func, types, args, kwargs)

    # Push and pop the mode only: TorchDispatchMode.__enter__ also flips process-wide flags
    # that a thread outliving the capture would restore out of order.
    def __enter__(self) -> _Relay:
        _push_mode(self)
        return self

    def __exit__(self, *exc: object) -> None:
        _pop_mode()


class ThreadRelay:
    """Context manager: threads started inside it run their ops through ``mode`` too.

    ``threads`` counts the threads relayed; ``missed`` names threads whose target could not
    be wrapped (a ``Thread`` subclass that overrides ``run``), whose work is therefore not
    counted.
    """

    def __init__(self, mode: Any, on_thread: Callable[[int], None] | None = None) -> None:
        self.mode = mode
        self.active = False
        self.threads = 0
        self.missed: list[str] = []
        self.idents: set[int] = set()
        self._on_thread = on_thread
        self._previous: Any = None
        self._clocks: dict[int, tuple[str, int | None]] = {}

    def __enter__(self) -> ThreadRelay:
        self._previous = threading.getprofile()
        self._clocks = {
            t.ident: (t.name, _cpu_ns(t.ident))
            for t in threading.enumerate()
            if t.ident is not None and t.ident != threading.get_ident()
        }
        self.active = True
        threading.setprofile(self._start_hook)
        return self

    def busy_earlier_threads(self) -> list[str]:
        """Names of threads that existed before the capture and used CPU time during it
        (their ops, if any, were not seen). Where per-thread CPU clocks are unavailable,
        every such thread still alive is listed."""
        alive = {t.ident for t in threading.enumerate()}
        busy = []
        for ident, (name, before) in self._clocks.items():
            if ident not in alive:
                continue
            now = _cpu_ns(ident)
            if before is None or now is None or now > before:
                busy.append(name)
        return sorted(busy)

    def __exit__(self, *exc: object) -> None:
        self.active = False
        threading.setprofile(self._previous)

    def _start_hook(self, frame: Any, event: str, arg: Any) -> None:
        # Runs in the new thread, before Thread.run reads its target: this thread gets the
        # profile hook it would have had without us, then its target is wrapped.
        sys.setprofile(self._previous)
        thread = threading.current_thread()
        if not self.active:
            return
        # Thread.run calls self._target; a subclass overriding run() has no target to wrap.
        target = getattr(thread, "_target", None)
        if target is None or type(thread).run is not threading.Thread.run:
            self.missed.append(thread.name)
            return
        thread._target = self._wrap(target)  # type: ignore[attr-defined]

    def _wrap(self, target: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            ident = threading.get_ident()
            self.idents.add(ident)
            self.threads += 1
            if self._on_thread is not None:
                self._on_thread(ident)
            with _Relay(self):
                return target(*args, **kwargs)

        return run
