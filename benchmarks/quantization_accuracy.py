"""How much accuracy does int8 cost? Post-training quantization (PTQ) and
quantization-aware training (QAT) against float32, on a real-image task that runs here.

For MobileNet V1, V2, V3-Large, V3-Small, EfficientNet-B0 and EfficientNet-Lite0:
train the model for real on the bundled handwritten digits (scikit-learn's 8x8
digits upsampled; 1,437 training / 360 held-out images, 10 classes; no download),
then measure the held-out accuracy of three .tflite files through the LiteRT
interpreter, batch 1, as a phone would run them:

- float32: `kt.convert(model)`;
- int8 PTQ: `kt.convert(model, quantization="int8", representative_data=...)`,
  calibrated on 200 training images, uint8 input;
- int8 QAT: `kt.quantize_aware(model, representative_data=...)` fine-tuned with
  `fit` for a few epochs at a small learning rate, then `kt.convert(qat, quantization="int8")`;
- its control, float32 fine-tuned: the same float model fine-tuned in float for the
  same epochs, optimizer, learning rate, batches and seed as QAT, then
  `kt.convert(control)`. QAT is judged against this control, not against the float
  model it started from: the extra epochs alone can move accuracy (issue 20).

Every accuracy is given with the number of images it counts and what one image is
worth (100 / N points): on a few hundred images, one image is a quarter point.

Targets (issue 5): PTQ loses at most 1.0 point against float32, QAT at most 0.5
against its float32 control. Conversion and QAT preparation times are reported too.

The anchor, in the same run: tensorflow-model-optimization's own `quantize_model` on
tf_keras.applications' same architecture (the route a user of keras.applications
has): whether it can quantize the model at all, and the error when it cannot.

    python benchmarks/quantization_accuracy.py                    # all models, writes results
    python benchmarks/quantization_accuracy.py --models=mobilenet_v3_small --epochs=2 --nosave
    python benchmarks/quantization_accuracy.py --render           # the Markdown again, from the saved JSON
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

from absl import flags
from tqdm import tqdm

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import bench_cli  # noqa: E402  (absl flags, as the package's command-line apps have them)
import results_io  # noqa: E402  (the atomic JSON + Markdown writer)

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
# (label, our registry name, tf_keras.applications class or None)
MODELS = [
    ("MobileNet V1", "mobilenet_v1", "MobileNet"),
    ("MobileNet V2", "mobilenet_v2", "MobileNetV2"),
    ("MobileNetV3-Large", "mobilenet_v3_large", "MobileNetV3Large"),
    ("MobileNetV3-Small", "mobilenet_v3_small", "MobileNetV3Small"),
    ("EfficientNet-B0", "efficientnet_b0", "EfficientNetB0"),
    ("EfficientNet-Lite0", "efficientnet_lite0", None),
]
PTQ_BUDGET, QAT_BUDGET = 1.0, 0.5  # points of accuracy int8 may lose against float32


def train_float(name, data, size, epochs, seed):
    """Our model trained on the digits in float (Adam; BN momentum lowered for a short run)."""
    import keras

    from keras_lightnets.demo import short_schedule_batch_norm
    from keras_lightnets.registry import create_model
    from keras_lightnets.training import recalibrate_batch_norm

    (x_train, y_train), _ = data
    keras.utils.set_random_seed(seed)
    model = create_model(name, input_shape=(size, size, 3), classes=10)
    short_schedule_batch_norm(model)
    model.compile(keras.optimizers.Adam(2e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(x_train, y_train, batch_size=32, epochs=epochs, verbose=0, shuffle=True)
    seconds = time.perf_counter() - start
    # A few hundred steps leave the moving statistics behind the final weights.
    recalibrate_batch_norm(model, x_train[:512])
    return model, seconds


def fine_tune_control(model, data, epochs, seed):
    """The float model fine-tuned in float exactly as QAT fine-tunes (Adam 1e-4, batch 32,
    same epochs and seed): the control QAT's accuracy is judged against. `model` is
    left as it was (a clone trains)."""
    import keras

    (x_train, y_train), _ = data
    control = keras.models.clone_model(model)
    control.set_weights(model.get_weights())
    keras.utils.set_random_seed(seed)
    control.compile(keras.optimizers.Adam(1e-4), "sparse_categorical_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    control.fit(x_train, y_train, batch_size=32, epochs=epochs, verbose=0, shuffle=True)
    return control, time.perf_counter() - start


def fine_tune_qat(model, data, epochs, seed):
    import keras
    import tf_keras

    from keras_lightnets import tflite as kt

    (x_train, y_train), _ = data
    keras.utils.set_random_seed(seed)
    start = time.perf_counter()
    qat = kt.quantize_aware(model, representative_data=x_train)
    prepare_seconds = time.perf_counter() - start
    qat.compile(tf_keras.optimizers.Adam(1e-4), "sparse_categorical_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    qat.fit(x_train, y_train, batch_size=32, epochs=epochs, verbose=0, shuffle=True)
    return qat, prepare_seconds, time.perf_counter() - start


def tfmot_on_keras_applications(class_name, size):
    """Whether tfmot's quantize_model takes tf_keras.applications' model: "ok" or the error's first line."""
    if class_name is None:
        return "no keras.applications model"
    import tensorflow_model_optimization as tfmot
    import tf_keras

    try:
        model = getattr(tf_keras.applications, class_name)(weights=None, input_shape=(size, size, 3), classes=10)
        tfmot.quantization.keras.quantize_model(model)
    except Exception as error:  # noqa: BLE001 -- the anchor's failure is the measurement
        return f"fails: {type(error).__name__}: {str(error).strip().splitlines()[0][:160]}"
    return "ok"


def measure(label, name, apps_class, data, args, workdir):
    from keras_lightnets import tflite as kt
    from keras_lightnets.demo import evaluate_tflite

    (x_train, _), (x_test, y_test) = data
    model, train_seconds = train_float(name, data, args.size, args.epochs, args.seed)
    row = {"label": label, "model": name, "train_seconds": round(train_seconds, 1),
           "keras_float_accuracy": float(model.evaluate(x_test, y_test, batch_size=128, verbose=0)[1])}
    files = {}
    reports = {
        "float32": kt.convert(model, workdir / f"{name}_float32.tflite"),
        "int8_ptq": kt.convert(model, workdir / f"{name}_int8_ptq.tflite", quantization="int8",
                               representative_data=x_train, input_type="uint8"),
    }
    qat, row["qat_prepare_seconds"], row["qat_fit_seconds"] = fine_tune_qat(model, data, args.qat_epochs, args.seed)
    reports["int8_qat"] = kt.convert(qat, workdir / f"{name}_int8_qat.tflite", quantization="int8", input_type="uint8")
    control, row["control_fit_seconds"] = fine_tune_control(model, data, args.qat_epochs, args.seed)
    reports["float32_control"] = kt.convert(control, workdir / f"{name}_float32_control.tflite")
    for variant, report in reports.items():
        accuracy = evaluate_tflite(report.path, x_test, y_test)
        files[variant] = {
            "accuracy": accuracy,
            "correct": int(round(accuracy * len(y_test))),
            "size_mb": round(report.size_bytes / 1e6, 3),
            "conversion_seconds": round(report.conversion_seconds, 1),
            "fully_integer": bool(report.fully_integer) if variant.startswith("int8") else None,
        }
    row["files"] = files
    base = files["float32"]["accuracy"]
    row["ptq_loss_points"] = round(100 * (base - files["int8_ptq"]["accuracy"]), 2)
    # QAT against its control (same extra epochs in float); against the starting float model for reference
    row["qat_loss_points"] = round(100 * (files["float32_control"]["accuracy"] - files["int8_qat"]["accuracy"]), 2)
    row["qat_loss_vs_start_points"] = round(100 * (base - files["int8_qat"]["accuracy"]), 2)
    row["control_gain_points"] = round(100 * (files["float32_control"]["accuracy"] - base), 2)
    row["test_images"] = len(y_test)
    row["tfmot_on_keras_applications"] = tfmot_on_keras_applications(apps_class, args.size)
    return row


def render(results):
    env = results["environment"]
    n = env["test"]
    share = 100 / n

    def acc(file):
        return f"{file['accuracy']:.2%} ({file['correct']}/{n})"

    lines = [
        "# int8 accuracy: post-training quantization against float32, QAT against its float32 control",
        "",
        f"`python benchmarks/quantization_accuracy.py` — the bundled digits (real handwriting, {env['train']} training / "
        f"{n} held-out images, 10 classes) at {env['size']}x{env['size']}; each model trained {env['epochs']} epochs "
        "in float (Adam 2e-3; BatchNorm statistics then re-estimated on 512 training images). From those weights: "
        f"PTQ (calibrated on 200 training images); QAT fine-tuned {env['qat_epochs']} epoch(s) (Adam 1e-4, batch 32, "
        f"seed {env['seed']}); and the **control**: the float model fine-tuned in float for the same "
        f"{env['qat_epochs']} epoch(s), optimizer, learning rate, batch and seed. Accuracy of each `.tflite` file on "
        f"the {n} held-out images through the LiteRT interpreter, batch 1, as (correct/{n}); **one image is "
        f"{share:.2f} points**, so a difference of one or two images is within what a reseeded run moves. "
        "int8 files take uint8 input. "
        f"TensorFlow {env['tensorflow']}, tensorflow-model-optimization {env['tfmot']}; {env['cpu']}.",
        "",
        *([f"**Partial: {len(results['models'])} of {env['models_planned']} models measured so far.**", ""]
          if len(results["models"]) < env.get("models_planned", 0) else []),
        f"Targets: PTQ loses at most {PTQ_BUDGET} point against float32 ({PTQ_BUDGET / share:.1f} images), "
        f"QAT at most {QAT_BUDGET} against its control ({QAT_BUDGET / share:.1f} images).",
        "",
        f"| model | float32 (of {n}) | int8 PTQ (of {n}) | PTQ loss (pts) | float32 control, +{env['qat_epochs']} ep "
        f"(of {n}) | int8 QAT (of {n}) | QAT loss vs control (pts) | QAT loss vs float32 (pts) | "
        "float / int8 size (MB) | conversion float32 / PTQ / QAT (s) | tfmot.quantize_model on tf_keras.applications |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for row in results["models"]:
        f = row["files"]
        verdict = lambda loss, budget: f"{loss:+.2f}" + ("" if loss <= budget else " **over**")  # noqa: E731
        lines.append(
            f"| {row['label']} | {acc(f['float32'])} | {acc(f['int8_ptq'])} | "
            f"{verdict(row['ptq_loss_points'], PTQ_BUDGET)} | {acc(f['float32_control'])} | {acc(f['int8_qat'])} | "
            f"{verdict(row['qat_loss_points'], QAT_BUDGET)} | {row['qat_loss_vs_start_points']:+.2f} | "
            f"{f['float32']['size_mb']:.2f} / {f['int8_ptq']['size_mb']:.2f} | "
            f"{f['float32']['conversion_seconds']} / {f['int8_ptq']['conversion_seconds']} / {f['int8_qat']['conversion_seconds']} | "
            f"{row['tfmot_on_keras_applications']} |"
        )
    lines += ["", f"Loss = reference accuracy minus int8 accuracy, in points (one image = {share:.2f}; negative: int8 "
              "scored higher). Every int8 file is fully integer (no float op, no QUANTIZE/DEQUANTIZE inside the graph): "
              + ("yes." if all(row["files"][v]["fully_integer"] for row in results["models"] for v in ("int8_ptq", "int8_qat"))
                 else "NO, see the JSON."), ""]
    return "\n".join(lines)


def environment(args, data):
    import tensorflow as tf
    import tensorflow_model_optimization as tfmot

    (x_train, _), (x_test, _) = data
    return {"size": args.size, "epochs": args.epochs, "qat_epochs": args.qat_epochs, "seed": args.seed,
            "train": len(x_train), "test": len(x_test), "tensorflow": tf.__version__, "tfmot": tfmot.__version__,
            "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()}


def define_flags(values):
    f = dict(flag_values=values)
    flags.DEFINE_list("models", None, "Registry names (default: the six of the issue: "
                      f"{','.join(m[1] for m in MODELS)}).", **f)
    flags.DEFINE_integer("size", 64, "Image size the digits are upsampled to.", **f)
    flags.DEFINE_integer("epochs", 10, "Float training epochs.", **f)
    flags.DEFINE_integer("qat_epochs", 2, "Fine-tuning epochs of QAT and of its float32 control.", **f)
    flags.DEFINE_integer("seed", 0, "Seed of the digits' split and of training.", **f)
    flags.DEFINE_bool("save", True, "Write benchmarks/results/ after every model; --nosave prints only.", **f)
    flags.DEFINE_bool("render", False, "Rewrite the Markdown from the saved JSON; measure nothing.", **f)


def run(args):
    if args.render:
        results = results_io.load("quantization_accuracy")
        results_io.save("quantization_accuracy", results, render(results))
        return 0

    from keras_lightnets.data import load_digits

    (x_train, y_train), (x_test, y_test) = load_digits(image_size=args.size, seed=args.seed)
    data = (x_train.astype("float32"), y_train), (x_test.astype("float32"), y_test)
    chosen = bench_cli.chosen(MODELS, args.models)
    results = {"environment": dict(environment(args, data), models_planned=len(chosen)), "models": []}
    with tempfile.TemporaryDirectory() as workdir:
        for label, name, apps_class in tqdm(chosen, desc="models", unit="model"):
            results["models"].append(measure(label, name, apps_class, data, args, pathlib.Path(workdir)))
            tqdm.write(json.dumps(results["models"][-1]))
            if args.save:  # after every model: a long run stopped part way keeps what it measured
                results_io.save("quantization_accuracy", results, render(results))
    print(render(results))
    return 0


COMMAND = bench_cli.command(__file__, __doc__, define_flags, run, light=lambda args: args.render)

if __name__ == "__main__":
    bench_cli.main(COMMAND)
