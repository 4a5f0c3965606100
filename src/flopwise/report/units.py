"""Transitional: the formatters live in :mod:`flopwise.units` (a leaf every layer may import).

Kept only because commands/{compare,llm,predict}.py, being reshaped on other branches in the
same wave, still import this path; delete it once they import ``flopwise.units``.
"""

from flopwise.units import count, seconds, si, si_fine

__all__ = ["count", "seconds", "si", "si_fine"]
