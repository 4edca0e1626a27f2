"""The rewrites `convert` applies to the converter's .tflite file, chosen per mode by a table.

Each pass is a function from file bytes to (file bytes, what it rewrote); graph_edit.py
holds the flatbuffer editing they share:

- hard_swish.py: HARD_SWISH as integer ADD/MUL ops (XNNPACK has no int8 HARD_SWISH;
  TFLite's int16x8 quantizer none at all);
- layer_norm.py: LayerNormalization's float NEG, and int16x8's SQUARED_DIFFERENCE that
  LiteRT cannot run, as integer ops;
- channel_affine.py: a chain of per-channel elementwise ops as one 1x1 DEPTHWISE_CONV_2D.
"""

import dataclasses
from typing import Callable, Optional

from keras_lightnets.tflite.passes.channel_affine import fuse_channel_affine_chains
from keras_lightnets.tflite.passes.hard_swish import decompose_int16_hard_swish
from keras_lightnets.tflite.passes.hard_swish import decompose_int8_hard_swish
from keras_lightnets.tflite.passes.layer_norm import integerize_layer_norm


@dataclasses.dataclass(frozen=True)
class Pass:
    rewrite: Callable  # bytes -> (bytes, what it rewrote)
    option: Optional[str] = None  # the convert() argument that switches it off; None: it always runs

    @property
    def name(self):
        return self.rewrite.__name__


INT8_HARD_SWISH = Pass(decompose_int8_hard_swish, option="decompose_hard_swish")
INT16_HARD_SWISH = Pass(decompose_int16_hard_swish, option="decompose_hard_swish")
LAYER_NORM = Pass(integerize_layer_norm)
CHANNEL_AFFINE = Pass(fuse_channel_affine_chains, option="fuse_channel_affine")

# The passes each quantization mode runs (None: float32), in this order. Channel-affine runs
# in every mode but fuses only chains of float32 or int8 tensors and constants.
PASSES = {
    None: (CHANNEL_AFFINE,),
    "float16": (CHANNEL_AFFINE,),
    "dynamic": (CHANNEL_AFFINE,),
    "int8": (INT8_HARD_SWISH, LAYER_NORM, CHANNEL_AFFINE),
    "int16x8": (INT16_HARD_SWISH, LAYER_NORM, CHANNEL_AFFINE),
}


def passes_for(quantization, **options):
    """The passes `quantization` runs under convert()'s `options` (e.g. fuse_channel_affine=False)."""
    unknown = set(options) - {p.option for steps in PASSES.values() for p in steps}
    if unknown:
        raise ValueError(f"Unknown pass options {sorted(unknown)}.")
    return [p for p in PASSES[quantization] if p.option is None or options.get(p.option, True)]


def run_passes(content, quantization, **options):
    """Returns (content after every pass `quantization` runs, {pass name: what it rewrote})."""
    rewrote = {}
    for step in passes_for(quantization, **options):
        content, rewrote[step.name] = step.rewrite(content)
    return content, rewrote


__all__ = ["Pass", "PASSES", "passes_for", "run_passes"]
