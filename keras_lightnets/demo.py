"""The main job (`make demo`, `lightnets demo`): paper to phone on the bundled digits.

1. train a registered model (MobileNetV3-Small by default) on the bundled real
   handwritten digits (keras_lightnets.data.load_digits; no download) and evaluate it;
2. convert it to three .tflite files with Task Library metadata (labels "0".."9"):
   float32, int8 post-training (calibrated on training images) and int8 from
   quantization-aware training (the float weights fine-tuned with fake-quant);
3. evaluate each file's accuracy on the held-out digits through the LiteRT
   interpreter, batch 1, exactly as it would run on a phone;
4. benchmark each file on this host (keras_lightnets.bench: 1 thread, batch 1,
   warm-up, median of the timed runs);
5. print one table and write results.json and accuracy_vs_latency.png to `output_dir`.

    from keras_lightnets.demo import run_demo, format_result
    model, result = run_demo(image_size=32, epochs=2)
    print(format_result(result))
"""

import dataclasses
import json
import math
import os
import sys
import time
from typing import List, Optional

import keras
import numpy as np

from keras_lightnets.data import load_digits
from keras_lightnets.profiling import profile
from keras_lightnets.registry import create_model

LABELS = [str(d) for d in range(10)]
VARIANTS = ("float32", "int8_ptq", "int8_qat")
RESULTS_JSON = "results.json"
PLOT_PNG = "accuracy_vs_latency.png"


@dataclasses.dataclass
class Variant:
    """One .tflite file of the demo, as measured."""

    name: str  # float32 | int8_ptq | int8_qat
    path: str
    input_dtype: str
    size_bytes: int
    accuracy: float  # held-out digits, through the interpreter
    latency_ms: float  # host median, 1 thread, batch 1
    speedup: float = 1.0  # float32 latency / this latency


@dataclasses.dataclass
class DemoResult:
    model_name: str
    image_size: int
    epochs: int
    train_loss: list
    test_accuracy: float  # the Keras float model
    train_seconds: float
    params: int
    macs: int
    qat_epochs: int = 0
    qat_accuracy: Optional[float] = None  # the tf_keras fake-quant model before conversion
    variants: List[Variant] = dataclasses.field(default_factory=list)
    output_dir: Optional[str] = None
    wall_seconds: float = 0.0

    def to_dict(self):
        return dataclasses.asdict(self)


def short_schedule_batch_norm(model, momentum=0.9):
    """The papers' BN momentum (0.99-0.999) suits 100+ epochs; for a run of a few
    hundred steps the moving statistics would lag far behind, so evaluation in
    inference mode would be meaningless. Lower it for short runs."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = momentum


# The console: with `verbose`, each stage is one "==> [k/5]" line on stdout and one
# progress bar on stderr, and nothing else (the lightnets command silences TensorFlow).


def _stage(verbose, text):
    if verbose:
        print(f"==> {text}", flush=True)


def _bar(verbose, total, unit):
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, disable=not verbose, leave=True, dynamic_ncols=True, file=sys.stderr)


def _fit_progress(callback_base, bar):
    """A Keras (or tf_keras: pass its Callback class) callback that advances `bar` one
    step per batch and shows the epoch and the running loss."""

    class FitProgress(callback_base):
        epoch = 0

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch + 1

        def on_train_batch_end(self, batch, logs=None):
            loss = (logs or {}).get("loss")
            if loss is not None:
                bar.set_postfix_str(f"epoch {self.epoch}/{self.params['epochs']}, loss {float(loss):.3f}", refresh=False)
            bar.update(1)

    return FitProgress()


def run_demo(model_name="mobilenet_v3_small", image_size=64, epochs=8, batch_size=32, learning_rate=2e-3, seed=0,
             verbose=1, output_dir="demo_output", convert=True, qat_epochs=1, qat_learning_rate=1e-4,
             train_subset=None, benchmark_runs=50, benchmark_min_secs=0.5):
    """Runs the main job and returns (the trained Keras model, DemoResult).

    `convert=False` stops after training and evaluation (no files). `train_subset`
    trains (and fine-tunes) on only the first N training images, for quick runs;
    evaluation always uses the whole held-out split (360 digits).
    """
    if convert and qat_epochs < 1:
        raise ValueError(f"`qat_epochs` must be at least 1 (QAT fine-tunes the float weights); received {qat_epochs}.")
    start_wall = time.perf_counter()
    keras.utils.set_random_seed(seed)
    (x_train, y_train), (x_test, y_test) = load_digits(image_size=image_size, seed=seed)
    if train_subset:
        x_train, y_train = x_train[:train_subset], y_train[:train_subset]
    x_train, x_test = x_train.astype("float32"), x_test.astype("float32")  # pixels in [0, 255]
    num_classes = int(y_train.max()) + 1

    _stage(verbose, f"[1/5] training {model_name} at {image_size}x{image_size} on {len(x_train)} digits, {epochs} epochs")
    model = create_model(model_name, input_shape=(image_size, image_size, 3), classes=num_classes)
    short_schedule_batch_norm(model)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    with _bar(verbose, epochs * math.ceil(len(x_train) / batch_size), "step") as bar:
        start = time.perf_counter()
        history = model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, verbose=0, shuffle=True,
                            callbacks=[_fit_progress(keras.callbacks.Callback, bar)] if verbose else None)
        train_seconds = time.perf_counter() - start
        _, accuracy = model.evaluate(x_test, y_test, batch_size=128, verbose=0)
        stats = profile(model)
        bar.set_postfix_str(f"loss {history.history['loss'][-1]:.3f}; Keras float accuracy on {len(x_test)} "
                            f"held-out digits: {accuracy:.2%}")
    result = DemoResult(
        model_name=model_name, image_size=image_size, epochs=epochs,
        train_loss=[float(v) for v in history.history["loss"]], test_accuracy=float(accuracy),
        train_seconds=train_seconds, params=stats.params, macs=stats.macs,
    )
    if convert:
        os.makedirs(output_dir, exist_ok=True)
        result.output_dir = output_dir
        result.qat_epochs = qat_epochs
        paths = _convert_all(model, x_train, y_train, output_dir, result, batch_size, qat_learning_rate, verbose)
        result.variants = _measure_all(paths, x_test, y_test, benchmark_runs, benchmark_min_secs, verbose)
    result.wall_seconds = time.perf_counter() - start_wall
    if convert:
        save_results(result, output_dir)
    return model, result


def _convert_all(model, x_train, y_train, output_dir, result, batch_size, qat_learning_rate, verbose):
    from keras_lightnets import tflite as kt

    metadata = {"name": f"{result.model_name} digits", "labels": LABELS,
                "description": f"{result.model_name} trained on the bundled handwritten digits by `lightnets demo`."}
    paths = {name: os.path.join(output_dir, f"{result.model_name}_{name}.tflite") for name in VARIANTS}
    _stage(verbose, "[2/5] converting: float32, int8 post-training (calibrated on 200 training digits)")
    with _bar(verbose, 2, "file") as bar:
        bar.set_postfix_str(os.path.basename(paths["float32"]))
        kt.convert(model, paths["float32"], metadata=metadata)
        bar.update(1)
        bar.set_postfix_str(os.path.basename(paths["int8_ptq"]))
        kt.convert(model, paths["int8_ptq"], quantization="int8", representative_data=x_train, input_type="uint8",
                   metadata=metadata)
        bar.update(1)

    _stage(verbose, f"[3/5] quantization-aware training: {result.qat_epochs} epoch(s) from the float weights")
    import tf_keras

    with _bar(verbose, result.qat_epochs * math.ceil(len(x_train) / batch_size), "step") as bar:
        qat = fine_tune_qat(model, x_train, y_train, epochs=result.qat_epochs, batch_size=batch_size,
                            learning_rate=qat_learning_rate, verbose=0,
                            callbacks=[_fit_progress(tf_keras.callbacks.Callback, bar)] if verbose else None)
        bar.set_postfix_str(f"{bar.postfix or ''}; converting to {os.path.basename(paths['int8_qat'])}")
        # Its ranges come from training: no calibration data.
        kt.convert(qat, paths["int8_qat"], quantization="int8", input_type="uint8", metadata=metadata)
    return paths


def fine_tune_qat(model, x_train, y_train, epochs=1, batch_size=32, learning_rate=1e-4, verbose=1, callbacks=None):
    """The float `model` as a tf_keras fake-quant model (ranges calibrated on the
    training images), fine-tuned for `epochs` (`callbacks`: tf_keras callbacks)."""
    import tf_keras

    from keras_lightnets import tflite as kt

    qat = kt.quantize_aware(model, representative_data=x_train)
    qat.compile(optimizer=tf_keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy",
                metrics=["accuracy"])
    qat.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, verbose=verbose, shuffle=True, callbacks=callbacks)
    return qat


def _measure_all(paths, x_test, y_test, runs, min_secs, verbose):
    from keras_lightnets import bench

    variants = []
    _stage(verbose, f"[4/5] accuracy of each .tflite on {len(x_test)} held-out digits (LiteRT interpreter, batch 1)")
    accuracies = {}
    with _bar(verbose, len(paths) * len(x_test), "image") as bar:
        for name, path in paths.items():
            bar.set_postfix_str(name)
            accuracies[name] = evaluate_tflite(path, x_test, y_test, progress=bar)
        bar.set_postfix_str(", ".join(f"{name} {accuracy:.2%}" for name, accuracy in accuracies.items()))
    _stage(verbose, "[5/5] host benchmark: LiteRT, 1 thread, batch 1, warm-up then median of the timed runs")
    with _bar(verbose, len(paths), "file") as bar:
        for name, path in paths.items():
            bar.set_postfix_str(name)
            measured = bench.run(path, target="host", num_threads=1, num_runs=runs, min_secs=min_secs)
            variants.append(Variant(name=name, path=path, input_dtype=_input_dtype(path), size_bytes=os.path.getsize(path),
                                    accuracy=accuracies[name], latency_ms=float(measured.median_ms)))
            bar.update(1)
        bar.set_postfix_str(", ".join(f"{v.name} {v.latency_ms:.3f} ms" for v in variants))
    base = variants[0].latency_ms
    for v in variants:
        v.speedup = base / v.latency_ms
    return variants


def evaluate_tflite(path, images, labels, verbose=0, desc=None, progress=None):
    """Top-1 accuracy of a classifier .tflite on (images, labels), one image per invoke
    (`verbose`: a progress bar named `desc`; `progress`: a tqdm bar to advance instead)."""
    from tqdm import tqdm

    from keras_lightnets.tflite import load_interpreter

    interpreter = load_interpreter(path, num_threads=1)
    correct = 0
    with tqdm(total=len(labels), desc=desc, disable=not verbose or progress is not None, leave=False) as own:
        bar = own if progress is None else progress
        for image, label in zip(images, labels):
            correct += int(_predict(interpreter, image).argmax() == label)
            bar.update(1)
    return correct / len(labels)


def _predict(interpreter, image):
    from keras_lightnets.tflite import run

    return run(interpreter, image[None])[0]


def _input_dtype(path):
    from keras_lightnets.tflite import load_interpreter

    return np.dtype(load_interpreter(path).get_input_details()[0]["dtype"]).name


def format_result(result: DemoResult):
    losses = " -> ".join(f"{v:.3f}" for v in result.train_loss)
    lines = [
        f"model            {result.model_name} @ {result.image_size}x{result.image_size}x3, 10 digit classes",
        f"training         {result.epochs} epochs in {result.train_seconds:.1f} s, loss {losses}",
        f"test accuracy    {result.test_accuracy * 100:.2f}% (Keras float model, held-out real handwritten digits)",
        f"parameters       {result.params:,}",
        f"multiply-adds    {result.macs / 1e6:.2f} M per image",
    ]
    if result.variants:
        lines += ["", format_table(result.variants), "",
                  f"files, {RESULTS_JSON} and {PLOT_PNG} in {result.output_dir}/ ({result.wall_seconds:.0f} s in all)"]
    return "\n".join(lines)


def format_table(variants):
    header = ("file", "input", "accuracy", "size", "latency", "speed-up")
    rows = [(os.path.basename(v.path), v.input_dtype, f"{v.accuracy * 100:.2f}%", f"{v.size_bytes / 1024:.0f} KiB",
             f"{v.latency_ms:.3f} ms", f"{v.speedup:.2f}x") for v in variants]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    fmt = lambda row: "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))  # noqa: E731
    return "\n".join([fmt(header), "  ".join("-" * w for w in widths), *map(fmt, rows)])


def save_results(result, output_dir):
    """results.json and accuracy_vs_latency.png in output_dir; returns their paths."""
    json_path = os.path.join(output_dir, RESULTS_JSON)
    with open(json_path, "w") as f:
        json.dump(result.to_dict(), f, indent=2)
    return json_path, plot_results(result, os.path.join(output_dir, PLOT_PNG))


def plot_results(result, path):
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for v in result.variants:
        ax.scatter(v.latency_ms, v.accuracy * 100, s=30 + v.size_bytes / 4096, label=f"{v.name} ({v.size_bytes / 1024:.0f} KiB)")
        ax.annotate(v.name, (v.latency_ms, v.accuracy * 100), textcoords="offset points", xytext=(6, 4))
    ax.set_xlabel("host latency, ms (median, 1 thread, batch 1)")
    ax.set_ylabel("top-1 accuracy on held-out digits, %")
    ax.set_title(f"{result.model_name} @ {result.image_size}px: accuracy vs latency")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
