"""Is int8 faster than float32? Ours against keras.applications, side by side in one run.

For MobileNet V1, V2, V3-Large, V3-Small, EfficientNet-B0 and EfficientNet-Lite0
(keras.applications has no Lite0), at 224x224 with 1000 classes: each model is
converted to float32 and to full int8 (float32 input and output, calibrated on real
photos), and every file is timed on the host LiteRT interpreter (ai-edge-litert,
XNNPACK as it comes, 1 thread, batch 1), warm-up first, then rounds in which every
file of a model runs once, so load changes hit them all alike; the medians and
the int8/float32 ratios are reported. Our models go through `kt.convert`; keras.
applications' through the same converter with our two graph rewrites turned off (int8
HARD_SWISH decomposition, per-channel input normalization as one depthwise op), which
is exactly what `tf.lite.TFLiteConverter` gives, and once more with the rewrites
applied to that int8 file, to show where the difference comes from. keras.applications'
EfficientNetB0 gets the ImageNet input normalization its published weights load (built
with weights=None, its Normalization layer is an identity the converter drops, which
would time a network without preprocessing against ours with it).

Each invoke is timed twice: wall clock, and the CPU time of the calling thread (with
1 thread, XNNPACK computes in the calling thread). On a shared machine the wall clock
also counts the time other processes hold the core, so ratios are taken from CPU time;
both are in the JSON.

Why the int8 of MobileNetV3 is slow is measured, not guessed: each file is cut into
one-operator models (same tensors, weights and quantization), which are timed the same
way and summed per op type, and the XNNPACK partitions are counted.

Weights are random (no download); the BatchNormalization statistics are re-estimated
on the calibration photos first, so activations have the ranges of a trained network
(with initial statistics, BN is an identity and activations shrink by orders of
magnitude through the network, which gives int8 files no trained network would have).

    python benchmarks/int8_speed.py                       # all models, writes results
    python benchmarks/int8_speed.py --models=mobilenet_v3_small --runs=20 --nosave
    python benchmarks/int8_speed.py --render              # the Markdown again, from the saved JSON
"""

# keras_lightnets imports TensorFlow only when a run needs it, after quieting its logs
# (keras_lightnets/__init__.py reads this): `--help` answers without it.
LIGHTNETS_APP = True

import collections
import copy
import os
import pathlib
import platform
import sys
import tempfile
import time

import numpy as np
from absl import flags
from tqdm import tqdm

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT / "benchmarks"))
import bench_cli  # noqa: E402  (absl flags, as the package's command-line apps have them)
import results_io  # noqa: E402  (the atomic JSON + Markdown writer)
SIZE = 224
# (label, our registry name, keras.applications class or None, keras.applications input units)
MODELS = [
    ("MobileNet V1", "mobilenet_v1", "MobileNet", "[-1, 1]"),
    ("MobileNet V2", "mobilenet_v2", "MobileNetV2", "[-1, 1]"),
    ("MobileNetV3-Large", "mobilenet_v3_large", "MobileNetV3Large", "[0, 255]"),
    ("MobileNetV3-Small", "mobilenet_v3_small", "MobileNetV3Small", "[0, 255]"),
    ("EfficientNet-B0", "efficientnet_b0", "EfficientNetB0", "[0, 255]"),
    ("EfficientNet-Lite0", "efficientnet_lite0", None, None),
]
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field", "camera", "retina",
          "colorwheel", "coins", "brick", "grass")  # the ones scikit-image ships (no download)
TARGET = 1.8  # ours: int8 at least this much faster than float32


def photos(size=SIZE):
    """Real photos shipped in scikit-image, 4 views each (flips): float32 [0, 255]."""
    import skimage.data
    from PIL import Image

    images = []
    for name in PHOTOS:
        image = getattr(skimage.data, name)()
        image = np.stack([image] * 3, -1) if image.ndim == 2 else image[..., :3]
        side = min(image.shape[:2])
        top, left = (image.shape[0] - side) // 2, (image.shape[1] - side) // 2
        square = Image.fromarray(np.ascontiguousarray(image[top:top + side, left:left + side]))
        images.append(np.asarray(square.resize((size, size), Image.BILINEAR)))
    images = np.stack(images).astype("float32")
    return np.concatenate([images, images[:, :, ::-1], images[:, ::-1], images[:, ::-1, ::-1]])


# --- timing -----------------------------------------------------------------


def _interpreter(content, **options):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=content, num_threads=1, **options)
    interpreter.allocate_tensors()
    rng = np.random.default_rng(0)
    for detail in interpreter.get_input_details():
        if np.issubdtype(detail["dtype"], np.integer):
            info = np.iinfo(detail["dtype"])
            value = rng.integers(info.min, info.max, detail["shape"], endpoint=True).astype(detail["dtype"])
        else:
            value = (rng.random(detail["shape"]) * 255).astype(detail["dtype"])
        interpreter.set_tensor(detail["index"], value)
    return interpreter


def time_interleaved(contents, runs, warmup=5):
    """{key: (median wall ms, median thread-CPU ms)} over `runs` rounds in which
    each file runs once."""
    interpreters = {key: _interpreter(content) for key, content in contents.items()}
    for interpreter in interpreters.values():
        for _ in range(warmup):
            interpreter.invoke()
    wall, cpu = collections.defaultdict(list), collections.defaultdict(list)
    for _ in range(runs):
        for key, interpreter in interpreters.items():
            start_wall, start_cpu = time.perf_counter(), time.thread_time()
            interpreter.invoke()
            cpu[key].append(time.thread_time() - start_cpu)
            wall[key].append(time.perf_counter() - start_wall)
    return {key: (1e3 * float(np.median(wall[key])), 1e3 * float(np.median(cpu[key]))) for key in interpreters}


def _op_name(model, op, schema):
    code = model.operatorCodes[op.opcodeIndex]
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    return names.get(max(code.builtinCode, code.deprecatedBuiltinCode), "CUSTOM")


def single_op_models(content):
    """(op type, a model of that one operator) for every operator of the file."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(content, 0)
    graph = model.subgraphs[0]
    for op in graph.operators:
        used = list(dict.fromkeys(t for t in list(op.inputs) + list(op.outputs) if t >= 0))
        index = {t: i for i, t in enumerate(used)}
        buffers, tensors, inputs = [schema.BufferT()], [], []
        for t in used:
            tensor = copy.copy(graph.tensors[t])
            data = model.buffers[tensor.buffer].data if tensor.buffer else None
            if data is not None and len(data):  # a constant: keep its weights
                buffers.append(model.buffers[tensor.buffer])
                tensor.buffer = len(buffers) - 1
            else:
                tensor.buffer = 0
                if t in op.inputs:
                    inputs.append(index[t])
            tensors.append(tensor)
        single = copy.copy(op)
        single.inputs = [index[t] if t >= 0 else -1 for t in op.inputs]
        single.outputs = [index[t] for t in op.outputs]
        single.intermediates = None
        subgraph = schema.SubGraphT()
        subgraph.tensors, subgraph.inputs, subgraph.outputs, subgraph.operators = tensors, inputs, single.outputs, [single]
        one = schema.ModelT()
        one.version, one.operatorCodes, one.subgraphs, one.buffers = model.version, model.operatorCodes, [subgraph], buffers
        builder = flatbuffers.Builder(1024)
        builder.Finish(one.Pack(builder), file_identifier=b"TFL3")
        yield _op_name(model, op, schema), bytes(builder.Output())


def op_type_profile(content, runs=15):
    """{op type: (count, summed median thread-CPU ms)} from one-operator models."""
    profile = collections.defaultdict(lambda: [0, 0.0])
    for name, single in single_op_models(content):
        interpreter = _interpreter(single)
        interpreter.invoke()
        times = []
        for _ in range(runs):
            start = time.thread_time()
            interpreter.invoke()
            times.append(time.thread_time() - start)
        profile[name][0] += 1
        profile[name][1] += 1e3 * float(np.median(times))
    return {name: (count, round(ms, 3)) for name, (count, ms) in sorted(profile.items(), key=lambda kv: -kv[1][1])}


def xnnpack_partitions(content):
    """How many XNNPACK partitions the file becomes, and the ops XNNPACK leaves out."""
    plain = _interpreter(content)
    partitions = sum(op["op_name"] == "DELEGATE" for op in plain._get_ops_details())
    # One delegate node per delegated op: an op is delegated iff its output is a delegate node's.
    single = _interpreter(content, experimental_disable_delegate_node_fusion=True)
    ops = single._get_ops_details()
    delegated = {int(t) for op in ops if op["op_name"] == "DELEGATE" for t in op["outputs"]}
    left = collections.Counter(op["op_name"] for op in ops
                               if op["op_name"] != "DELEGATE" and not {int(t) for t in op["outputs"]} & delegated)
    return partitions, dict(left)


# --- one model --------------------------------------------------------------


def convert_variants(label, ours_name, apps_class, apps_units, images, workdir, progress):
    import keras

    import keras_lightnets as kl
    from keras_lightnets import tflite as kt
    from keras_lightnets.models.efficientnet import set_imagenet_normalization
    from keras_lightnets.tflite.passes.channel_affine import fuse_channel_affine_chains
    from keras_lightnets.tflite.passes.hard_swish import decompose_int8_hard_swish
    from keras_lightnets.training import recalibrate_batch_norm

    files, info = {}, {}

    def convert(key, model, data, **kwargs):
        path = os.path.join(workdir, f"{ours_name}_{key}.tflite")
        report = kt.convert(model, path, representative_data=data, num_calibration_samples=len(data), **kwargs)
        with open(path, "rb") as f:
            files[key] = f.read()
        info[key] = {"size_mb": round(report.size_bytes / 1e6, 3), "conversion_s": round(report.conversion_seconds, 1),
                     "op_counts": report.op_counts, "fully_integer": report.fully_integer if kwargs.get("quantization") else None}
        progress.update(1)

    progress.set_postfix_str(f"{label}: ours")
    ours = kl.create_model(ours_name, input_shape=(SIZE, SIZE, 3))
    recalibrate_batch_norm(ours, images)
    convert("ours_float32", ours, images)
    convert("ours_int8", ours, images, quantization="int8")
    if apps_class is None:
        progress.update(2)
        return files, info
    progress.set_postfix_str(f"{label}: keras.applications")
    apps = getattr(keras.applications, apps_class)(weights=None, input_shape=(SIZE, SIZE, 3))
    set_imagenet_normalization(apps)  # EfficientNet: the statistics its published weights load
    apps_images = images / 127.5 - 1.0 if apps_units == "[-1, 1]" else images
    recalibrate_batch_norm(apps, apps_images)
    stock = dict(decompose_hard_swish=False, fuse_channel_affine=False)  # = tf.lite.TFLiteConverter's
    convert("apps_float32", apps, apps_images, **stock)
    convert("apps_int8", apps, apps_images, quantization="int8", **stock)
    rewritten, hard_swish = decompose_int8_hard_swish(files["apps_int8"])
    rewritten, affine = fuse_channel_affine_chains(rewritten)
    if hard_swish or affine:
        files["apps_int8_rewritten"] = rewritten
        info["apps_int8_rewritten"] = {"size_mb": round(len(rewritten) / 1e6, 3), "hard_swish_rewritten": hard_swish,
                                       "channel_affine_fused": affine}
    return files, info


def measure(args):
    import keras

    import keras_lightnets as kl

    registered = set(kl.list_models())
    chosen = bench_cli.chosen(MODELS, args.models)
    images = photos()
    results = {"settings": {"input": f"1x{SIZE}x{SIZE}x3 float32", "threads": 1, "runs": args.runs, "warmup": 5,
                            "calibration_images": len(images), "host": platform.processor() or platform.machine(),
                            "cpu": _cpu_name(), "tensorflow": _version("tensorflow"), "keras": keras.__version__,
                            "ai_edge_litert": _version("ai-edge-litert")},
               "models": {}, "skipped": {}}
    steps = sum(6 for _ in chosen)  # 4 conversions, timing, op profiles
    with tempfile.TemporaryDirectory() as workdir, tqdm(total=steps, desc="int8 vs float32", unit="step") as progress:
        for label, name, apps_class, apps_units in chosen:
            if name not in registered:
                results["skipped"][label] = f"{name!r} is not registered yet"
                tqdm.write(f"skipping {label}: {name!r} is not registered yet")
                progress.update(6)
                continue
            files, info = convert_variants(label, name, apps_class, apps_units, images, workdir, progress)
            progress.set_postfix_str(f"{label}: timing")
            timing = time_interleaved(files, args.runs)
            progress.update(1)
            progress.set_postfix_str(f"{label}: op profiles")
            for key, content in files.items():
                info[key]["wall_ms"], info[key]["cpu_ms"] = (round(v, 3) for v in timing[key])
                info[key]["xnnpack_partitions"], info[key]["ops_not_in_xnnpack"] = xnnpack_partitions(content)
                info[key]["op_profile_cpu_ms"] = op_type_profile(content)
            progress.update(1)
            entry = {"label": label, "ours": name, "keras_applications": apps_class, "files": info}
            for who in ("ours", "apps"):
                if f"{who}_float32" in info:
                    entry[f"{who}_speedup"] = round(info[f"{who}_float32"]["cpu_ms"] / info[f"{who}_int8"]["cpu_ms"], 3)
                    entry[f"{who}_speedup_wall"] = round(info[f"{who}_float32"]["wall_ms"] / info[f"{who}_int8"]["wall_ms"], 3)
            if "apps_int8_rewritten" in info:
                entry["apps_rewritten_speedup"] = round(info["apps_float32"]["cpu_ms"] / info["apps_int8_rewritten"]["cpu_ms"], 3)
            results["models"][label] = entry
            tqdm.write(_line(entry))
    return results


def _line(entry):
    parts = [f"{entry['label']}: ours int8 {entry['ours_speedup']:.2f}x float32"]
    if "apps_speedup" in entry:
        parts.append(f"keras.applications int8 {entry['apps_speedup']:.2f}x")
    return ", ".join(parts)


def _version(package):
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            lines = f.read().splitlines()
        name = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), None)
        flags = next((line.split(":", 1)[1].split() for line in lines if line.startswith("flags")), [])
        simd = [f for f in ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8") if f in flags]
        return f"{name} ({', '.join(simd)})" if name else None
    except OSError:
        return None


# --- report -----------------------------------------------------------------


def markdown(results):
    s = results["settings"]
    lines = [
        "# int8 vs float32 on the host LiteRT interpreter",
        "",
        f"`python benchmarks/int8_speed.py` — {s['input']} input, {s['threads']} thread, XNNPACK as ai-edge-litert "
        f"{s['ai_edge_litert']} ships it, {s['warmup']} warm-up runs then the median of {s['runs']} interleaved runs; "
        f"CPU: {s['cpu']}; TensorFlow {s['tensorflow']}, Keras {s['keras']}. Full int8 (weights and activations, "
        f"float32 input/output), calibrated on {s['calibration_images']} real photos. Times are the calling thread's CPU "
        "time (the machine is shared: wall-clock medians, in the JSON, also count time other processes hold the core). "
        "Random weights with re-estimated BatchNorm statistics (see the script's docstring).",
        "",
        "## Speed-up of int8 over float32 (higher is better)",
        "",
        "| model | ours float32 | ours int8 | **ours int8 speed-up** | keras.applications float32 | keras.applications int8 "
        "| **keras.applications speed-up** | keras.applications int8 + our rewrites |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label, e in results["models"].items():
        f = e["files"]
        row = [label, _ms(f["ours_float32"]), _ms(f["ours_int8"]), f"**{e['ours_speedup']:.2f}x**"]
        if "apps_float32" in f:
            row += [_ms(f["apps_float32"]), _ms(f["apps_int8"]), f"**{e['apps_speedup']:.2f}x**"]
            row.append(f"{_ms(f['apps_int8_rewritten'])} ({e['apps_rewritten_speedup']:.2f}x)" if "apps_int8_rewritten" in f else "— (nothing to rewrite)")
        else:
            row += ["no keras.applications twin"] + [""] * 3
        lines.append("| " + " | ".join(row) + " |")
    for label, why in results["skipped"].items():
        lines.append(f"| {label} | skipped: {why} | | | | | | |")
    lines += [
        "",
        f"Target: ours int8 >= {TARGET}x faster than ours float32. "
        + ("Met by: " + ", ".join(l for l, e in results["models"].items() if e["ours_speedup"] >= TARGET)
           if any(e["ours_speedup"] >= TARGET for e in results["models"].values()) else "Not met on this host (see below)."),
        "",
        "## Files",
        "",
        "| model | file | size (MB) | conversion (s) | XNNPACK partitions | ops XNNPACK leaves out | wall ms |",
        "| --- | --- | ---: | ---: | ---: | --- | ---: |",
    ]
    for label, e in results["models"].items():
        for key, f in e["files"].items():
            left = ", ".join(f"{k} x{v}" for k, v in f["ops_not_in_xnnpack"].items()) or "none"
            lines.append(f"| {label} | {key} | {f['size_mb']:.2f} | {f.get('conversion_s', '—')} | {f['xnnpack_partitions']} "
                         f"| {left} | {f['wall_ms']:.1f} |")
    lines += ["", "## Where the time goes: per op type (sum of one-operator models, CPU ms)", ""]
    for label, e in results["models"].items():
        keys = list(e["files"])
        types = list(dict.fromkeys(t for k in keys for t in e["files"][k]["op_profile_cpu_ms"]))
        lines += [f"### {label}", "", "| op type | " + " | ".join(keys) + " |", "| --- |" + " ---: |" * len(keys)]
        for t in types:
            cells = []
            for k in keys:
                count, ms = e["files"][k]["op_profile_cpu_ms"].get(t, (0, 0.0))
                cells.append(f"{ms:.2f} (x{count})" if count else "—")
            lines.append(f"| {t} | " + " | ".join(cells) + " |")
        totals = [sum(ms for _, ms in e["files"][k]["op_profile_cpu_ms"].values()) for k in keys]
        lines.append("| **sum** | " + " | ".join(f"**{t:.2f}**" for t in totals) + " |")
        lines.append("| whole model | " + " | ".join(f"{e['files'][k]['cpu_ms']:.2f}" for k in keys) + " |")
        lines.append("")
    lines += explanation(results)
    return "\n".join(lines) + "\n"


def _ms(f):
    return f"{f['cpu_ms']:.2f} ms"


def _profile(e, key, op):
    return e["files"].get(key, {}).get("op_profile_cpu_ms", {}).get(op, (0, 0.0))


def explanation(results):
    """The findings, with this run's numbers."""
    lines = ["## Why keras.applications' MobileNetV3 is slower in int8 than in float32, and ours is not", ""]
    v3 = [(label, e) for label, e in results["models"].items()
          if "apps_int8_rewritten" in e["files"] and e["files"]["apps_int8_rewritten"].get("hard_swish_rewritten", 1)]
    for label, e in v3:
        count, hard_swish = _profile(e, "apps_int8", "HARD_SWISH")
        _, float_hard_swish = _profile(e, "apps_float32", "HARD_SWISH")
        total = sum(ms for _, ms in e["files"]["apps_int8"]["op_profile_cpu_ms"].values())
        conv_float = sum(_profile(e, "apps_float32", t)[1] for t in ("CONV_2D", "DEPTHWISE_CONV_2D"))
        conv_int8 = sum(_profile(e, "apps_int8", t)[1] for t in ("CONV_2D", "DEPTHWISE_CONV_2D"))
        lines.append(
            f"- **{label}**: keras.applications int8 runs in {e['files']['apps_int8']['cpu_ms']:.2f} ms against "
            f"{e['files']['apps_float32']['cpu_ms']:.2f} ms in float32 ({e['apps_speedup']:.2f}x). Its {count} int8 "
            f"HARD_SWISH ops take {hard_swish:.2f} ms of the {total:.2f} ms the ops sum to ({100 * hard_swish / total:.0f}%; "
            f"{float_hard_swish:.2f} ms in float32), and split the graph into "
            f"{e['files']['apps_int8']['xnnpack_partitions']} XNNPACK partitions (float32: "
            f"{e['files']['apps_float32']['xnnpack_partitions']}). The convolutions gain {conv_float:.2f} -> {conv_int8:.2f} ms."
        )
    lines += [
        "",
        "What the op lists and the one-operator profiles show:",
        "",
        "1. The converter fuses MobileNetV3's `x * relu6(x + 3) / 6` into one `HARD_SWISH` op, in keras.applications' "
        "graph and in ours alike (the graphs are the same op for op). In float32 XNNPACK runs it. In int8 it does not: "
        "the XNNPACK delegate takes HARD_SWISH in float only, so each int8 HARD_SWISH falls back to TFLite's built-in "
        "integer kernel (the HARD_SWISH row: many times its float32 cost), and every one of them cuts the XNNPACK "
        "graph in two (the partitions above). That is the whole loss: no float fallback, "
        "no QUANTIZE/DEQUANTIZE pairs inside the graph (both files are fully integer), the SE blocks' MEAN and MUL and "
        "the Rescaling preprocessing all stay in XNNPACK (the 'ops XNNPACK leaves out' column: only HARD_SWISH and the "
        "final SOFTMAX, 1000 values).",
        "2. `kt.convert` (int8) rewrites each HARD_SWISH (here every one: BatchNorm statistics from images; benchmarks/results/hard_swish_rewrite.md says which stay fused otherwise) into `ADD(x, 3)+RELU6 -> MUL(x, t) -> MUL(u, 1/6)`, int8 ops "
        "XNNPACK takes (keras_lightnets/tflite/passes/hard_swish.py), so the network stays in XNNPACK up to the final SOFTMAX "
        "and h-swish costs what the SE blocks' elementwise ops cost (the ADD and MUL rows). Applied to keras.applications' own int8 file it gives the same speed "
        "(last column): the difference is the converter, not the architecture.",
        *_input_normalization(results),
        _what_is_left(results),
        "4. The SOFTMAX at the end has no int8 XNNPACK kernel either (1000 values, ~0.01 ms).",
        "",
    ]
    return lines


def _input_normalization(results):
    """Point 2b: EfficientNet's per-channel input normalization, three ops or one."""
    lines = []
    for label, e in results["models"].items():
        f = e["files"]
        if not f.get("apps_int8_rewritten", {}).get("channel_affine_fused"):
            continue
        chain = sum(_profile(e, "apps_int8", op)[1] for op in ("SUB",)) + _profile(e, "apps_int8", "MUL")[1] \
            - _profile(e, "apps_int8_rewritten", "MUL")[1]
        fused = _profile(e, "apps_int8_rewritten", "DEPTHWISE_CONV_2D")[1] - _profile(e, "apps_int8", "DEPTHWISE_CONV_2D")[1]
        lines.append(
            f"   - {label}: Rescaling(1/255) + Normalization(ImageNet mean, variance) converts into MUL -> SUB -> MUL on "
            f"the full-size image; the SUB and the per-channel MUL take {chain:.2f} ms in int8 (one-operator profiles), "
            f"the depthwise op that replaces the three {fused:.2f} ms. Whole file: keras.applications int8 "
            f"{f['apps_int8']['cpu_ms']:.2f} ms, the same file rewritten {f['apps_int8_rewritten']['cpu_ms']:.2f} ms, "
            f"ours {f['ours_int8']['cpu_ms']:.2f} ms.")
    if not lines:
        return []
    return ["2b. `kt.convert` also turns a chain of elementwise ops by per-channel constants into one 1x1 "
            "DEPTHWISE_CONV_2D (keras_lightnets/tflite/passes/channel_affine.py), in float32 and int8: XNNPACK broadcasts a "
            "3-value constant over an image slowly.", *lines]


def _what_is_left(results):
    """Point 3 of the findings: which op types gain from int8 on this CPU, from the profiles."""
    def ratios(op):
        out = []
        for e in results["models"].values():
            f, q = _profile(e, "ours_float32", op)[1], _profile(e, "ours_int8", op)[1]
            if f and q:
                out.append(f / q)
        return f"{min(out):.2f}-{max(out):.2f}x" if out else "n/a"

    cpu = results["settings"].get("cpu") or "this CPU"
    met = [label for label, e in results["models"].items() if e["ours_speedup"] >= TARGET]
    missed = [f"{label} {e['ours_speedup']:.2f}x" for label, e in results["models"].items() if e["ours_speedup"] < TARGET]
    return (
        f"3. Left: which op types int8 speeds up on this CPU ({cpu}), from the one-operator profiles of our files "
        f"(float32 time / int8 time): CONV_2D {ratios('CONV_2D')}, DEPTHWISE_CONV_2D {ratios('DEPTHWISE_CONV_2D')}, "
        f"MUL {ratios('MUL')}, ADD {ratios('ADD')} (below 1x: slower in int8). The dense convolutions gain, and the "
        "more so with int8 dot-product instructions (VNNI; on the AMD EPYC without them, int8_speed_amd_epyc.md, "
        "they gained about 1.5x); XNNPACK's int8 depthwise and elementwise kernels on x86 do not beat its float32 "
        "ones. So a network whose time is in 1x1 convolutions reaches the target here "
        f"({', '.join(met) if met else 'none this run'}), and one with much of its int8 time in depthwise convolutions, "
        f"h-swish and SE elementwise ops ({', '.join(missed) if missed else 'none this run'}) does not. The papers' target "
        "is an ARM big core, with other kernels; the >= 1.8x target is a phone figure "
        "(`lightnets benchmark --target=android` measures it there)."
    )


def define_flags(values):
    f = dict(flag_values=values)
    flags.DEFINE_list("models", None, f"Registry names (default: all six: {','.join(m[1] for m in MODELS)}).", **f)
    flags.DEFINE_integer("runs", 40, "Timed rounds per model.", **f)
    flags.DEFINE_bool("save", True, "Write benchmarks/results/; --nosave prints only.", **f)
    flags.DEFINE_bool("render", False, "Rewrite int8_speed.md from the saved JSON; measure nothing.", **f)


def run(args):
    results = results_io.load("int8_speed") if args.render else measure(args)
    text = markdown(results)
    if not args.save:
        print(text)
        return
    results_io.save("int8_speed", results, text)
    print(text)
    print(f"wrote {RESULTS / 'int8_speed.json'} and {RESULTS / 'int8_speed.md'}", file=sys.stderr)


COMMAND = bench_cli.command(__file__, __doc__, define_flags, run, light=lambda args: args.render)

if __name__ == "__main__":
    bench_cli.main(COMMAND)
