"""Quantization-aware training for every CNN of the zoo, the whole way.

For each registered CNN (ViT and Swin are transformers, outside the QAT path), at
the smallest of 32 / 64 / 75 px it builds at, with 10 classes:

1. build it and give its BatchNormalization layers the statistics of real images
   (the bundled digits), as a trained network has them;
2. `kt.quantize_aware(model, representative_data=...)`: the tf_keras twin with
   fake-quantization, ranges calibrated;
3. one `fit` step on 8 images (gradients through every fake-quant op);
4. `kt.convert(qat, quantization="int8", input_type="uint8")`, which refuses a file
   that is not fully integer;
5. the file against the QAT model on held-out digits: top-1 agreement and mean
   absolute difference of the probabilities.

Each model runs in its own Python process (benchmarks/per_model.py: a model that
fails, or whose process dies, e.g. killed for memory, is recorded, not fatal).
Results go to benchmarks/results/qat_zoo.{json,md} after every model, so an
interrupted run resumes where it stopped.

    python benchmarks/qat_zoo.py                     # every CNN not yet in the results
    python benchmarks/qat_zoo.py --models 'mobilenet*' --redo
    python benchmarks/qat_zoo.py --render            # the Markdown again, from the JSON
"""

import json
import os
import pathlib
import platform
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import per_model  # noqa: E402
from per_model import stage, write_atomically  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
JSON_PATH, MD_PATH = RESULTS / "qat_zoo.json", RESULTS / "qat_zoo.md"
TRANSFORMERS = ("vit", "swin")
CLASSES = 10


def cnn_names():
    import keras_lightnets as kl

    return [name for name in kl.list_models() if kl.model_info(name).family not in TRANSFORMERS]


def build_smallest(name, sizes=(32, 64, 75), **kwargs):
    """The model at the smallest of `sizes` it builds at (10 classes), and that size."""
    import keras_lightnets as kl

    for size in sizes:
        try:
            return kl.create_model(name, classes=CLASSES, input_shape=(size, size, 3), **kwargs), size
        except ValueError as error:
            if "at least" not in str(error):
                raise
    raise ValueError(f"{name} builds at none of {', '.join(map(str, sizes))} px")


def measure(name):
    """One model the whole way; a dict of what happened (status "ok" or the failing stage and error)."""
    import numpy as np
    import tf_keras

    from keras_lightnets import tflite as kt
    from keras_lightnets.data import load_digits
    from keras_lightnets.profile import profile
    from keras_lightnets.training import recalibrate_batch_norm

    row = {"model": name, "status": "ok"}
    current = "build"
    try:
        model, size = build_smallest(name)
        row.update(size=size, params=profile(model).params)
        (x, y), (x_test, _) = load_digits(image_size=size, seed=0)
        x, x_test = x.astype("float32"), x_test.astype("float32")
        recalibrate_batch_norm(model, x[:64], batch_size=16)  # bounded memory (DenseNet-BC-190/250)

        stage(current := "quantize_aware")
        start = time.perf_counter()
        qat = kt.quantize_aware(model, representative_data=x[:64])
        row["quantize_aware_seconds"] = round(time.perf_counter() - start, 1)
        row["fake_quant_layers"] = sum(type(layer).__name__.startswith("Quantize") for layer in qat.layers)

        stage(current := "fit")
        start = time.perf_counter()
        qat.compile(tf_keras.optimizers.SGD(1e-3), "sparse_categorical_crossentropy", run_eagerly=True)
        # 8 images: a DenseNet-BC-190's training step keeps every concatenation alive (GBs at batch 32)
        loss = qat.fit(x[:8], y[:8], batch_size=8, epochs=1, verbose=0).history["loss"][0]
        if not np.isfinite(loss):
            raise ValueError(f"fit step gave loss {loss}")
        row["fit_step_seconds"] = round(time.perf_counter() - start, 1)

        stage(current := "convert")
        with tempfile.TemporaryDirectory() as workdir:
            report = kt.convert(qat, os.path.join(workdir, "qat.tflite"), quantization="int8", input_type="uint8")
            row.update(conversion_seconds=round(report.conversion_seconds, 1), size_mb=round(report.size_bytes / 1e6, 3),
                       fully_integer=report.fully_integer, ops=sum(report.op_counts.values()))

            stage(current := "compare")
            expected = qat(x_test[:64], training=False).numpy()
            got = kt.run(kt.load_interpreter(report.path), x_test[:64])
        row["top1_agreement"] = round(float(np.mean(expected.argmax(1) == got.argmax(1))), 4)
        row["mean_abs_diff"] = float(np.abs(expected - got).mean())
    except Exception as error:  # noqa: BLE001 -- a failure is a result to record
        row.update(status=f"failed at {current}", error=f"{type(error).__name__}: {str(error)[:400]}")
    return row


def render(results):
    rows = [results["models"][n] for n in sorted(results["models"])]
    ok = [r for r in rows if r["status"] == "ok" and r.get("fully_integer")]
    env = results.get("environment", {})
    lines = [
        "# Quantization-aware training over the whole zoo",
        "",
        "`python benchmarks/qat_zoo.py` — every registered CNN at the smallest of 32 / 64 / 75 px it builds at, "
        "10 classes, BatchNorm statistics of real images (the bundled digits): `kt.quantize_aware` (calibrated on 64 "
        "digits), one `fit` step (8 images; 32 for the rows measured before that was lowered), `kt.convert(qat, quantization=\"int8\", input_type=\"uint8\")` (which refuses a file "
        "that is not fully integer), then the file against the QAT model on 64 held-out digits. "
        "Weights are random (BatchNorm statistics from real images), so outputs are close to uniform over the 10 "
        "classes and top-1 agreement is fragile; the mean absolute difference of the probabilities is the figure to "
        f"read. TensorFlow {env.get('tensorflow', '?')}, tensorflow-model-optimization {env.get('tfmot', '?')}.",
        "",
        f"**{len(ok)} of {len(rows)} CNNs measured are fully integer after QAT.**",
        "",
        "| model | px | params | fake-quant layers | quantize_aware (s) | fit step (s) | conversion (s) | int8 MB | "
        "fully integer | top-1 agreement | mean abs diff | status |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- |",
    ]
    for r in rows:
        if r["status"] != "ok":
            lines.append(f"| {r['model']} | {r.get('size', '')} | | | | | | | | | | {r['status']}: {r['error'][:120]} |")
            continue
        lines.append(
            f"| {r['model']} | {r['size']} | {r['params']:,} | {r['fake_quant_layers']} | {r['quantize_aware_seconds']} | "
            f"{r['fit_step_seconds']} | {r['conversion_seconds']} | {r['size_mb']:.2f} | "
            f"{'yes' if r['fully_integer'] else 'NO'} | {r['top1_agreement']:.2%} | {r['mean_abs_diff']:.4f} | ok |"
        )
    return "\n".join(lines) + "\n"


def save(results):
    import tensorflow as tf
    import tensorflow_model_optimization as tfmot

    results["environment"] = {"tensorflow": tf.__version__, "tfmot": tfmot.__version__,
                              "cpu": platform.processor() or platform.machine()}
    write_atomically(JSON_PATH, json.dumps(results, indent=1, sort_keys=True))
    write_atomically(MD_PATH, render(results))


def main(argv=None):
    return per_model.main(__file__, doc=__doc__, names=cnn_names, measure=measure, results_path=JSON_PATH,
                          save=save, render=render, desc="QAT", argv=argv,
                          succeeded=lambda row: row["status"] == "ok" and bool(row.get("fully_integer")))


if __name__ == "__main__":
    sys.exit(main())
