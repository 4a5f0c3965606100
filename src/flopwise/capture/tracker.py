"""Which module is running: forward through global module hooks, backward through hooks
on the autograd node that produced each module's output (the node about to run marks the
module whose backward starts; when it is done, the parent resumes). Everything registered
is removed on exit."""

from __future__ import annotations

import sys
import threading
from collections import Counter
from typing import Any

import torch
from torch import nn
from torch.utils._pytree import tree_leaves


class ModuleTracker:
    """Keeps the dotted path of the innermost running module.

    Paths are those of ``root.named_modules()`` (``""`` is the root); a module not in that
    tree (created during forward, or no root given) is named ``parent.ClassName``.
    """

    def __init__(self, root: nn.Module | None = None) -> None:
        self._names: dict[int, str] = {}
        self._types: dict[str, str] = {}
        if root is not None:
            for name, module in root.named_modules():
                self._names[id(module)] = name
                self._types[name] = type(module).__name__
        # One stack per thread: worker threads (relayed by capture.threads) enter modules of
        # their own; until they do, their ops belong where the capturing thread is.
        self._owner = threading.get_ident()
        self._stacks: dict[int, list[str]] = {self._owner: [""]}
        self.relayed: set[int] = set()  # worker threads whose ops reach the capture
        self.foreign: set[str] = set()  # names of other threads seen running modules
        self._lock = threading.Lock()
        self._backward_path: str | None = None
        self.calls: Counter[str] = Counter()
        self._handles: list[Any] = []
        self._tensor_handles: list[Any] = []
        self._marked: set[Any] = set()
        self.active = False
        self.last_entered = ""  # innermost module started last
        self._raised: list[tuple[BaseException, str]] = []

    # -- public state ---------------------------------------------------------------
    @property
    def path(self) -> str:
        if torch._C._current_autograd_node() is not None and self._backward_path is not None:
            return self._backward_path
        return self._top()

    def raised_in(self, exc: BaseException) -> str | None:
        """The innermost module ``exc`` propagated out of (``""``: the root), or None when it
        left no module. Not :attr:`last_entered`: a module that ran to completion before
        the failing code was not where it failed."""
        return next((path for seen, path in self._raised if seen is exc), None)

    def type_of(self, path: str) -> str:
        return self._types.get(path, "")

    @property
    def module_types(self) -> dict[str, str]:
        return dict(self._types)

    # -- lifecycle ------------------------------------------------------------------
    def __enter__(self) -> ModuleTracker:
        from torch.nn.modules import module as module_mod

        self.active = True
        if threading.get_ident() != self._owner:  # entered in another thread than built
            self._stacks[threading.get_ident()] = self._stacks.pop(self._owner)
            self._owner = threading.get_ident()
        self._handles = [
            module_mod.register_module_forward_pre_hook(self._pre_forward),
            module_mod.register_module_forward_hook(self._post_forward, always_call=True),
        ]
        return self

    def __exit__(self, *exc: object) -> None:
        self.active = False
        for handle in self._handles + self._tensor_handles:
            handle.remove()
        self._handles.clear()
        self._tensor_handles.clear()
        self._marked.clear()

    # -- per-thread stacks -----------------------------------------------------------
    @property
    def _stack(self) -> list[str]:
        ident = threading.get_ident()
        stack = self._stacks.get(ident)
        if stack is None:
            stack = self._stacks[ident] = []
        return stack

    def _top(self) -> str:
        stack = self._stack
        return stack[-1] if stack else self._stacks[self._owner][-1]

    def _note_thread(self) -> None:
        # Module hooks are process-wide; a module run by a thread whose ops the capture's
        # thread-local mode cannot see means those ops are missing from the count.
        ident = threading.get_ident()
        if ident != self._owner and ident not in self.relayed:
            self.foreign.add(threading.current_thread().name)

    # -- hooks ----------------------------------------------------------------------
    def _path_for(self, module: nn.Module) -> str:
        key = id(module)
        if key not in self._names:
            parent = self._top()
            name = type(module).__name__
            path = f"{parent}.{name}" if parent else name
            self._names[key] = path
            self._types.setdefault(path, name)
        return self._names[key]

    def _pre_forward(self, module: nn.Module, args: Any) -> None:
        if not self.active:
            return
        self._note_thread()
        path = self._path_for(module)
        with self._lock:  # worker threads run modules too
            self.calls[path] += 1
        self.last_entered = path
        self._stack.append(path)

    def _post_forward(self, module: nn.Module, args: Any, output: Any) -> None:
        if not self.active:
            return
        path = self._names.get(id(module))
        in_flight = sys.exc_info()[1]  # hooks with always_call run inside forward's `except`
        if (
            in_flight is not None
            and path is not None
            and not any(seen is in_flight for seen, _ in self._raised)
        ):
            self._raised.append((in_flight, path))  # the first hook out is the innermost
        stack = self._stack
        if path in stack[1:] or (path in stack and threading.get_ident() != self._owner):
            while stack[-1] != path:
                stack.pop()
            stack.pop()
        if path is not None and torch.is_grad_enabled():
            for t in _grad_tensors(output):
                node = t.grad_fn
                if node is None or node in self._marked:
                    continue  # an inner module already claimed this node
                self._marked.add(node)
                self._tensor_handles.append(node.register_prehook(self._backward_to(path)))
                self._tensor_handles.append(
                    node.register_hook(self._backward_to(self._parent(path)))
                )

    def _backward_to(self, path: str):
        def hook(*_grads: Any) -> None:
            if self.active:
                self._backward_path = path

        return hook

    @staticmethod
    def _parent(path: str) -> str:
        return path.rsplit(".", 1)[0] if "." in path else ""


def _grad_tensors(tree: Any) -> list[torch.Tensor]:
    try:
        leaves = tree_leaves(tree)
    except Exception:  # exotic output containers
        leaves = []
    return [t for t in leaves if isinstance(t, torch.Tensor) and t.requires_grad]
