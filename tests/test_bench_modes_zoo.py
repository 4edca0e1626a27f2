"""benchmarks/modes_zoo.py's summary: a float32 row over the 1e-4 bar is cleared only by
its float64 control, and a row the control does not clear is named with its numbers."""

import importlib.util
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _modes_zoo():
    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    try:
        spec = importlib.util.spec_from_file_location("modes_zoo", os.path.join(ROOT, "benchmarks", "modes_zoo.py"))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(os.path.join(ROOT, "benchmarks"))


def _row(name, prob_diff, control=None):
    entry = {"max_abs_diff": 10 * prob_diff, "mean_abs_diff": prob_diff, "top1_agreement": 1.0,
             "prob_max_abs_diff": prob_diff, "size_mb": 1.0, "conversion_seconds": 1.0}
    quantized = {**entry, "fully_integer": True, "float_ops": [], "inner_quantize_ops": 0, "requantize_ops": 0}
    row = {"model": name, "status": "ok", "size": 32, "params": 10, "logit_mean_abs": 1.0,
           "modes": {m: quantized if m in ("int8", "int16x8") else entry for m in ("float32", "float16", "dynamic", "int8", "int16x8")},
           "keras_int8_kernels": entry}
    if control is not None:
        file, keras = control
        row["float64_control"] = {"file_float32": {"max_abs_diff": file, "mean_abs_diff": file / 10},
                                  "keras_float32": {"max_abs_diff": keras, "mean_abs_diff": keras / 10}}
    return row


def test_float32_summary_names_what_the_float64_control_does_not_clear():
    modes_zoo = _modes_zoo()
    rows = {"exact": _row("exact", 1e-6), "cleared": _row("cleared", 3e-4, (1.0e-3, 1.0e-3)),
            "farther": _row("farther", 3e-4, (2.0e-3, 1.0e-3)), "uncontrolled": _row("uncontrolled", 3e-4)}
    text = modes_zoo.render({"models": rows})
    assert "float32: **1 of 4** within 0.0001" in text
    assert "in 1 of them (no control yet: uncontrolled; farther: max 2.0e-03 against Keras' 1.0e-03, " \
           "mean 2.0e-04 against 1.0e-04)" in text
    rows = {"exact": rows["exact"], "cleared": rows["cleared"]}
    assert "as close as Keras' own float32 logits (within 10%) in every one of them (the float32 cell)." \
        in modes_zoo.render({"models": rows})
