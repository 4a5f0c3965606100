"""Pipeline stages beyond inference: preprocessing, host-device copy, model, postprocessing.

"Beyond Inference" (2024) showed that in a deployed model the forward pass is often a
minority of the end-to-end time: decoding and resizing an image, tokenizing text, copying
inputs to the accelerator and turning logits into an answer all cost time that a FLOP
count never sees. :func:`measure_stages` builds those stages for a model and its example
inputs and times them in the same run, interleaved (A B C D, B C D A, ...), so a burst of
load from a neighbour hits every stage alike and their shares are comparable.

The stages:

- ``preprocess`` -- for an image model (a ``(N, C, H, W)`` float input): decode a JPEG or
  PNG made in memory with PIL at a camera-like size (640x480 unless told otherwise),
  resize and center-crop to the model's input size, convert to float and normalise
  (torchvision.transforms.v2 when available, else PIL + torch). For a text model (an
  integer ``input_ids``): tokenization with a local ``tokenizer.json`` when given, else a
  small byte-level BPE trained in memory on synthetic text with the ``tokenizers`` library
  (labelled as such: it is not the model's own tokenizer, but it does the same kind of
  work). The output replaces the matching model input, so inference runs on it.
- ``host_to_device`` -- copying the inputs to the device. On the CPU there is no copy: it
  is reported as not applicable, 0 s, with a note. On CUDA it is timed with events.
- ``inference`` -- the model's forward under ``torch.no_grad()``.
- ``postprocess`` -- softmax + top-5 for a classifier, argmax of the next token for a
  language model (decoded when a tokenizer is in use), mean-pool + L2 normalise for an
  encoder's hidden states, per-pixel argmax for a segmentation map; the result is moved to
  the host.

Everything here is deterministic (seeded) and nothing is downloaded.

The package: ``inputs`` (the synthetic camera image and texts, the tokenizer),
``preprocess`` (the preprocess stage per source kind), ``slots`` (finding the inputs it
replaces), ``postprocess`` (choosing the postprocessing), ``timing`` (building the other
stages and timing them: :func:`measure_stages`), ``result`` (entries and shares). The
rows and one-line summary of a result are drawn by :mod:`flopwise.report.stages`.
"""

from __future__ import annotations

from flopwise.measure.stages.inputs import (
    DEFAULT_IMAGE_SIZE,
    in_memory_tokenizer,
    make_image_bytes,
    synthetic_texts,
)
from flopwise.measure.stages.postprocess import choose_postprocess
from flopwise.measure.stages.preprocess import ImagePreprocess, TextPreprocess
from flopwise.measure.stages.result import SCHEMA, STAGES, stage_shares
from flopwise.measure.stages.slots import find_image_input, find_token_input
from flopwise.measure.stages.timing import DEFAULT_BUDGET_S, measure_stages

__all__ = [
    "DEFAULT_BUDGET_S",
    "DEFAULT_IMAGE_SIZE",
    "SCHEMA",
    "STAGES",
    "ImagePreprocess",
    "TextPreprocess",
    "choose_postprocess",
    "find_image_input",
    "find_token_input",
    "in_memory_tokenizer",
    "make_image_bytes",
    "measure_stages",
    "stage_shares",
    "synthetic_texts",
]
