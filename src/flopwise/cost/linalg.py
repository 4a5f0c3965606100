"""Dense linear algebra: factorisations, solves, inverses, eigen- and singular value
decompositions.

Each op costs the nominal flop count of the textbook algorithm that LAPACK implements for
it (Golub & Van Loan, *Matrix Computations*, 4th ed.; LAPACK Working Note 41), not the
data-dependent iteration count of a particular run, so the count is the same on real,
fake and meta tensors. The constants live in the rules table (rules.py)
(``RULES``, category ``linalg``) and docs/conventions.md prints them.

Conventions:

* Leading-order polynomials, evaluated exactly as fractions and rounded to the nearest
  integer once per matrix (n³/3 for n = 4 is 21).
* Batched inputs: the per-matrix count times the number of matrices (the broadcast batch
  of all operands).
* ``macs`` is 0: MACs are defined for contraction ops only (docs/conventions.md).
* Complex matrices count 4×: every multiply-add of these algorithms is a complex one,
  4 real multiply-adds.
"""

from __future__ import annotations

from fractions import Fraction

from flopwise.cost.elementwise import _tensor, broadcast_numel
from flopwise.cost.rules import Rule, counter, rule
from flopwise.cost.types import OpCall, OpCost, TensorMeta

COMPLEX_FACTOR = 4


def lu_work(m: int, n: int) -> Fraction:
    """P(m, n) = m·n·k − (m+n)·k²/2 + k³/3, k = min(m, n): the multiply-adds of LU on an
    m×n matrix (GVL §3.2.11); n³/3 for a square matrix."""
    k = min(m, n)
    return Fraction(m * n * k) - Fraction((m + n) * k * k, 2) + Fraction(k**3, 3)


def svd_flops(m: int, n: int, compute_uv: bool, full_matrices: bool) -> Fraction:
    """Golub–Reinsch SVD flops (GVL Fig. 8.6.1) of an m×n matrix, m ≥ n (transposed
    otherwise): Σ only, Σ with thin U and V, or Σ with full U and V."""
    m, n = max(m, n), min(m, n)
    if not compute_uv:
        return Fraction(4 * m * n * n) - Fraction(4 * n**3, 3)
    if full_matrices:
        return Fraction(4 * m * m * n + 8 * m * n * n + 9 * n**3)
    return Fraction(14 * m * n * n + 8 * n**3)


def qr_flops(m: int, n: int, mode: str, r: Rule) -> Fraction:
    """Householder QR of an m×n matrix: R (4·P(m, n)) plus Q accumulated backward for
    mode ``reduced`` (m×k) or ``complete`` (m×m)."""
    k = min(m, n)
    total = r.flops * lu_work(m, n)
    if mode == "reduced":
        total += r.extra("P(m, k), mode='reduced'") * lu_work(m, k)
    elif mode == "complete":
        q = Fraction(m * m * k - m * k * k) + Fraction(k**3, 3)
        total += r.extra("(m²k − mk² + k³/3), mode='complete'") * q
    return total


def _matrices(*tensors: TensorMeta) -> int:
    """Number of matrices in the broadcast batch of ``tensors`` ([.., rows, cols])."""
    return broadcast_numel(t.shape[:-2] for t in tensors if _tensor(t) and t.ndim >= 2)


def _complex(call: OpCall) -> bool:
    # the inputs decide: a real matrix's eigenvalues may come out complex, but the
    # algorithm runs in real arithmetic
    return any(t.dtype.is_complex for t in call.tensor_inputs())


def _linalg(call: OpCall, per_matrix: Fraction, matrices: int, extra: Fraction = 0) -> OpCost:
    """``matrices`` × the per-matrix count (rounded once) + ``extra`` (right-hand-side work,
    already summed over the batch); ×4 for complex data."""
    flops = matrices * round(per_matrix) + round(extra)
    if _complex(call):
        flops *= COMPLEX_FACTOR
    return OpCost(flops=int(flops), category="linalg")


def _rhs(x: TensorMeta, n: int) -> int:
    """Right-hand-side vectors of length ``n`` in a solution tensor, summed over its batch."""
    return x.numel // n if n else 0


@counter("cubic")
def _cubic(call: OpCall, r: Rule) -> OpCost:
    """``rule.flops``·n³ per n×n matrix."""
    a = call.args[0]
    n = a.shape[-1]
    return _linalg(call, r.flops * n**3, _matrices(a))


@counter("lu")
def _lu(call: OpCall, r: Rule) -> OpCost:
    """LU with partial pivoting (and det/slogdet through it): 2·P(m, n) per matrix."""
    a = call.args[0]
    return _linalg(call, r.flops * lu_work(a.shape[-2], a.shape[-1]), _matrices(a))


@counter("substitution")
def _substitution(call: OpCall, r: Rule) -> OpCost:
    """``rule.flops``·n² per right-hand side: linalg_solve_triangular(A, B),
    triangular_solve(B, A), linalg_lu_solve(LU, pivots, B), lu_solve(B, LU, pivots),
    cholesky_solve(B, L). The solution (first output) holds the right-hand sides."""
    name = call.op.split(".")[1]
    factor = call.args[0] if name in ("linalg_solve_triangular", "linalg_lu_solve") else None
    if factor is None:
        factor = call.args[1]
    n = factor.shape[-1]
    return _linalg(call, Fraction(0), 0, r.flops * n * n * _rhs(call.outputs[0], n))


@counter("solve")
def _solve(call: OpCall, r: Rule) -> OpCost:
    """_linalg_solve_ex(A, B, left): LU of A, two substitutions per right-hand side."""
    a = call.args[0]
    n = a.shape[-1]
    substitutions = r.extra("n² per right-hand side") * n * n * _rhs(call.outputs[0], n)
    return _linalg(call, r.flops * lu_work(n, n), _matrices(a, call.args[1]), substitutions)


@counter("qr")
def _qr(call: OpCall, r: Rule) -> OpCost:
    a = call.args[0]
    mode = call.arg(1, "mode", "reduced")
    return _linalg(call, qr_flops(a.shape[-2], a.shape[-1], mode, r), _matrices(a))


@counter("householder_product")
def _householder_product(call: OpCall, r: Rule) -> OpCost:
    """linalg_householder_product(A [.., m, n], tau [.., k])."""
    a, tau = call.args[0], call.args[1]
    m, n = a.shape[-2], a.shape[-1]
    k = tau.shape[-1] if tau.shape else 1
    work = Fraction(m * n * k) - Fraction((m + n) * k * k, 2) + Fraction(k**3, 3)
    return _linalg(call, r.flops * work, _matrices(a))


@counter("lstsq")
def _lstsq(call: OpCall, r: Rule) -> OpCost:
    """linalg_lstsq(A [.., m, n], B [.., m, nrhs] or [.., m])."""
    a, b = call.args[0], call.args[1]
    m, n = a.shape[-2], a.shape[-1]
    k = min(m, n)
    matrices = _matrices(a, b)
    vector = b.ndim == 1 or (b.ndim == a.ndim - 1 and b.shape == a.shape[:-1])
    rhs = matrices * (1 if vector else b.shape[-1])
    per_rhs = r.extra("(m·k − k²/4) per right-hand side") * (Fraction(m * k) - Fraction(k * k, 4))
    return _linalg(call, r.flops * lu_work(m, n), matrices, per_rhs * rhs)


@counter("svd")
def _svd(call: OpCall, r: Rule) -> OpCost:
    """_linalg_svd(A, full_matrices, compute_uv), linalg_svd(A, full_matrices),
    linalg_svdvals(A)."""
    a = call.args[0]
    # linalg_svd(A, full_matrices=True) defaults differently from _linalg_svd; linalg_svdvals
    # seen whole counts as _linalg_svd's defaults, what autograd mode dispatches for it
    full_default = call.op.startswith("aten.linalg_svd.") or call.op == "aten.linalg_svd"
    full = bool(call.arg(1, "full_matrices", full_default))
    compute_uv = bool(call.arg(2, "compute_uv", True))
    per = r.flops * svd_flops(a.shape[-2], a.shape[-1], compute_uv, full)
    return _linalg(call, per, _matrices(a))


@counter("pinv")
def _pinv(call: OpCall, r: Rule) -> OpCost:
    """linalg_pinv(A, ..., hermitian): thin SVD (or eigh) then V·Σ⁺·U1ᵀ."""
    a = call.args[0]
    m, n = a.shape[-2], a.shape[-1]
    hermitian = bool(call.kwargs.get("hermitian", call.args[2] if len(call.args) > 2 else False))
    if hermitian:
        eigh = rule("eigh")
        decomposition = (eigh.flops + eigh.extra("n³ more with eigenvectors (9n³ in all)")) * n**3
    else:
        decomposition = svd_flops(m, n, compute_uv=True, full_matrices=False)
    product = 2 * m * n * min(m, n)
    return _linalg(call, r.flops * (decomposition + product), _matrices(a))


@counter("eigh")
def _eigh(call: OpCall, r: Rule) -> OpCost:
    """_linalg_eigh(A, UPLO, compute_v)."""
    a = call.args[0]
    coefficient = r.flops
    if call.arg(2, "compute_v", True):
        coefficient += r.extra("n³ more with eigenvectors (9n³ in all)")
    return _linalg(call, coefficient * a.shape[-1] ** 3, _matrices(a))


@counter("eig")
def _eig(call: OpCall, r: Rule) -> OpCost:
    """linalg_eig / linalg_eigvals: Schur form and Q, 25n³ per matrix."""
    a = call.args[0]
    return _linalg(call, r.flops * a.shape[-1] ** 3, _matrices(a))
