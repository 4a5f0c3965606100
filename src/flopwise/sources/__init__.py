"""Model sources and input specs: turn ``torchvision:resnet50``, ``hf:llama-3-8b``,
``file.py:factory`` ... into a module with random weights, and ``input_ids=1x128:int64``
into tensors. Nothing is ever downloaded."""

from flopwise.sources.hf_configs import BUILTIN, list_builtin, load_config_dict
from flopwise.sources.models import (
    SOURCES,
    LoadedModel,
    ModelTooLarge,
    build_hf_model,
    load_model,
    parse_model_spec,
)
from flopwise.sources.specs import (
    InputSpec,
    describe_inputs,
    make_inputs,
    normalize_example_inputs,
    parse_dtype,
    parse_input_spec,
    parse_input_specs,
)

__all__ = [
    "BUILTIN",
    "SOURCES",
    "InputSpec",
    "LoadedModel",
    "ModelTooLarge",
    "build_hf_model",
    "describe_inputs",
    "list_builtin",
    "load_config_dict",
    "load_model",
    "make_inputs",
    "normalize_example_inputs",
    "parse_dtype",
    "parse_input_spec",
    "parse_input_specs",
    "parse_model_spec",
]
