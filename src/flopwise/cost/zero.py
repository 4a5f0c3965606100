"""The explicit zero-flop set.

Ops that do no floating-point arithmetic on tensor data: views and metadata changes,
copies and dtype casts, indexing and gathers, joins and splits, padding and
rearrangement, selects by a mask, factories and fills (random ones included),
comparisons and logical ops whose result is a boolean mask, and scalar extraction. They
are category ``memory``: the engine still charges the bytes an op moves when it
materialises a tensor (a view moves none).

Decisions recorded here and in docs/conventions.md:

* **Selects** (``where``, ``masked_fill``, ``masked_scatter``, ``nan_to_num``) are data
  movement: the comparison that built the mask is free by the mask rule, and choosing one
  of two existing values is no arithmetic.
* **Comparisons and logical ops** (``eq``, ``lt``, ``isnan``, ``logical_and``, bitwise ops)
  produce booleans used as masks and are free. A comparison that produces the value itself
  (``relu``, ``clamp``, ``maximum``, ``max``/``topk``/``sort`` over a dim) is counted in
  elementwise.py, and so are ops that compare or search data (``unique``, ``searchsorted``,
  ``bucketize``, ``isin``): they get a comparison count like sort's.
* **Nearest-neighbour upsampling** is a gather (no interpolation arithmetic); its backward
  accumulates and is counted.
* **Non-accumulating scatters** (``scatter`` with ``src``/``value``, ``index_copy``,
  ``*_scatter``, ``max_unpool2d``/``3d``) are copies; ``index_put`` and ``put`` decide per
  call in elementwise.py (accumulate=True adds).
* **Window factories** (``hann_window`` ...) are factories like ``linspace``/``logspace``:
  their values are fixed by the length, no tensor data is read.
* **Sparse COO parts** (``_indices``, ``_values``, and the constructor that wraps given
  index and value tensors) are views.
"""

from __future__ import annotations

from flopwise.cost.registry import maybe_ops, register_zero

# Groups, in the order docs/conventions.md lists them. Names are ATen overload packets;
# names absent from this torch build are skipped.
# fmt: off
ZERO_GROUPS: dict[str, tuple[str, ...]] = {
    "views and metadata": (
        "view", "_unsafe_view", "reshape", "_reshape_alias", "view_as", "as_strided",
        "as_strided_", "permute", "transpose", "transpose_", "t", "t_", "numpy_T", "mT", "mH",
        "adjoint", "expand", "expand_as", "squeeze", "squeeze_", "unsqueeze", "unsqueeze_",
        "flatten", "unflatten", "movedim", "moveaxis", "swapaxes", "swapdims", "slice", "select",
        "narrow", "split", "split_with_sizes", "unsafe_split", "unsafe_split_with_sizes",
        "tensor_split", "chunk", "unsafe_chunk", "unbind", "diagonal", "alias", "detach",
        "detach_", "lift", "lift_fresh", "real", "imag", "view_as_real", "view_as_complex",
        "unfold", "_conj", "conj", "resolve_conj", "resolve_neg", "_neg_view", "positive",
        "_reshape_copy", "view_copy", "permute_copy", "transpose_copy", "t_copy",
        "expand_copy", "squeeze_copy", "unsqueeze_copy", "slice_copy", "select_copy",
        "split_copy", "split_with_sizes_copy", "unbind_copy", "diagonal_copy", "alias_copy",
        "detach_copy", "as_strided_copy", "view_as_real_copy", "view_as_complex_copy",
        "unfold_copy", "_reshape_alias_copy", "lift_fresh_copy", "_unsafe_view_copy",
        "_indices", "_values", "indices", "values", "_sparse_coo_tensor_with_dims_and_tensors",
    ),
    "copies and casts": (
        "clone", "copy", "copy_", "_copy_from", "_copy_from_and_resize", "_to_copy", "to",
        "contiguous", "_to_dense", "pin_memory", "_pin_memory", "resize_", "resize_as_",
        "_resize_output_", "set_", "complex", "_foreach_copy_", "_foreach_zero_",
    ),
    "indexing and gathers": (
        "index", "_unsafe_index", "index_select", "gather", "take", "take_along_dim",
        "embedding", "masked_select", "nonzero", "nonzero_static", "argwhere", "index_copy",
        "index_copy_", "index_fill", "index_fill_", "scatter", "scatter_", "slice_scatter",
        "select_scatter", "diagonal_scatter", "as_strided_scatter", "select_backward",
        "slice_backward", "index_select_backward", "diagonal_backward", "one_hot",
        "max_unpool2d", "max_unpool3d",
    ),
    "joins, padding and rearrangement": (
        "cat", "_cat", "concat", "concatenate", "stack", "hstack", "vstack", "dstack",
        "block_diag", "repeat", "repeat_interleave", "tile", "roll", "flip", "fliplr",
        "flipud", "rot90", "tril", "tril_", "triu", "triu_", "diag", "diag_embed",
        "constant_pad_nd", "pad", "reflection_pad1d", "reflection_pad2d", "reflection_pad3d",
        "replication_pad1d", "replication_pad2d", "replication_pad3d", "_pad_circular",
        "pixel_shuffle", "pixel_unshuffle", "channel_shuffle", "native_channel_shuffle",
        "im2col", "lu_unpack", "upsample_nearest1d", "upsample_nearest2d", "upsample_nearest3d",
        "_upsample_nearest_exact1d", "_upsample_nearest_exact2d", "_upsample_nearest_exact3d",
        "_pack_padded_sequence", "_chunk_cat",
    ),
    "selects by a mask": (
        "where", "masked_fill", "masked_fill_", "masked_scatter", "masked_scatter_",
        "nan_to_num", "nan_to_num_",
    ),
    "factories and fills": (
        "empty", "empty_like", "empty_strided", "empty_permuted", "new_empty",
        "new_empty_strided", "zeros", "zeros_like", "new_zeros", "ones", "ones_like",
        "new_ones", "full", "full_like", "new_full", "fill", "fill_", "zero", "zero_",
        "arange", "linspace", "logspace", "range", "scalar_tensor", "eye", "tril_indices",
        "triu_indices", "_efficientzerotensor", "hann_window", "hamming_window",
        "blackman_window", "bartlett_window", "kaiser_window",
    ),
    "random factories": (
        "rand", "rand_like", "randn", "randn_like", "randint", "randint_like", "randperm",
        "bernoulli", "bernoulli_", "normal", "normal_", "normal_functional", "uniform",
        "uniform_", "exponential", "exponential_", "geometric_", "log_normal_", "cauchy_",
        "random_", "multinomial", "poisson",
    ),
    "comparisons and logical ops (masks)": (
        "eq", "eq_", "ne", "ne_", "lt", "lt_", "gt", "gt_", "le", "le_", "ge", "ge_",
        "logical_and", "logical_and_", "logical_or", "logical_or_", "logical_not",
        "logical_not_", "logical_xor", "logical_xor_", "isnan", "isinf", "isfinite",
        "isneginf", "isposinf", "signbit", "bitwise_and", "bitwise_and_",
        "bitwise_or", "bitwise_or_", "bitwise_xor", "bitwise_xor_", "bitwise_not",
        "bitwise_not_", "bitwise_left_shift", "bitwise_right_shift", "__and__", "__or__",
        "__xor__", "__lshift__", "__rshift__", "__iand__", "__ior__", "__ixor__", "equal",
        "is_nonzero", "is_same_size",
    ),
    "scalars, asserts and bookkeeping": (
        "_local_scalar_dense", "item", "_assert_async", "_assert_scalar", "_linalg_check_errors",
        "_functional_assert_async", "_functional_assert_scalar", "_assert_tensor_metadata",
        "sym_constrain_range", "sym_constrain_range_for_size", "record_stream", "_print",
        "sym_size", "sym_numel", "sym_stride", "sym_storage_offset",
    ),
    # Not ATen: profiler markers that optimizers and user code emit (torch.ops.profiler).
    "profiler markers": (
        "profiler._record_function_enter", "profiler._record_function_enter_new",
        "profiler._record_function_exit",
    ),
}
# fmt: on

ZERO_OPS: tuple[str, ...] = tuple(name for names in ZERO_GROUPS.values() for name in names)

register_zero(*maybe_ops(*(name for name in ZERO_OPS if "." not in name)))
register_zero(*(name for name in ZERO_OPS if "." in name))  # other namespaces, by key


def zero_set_markdown() -> str:
    """The zero set as docs/conventions.md lists it (every name, whether or not this torch
    build has the op, so the document does not depend on the torch version)."""
    lines = []
    for group, names in ZERO_GROUPS.items():
        lines.append(f"- **{group}**: " + ", ".join(f"`{name}`" for name in sorted(set(names))))
    return "\n".join(lines) + "\n"
