"""Quantization-aware training for every CNN of the zoo, the whole way, gated on
the int8 file agreeing with its QAT model.

For each registered CNN (ViT and Swin are transformers, outside the QAT path), at
the smallest of 32 / 64 / 75 px it builds at, with 10 classes:

1. build it (seed 0) and train it in float on the bundled digits for a short
   run (2 epochs, Adam 1e-3, or 1e-4 for a model still near chance after that, as
   VGG without BatchNorm is; BatchNorm momentum lowered, statistics re-estimated):
   weights with real margins between the classes. With random weights the outputs
   are nearly uniform, the top-1 margin is a fraction of one int8 output step, and
   int8 rounding alone decides the top-1 (benchmarks/results/qat_layerwise.md):
   agreement would measure nothing;
2. `kt.quantize_aware(model, representative_data=...)`: the tf_keras twin with
   fake-quantization, ranges calibrated on 64 digits;
3. one `fit` step on 8 images (Adam 1e-4; gradients through every fake-quant op);
4. `kt.convert(qat, quantization="int8", input_type="uint8")`, which refuses a file
   that is not fully integer;
5. the file against the QAT model on 128 held-out digits: top-1 agreement and mean
   absolute difference of the probabilities, and each one's test accuracy.

A model passes when its file is fully integer AND agrees with its QAT model on at
least AGREEMENT_GATE of the held-out digits (the threshold's measurement is in its
comment). Rows from the earlier random-weight run (no `gate` field) are kept,
marked as not rerun, and do not count as passing.

Each model runs in its own Python process (benchmarks/per_model.py: a model that
fails, or whose process dies, e.g. killed for memory, is recorded, not fatal).
Results go to benchmarks/results/qat_zoo.{json,md} after every model, so an
interrupted run resumes where it stopped.

    python benchmarks/qat_zoo.py --redo              # every CNN, under the gate
    python benchmarks/qat_zoo.py --models='mobilenet*' --redo
    python benchmarks/qat_zoo.py --render            # the Markdown again, from the JSON
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
import time

import per_model
from per_model import stage, write_atomically

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
JSON_PATH, MD_PATH = RESULTS / "qat_zoo.json", RESULTS / "qat_zoo.md"
TRANSFORMERS = ("vit", "swin")
CLASSES = 10
SEED = 0
TRAIN_EPOCHS = 2
# Adam 1e-3; a model still near chance after it (VGG without BatchNorm) is trained again
# from the same initial weights at 1e-4.
TRAIN_LEARNING_RATES, LEARNED = (1e-3, 1e-4), 0.5
TEST_IMAGES = 128  # one image: 0.78 points of agreement
# A file passes when it agrees with its QAT model on this share of the held-out digits.
# Measured with trained weights (benchmarks/results/qat_layerwise.md and the rows below):
# files with no mismatch left agree on 95-100% (ZFNet, VGG-19, ShuffleNet V1/V2 after
# the range-group fix); ShuffleNet V2 before that fix agreed on 87.5%; with random
# weights ZFNet and VGG-19 agree on 0% (every int8 output a tie), meaning nothing.
AGREEMENT_GATE = 0.90
# The measurement a row was made with (rows of the earlier random-weight run have none); the
# gate's threshold applies to every row made with it.
PROTOCOL = f"trained {TRAIN_EPOCHS} epochs, Adam 1e-4 fit step, {TEST_IMAGES} test digits"
# Which QAT code measured a row (qat_layerwise.py's CODE_LABELS): rows without it ran
# before the zero-point tie fix, which changes only ranges symmetric about zero (the
# [-1, 1] input scaling of MobileNet V1/V2/V3, MnasNet, Xception, Inception v3...).
QAT_CODE = "groups+ties-fixed"


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


def train_briefly(model, x, y, x_test, y_test):
    """A short float run on the digits: weights whose outputs have real margins.
    Returns (train accuracy, test accuracy, learning rate used)."""
    import keras
    import numpy as np

    from keras_lightnets.demo import short_schedule_batch_norm
    from keras_lightnets.training import recalibrate_batch_norm

    short_schedule_batch_norm(model)
    initial = model.get_weights()
    for rate in TRAIN_LEARNING_RATES:
        model.set_weights(initial)
        keras.utils.set_random_seed(SEED)
        model.compile(keras.optimizers.Adam(rate), "sparse_categorical_crossentropy", metrics=["accuracy"])
        history = model.fit(x, y, batch_size=32, epochs=TRAIN_EPOCHS, verbose=0, shuffle=True)
        recalibrate_batch_norm(model, x[:256], batch_size=16)  # bounded memory (DenseNet-BC-190/250)
        tested = float(np.mean(model.predict(x_test, verbose=0, batch_size=32).argmax(1) == y_test))
        if tested >= LEARNED:
            break
    return float(history.history["accuracy"][-1]), tested, rate


def passes(row):
    """Fully integer and agreeing with its QAT model, measured under the current gate
    on a model that learned (else agreement is not measured: see qat_layerwise.md)."""
    return (row["status"] == "ok" and bool(row.get("fully_integer")) and row.get("protocol") == PROTOCOL
            and row["float_accuracy"] >= LEARNED and row["top1_agreement"] >= AGREEMENT_GATE)


def measure(name):
    """One model the whole way; a dict of what happened (status "ok" or the failing stage and error)."""
    import keras
    import numpy as np
    import tf_keras

    from keras_lightnets import tflite as kt
    from keras_lightnets.data import load_digits
    from keras_lightnets.profiling import profile

    row = {"model": name, "status": "ok", "protocol": PROTOCOL, "qat_code": QAT_CODE}
    current = "build"
    try:
        keras.utils.set_random_seed(SEED)
        model, size = build_smallest(name)
        row.update(size=size, params=profile(model).params)
        (x, y), (x_test, y_test) = load_digits(image_size=size, seed=0)
        x, x_test, y_test = x.astype("float32"), x_test[:TEST_IMAGES].astype("float32"), y_test[:TEST_IMAGES]

        stage(current := "train")
        start = time.perf_counter()
        train_accuracy, float_accuracy, rate = train_briefly(model, x, y, x_test, y_test)
        row.update(train_accuracy=round(train_accuracy, 4), float_accuracy=round(float_accuracy, 4), learning_rate=rate,
                   train_seconds=round(time.perf_counter() - start, 1))

        stage(current := "quantize_aware")
        start = time.perf_counter()
        qat = kt.quantize_aware(model, representative_data=x[:64])
        row["quantize_aware_seconds"] = round(time.perf_counter() - start, 1)
        row["fake_quant_layers"] = sum(type(layer).__name__.startswith("Quantize") for layer in qat.layers)

        stage(current := "fit")
        start = time.perf_counter()
        # Adam 1e-4 (QAT's fine-tuning rate): SGD 1e-3's first step on a trained model is a large one
        # (ShuffleNet V1: 86% -> 10%, the float twin alike; qat_layerwise.py's FIT_OPTIMIZERS)
        qat.compile(tf_keras.optimizers.Adam(1e-4), "sparse_categorical_crossentropy", run_eagerly=True)
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
            expected = np.concatenate([qat(x_test[i:i + 32], training=False).numpy() for i in range(0, len(x_test), 32)])
            got = kt.run(kt.load_interpreter(report.path), x_test)
        ranked = np.sort(expected, axis=1)
        row.update(
            test_images=len(x_test),
            top1_agreement=round(float(np.mean(expected.argmax(1) == got.argmax(1))), 4),
            mean_abs_diff=float(np.abs(expected - got).mean()),
            qat_accuracy=round(float(np.mean(expected.argmax(1) == y_test)), 4),
            int8_accuracy=round(float(np.mean(got.argmax(1) == y_test)), 4),
            # the QAT model's top-1 over the runner-up, in steps of the int8 softmax output (1/256)
            median_margin_lsb=round(float(np.median(ranked[:, -1] - ranked[:, -2]) * 256), 1),
        )
    except Exception as error:  # noqa: BLE001 -- a failure is a result to record
        row.update(status=f"failed at {current}", error=f"{type(error).__name__}: {str(error)[:400]}")
    return row


def _row(r):
    if r["status"] != "ok":
        return f"| {r['model']} | {r.get('qat_code', '')} | {r.get('size', '')} | | | | | | | | | | | | | {r['status']}: {r['error'][:120]} |"
    if r.get("protocol") != PROTOCOL:  # the earlier run: random weights, gated on fully integer only
        return (f"| {r['model']} | before-fix | {r['size']} | {r['params']:,} | random | | | | {r['conversion_seconds']} | "
                f"{r['size_mb']:.2f} | {'yes' if r['fully_integer'] else 'NO'} | ({r['top1_agreement']:.0%}) | "
                f"({r['mean_abs_diff']:.4f}) | | | not rerun under the gate |")
    if passes(r):
        verdict = "**pass**"
    elif not r["fully_integer"]:
        verdict = "**FAIL**: not fully integer"
    elif r["float_accuracy"] < LEARNED:
        verdict = "**FAIL**: the float model did not learn (agreement not measured)"
    else:
        verdict = "**FAIL**: agreement below the gate"
    return (f"| {r['model']} | {r.get('qat_code', 'groups-fixed')} | {r['size']} | {r['params']:,} | {r['learning_rate']:g} | {r['train_accuracy']:.0%} | "
            f"{r['float_accuracy']:.1%} | "
            f"{r['median_margin_lsb']:.0f} | {r['conversion_seconds']} | {r['size_mb']:.2f} | "
            f"{'yes' if r['fully_integer'] else 'NO'} | {r['top1_agreement']:.1%} | {r['mean_abs_diff']:.4f} | "
            f"{r['qat_accuracy']:.1%} | {r['int8_accuracy']:.1%} | {verdict} |")


def render(results):
    rows = [results["models"][n] for n in sorted(results["models"])]
    gated = [r for r in rows if r.get("protocol") == PROTOCOL]
    passed = [r for r in gated if passes(r)]
    old = [r for r in rows if r.get("protocol") != PROTOCOL]
    env = results.get("environment", {})
    lines = [
        "# Quantization-aware training over the whole zoo, gated on agreement",
        "",
        "`python benchmarks/qat_zoo.py` — each registered CNN at the smallest of 32 / 64 / 75 px it builds at, "
        f"10 classes, seed {SEED}: trained in float on the bundled digits ({TRAIN_EPOCHS} epochs, Adam "
        f"{TRAIN_LEARNING_RATES[0]:g}, or {TRAIN_LEARNING_RATES[1]:g} when the test accuracy stays under "
        f"{LEARNED:.0%}; BatchNorm statistics re-estimated), `kt.quantize_aware` (calibrated on 64 digits), "
        "one `fit` step (8 images, Adam 1e-4), `kt.convert(qat, quantization=\"int8\", input_type=\"uint8\")` (which refuses a "
        f"file that is not fully integer), then the file against its QAT model on {TEST_IMAGES} held-out digits (one "
        f"image = {100 / TEST_IMAGES:.2f} points). **A model passes when its file is fully integer and agrees with "
        f"its QAT model on at least {AGREEMENT_GATE:.0%} of them** (the threshold: "
        "benchmarks/results/qat_layerwise.md). Margin: the QAT model's median top-1 minus runner-up probability, in "
        "int8 output steps (1/256). Float accuracy is the trained float model's on the same digits; a model under "
        f"{LEARNED:.0%} there has near-uniform outputs, and its agreement measures nothing (it fails the gate). "
        "QAT code (benchmarks/qat_layerwise.py's labels): **before-fix**, only a concatenation group's last "
        "concatenation quantized; **groups-fixed**, every member of the group quantized with its range; "
        "**groups+ties-fixed**, that and ranges moved off a zero-point tie (changes only the [-1, 1] input scaling "
        "of the MobileNets and others). "
        f"TensorFlow {env.get('tensorflow', '?')}, tensorflow-model-optimization {env.get('tfmot', '?')}.",
        "",
        f"**Rerun under the gate: {len(gated)} CNNs; {len(passed)} pass"
        + (f", {len(gated) - len(passed)} fail ({', '.join(r['model'] for r in gated if not passes(r))})" if len(passed) < len(gated) else "")
        + f".** {len(old)} rows are from the earlier run (random weights, gated on fully integer only: all fully "
        "integer there); they are marked \"not rerun\", their agreement in parentheses (meaningless with random "
        "weights: see qat_layerwise.md), and count as not measured under the gate.",
        "",
        "| model | QAT code | px | params | float lr | float train acc | float test acc | margin (LSB) | conversion (s) | int8 MB | "
        "fully integer | top-1 agreement | mean abs diff | QAT acc | int8 acc | verdict |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    lines += [_row(r) for r in rows]
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
                          succeeded=passes)


if __name__ == "__main__":
    sys.exit(main())
