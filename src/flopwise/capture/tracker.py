"""Which module is running: forward through global module hooks, backward through hooks
on the autograd node that produced each module's output (the node about to run marks the
module whose backward starts; when it is done, the parent resumes). Everything registered
is removed on exit."""

from __future__ import annotations

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
        self._stack: list[str] = [""]
        self._backward_path: str | None = None
        self.calls: Counter[str] = Counter()
        self._handles: list[Any] = []
        self._tensor_handles: list[Any] = []
        self._marked: set[Any] = set()
        self.active = False
        self.last_entered = ""  # innermost module started last: where an error came from

    # -- public state ---------------------------------------------------------------
    @property
    def path(self) -> str:
        if torch._C._current_autograd_node() is not None and self._backward_path is not None:
            return self._backward_path
        return self._stack[-1]

    def type_of(self, path: str) -> str:
        return self._types.get(path, "")

    @property
    def module_types(self) -> dict[str, str]:
        return dict(self._types)

    # -- lifecycle ------------------------------------------------------------------
    def __enter__(self) -> ModuleTracker:
        from torch.nn.modules import module as module_mod

        self.active = True
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

    # -- hooks ----------------------------------------------------------------------
    def _path_for(self, module: nn.Module) -> str:
        key = id(module)
        if key not in self._names:
            parent = self._stack[-1]
            name = type(module).__name__
            path = f"{parent}.{name}" if parent else name
            self._names[key] = path
            self._types.setdefault(path, name)
        return self._names[key]

    def _pre_forward(self, module: nn.Module, args: Any) -> None:
        if not self.active:
            return
        path = self._path_for(module)
        self.calls[path] += 1
        self.last_entered = path
        self._stack.append(path)

    def _post_forward(self, module: nn.Module, args: Any, output: Any) -> None:
        if not self.active:
            return
        path = self._names.get(id(module))
        if path in self._stack[1:]:
            while self._stack[-1] != path:
                self._stack.pop()
            self._stack.pop()
        # Not during backward: a forward run there is a checkpoint's recomputation, whose
        # graph is never backpropagated; marking its nodes would keep them (and the
        # tensors they save) alive until the capture ends.
        if (
            path is not None
            and torch.is_grad_enabled()
            and torch._C._current_autograd_node() is None
        ):
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
