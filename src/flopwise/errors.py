"""User-facing errors: each prints as one line and exits non-zero from the CLI."""

from __future__ import annotations


class FlopwiseError(Exception):
    """Base class of every error the CLI reports as a one-line message."""

    exit_code = 2


class DatabaseFile:
    """Base of an object backed by a database file (the results store), ``path``.

    When a database call of such an object fails, the CLI finds the object on the
    traceback and names its file in the one-line error, so no command catches database
    errors itself and the CLI need not import the store."""

    path: object  # the file (a Path); str() names it in the message


class UnknownModel(FlopwiseError):
    """A model name no source knows; the message carries close matches."""


class BadInputSpec(FlopwiseError):
    """An input spec that does not parse (e.g. ``1x3xfoo``)."""


class ShapeMismatch(FlopwiseError):
    """The model rejected the inputs; the message names the module that did."""


class DataDependentOp(FlopwiseError):
    """The model runs an op whose output size depends on tensor values (``nonzero`` in a
    detection model's post-processing): it cannot run on meta or fake tensors, only on real
    ones; the message names the module."""


class MissingDependency(FlopwiseError):
    """An optional dependency is not installed; the message names the extra."""

    def __init__(self, package: str, extra: str, purpose: str = "") -> None:
        why = f" for {purpose}" if purpose else ""
        super().__init__(
            f"{package} is needed{why}; install it with: pip install 'flopwise[{extra}]'"
        )
        self.package = package
        self.extra = extra


class BadModelFile(FlopwiseError):
    """A model file or factory that does not exist or returns no module."""


def require(module: str, extra: str, purpose: str = ""):
    """Import ``module`` or raise :class:`MissingDependency` naming ``extra``."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependency(module.split(".")[0], extra, purpose) from exc
