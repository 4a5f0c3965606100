"""The API layer: one module per job, each the pipeline a command runs (sources → capture →
cost → measure → analysis), returning typed results the report layer renders. Commands
import only this package, ``flopwise`` itself, report and errors."""

from flopwise.measure.devices import (
    DEVICE_CHOICES,
    device_summary,
    reset_peak_memory,
    resolve_device,
    valid_device_name,
)
from flopwise.measure.hardware import resolve_hardware
from flopwise.measure.options import MeasureOptions, torch_threads
from flopwise.pipeline.compare import run_compare, split_model_arg
from flopwise.pipeline.diffusion import generation_cost
from flopwise.pipeline.fit_alpha import (
    DEFAULT_GRID_BUDGET,
    AlphaFitResult,
    run_fit_alpha,
    save_to_host_profile,
)
from flopwise.pipeline.hardware import (
    HostMeasurement,
    list_hardware,
    measure_hardware,
    show_hardware,
)
from flopwise.pipeline.history import (
    DEFAULT_METRICS,
    METRICS,
    RUN_KINDS,
    diff_runs,
    export_run,
    list_runs,
    load_run,
    save_run,
)
from flopwise.pipeline.llm import LLMRequest, LLMResult, RerankRequest, TrainingRequest, run_llm
from flopwise.pipeline.measured import measure_profile
from flopwise.pipeline.memory import OPTIMIZERS, hardware_capacity, run_llm_memory, run_memory
from flopwise.pipeline.onnx import run_onnx_profile
from flopwise.pipeline.predict import (
    CALIBRATION_SCHEMA,
    DEFAULT_CALIBRATION_BUDGET_S,
    LatencyPrediction,
    SavedCalibration,
    calibrate,
    calibration_path,
    campaign_calibration,
    load_calibration,
    predict_model,
    run_calibration,
)
from flopwise.pipeline.profile import (
    add_alpha,
    load,
    run_profile,
    stored_profile,
    training_closed_forms,
)
from flopwise.pipeline.report import html_report, report_chart_list, sweep_chart_list
from flopwise.pipeline.sweep import parse_dim, plan_sweep, run_sweep

__all__ = [
    "AlphaFitResult",
    "CALIBRATION_SCHEMA",
    "DEFAULT_CALIBRATION_BUDGET_S",
    "DEFAULT_GRID_BUDGET",
    "DEFAULT_METRICS",
    "DEVICE_CHOICES",
    "HostMeasurement",
    "LLMRequest",
    "LLMResult",
    "LatencyPrediction",
    "METRICS",
    "MeasureOptions",
    "OPTIMIZERS",
    "RUN_KINDS",
    "RerankRequest",
    "SavedCalibration",
    "TrainingRequest",
    "add_alpha",
    "calibrate",
    "calibration_path",
    "campaign_calibration",
    "device_summary",
    "diff_runs",
    "export_run",
    "generation_cost",
    "hardware_capacity",
    "html_report",
    "list_hardware",
    "list_runs",
    "load",
    "load_calibration",
    "load_run",
    "measure_hardware",
    "measure_llm",
    "measure_profile",
    "measure_training",
    "parse_dim",
    "plan_sweep",
    "predict_model",
    "report_chart_list",
    "reset_peak_memory",
    "resolve_device",
    "resolve_hardware",
    "run_calibration",
    "run_compare",
    "run_fit_alpha",
    "run_llm",
    "run_llm_memory",
    "run_memory",
    "run_onnx_profile",
    "run_profile",
    "run_sweep",
    "save_run",
    "save_to_host_profile",
    "show_hardware",
    "split_model_arg",
    "stored_profile",
    "sweep_chart_list",
    "torch_threads",
    "training_closed_forms",
    "valid_device_name",
]
