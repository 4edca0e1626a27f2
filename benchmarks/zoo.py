"""The zoo on the TFLite benchmark: every registered model in float32 and int8, side
by side with keras.applications' same architectures converted the same way.

For each model: params and multiply-adds (kl.profile, at the benchmarked resolution
with 1000 classes), .tflite size and host latency (keras_lightnets.bench: LiteRT,
XNNPACK, 1 thread, batch 1, warm-up, median of the timed runs) for float32 and
full-integer int8 (keras_lightnets.tflite.convert, calibrated on real photos shipped
with scikit-image, uint8 input), and top-1 where a trained figure exists: with
--weights, each model that has that weight set is built with it (downloaded once,
hash-checked) and its column shows the set's published top-1; otherwise random
weights and n/a, unless --accuracy gives a JSON file of figures (e.g.
benchmarks/paper_top1.json, the papers' published top-1 for the mobile models).
Written to benchmarks/results/zoo.{json,md,png}; the plot is latency against
multiply-adds (the papers' Figure 1 style), ours against keras.applications, and
latency against accuracy where accuracy exists.

    python benchmarks/zoo.py                                  # the whole zoo at each paper's size
    python benchmarks/zoo.py --resolution=160 --jobs=2        # shorter run
    python benchmarks/zoo.py --models='mobilenet*' --noint8 --out=/tmp/zoo
    python benchmarks/zoo.py --models='resnet*,mobilenet_v3*' --weights=torchvision   # trained sets, their top-1

Conversions are cached in --workdir (keyed by model, resolution and mode), so an
interrupted run resumes where it stopped. Absolute milliseconds on a shared host are
noise; the ours/keras.applications ratios (each pair timed back to back, in
alternating rounds) are the figure to read.
"""

# keras_lightnets imports TensorFlow only when a run needs it, after quieting its logs
# (keras_lightnets/__init__.py reads this): `--help` answers without it.
LIGHTNETS_APP = True

import concurrent.futures
import datetime
import fnmatch
import json
import multiprocessing
import os
import pathlib
import statistics
import sys
import tempfile
import time

import numpy as np
from absl import flags
from tqdm import tqdm

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_cli  # noqa: E402  (absl flags, as the package's command-line apps have them)
import results_io  # noqa: E402  (atomic writes)

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field")

# Our registry name -> keras.applications' builder of the same architecture, its
# arguments, and the preprocess_input module for its calibration images (None: the
# model rescales inside, and takes [0, 255] pixels like ours).
ANCHORS = {
    "mobilenet_v1": ("MobileNet", {}, "mobilenet"),
    "mobilenet_v2": ("MobileNetV2", {}, "mobilenet_v2"),
    "mobilenet_v3_large": ("MobileNetV3Large", {}, None),
    "mobilenet_v3_small": ("MobileNetV3Small", {}, None),
    "resnet50": ("ResNet50", {}, "resnet"),
    "resnet50_v2": ("ResNet50V2", {}, "resnet_v2"),
    "densenet121": ("DenseNet121", {}, "densenet"),
    "xception": ("Xception", {}, "xception"),
    "inception_v3": ("InceptionV3", {}, "inception_v3"),
    "inception_resnet_v2": ("InceptionResNetV2", {}, "inception_resnet_v2"),
    "convnext_tiny": ("ConvNeXtTiny", {}, None),
    "vgg16": ("VGG16", {}, "vgg16"),
    "efficientnet_b0": ("EfficientNetB0", {}, None),
    "efficientnet_v2_b0": ("EfficientNetV2B0", {}, None),
    "nasnet_mobile": ("NASNetMobile", {}, "nasnet"),
}
MODES = ("float32", "int8")
# Random weights: BatchNorm statistics are re-estimated on this many real photo crops
# first, as a trained network has them. With the initial statistics activations shrink
# through the network, and int8 files get degenerate ranges (MobileNetV3's h-swish,
# spanning less than +-0.01, cannot then be rewritten for XNNPACK and stays slow).
BATCH_NORM_IMAGES = 32
# ... 8 at a time: one batch of 32 at 128 px needs 12-24 GB for the CIFAR DenseNet-BCs,
# which keep full resolution through their first block
BATCH_NORM_CHUNK = 8
TRANSFORMER_FAMILIES = ("vit", "swin")  # not CNNs: left out unless --transformers
# Per-pixel and per-box networks: no top-1, and their papers measure them at 320-520 px; the
# zoo's table and plots are of classifiers.
DENSE_PREDICTION_FAMILIES = ("segmentation", "detection")


def define_flags(values):
    f = dict(flag_values=values)
    flags.DEFINE_string("models", "*", "Shell pattern(s), comma-separated; * is every registered model.", **f)
    flags.DEFINE_integer("resolution", None, "Input size for all models, never above a paper's (default: each "
                         "paper's).", **f)
    flags.DEFINE_bool("int8", True, "Also full-integer int8.", **f)
    flags.DEFINE_bool("anchors", True, "Also keras.applications' same architectures.", **f)
    flags.DEFINE_integer("calibration", 16, "Calibration images for int8.", **f)
    flags.DEFINE_integer("warmup_runs", 2, "Warm-up runs before the timed ones.", **f)
    flags.DEFINE_integer("num_runs", 10, "Timed runs per round.", **f)
    flags.DEFINE_integer("rounds", 2, "Alternating ours/keras rounds per pair.", **f)
    flags.DEFINE_bool("transformers", False, f"Also the vision transformers ({', '.join(TRANSFORMER_FAMILIES)}); the "
                      "zoo benchmark is of CNNs.", **f)
    flags.DEFINE_integer("jobs", 1, "Parallel conversion processes (timing is always sequential).", **f)
    flags.DEFINE_float("max_minutes", None, "Stop starting conversions after this long; models not converted by then "
                       "are listed as skipped (the cache keeps what was done: a later run resumes).", **f)
    flags.DEFINE_string("accuracy", None, "JSON file of trained top-1 figures: {model name: top-1 (0..1)}, or "
                        '{"source": what they are, "top1": {model name: top-1}} (benchmarks/paper_top1.json).', **f)
    flags.DEFINE_string("weights", None, "A weight-set source (imagenet, torchvision, timm) or set name (e.g. "
                        "torchvision.IMAGENET1K_V2) loaded into each of our models that has it; its published top-1 "
                        "fills the top-1 column. Models without it keep random weights.", **f)
    flags.DEFINE_string("workdir", os.path.join(tempfile.gettempdir(), "keras_lightnets_zoo"),
                        "Cache of converted files.", **f)
    flags.DEFINE_string("out", str(RESULTS), "Where zoo.json, zoo.md and zoo.png go.", **f)
    flags.DEFINE_bool("render_only", False, "Rewrite zoo.md and zoo.png from --out's zoo.json.", **f)


def parse_args(argv=None):
    """The flags from `argv` (the arguments after the program), in this process."""
    return bench_cli.parse(COMMAND, sys.argv[1:] if argv is None else argv)


def select_models(patterns, transformers=False):
    """Registered names matching the patterns: those with a keras.applications twin
    first (the side-by-side comparison), then the rest mobile-sized first (by the
    paper's multiply-adds), so that a --max_minutes budget skips the largest."""
    import keras_lightnets as kl

    names = kl.list_models()
    wanted = [p.strip() for p in patterns.split(",") if p.strip()]
    chosen = [n for n in names if any(fnmatch.fnmatch(n, p) for p in wanted)
              and (transformers or kl.model_info(n).family not in TRANSFORMER_FAMILIES)
              and kl.model_info(n).family not in DENSE_PREDICTION_FAMILIES]
    if not chosen:
        raise SystemExit(f"--models={patterns!r} matches no registered model (see `lightnets list`).")
    macs = {n: kl.model_info(n).paper_macs_m for n in chosen}
    return sorted(chosen, key=lambda n: (n not in ANCHORS, macs[n] is None, macs[n] or 0, n))


def plan(args):
    """One job per Keras model to build: ours for every selected name, and the
    keras.applications twin where one exists."""
    import keras_lightnets as kl

    jobs = []
    for name in select_models(args.models, args.transformers):
        info = kl.model_info(name)
        # --resolution reduces: a CIFAR network (32 px in its paper) is not blown up to
        # ImageNet sizes, where DenseNet-BC-190's full-resolution blocks need > 23 GB
        resolution = min(args.resolution, info.default_size) if args.resolution else info.default_size
        jobs.append({"variant": "ours", "name": name, "family": info.family, "resolution": resolution,
                     "paper_params_m": info.paper_params_m, "paper_macs_m": info.paper_macs_m,
                     **weight_set_job(name, info, args.weights)})
        if args.anchors and name in ANCHORS:
            builder, kwargs, _ = ANCHORS[name]
            jobs.append({"variant": "keras.applications", "name": name, "family": info.family, "resolution": resolution,
                         "keras_builder": builder, "keras_kwargs": kwargs})
    return jobs


def weight_set_job(name, info, wanted):
    """The job's weight set, {} where the model has no set `wanted` (it stays random)."""
    if not wanted:
        return {}
    from keras_lightnets.weights import sets

    try:
        chosen = sets.find(name, info.weights, wanted)
    except ValueError:
        return {}
    return {"weights": chosen.name, "weights_top1": chosen.top1, "weights_figures_source": chosen.figures_source}


def photos(size, count, seed=0):
    """Real photos (scikit-image's bundled samples): random square crops and flips, resized."""
    import skimage.data
    from PIL import Image

    rng = np.random.default_rng(seed)
    sources = [getattr(skimage.data, n)()[..., :3] for n in PHOTOS]
    out = []
    for i in range(count):
        image = sources[i % len(sources)]
        h, w = image.shape[:2]
        side = int(min(h, w) * rng.uniform(0.6, 1.0))
        top, left = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        crop = image[top: top + side, left: left + side]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        out.append(np.asarray(Image.fromarray(np.ascontiguousarray(crop)).resize((size, size), Image.BILINEAR)))
    return np.stack(out).astype("float32")


def _build(job):
    import keras

    import keras_lightnets as kl

    shape = (job["resolution"], job["resolution"], 3)
    if job["variant"] == "ours":
        return kl.create_model(job["name"], input_shape=shape, weights=job.get("weights")), None
    from keras_lightnets.models.efficientnet import set_imagenet_normalization

    builder = getattr(keras.applications, job["keras_builder"])
    model = builder(weights=None, input_shape=shape, **job["keras_kwargs"])
    set_imagenet_normalization(model)  # EfficientNet: the statistics its published weights load
    module = ANCHORS[job["name"]][2]
    preprocess = getattr(keras.applications, module).preprocess_input if module else None
    return model, preprocess


def convert_job(job, modes, calibration, workdir):
    """Builds, profiles and converts one model (cached); returns its record."""
    import keras

    import keras_lightnets as kl
    from keras_lightnets import tflite as kt
    from keras_lightnets.training import recalibrate_batch_norm

    key = _key(job)
    meta_path = os.path.join(workdir, key + f"__cal{calibration}.json")
    record = {**job, "files": {}, "error": None}
    if os.path.exists(meta_path):
        with open(meta_path) as f:
            record = {**json.load(f), **job}
    todo = [m for m in modes if not _cached(record["files"].get(m))]
    for entry in record["files"].values():  # files cached before float_ops was recorded
        if entry.get("fully_integer") is False and entry.get("float_ops") is None and _cached(entry):
            with open(entry["path"], "rb") as f:
                entry["float_ops"] = kt.analyze(f.read()).float_ops
    if record.get("error") or not todo:
        return record
    try:
        keras.utils.set_random_seed(0)
        model, preprocess = _build(job)
        stats = kl.profile(model)
        record.update(params=stats.params, macs=stats.macs)
        images = photos(job["resolution"], max(calibration, BATCH_NORM_IMAGES))
        images = preprocess(images.copy()) if preprocess else images
        if not job.get("weights"):  # a trained set keeps its own statistics
            recalibrate_batch_norm(model, images, batch_size=BATCH_NORM_CHUNK)
    except Exception as error:  # a model that cannot be built at this size: say so, go on
        record["error"] = _first_line(error)
        results_io.write_text(meta_path, json.dumps(record))
        return record
    for mode in todo:
        path = os.path.join(workdir, f"{key}__{mode}.tflite")
        entry = {"path": path}
        try:
            start = time.perf_counter()
            report = kt.convert(model, path, quantization=None if mode == "float32" else "int8",
                                representative_data=images[:calibration] if mode == "int8" else None,
                                num_calibration_samples=calibration, input_type="float32" if mode == "float32" else "uint8",
                                # an op with no int8 kernel (ZFNet's LRN: POW, SQUARE) stays float:
                                # recorded (fully_integer, float_ops) and marked in the table
                                allow_float_fallback=mode == "int8")
            entry.update(size_bytes=report.size_bytes, conversion_s=round(time.perf_counter() - start, 1),
                         fully_integer=report.fully_integer if mode == "int8" else None,
                         float_ops=report.float_ops if mode == "int8" else None)
        except Exception as error:
            entry = {"path": None, "error": _first_line(error)}
        record["files"][mode] = entry
        results_io.write_text(meta_path, json.dumps(record))
    keras.backend.clear_session()
    return record


def _key(job):
    # "bn": BatchNorm statistics re-estimated before converting (files made without it are not reused)
    weights = f"__{job['weights']}" if job.get("weights") else "__bn"
    return f"{job['variant'].replace('.', '_')}__{job['name']}__{job['resolution']}px{weights}"


def _cached_record(task, partial=False):
    """The cached record of a job, if every mode was done in an earlier run (or, with
    partial=True, whatever was done)."""
    job, modes, calibration, workdir = task
    path = os.path.join(workdir, _key(job) + f"__cal{calibration}.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        record = {**json.load(f), **job}
    return record if partial or record.get("error") or all(_cached(record["files"].get(m)) for m in modes) else None


def _cached(entry):
    return bool(entry) and (bool(entry.get("error")) or os.path.exists(entry.get("path") or ""))


def _first_line(error):
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:300] if text else ''}"


def _worker(args):
    job, modes, calibration, workdir = args
    return convert_job(job, modes, calibration, workdir)


def convert_all(jobs, modes, calibration, workdir, processes, max_minutes=None):
    os.makedirs(workdir, exist_ok=True)
    tasks = [(job, modes, calibration, workdir) for job in jobs]
    deadline = None if max_minutes is None else time.time() + 60 * max_minutes
    bar = tqdm(total=len(tasks), desc="building + converting", unit="model")
    records = []

    def skipped(task):
        """What the cache has of the job (a mode converted before the budget ran out
        is kept), else a record that says it was not converted."""
        reason = f"not converted within --max_minutes={max_minutes:g}"
        partial = _cached_record(task, partial=True)
        if partial is None or partial.get("error") or not any(_cached(partial["files"].get(m)) for m in modes):
            return {**task[0], "files": {}, "error": None, "skipped": reason}
        for mode in modes:
            if not _cached(partial["files"].get(mode)):
                partial["files"][mode] = {"path": None, "skipped": reason}
        return partial

    if processes <= 1:
        for task in tasks:
            bar.set_postfix_str(f"{task[0]['name']} ({task[0]['variant']})")
            if deadline is not None and time.time() > deadline:
                records.append(_cached_record(task) or skipped(task))
            else:
                records.append(_worker(task))
            bar.update()
    else:
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(processes, mp_context=context) as pool:
            futures = {pool.submit(_worker, task): task for task in tasks}
            pending = set(futures)
            while pending:
                timeout = None if deadline is None else max(deadline - time.time(), 0)
                done, pending = concurrent.futures.wait(pending, timeout=timeout, return_when="FIRST_COMPLETED")
                for future in done:
                    records.append(future.result())
                    bar.update()
                if deadline is not None and time.time() > deadline:
                    for future in list(pending):
                        if future.cancel():  # not started: skipped; started ones finish
                            pending.discard(future)
                            records.append(_cached_record(futures[future]) or skipped(futures[future]))
                            bar.update()
                    deadline = None  # then wait for the running ones
    bar.close()
    order = {(j["variant"], j["name"]): i for i, j in enumerate(jobs)}
    return sorted(records, key=lambda r: order[(r["variant"], r["name"])])


def measure_all(records, modes, warmup_runs, num_runs, rounds):
    """Host latency, sequentially; a model and its keras.applications twin are timed
    back to back in alternating rounds, so both see the same machine load."""
    from keras_lightnets import bench

    by_name = {}
    for record in records:
        by_name.setdefault(record["name"], []).append(record)
    groups = [(group, mode) for group in by_name.values() for mode in modes]
    for group, mode in tqdm(groups, desc="timing (1 thread, batch 1)", unit="file"):
        files = [r["files"].get(mode) for r in group]
        if not any(f and f.get("path") for f in files):
            continue
        medians = {i: [] for i, f in enumerate(files) if f and f.get("path")}
        means = {i: [] for i in medians}
        for round_ in range(rounds if len(medians) > 1 else 1):
            for i in (sorted(medians) if round_ % 2 == 0 else sorted(medians, reverse=True)):
                try:
                    result = bench.run(files[i]["path"], num_threads=1, warmup_runs=warmup_runs, num_runs=num_runs,
                                       min_secs=0, warmup_min_secs=0)
                except Exception as error:
                    files[i]["error"] = _first_line(error)
                    continue
                medians[i].append(result.stats["p50_us"] / 1e3)
                means[i].append(result.mean_ms)
                files[i]["device"] = result.device
        for i in medians:
            if medians[i]:
                files[i]["latency_ms"] = round(statistics.median(medians[i]), 4)
                files[i]["latency_mean_ms"] = round(statistics.mean(means[i]), 4)
                files[i]["timed_runs"] = num_runs * len(medians[i])
    return records


def rows_by_model(records):
    """[(ours, keras_twin_or_None), ...] in registry order."""
    ours = [r for r in records if r["variant"] == "ours"]
    twins = {r["name"]: r for r in records if r["variant"] != "ours"}
    return [(r, twins.get(r["name"])) for r in ours]


def _ms(entry):
    return None if not entry or entry.get("latency_ms") is None else entry["latency_ms"]


def _fmt(value, spec, missing="—"):
    return missing if value is None else format(value, spec)


def markdown(records, meta, modes):
    lines = [
        "# Zoo benchmark",
        "",
        f"Host latency of every registered model, {meta['generated']} on `{meta['host']}` "
        f"({meta['logical_cpus']} logical CPUs, shared): LiteRT {meta['litert']} with XNNPACK, **1 thread, batch 1**, "
        f"{meta['warmup_runs']} warm-up runs, then the median of {meta['num_runs']} timed runs"
        f" (pairs: median over {meta['rounds']} alternating rounds). "
        + (f"**All models at {meta['resolution']}x{meta['resolution']}** (reduced from the papers' sizes to keep the run "
           "short on a shared 2-core host; the CIFAR networks at their papers' 32x32); MACs are at that size. " if meta["resolution"] else
           "Each model at its paper's resolution. ")
        + (f"Weights: each model's `{meta['weights']}` set where it has one (top-1 marked ‡: that set's published "
           "top-1, its publisher's figure at the set's own evaluation recipe, not measured here; the set's name and "
           "the figure's source are in zoo.json); the other models random weights, " if meta.get("weights")
           else "Random weights, ")
        + f"BatchNorm statistics re-estimated on {BATCH_NORM_IMAGES} real photo crops (as a trained "
        f"network has them; pooled over chunks of {BATCH_NORM_CHUNK}). int8: full-integer post-training quantization calibrated on {meta['calibration']} real "
        "photos, uint8 input. "
        "Params and MACs: `kl.profile`, 1000 classes. `ratio` = ours / keras.applications latency "
        "(the same architecture converted the same way; ours includes its input-rescaling layer, keras.applications' "
        "ResNet/DenseNet/VGG/Xception/Inception/MobileNet V1-V2 take pre-scaled input). "
        + (("top-1 otherwise: " if meta.get("weights") else "top-1: ") + f"{meta['accuracy_source']} (the float model's figure at its paper's resolution, not measured here"
           + (", nor at this run's size" if meta["resolution"] else "") + "). " if meta.get("accuracy_source")
           else "top-1 otherwise: n/a (random weights). " if meta.get("weights")
           else "top-1: n/a, no trained ImageNet weights on this offline machine. ")
        + "Absolute milliseconds on a shared host are "
        f"noisy; the ratios are the figure to read. The run took {meta['wall_seconds'] / 60:.0f} min "
        f"(`python benchmarks/zoo.py {meta.get('command', '')}`).",
        "",
    ]
    header = ["model", "res", "params", "MMACs"]
    for mode in modes:
        header += [f"{mode} MB", f"{mode} ms", f"keras {mode} ms", f"ratio {mode}"]
    if "int8" in modes and "float32" in modes:
        header.append("int8 speed-up")
    header.append("top-1")
    lines += ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for ours, twin in rows_by_model(records):
        if ours.get("error") or ours.get("skipped"):
            why = f"error: {ours['error'][:80]}" if ours.get("error") else ours["skipped"]
            lines.append(f"| `{ours['name']}` | {ours['resolution']} | — | — | {why} |" + " |" * (len(header) - 5))
            continue
        cells = [f"`{ours['name']}`", str(ours["resolution"]), f"{ours['params'] / 1e6:.2f}M", f"{ours['macs'] / 1e6:,.1f}"]
        for mode in modes:
            entry = ours["files"].get(mode) or {}
            twin_entry = (twin or {}).get("files", {}).get(mode) or {}
            size = entry.get("size_bytes")
            twin_missing = "error" if twin_entry.get("error") else "—"
            mixed = "†" if entry.get("fully_integer") is False else ""
            cells += [_fmt(size and size / 1e6, ".2f"), _fmt(_ms(entry), ".2f", "error" if entry.get("error") else "—") + mixed,
                      _fmt(_ms(twin_entry), ".2f", twin_missing),
                      _fmt(_ratio(_ms(entry), _ms(twin_entry)), ".2f")]
        if "int8" in modes and "float32" in modes:
            speedup = _ratio(_ms(ours["files"].get("float32")), _ms(ours["files"].get("int8")))
            cells.append(f"{speedup:.2f}x" if speedup else "—")
        cells.append(_fmt(ours.get("accuracy"), ".1%", "n/a") + ("‡" if ours.get("weights") else ""))
        lines.append("| " + " | ".join(cells) + " |")
    fallback_ops = sorted({op for r in records for e in r["files"].values() if e.get("fully_integer") is False
                           for op in e.get("float_ops") or ["?"]})
    if fallback_ops:
        lines += ["", f"†: int8 with float fallback: op types TFLite's int8 kernels lack ({', '.join(fallback_ops)}) "
                  "stay float, between QUANTIZE and DEQUANTIZE."]
    errors = [(r["name"], r["variant"], m, e["error"]) for r in records for m, e in r["files"].items() if e.get("error")]
    errors += [(r["name"], r["variant"], "build", r["error"]) for r in records if r.get("error")]
    if errors:
        lines += ["", "Failures (the run went on):", ""]
        lines += [f"- `{n}` ({v}, {m}): {e}" for n, v, m, e in errors]
    skipped = [f"`{r['name']}`" + ("" if r["variant"] == "ours" else " (keras.applications)") for r in records if r.get("skipped")]
    skipped += [f"`{r['name']}` ({'' if r['variant'] == 'ours' else 'keras.applications '}{m} only)"
                for r in records for m, e in r["files"].items() if e.get("skipped")]
    if skipped:
        lines += ["", f"Not converted within the run's time budget ({len(skipped)}; the run goes through the models "
                  f"with a keras.applications twin first, then the rest smallest-first by the papers' multiply-adds): "
                  f"{', '.join(skipped)}."]
    ratios = [_ratio(_ms(o["files"].get(m)), _ms(t["files"].get(m))) for o, t in rows_by_model(records) if t for m in modes]
    ratios = [r for r in ratios if r]
    if ratios:
        lines += ["", f"Ours / keras.applications latency over {len(ratios)} pairs: median {statistics.median(ratios):.2f}, "
                  f"range {min(ratios):.2f}-{max(ratios):.2f}."]
    return "\n".join(lines) + "\n"


def _ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def plot(records, path, modes, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with_accuracy = [r for r in records if r.get("accuracy") is not None and r["variant"] == "ours"]
    panels = 3 if with_accuracy else 2
    fig, axes = plt.subplots(1, panels, figsize=(7 * panels, 6.2))
    styles = {("ours", "float32"): dict(marker="o", color="tab:blue"), ("ours", "int8"): dict(marker="^", color="tab:orange"),
              ("keras.applications", "float32"): dict(marker="o", facecolors="none", edgecolors="tab:blue", linewidths=1.5, s=90),
              ("keras.applications", "int8"): dict(marker="^", facecolors="none", edgecolors="tab:orange", linewidths=1.5, s=90)}
    ax = axes[0]
    for (variant, mode), style in styles.items():
        if mode not in modes:
            continue
        points = [(r["macs"] / 1e6, _ms(r["files"].get(mode)), r["name"]) for r in records
                  if r["variant"] == variant and r.get("macs") and _ms(r["files"].get(mode))]
        if not points:
            continue
        x, y, names = zip(*points)
        ax.scatter(x, y, label=f"{'ours' if variant == 'ours' else 'keras.applications'} {mode}", zorder=3, **style)
        if variant == "ours":
            front = pareto_front(points)
            ax.plot([p[0] for p in front], [p[1] for p in front], "-", color=style["color"], alpha=0.4, zorder=2)
            if mode == modes[0]:
                for xi, yi, name in points:
                    ax.annotate(name, (xi, yi), fontsize=6, alpha=0.75, xytext=(3, 2), textcoords="offset points")
    ax.set(xscale="log", yscale="log", xlabel="multiply-adds (millions)", ylabel="latency (ms, median, 1 thread)",
           title="latency vs multiply-adds (line: Pareto front, most MACs per ms)")
    ax.grid(True, which="both", alpha=0.3)
    _legend(ax)

    ax = axes[1]
    for mode in modes:
        pairs = [(_ms(t["files"].get(mode)), _ms(o["files"].get(mode)), o["name"]) for o, t in rows_by_model(records)
                 if t and _ms(o["files"].get(mode)) and _ms(t["files"].get(mode))]
        if pairs:
            x, y, names = zip(*pairs)
            ax.scatter(x, y, label=mode, **{k: v for k, v in styles[("ours", mode)].items()})
            for xi, yi, name in pairs:
                ax.annotate(name, (xi, yi), fontsize=7, xytext=(3, 2), textcoords="offset points")
    lims = [v for c in ax.collections for v in c.get_offsets().ravel()]
    if lims:
        low, high = min(lims) * 0.8, max(lims) * 1.25
        ax.plot([low, high], [low, high], "k--", lw=1, label="equal latency")
        ax.set(xlim=(low, high), ylim=(low, high))
    ax.set(xscale="log", yscale="log", xlabel="keras.applications latency (ms)", ylabel="ours latency (ms)",
           title="same architecture, converted the same way")
    ax.grid(True, which="both", alpha=0.3)
    _legend(ax)

    if with_accuracy:
        ax = axes[2]
        for mode in modes:
            points = [(_ms(r["files"].get(mode)), r["accuracy"] * 100, r["name"]) for r in with_accuracy if _ms(r["files"].get(mode))]
            if points:
                x, y, names = zip(*points)
                ax.scatter(x, y, label=mode, **styles[("ours", mode)])
                front = accuracy_front(points)
                ax.plot([p[0] for p in front], [p[1] for p in front], "-", color=styles[("ours", mode)]["color"], alpha=0.5)
                for xi, yi, name in front:  # names on the front only: the cloud below it is unreadable
                    ax.annotate(name, (xi, yi), fontsize=7, xytext=(3, -8 if mode == "int8" else 3), textcoords="offset points",
                                color=styles[("ours", mode)]["color"])
        ax.set(xscale="log", xlabel="latency (ms, median, 1 thread)", ylabel="ImageNet top-1 (%, float model)",
               title="top-1 vs latency (line: Pareto front)")
        ax.grid(True, which="both", alpha=0.3)
        _legend(ax)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _legend(ax):
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)


def pareto_front(points):
    """Points (cost_x, latency, name) not beaten by another with more x at no more latency:
    walking by latency, keep each point that raises the best x so far."""
    front, best = [], -np.inf
    for x, y, name in sorted(points, key=lambda p: (p[1], -p[0])):
        if x > best:
            front.append((x, y, name))
            best = x
    return sorted(front)


def accuracy_front(points):
    """Points (latency, accuracy, name) that no other point beats with more accuracy at
    no more latency, by latency: the models a user would pick."""
    return [(latency, accuracy, name) for accuracy, latency, name in pareto_front([(a, l, n) for l, a, n in points])]


def render(out, records, meta):
    modes = tuple(meta["modes"])
    results_io.write_text(out / "zoo.md", markdown(records, meta, modes))
    size = f"{meta['resolution']}x{meta['resolution']}" if meta["resolution"] else "paper resolutions"
    plot(records, out / "zoo.png", modes, f"keras_lightnets zoo vs keras.applications, host LiteRT 1 thread, batch 1, {size} "
         f"({meta['host']}, {meta['generated']})")


def load_accuracy(path):
    """({model name: top-1 as a fraction}, what the figures are) from an --accuracy file;
    a clear error for a name the zoo lacks or a figure given in percent."""
    import keras_lightnets as kl

    with open(path) as f:
        data = json.load(f)
    top1, source = (data["top1"], data.get("source")) if isinstance(data.get("top1"), dict) else (data, None)
    unknown = sorted(set(top1) - set(kl.list_models()))
    if unknown:
        raise SystemExit(f"--accuracy {path}: no registered model is named {', '.join(unknown)} (see kl.list_models()).")
    percent = sorted(n for n, v in top1.items() if not isinstance(v, (int, float)) or not 0 < v <= 1)
    if percent:
        raise SystemExit(f"--accuracy {path}: top-1 must be a fraction in (0, 1], got {top1[percent[0]]} for "
                         f"{percent[0]}; write {top1[percent[0]] / 100:g} for {top1[percent[0]]}%.")
    return top1, source or f"trained figures from {os.path.basename(path)}"


def main(argv=None):
    """The benchmark on `argv` (the arguments after the program), in this process:
    the zoo's records."""
    return run(parse_args(argv), argv)


def run(args, argv=None):
    if args.render_only:
        out = pathlib.Path(args.out)
        data = json.loads((out / "zoo.json").read_text())
        render(out, data["models"], data["meta"])
        print(f"wrote {out / 'zoo.md'}, {out / 'zoo.png'} from {out / 'zoo.json'}")
        return data["models"]
    modes = MODES if args.int8 else ("float32",)
    accuracy, accuracy_source = load_accuracy(args.accuracy) if args.accuracy else ({}, None)
    jobs = plan(args)
    started = time.time()
    records = convert_all(jobs, modes, args.calibration, args.workdir, args.jobs, args.max_minutes)
    records = measure_all(records, modes, args.warmup_runs, args.num_runs, args.rounds)
    for record in records:
        loaded = record.get("weights_top1")
        record["accuracy"] = (loaded / 100 if loaded else accuracy.get(record["name"])) if record["variant"] == "ours" else None

    from ai_edge_litert import __version__ as litert_version

    from keras_lightnets.bench.device_info import host_device

    host = host_device()
    meta = {"generated": datetime.date.today().isoformat(), "host": host["model"], "platform": host["platform"],
            "logical_cpus": host["logical_cpus"], "litert": litert_version, "resolution": args.resolution,
            "calibration": args.calibration, "warmup_runs": args.warmup_runs, "num_runs": args.num_runs,
            "rounds": args.rounds, "modes": list(modes), "models": args.models, "accuracy_source": accuracy_source, "weights": args.weights,
            "wall_seconds": round(time.time() - started),
            "command": " ".join(sys.argv[1:] if argv is None else argv)}
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for record in records:  # paths into the cache are not results
        for entry in record["files"].values():
            entry.pop("path", None)
            entry.pop("device", None)
    results_io.write_text(out / "zoo.json", json.dumps({"meta": meta, "models": records}, indent=1))
    render(out, records, meta)
    print(f"wrote {out / 'zoo.json'}, {out / 'zoo.md'}, {out / 'zoo.png'} in {meta['wall_seconds']} s")
    return records


COMMAND = bench_cli.command(__file__, __doc__, define_flags, lambda args: 0 if run(args) else 1,
                            light=lambda args: args.render_only)

if __name__ == "__main__":
    bench_cli.main(COMMAND)
