"""Where does a QAT model's int8 file part from the QAT model? Layer by layer, with
random weights and with trained weights.

benchmarks/results/qat_zoo.md (before the agreement gate) showed 0% top-1
agreement between the QAT model and its own int8 file for ZFNet and VGG-19, and
25-53% for ShuffleNet V1/V2 and EfficientNet-B4..B7, all with random weights.
Either the converted file computes something else than the fake-quant graph (a
real mismatch), or random weights make outputs so flat that int8 rounding decides
the top-1. This script tells them apart. For each model and each weight set:

- "random": built, BatchNorm statistics from 64 digits (what qat_zoo.py did);
- "trained": the float model fitted on the bundled digits first (Adam, a few
  epochs, BatchNorm momentum lowered for the short run, statistics re-estimated);

it runs the zoo's QAT path (`kt.quantize_aware` calibrated on 64 digits, one SGD
`fit` step on 8 images, `kt.convert(..., "int8", input_type="uint8")`), then runs
64 held-out digits through the QAT model (every layer's output, fake-quant
included) and through the file on the LiteRT interpreter with
`experimental_preserve_all_tensors=True` and the reference kernels (no XNNPACK
delegate: a delegated partition keeps no intermediate tensors). Each op output of
the file is matched to the QAT layer whose name it carries (the converter names a
tensor after the ops fused into it; the last layer of the model's order wins) and
compared in the tensor's own quantization steps (LSB):

- mean / max |QAT - file| in LSB: a matching graph stays within about one step,
  growing slowly with depth as rounding differences propagate;
- relative error ||QAT - file|| / ||QAT||: how much of the signal is error.

The summary per run: the first layer whose mean error exceeds 1 LSB (where the
divergence starts), the largest relative error and where, top-1 agreement and mean
|prob diff| of the outputs (reference kernels and the default XNNPACK
interpreter, as `kt.run` runs it), the share of images whose int8 output has a
tie at its maximum (argmax then picks the lowest index), and the QAT model's top-1
margin over the runner-up in output LSBs (1/256 for a softmax): with a margin of
under one step, int8 rounding alone decides the top-1.

    python benchmarks/qat_layerwise.py                       # the models of issue 20, both weight sets
    python benchmarks/qat_layerwise.py --models=zfnet --weights=trained
    python benchmarks/qat_layerwise.py --render              # the Markdown again, from the JSON

Results: benchmarks/results/qat_layerwise.{json,md}, written after every run.
"""

# keras_lightnets imports TensorFlow only when a run needs it, after quieting its logs
# (keras_lightnets/__init__.py reads this): `--help` answers without it.
LIGHTNETS_APP = True

import json
import pathlib
import platform
import re
import sys
import tempfile
import time

import numpy as np
from absl import flags

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import bench_cli  # noqa: E402  (absl flags, as the package's command-line apps have them)
from per_model import write_atomically  # noqa: E402
from qat_zoo import build_smallest  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
JSON_PATH, MD_PATH = RESULTS / "qat_layerwise.json", RESULTS / "qat_layerwise.md"
MODELS = ["zfnet", "vgg19", "shufflenet_v1_g1", "shufflenet_v2_x1_0", "efficientnet_b4"]
TEST_IMAGES = 64
# Which QAT code a run measured (the results keep both).
CODE_LABELS = {
    "before-fix": "a concatenation group's range held by its last concatenation alone, the other members "
                  "unquantized in the QAT model (clipped and rounded only in the file)",
    "groups-fixed": "every member of a concatenation group fake-quantized with the group's range, held in training",
    "groups+ties-fixed": "that, and calibrated ranges moved off a zero-point tie (a range symmetric about zero, "
                         "e.g. the [-1, 1] input scaling, which TF's FakeQuant and the converter round apart)",
}


def train_float(model, x, y, epochs, seed, learning_rate):
    """The float model fitted on the digits: non-random weights for the comparison."""
    import keras

    from keras_lightnets.demo import short_schedule_batch_norm
    from keras_lightnets.training import recalibrate_batch_norm

    keras.utils.set_random_seed(seed)
    short_schedule_batch_norm(model)
    model.compile(keras.optimizers.Adam(learning_rate), "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=32, epochs=epochs, verbose=0, shuffle=True)
    recalibrate_batch_norm(model, x[:256], batch_size=32)
    return float(history.history["accuracy"][-1])


# The fit step's optimizer. "sgd": what qat_zoo.py used before the gate (SGD 1e-3): on a
# trained model its first step is a large one (ShuffleNet V1: gradient norm 179 on the first
# kernel) and wrecks the float twin and the QAT model alike (86% -> 10% test accuracy),
# so the gated zoo run uses "adam" (Adam 1e-4, the fine-tuning rate of quantization_accuracy.py).
# "epoch": a real QAT fine-tune, one compiled epoch over the 1,438 training digits at Adam 1e-4
# (as quantization_accuracy.py does): training moves activations past their calibrated ranges,
# where a file and a QAT model that clip differently part.
FIT_OPTIMIZERS = {"sgd": ("SGD", 1e-3), "adam": ("Adam", 1e-4), "epoch": ("Adam", 1e-4)}


def qat_and_convert(model, x, y, path, fit="adam"):
    """The zoo's QAT path (benchmarks/qat_zoo.py): calibrated QAT model, one fit step, int8 file."""
    import tf_keras

    from keras_lightnets import tflite as kt

    qat = kt.quantize_aware(model, representative_data=x[:64])
    optimizer, rate = FIT_OPTIMIZERS[fit]
    if fit == "epoch":
        qat.compile(getattr(tf_keras.optimizers, optimizer)(rate), "sparse_categorical_crossentropy")
        qat.fit(x, y, batch_size=32, epochs=1, verbose=0, shuffle=True)
    else:
        qat.compile(getattr(tf_keras.optimizers, optimizer)(rate), "sparse_categorical_crossentropy", run_eagerly=True)
        qat.fit(x[:8], y[:8], batch_size=8, epochs=1, verbose=0)
    report = kt.convert(qat, path, quantization="int8", input_type="uint8")
    return qat, report


def _layer_of(tensor_name, positions):
    """The QAT layer a file tensor belongs to: of the layer names its path
    components carry (`model/quant_conv/Conv2D;...`), the one latest in the model's order."""
    known = [n for n in set(re.findall(r"([^/;]+)/", tensor_name)) if n in positions]
    return max(known, key=positions.get) if known else None


def file_layer_outputs(path, qat, images):
    """{QAT layer name: (dequantized outputs (N, ...), scale)} for the last op output
    of the file that belongs to each layer; reference kernels, every tensor kept."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from keras_lightnets.tflite.interpreter import _to_input

    interpreter = Interpreter(model_path=str(path), experimental_preserve_all_tensors=True,
                              experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interpreter.allocate_tensors()
    details = {d["index"]: d for d in interpreter.get_tensor_details()}
    positions = {layer.name: i for i, layer in enumerate(qat.layers)}
    chosen = {}  # layer -> tensor index (last op output of that layer)
    for op in interpreter._get_ops_details():  # noqa: SLF001 -- the only way to walk the ops in order
        for index in op["outputs"]:
            layer = _layer_of(details[index]["name"], positions)
            if layer is not None and details[index]["dtype"] in (np.int8, np.uint8):
                chosen[layer] = index
    input_detail = interpreter.get_input_details()[0]
    collected = {layer: [] for layer in chosen}
    for image in images:
        interpreter.set_tensor(input_detail["index"], _to_input(image[None], input_detail))
        interpreter.invoke()
        for layer, index in chosen.items():
            scale, zero_point = details[index]["quantization"]
            collected[layer].append((interpreter.get_tensor(index).astype("float32") - zero_point) * scale)
    return {layer: (np.concatenate(v), details[chosen[layer]]["quantization"][0]) for layer, v in collected.items()}


def qat_layer_outputs(qat, layers, images):
    import tf_keras

    probe = tf_keras.Model(qat.inputs, [qat.get_layer(name).output for name in layers])
    values = probe(images, training=False)
    values = values if isinstance(values, (list, tuple)) else [values]
    return {name: np.asarray(v) for name, v in zip(layers, values)}


def compare(name, weights, epochs, seed, learning_rate, fit="adam"):
    import keras

    from keras_lightnets import tflite as kt
    from keras_lightnets.data import load_digits
    from keras_lightnets.training import recalibrate_batch_norm

    keras.utils.set_random_seed(seed)  # the initial weights too: a run is repeatable
    model, size = build_smallest(name)
    (x, y), (x_test, y_test) = load_digits(image_size=size, seed=0)
    x, x_test = x.astype("float32"), x_test[:TEST_IMAGES].astype("float32")
    y_test = y_test[:TEST_IMAGES]
    optimizer, rate = FIT_OPTIMIZERS[fit]
    run = {"model": name, "weights": weights, "size": size, "test_images": len(x_test), "seed": seed,
           "fit_step": f"{optimizer} {rate:g}" + (", 1 epoch" if fit == "epoch" else ", 1 step")}
    start = time.perf_counter()
    if weights == "trained":
        run.update(epochs=epochs, learning_rate=learning_rate,
                   train_accuracy=train_float(model, x, y, epochs, seed, learning_rate))
        run["float_test_accuracy"] = float(np.mean(model.predict(x_test, verbose=0).argmax(1) == y_test))
    else:
        recalibrate_batch_norm(model, x[:64], batch_size=16)
    with tempfile.TemporaryDirectory() as workdir:
        path = pathlib.Path(workdir) / "qat.tflite"
        qat, report = qat_and_convert(model, x, y, path, fit)
        file_values = file_layer_outputs(path, qat, x_test)
        xnnpack_out = kt.run(kt.load_interpreter(path), x_test)
    order = [layer.name for layer in qat.layers if layer.name in file_values]
    qat_values = qat_layer_outputs(qat, order, x_test)
    layers = []
    for layer in order:
        got, scale = file_values[layer]
        expected = qat_values[layer]
        if got.shape != expected.shape or not scale:
            layers.append({"layer": layer, "skipped": f"shape {got.shape} vs {expected.shape}"})
            continue
        diff = np.abs(expected - got)
        layers.append({"layer": layer, "lsb_mean": float(diff.mean() / scale), "lsb_max": float(diff.max() / scale),
                       "relative": float(np.linalg.norm(expected - got) / max(np.linalg.norm(expected), 1e-30))})
    measured = [r for r in layers if "skipped" not in r]
    first = next((r["layer"] for r in measured if r["lsb_mean"] > 1.0), None)
    worst = max(measured, key=lambda r: r["relative"])
    expected_out = qat(x_test, training=False).numpy()
    out_scale = file_values[order[-1]][1]
    ranked = np.sort(expected_out, axis=1)
    int8_out = np.round(file_values[order[-1]][0] / out_scale)  # the file's last int8 tensor, as codes
    run.update(
        fully_integer=bool(report.fully_integer), layers_compared=len(measured), layers_skipped=len(layers) - len(measured),
        first_layer_over_1_lsb=first, worst_layer=worst["layer"], worst_relative=worst["relative"],
        output_relative=measured[-1]["relative"], output_lsb_mean=measured[-1]["lsb_mean"],
        top1_agreement_reference=float(np.mean(expected_out.argmax(1) == file_values[order[-1]][0].argmax(1))),
        top1_agreement_xnnpack=float(np.mean(expected_out.argmax(1) == xnnpack_out.argmax(1))),
        mean_abs_diff_xnnpack=float(np.abs(expected_out - xnnpack_out).mean()),
        qat_test_accuracy=float(np.mean(expected_out.argmax(1) == y_test)),
        int8_test_accuracy=float(np.mean(xnnpack_out.argmax(1) == y_test)),
        tied_maximum_share=float(np.mean((int8_out == int8_out.max(1, keepdims=True)).sum(1) > 1)),
        median_margin_lsb=float(np.median((ranked[:, -1] - ranked[:, -2]) / out_scale)),
        output_scale=float(out_scale), seconds=round(time.perf_counter() - start, 1), per_layer=layers,
    )
    return run


def render(results):
    env = results.get("environment", {})
    lines = [
        "# QAT model against its own int8 file, layer by layer",
        "",
        "`python benchmarks/qat_layerwise.py` — each model at the smallest of 32 / 64 / 75 px it builds at, 10 classes; "
        "the zoo's QAT path (calibrated on 64 digits, one fit step on 8 images with the optimizer of the \"fit step\" column, `kt.convert(..., \"int8\", input_type=\"uint8\")`); "
        f"{TEST_IMAGES} held-out digits (one image = {100 / TEST_IMAGES:.2f} points of agreement or accuracy). "
        "Weights \"random\": BatchNorm statistics from 64 digits only, as qat_zoo.py had them; \"trained\": the float "
        "model fitted on the 1,438 training digits first (Adam, seed 0). Errors are in each file tensor's own "
        "quantization step (LSB), QAT layer output (fake-quant included) against the file's tensor on LiteRT's "
        "reference kernels. Margin: the QAT model's top-1 minus runner-up probability, in output LSBs (1/256). "
        f"TensorFlow {env.get('tensorflow', '?')}, tensorflow-model-optimization {env.get('tfmot', '?')}.",
        "",
        "| QAT code | fit step | model | weights | float acc (train / test) | layers | first layer > 1 LSB mean | worst rel. error (layer) | "
        "output err (LSB mean / rel.) | median margin (LSB) | int8 ties at max | top-1 agreement ref / XNNPACK | "
        "mean abs prob diff | QAT / int8 test acc |",
        "| --- | --- | --- | --- | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for key in sorted(results["runs"]):
        r = results["runs"][key]
        if "error" in r:
            lines.append(f"| {r['code']} | | {r['model']} | {r['weights']} | | | | | | | | | | failed: {r['error'][:100]} |")
            continue
        trained = (f"{r['train_accuracy']:.1%} / {r['float_test_accuracy']:.1%} ({r['epochs']} ep)"
                   if r["weights"] == "trained" else "")
        lines.append(
            f"| {r['code']} | {r['fit_step']} | {r['model']} | {r['weights']} | {trained} | {r['layers_compared']} | {r['first_layer_over_1_lsb'] or 'none'} | "
            f"{r['worst_relative']:.3f} ({r['worst_layer']}) | {r['output_lsb_mean']:.2f} / {r['output_relative']:.3f} | "
            f"{r['median_margin_lsb']:.1f} | {r['tied_maximum_share']:.0%} | "
            f"{r['top1_agreement_reference']:.1%} / {r['top1_agreement_xnnpack']:.1%} | {r['mean_abs_diff_xnnpack']:.4f} | "
            f"{r['qat_test_accuracy']:.1%} / {r['int8_test_accuracy']:.1%} |"
        )
    lines += ["", "QAT code: " + "; ".join(f"**{k}**: {v}" for k, v in CODE_LABELS.items()) + ".",
              "", "Per-layer errors (mean LSB, max LSB, relative) are in the JSON (`per_layer`).", ""]
    return "\n".join(lines)


def save(results):
    import tensorflow as tf
    import tensorflow_model_optimization as tfmot

    results["environment"] = {"tensorflow": tf.__version__, "tfmot": tfmot.__version__,
                              "cpu": platform.processor() or platform.machine()}
    write_atomically(JSON_PATH, json.dumps(results, indent=1, sort_keys=True))
    write_atomically(MD_PATH, render(results))


WEIGHTS = ("random", "trained")


def define_flags(values):
    f = dict(flag_values=values)
    flags.DEFINE_list("models", MODELS, "Registry names.", **f)
    flags.DEFINE_list("weights", list(WEIGHTS), "random, trained or both.", **f)
    flags.DEFINE_integer("epochs", 2, "Float epochs on the digits for 'trained'.", **f)
    flags.DEFINE_float("learning_rate", 1e-3, "Learning rate of the float training for 'trained'.", **f)
    flags.DEFINE_integer("seed", 0, "Seed of the model's weights and of training.", **f)
    flags.DEFINE_enum("fit", "adam", sorted(FIT_OPTIMIZERS), "The QAT fit step's optimizer.", **f)
    flags.DEFINE_enum("code", "groups+ties-fixed", list(CODE_LABELS), "Which QAT code ran (recorded with each run).",
                      **f)
    flags.DEFINE_bool("render", False, "Rewrite the Markdown from the saved JSON; measure nothing.", **f)


def run(args):
    unknown = [w for w in args.weights if w not in WEIGHTS]
    if unknown:
        raise ValueError(f"--weights: {', '.join(unknown)} is not a weight set; choose from {','.join(WEIGHTS)}.")
    results = json.loads(JSON_PATH.read_text()) if JSON_PATH.exists() else {"runs": {}}
    if args.render:
        write_atomically(MD_PATH, render(results))
        return 0
    for name in args.models:
        for weights in args.weights:
            try:
                run = compare(name, weights, args.epochs, args.seed, args.learning_rate, args.fit)
            except Exception as error:  # noqa: BLE001 -- a failure is a result to record
                run = {"model": name, "weights": weights, "error": f"{type(error).__name__}: {str(error)[:300]}"}
            run["code"] = args.code
            results["runs"][f"{args.code}/{args.fit}/{name}/{weights}"] = run
            print(json.dumps({k: v for k, v in run.items() if k != "per_layer"}), flush=True)
            save(results)
    print(render(results))
    return 0


COMMAND = bench_cli.command(__file__, __doc__, define_flags, run, light=lambda args: args.render)

if __name__ == "__main__":
    bench_cli.main(COMMAND)
