"""The API layer: one module per job, each the pipeline a command runs (sources → capture →
cost → measure → analysis), returning typed results the report layer renders. Commands
import only this package, ``flopwise`` itself, report and errors."""

from flopwise.llm.measured import measure_llm, measure_training
from flopwise.measure.devices import (
    DEVICE_CHOICES,
    device_summary,
    reset_peak_memory,
    resolve_device,
    valid_device_name,
)
from flopwise.measure.hardware import resolve_hardware
from flopwise.pipeline.diffusion import generation_cost
from flopwise.pipeline.memory import OPTIMIZERS, hardware_capacity, run_llm_memory, run_memory
from flopwise.pipeline.onnx import run_onnx_profile
from flopwise.pipeline.profile import add_alpha, load, run_profile, training_closed_forms

__all__ = [
    "DEVICE_CHOICES",
    "OPTIMIZERS",
    "add_alpha",
    "device_summary",
    "generation_cost",
    "hardware_capacity",
    "load",
    "measure_llm",
    "measure_training",
    "reset_peak_memory",
    "resolve_device",
    "resolve_hardware",
    "run_llm_memory",
    "run_memory",
    "run_onnx_profile",
    "run_profile",
    "training_closed_forms",
    "valid_device_name",
]
