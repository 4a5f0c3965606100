"""The registry refuses a second rule for one op: the count must not depend on import order."""

import pytest

from flopwise.cost.registry import register, register_zero, registered_ops
from flopwise.cost.types import OpCost


def test_a_second_formula_for_a_counted_op_raises():
    assert "aten.mm" in registered_ops()["formula"]
    with pytest.raises(RuntimeError, match="aten.mm registered twice"):
        register("aten.mm")(lambda call: OpCost())


def test_a_formula_for_a_zero_op_raises_and_so_does_a_second_zero_entry():
    zero_op = registered_ops()["zero"][0]
    with pytest.raises(RuntimeError, match="registered twice"):
        register(zero_op)(lambda call: OpCost())
    with pytest.raises(RuntimeError, match="registered twice"):
        register_zero(zero_op)
