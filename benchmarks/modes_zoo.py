"""Every conversion mode for every model of the zoo: fidelity, size and conversion time.

For each registered model (the 88 CNNs, and ViT and Swin), at the smallest of 32 /
64 / 75 px it builds at, with 10 classes and logits out (`classifier_activation=None`):

1. give its BatchNormalization layers the statistics of real photos (crops of
   scikit-image's samples), as a trained network has them;
2. convert it with `kt.convert` in each mode: float32, float16, dynamic range,
   full int8 and int16x8 (calibrated on 32 crops; int8 strict, i.e. fully integer
   or an error; where the integer set cannot express an op, the strict error is
   recorded and the file is made again with `allow_float_fallback=True`);
3. run each file on 32 other crops against the Keras model: max and mean absolute
   difference and top-1 agreement of the logits, and the max absolute difference of
   the softmax probabilities (what the zoo's models output by default).

The issue's bar: float32 within a max absolute difference of 1e-4 of the Keras model,
read on the probabilities; the logits' difference is beside it. Weights are random:
such a network amplifies a small weight perturbation far more than a trained one
does (float16 weights alone move its logits by percents), so the quantized modes'
agreement here is a lower bound; trained int8 accuracy is quantization_accuracy.md's.

Each model runs in its own Python process (benchmarks/per_model.py); results go to
benchmarks/results/modes_zoo.{json,md} after every model, so an interrupted run
resumes where it stopped.

    python benchmarks/modes_zoo.py                      # every model not yet in the results
    python benchmarks/modes_zoo.py --models='mobilenet*' --redo
    python benchmarks/modes_zoo.py --render             # the Markdown again, from the JSON
"""

# keras_lightnets imports TensorFlow only when a run needs it, after quieting its logs
# (keras_lightnets/__init__.py reads this): `--help` answers without it.
LIGHTNETS_APP = True

import json
import os
import pathlib
import platform
import sys
import tempfile

import per_model
from per_model import stage, write_atomically

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
JSON_PATH, MD_PATH = RESULTS / "modes_zoo.json", RESULTS / "modes_zoo.md"
MODES = ("float32", "float16", "dynamic", "int8", "int16x8")
CLASSES, SIZES, SAMPLES = 10, (32, 64, 75), 32
FLOAT32_BAR = 1e-4


def build_smallest(name):
    """The model at the smallest of SIZES it builds at, logits out, and that size."""
    from qat_zoo import build_smallest as smallest  # the one size search of the zoo-wide benchmarks

    return smallest(name, SIZES, classifier_activation=None)


def _softmax(logits):
    import numpy as np

    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def compare(expected, got):
    """The file's logits against the Keras model's, and the same for the probabilities."""
    import numpy as np

    diff = np.abs(got - expected)
    return {"max_abs_diff": float(diff.max()), "mean_abs_diff": float(diff.mean()),
            "top1_agreement": float(np.mean(got.argmax(1) == expected.argmax(1))),
            "prob_max_abs_diff": float(np.abs(_softmax(got) - _softmax(expected)).max())}


def int8_kernel_control(model, held_out, expected):
    """The Keras model itself with its kernels rounded to int8 (per output channel,
    as TFLite quantizes them), against the unrounded model: how far a random network
    moves from weight rounding alone, before any converter is involved."""
    import numpy as np

    kernels = [v for v in model.weights if "kernel" in v.path and len(v.shape) >= 2]
    saved = [np.array(v.numpy()) for v in kernels]
    try:
        for variable, value in zip(kernels, saved):
            channels_last = 2 if "depthwise" in variable.path else 1  # depthwise: (kh, kw, in, multiplier)
            scale = np.abs(value).max(axis=tuple(range(value.ndim - channels_last)), keepdims=True) / 127 + 1e-12
            variable.assign(np.round(value / scale) * scale)
        return compare(expected, model.predict(held_out, verbose=0))
    finally:
        for variable, value in zip(kernels, saved):
            variable.assign(value)


def float64_control(name, model, held_out, expected, float32_path):
    """Both float32 implementations, Keras' and the file, against the same model in
    float64: a deep random network amplifies float32 rounding, so where the file misses
    the bar this says whether Keras' own float32 result is any closer to exact."""
    import keras
    import numpy as np

    from keras_lightnets import tflite as kt

    try:
        keras.config.set_dtype_policy("float64")
        exact = build_smallest(name)[0]
        exact.set_weights([w.astype("float64") for w in model.get_weights()])
        exact = exact.predict(held_out.astype("float64"), verbose=0)
    except Exception as error:  # noqa: BLE001 -- a layer without float64 support: say so
        return {"error": f"{type(error).__name__}: {str(error).strip()[:200]}"}
    finally:
        keras.config.set_dtype_policy("float32")
    got = kt.run(kt.load_interpreter(float32_path), held_out)
    return {"keras_float32": compare(exact, expected), "file_float32": compare(exact, got)}


def convert_mode(model, mode, path, calibration, held_out, expected):
    """One mode: a dict with the file's size, time, integer status and fidelity."""
    from keras_lightnets import tflite as kt

    kwargs = dict(quantization=None if mode == "float32" else mode)
    if mode in ("int8", "int16x8"):
        kwargs.update(representative_data=calibration, num_calibration_samples=len(calibration))
    entry = {}
    try:
        report = kt.convert(model, path, **kwargs)
    except ValueError as error:
        if mode not in ("int8", "int16x8"):
            raise
        entry["strict_error"] = str(error).splitlines()[0][:300]
        report = kt.convert(model, path, allow_float_fallback=True, **kwargs)
    entry.update(size_mb=round(report.size_bytes / 1e6, 3), conversion_seconds=round(report.conversion_seconds, 1),
                 ops=sum(report.op_counts.values()), **compare(expected, kt.run(kt.load_interpreter(path), held_out)))
    if mode in ("int8", "int16x8"):
        entry.update(fully_integer=report.fully_integer, float_ops=report.float_ops,
                     inner_quantize_ops=report.inner_quantize_ops, requantize_ops=report.requantize_ops)
    return entry


def measure(name):
    """Every mode for one model; its row (status "ok", or the failing stage and error)."""
    import numpy as np

    from keras_lightnets.training import recalibrate_batch_norm
    from zoo import photos

    import keras

    row = {"model": name, "status": "ok", "modes": {}}
    current = "build"
    keras.utils.set_random_seed(0)  # the same weights in a rerun
    try:
        model, size = build_smallest(name)
        row.update(size=size, params=int(model.count_params()))
        current = "the Keras reference"
        calibration, held_out = photos(size, 64, seed=0), photos(size, SAMPLES, seed=1)
        recalibrate_batch_norm(model, calibration, batch_size=16)
        expected = model.predict(held_out, verbose=0)
        row["logit_mean_abs"] = float(np.abs(expected).mean())
        row["keras_int8_kernels"] = int8_kernel_control(model, held_out, expected)
        with tempfile.TemporaryDirectory() as workdir:
            for mode in MODES:  # a mode that fails is recorded; the others still run
                stage(mode)
                path = os.path.join(workdir, f"{mode}.tflite")
                try:
                    row["modes"][mode] = convert_mode(model, mode, path, calibration[:SAMPLES], held_out, expected)
                except Exception as error:  # noqa: BLE001 -- a failure is a result to record
                    row["modes"][mode] = {"error": f"{type(error).__name__}: {str(error).strip()[:300]}"}
                if mode == "float32" and row["modes"][mode].get("prob_max_abs_diff", 0) > FLOAT32_BAR:
                    stage("float64 control")
                    row["float64_control"] = float64_control(name, model, held_out, expected, path)
    except Exception as error:  # noqa: BLE001 -- a failure is a result to record
        row.update(status=f"failed at {current}", error=f"{type(error).__name__}: {str(error)[:400]}")
    return row


def _cell(mode, entry):
    if entry is None:
        return "—"
    if "error" in entry:
        return f"✗ {entry['error'][:140]}"
    if mode in ("float32", "float16"):
        text = f"{entry['prob_max_abs_diff']:.0e} ({entry['max_abs_diff']:.0e})"
        if mode != "float32" or entry["prob_max_abs_diff"] <= FLOAT32_BAR:
            return text
        control = entry.get("float64_control") or {}
        if "file_float32" in control:
            return (f"**{text}**; logits to float64: file {control['file_float32']['max_abs_diff']:.0e}, "
                    f"Keras float32 {control['keras_float32']['max_abs_diff']:.0e}")
        return f"**{text}** ✗"
    text = f"{entry['top1_agreement']:.0%}, {entry['prob_max_abs_diff']:.2f}"
    if mode in ("int8", "int16x8") and not entry["fully_integer"]:
        floats = sorted(set(entry["float_ops"]))
        text += f" (float: {', '.join(floats) if floats else str(entry['inner_quantize_ops']) + ' (de)quantize'})"
    return text


def _with_control(row, mode):
    entry = row["modes"].get(mode)
    return {**entry, "float64_control": row["float64_control"]} if mode == "float32" and entry and "float64_control" in row else entry


def _as_exact_as_keras(row):
    """The file's logits no farther from the float64 result than Keras' own float32
    logits (+10%): the arithmetic error itself, before the softmax compresses it."""
    control = row.get("float64_control") or {}
    return "file_float32" in control and control["file_float32"]["max_abs_diff"] <= \
        1.1 * control["keras_float32"]["max_abs_diff"]


def _float64_exceptions(rows):
    """The rows the float64 control does not clear: none yet, or farther than Keras'."""
    missing = [r["model"] for r in rows if "float64_control" not in r]
    farther = [r for r in rows if "float64_control" in r and not _as_exact_as_keras(r)]
    parts = [f"no control yet: {', '.join(missing)}"] if missing else []
    for r in farther:
        file, keras = r["float64_control"]["file_float32"], r["float64_control"]["keras_float32"]
        parts.append(f"{r['model']}: max {file['max_abs_diff']:.1e} against Keras' {keras['max_abs_diff']:.1e}, "
                     f"mean {file['mean_abs_diff']:.1e} against {keras['mean_abs_diff']:.1e}")
    return f" ({'; '.join(parts)})" if parts else ""


def render(results):
    rows = [results["models"][n] for n in sorted(results["models"])]
    ok = [r for r in rows if r["status"] == "ok" and not any("error" in e for e in r["modes"].values())]
    env = results.get("environment", {})
    built = [r for r in rows if r["status"] == "ok"]
    converted = {m: [r for r in built if "error" not in r["modes"][m]] for m in MODES}
    float32_pass = [r for r in converted["float32"] if r["modes"]["float32"]["prob_max_abs_diff"] <= FLOAT32_BAR]
    missed = [r for r in converted["float32"] if r["modes"]["float32"]["prob_max_abs_diff"] > FLOAT32_BAR]
    worst_logits = max((r["modes"]["float32"]["max_abs_diff"] / r["logit_mean_abs"] for r in converted["float32"]), default=0)
    int8_full = [r for r in converted["int8"] if r["modes"]["int8"]["fully_integer"]]
    int16_full = [r for r in converted["int16x8"] if r["modes"]["int16x8"]["fully_integer"]]
    failed = {m: [r["model"] for r in built if "error" in r["modes"][m]] for m in MODES}
    lines = [
        "# Every conversion mode for every model of the zoo",
        "",
        "`python benchmarks/modes_zoo.py` — each registered model at the smallest of 32 / 64 / 75 px it builds at, "
        "10 classes, BatchNorm statistics of real photos (crops of scikit-image's samples), converted by `kt.convert` "
        f"in every mode (int8 and int16x8 calibrated on {SAMPLES} crops) and run on {SAMPLES} other crops against the "
        "Keras model. Weights are random: such a network amplifies weight perturbations far more than a trained one, "
        "so the quantized modes' agreement is a lower bound (trained int8 accuracy: quantization_accuracy.md). "
        f"TensorFlow {env.get('tensorflow', '?')}, LiteRT {env.get('ai_edge_litert', '?')}.",
        "",
        f"- **{len(ok)} of {len(rows)} models convert and run in all five modes.**"
        + "".join(f" {m} fails for {', '.join(names)}." for m, names in failed.items() if names),
        f"- float32: **{len(float32_pass)} of {len(converted['float32'])}** within {FLOAT32_BAR:g} of the Keras model's "
        f"probabilities; on the logits the largest difference is {worst_logits:.1e} of their mean magnitude."
        + (f" The other {len(missed)} ({', '.join(r['model'] for r in missed)}): deep random networks that amplify "
           "float32 rounding; against the same model run in float64, the file's logits are "
           + ("as close as Keras' own float32 logits (within 10%) in every one of them" if all(map(_as_exact_as_keras, missed))
              else f"as close as Keras' own float32 logits (within 10%) in {sum(map(_as_exact_as_keras, missed))} of them"
              + _float64_exceptions(missed))
           + " (the float32 cell)." if missed else ""),
        f"- int8: **{len(int8_full)} of {len(converted['int8'])}** fully integer (strict); int16x8: {len(int16_full)} of "
        f"{len(converted['int16x8'])}.",
        "",
        "Cells: float32 / float16 — max abs difference of the probabilities (of the logits); dynamic / int8 / int16x8 — "
        "top-1 agreement, max abs difference of the probabilities (and the ops left in float where the file is not "
        "fully integer). The control is the Keras model itself with its kernels rounded to int8 per output channel, "
        "against the unrounded one: what weight rounding alone does to this random network, with no converter involved. "
        "A quantized file close to its control loses nothing the converter could have kept.",
        "",
        "| model | px | params | mean abs logit | " + " | ".join(MODES) + " | control: Keras, int8-rounded kernels | sizes MB ("
        + " / ".join(MODES) + ") | conversion s |",
        "| --- | ---: | ---: | ---: | " + " | ".join("---" for _ in MODES) + " | --- | --- | --- |",
    ]
    for r in rows:
        if r["status"] != "ok":  # the model itself did not build
            lines.append(f"| {r['model']} | {r.get('size', '')} | | | {r['status']}: {r['error'][:160]} |" + " |" * (len(MODES) + 2))
            continue
        modes = r["modes"]
        sizes = " / ".join(f"{modes[m]['size_mb']:.2f}" if "size_mb" in modes[m] else "✗" for m in MODES)
        seconds = " / ".join(f"{modes[m]['conversion_seconds']:g}" if "size_mb" in modes[m] else "✗" for m in MODES)
        lines.append(f"| {r['model']} | {r['size']} | {r['params']:,} | {r['logit_mean_abs']:.3g} | "
                     + " | ".join(_cell(m, _with_control(r, m)) for m in MODES) + f" | {_cell('control', r['keras_int8_kernels'])} | {sizes} | {seconds} |")
    return "\n".join(lines) + "\n"


def save(results):
    from importlib import metadata

    import tensorflow as tf

    results["environment"] = {"tensorflow": tf.__version__, "ai_edge_litert": metadata.version("ai-edge-litert"),
                              "cpu": platform.processor() or platform.machine()}
    write_atomically(JSON_PATH, json.dumps(results, indent=1, sort_keys=True))
    write_atomically(MD_PATH, render(results))


def every_model():
    import keras_lightnets as kl

    return kl.list_models()


def main(argv=None):
    return per_model.main(__file__, doc=__doc__, names=every_model, measure=measure, results_path=JSON_PATH,
                          save=save, render=render, desc="modes", argv=argv,
                          succeeded=lambda row: row["status"] == "ok")


if __name__ == "__main__":
    sys.exit(main())
