"""Sparse retrieval cost (Paria et al. 2020, "Minimizing FLOPs to learn efficient sparse
representations").

With an inverted index over N documents, a query and a document meet in dimension j when
both are nonzero there. If dimension j is nonzero with probability p_j, independently for
queries and documents drawn from the same distribution, the expected number of
multiply-adds per query is ``N·Σ_j p_j²``. The FLOPS regulariser, a smooth surrogate
trained against, is ``Σ_j (mean_i |a_ij|)²`` over a batch of embeddings ``a``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def expected_flops(probabilities: Sequence[float] | np.ndarray, num_docs: int) -> float:
    """Expected FLOPs per query of a sparse inverted index: ``N·Σ_j p_j²`` (Paria et al. count
    one flop per matching dimension, i.e. one multiply-add)."""
    p = np.asarray(probabilities, dtype=np.float64)
    if np.any(p < 0) or np.any(p > 1):
        raise ValueError("activation probabilities must lie in [0, 1]")
    return float(num_docs * np.sum(p * p))


def activation_probabilities(embeddings: np.ndarray, tol: float = 0.0) -> np.ndarray:
    """``p_j``: fraction of rows of ``embeddings`` (``[samples, dims]``) nonzero in dim j
    (``|a_ij| > tol``)."""
    a = np.asarray(embeddings)
    if a.ndim != 2:
        raise ValueError("embeddings must be a [samples, dims] matrix")
    return (np.abs(a) > tol).mean(axis=0)


def expected_flops_from_embeddings(
    embeddings: np.ndarray, num_docs: int, tol: float = 0.0
) -> float:
    """:func:`expected_flops` with ``p_j`` estimated from a sample of embeddings."""
    return expected_flops(activation_probabilities(embeddings, tol), num_docs)


def flops_regularizer(embeddings: np.ndarray) -> float:
    """The FLOPS regulariser ``Σ_j (mean_i |a_ij|)²`` of a batch of embeddings."""
    a = np.abs(np.asarray(embeddings, dtype=np.float64))
    if a.ndim != 2:
        raise ValueError("embeddings must be a [samples, dims] matrix")
    return float(np.sum(a.mean(axis=0) ** 2))
