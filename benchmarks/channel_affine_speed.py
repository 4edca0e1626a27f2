"""Does fusing per-channel elementwise chains into one 1x1 depthwise convolution pay?
The same file with and without the fusion, side by side in one run.

`kt.convert` turns every chain of MUL / ADD / SUB / DIV by per-channel constants into
one DEPTHWISE_CONV_2D (keras_lightnets/tflite/passes/channel_affine.py). Such chains come from
an input normalization (EfficientNet's Rescaling + Normalization: MUL -> SUB -> MUL on
the full-size image) and from a BatchNormalization the converter cannot fold into a
convolution (DenseNet's and pre-activation ResNet's BN -> ReLU after a concatenation or
an addition: MUL -> ADD+ReLU).

For EfficientNet-B0, DenseNet-121 and ResNet-50 v2 at 224x224 with 1000 classes, each
model is converted by `kt.convert` with the fusion off, in float32 and in full int8
(float32 input and output, calibrated on real photos), and the fusion pass is applied to
that file: the two files differ only by the fused chains. Every file is timed on the host
LiteRT interpreter (ai-edge-litert, XNNPACK as it comes, 1 thread, batch 1), warm-up
first, then rounds in which each of the model's four files runs once, so load changes
hit them all alike; the ratio unfused / fused is taken in every round, and its median
and quartiles are reported, from the calling thread's CPU time (with 1 thread XNNPACK
computes in that thread; the wall clock, in the JSON, also counts the time other
processes hold the core). The ops themselves are timed too: the chains' ops and the
depthwise ops that replace them, each cut out as a one-operator model (same tensors,
constants and quantization) and timed alone, summed per model.

Weights are random (no download); the BatchNormalization statistics are re-estimated
on the calibration photos first, so activations have the ranges of a trained network.

    python benchmarks/channel_affine_speed.py                  # all three, writes results
    python benchmarks/channel_affine_speed.py --models=densenet121 --runs=10 --nosave
    python benchmarks/channel_affine_speed.py --render         # the Markdown again, from the JSON
"""

# keras_lightnets imports TensorFlow only when a run needs it, after quieting its logs
# (keras_lightnets/__init__.py reads this): `--help` answers without it.
LIGHTNETS_APP = True

import collections
import importlib.util
import os
import pathlib
import platform
import sys
import tempfile
import time

import numpy as np
from absl import flags

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import bench_cli  # noqa: E402  (absl flags, as the package's command-line apps have them)
import results_io  # noqa: E402  (the atomic JSON + Markdown writer)
SIZE = 224
MODELS = [  # (label, registry name, where its chains come from)
    ("EfficientNet-B0", "efficientnet_b0", "input normalization (Rescaling + Normalization)"),
    ("DenseNet-121", "densenet121", "BatchNormalization + ReLU after each concatenation"),
    ("ResNet-50 v2", "resnet50_v2", "pre-activation BatchNormalization + ReLU after each addition"),
]


def _int8_speed():
    """benchmarks/int8_speed.py, for its photos, interpreter set-up and one-operator models."""
    spec = importlib.util.spec_from_file_location("int8_speed", ROOT / "benchmarks" / "int8_speed.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def convert_pair(name, quantization, images, workdir):
    """(the file kt.convert writes with the fusion off, the same file fused, chains fused)."""
    import keras_lightnets as kl
    from keras_lightnets import tflite as kt
    from keras_lightnets.tflite.passes.channel_affine import fuse_channel_affine_chains
    from keras_lightnets.training import recalibrate_batch_norm

    model = kl.create_model(name, input_shape=(SIZE, SIZE, 3))
    recalibrate_batch_norm(model, images, batch_size=16)
    path = os.path.join(workdir, f"{name}_{quantization or 'float32'}.tflite")
    kt.convert(model, path, quantization=quantization, representative_data=images,
               num_calibration_samples=len(images), fuse_channel_affine=False)
    with open(path, "rb") as f:
        unfused = f.read()
    fused, chains = fuse_channel_affine_chains(unfused)
    return unfused, fused, chains


def chain_ops(unfused):
    """Indices of the unfused file's operators in fusable chains, and the tensor each
    chain ends in (the fused file's depthwise op writes that same tensor)."""
    from ai_edge_litert import schema_py_generated as schema

    from keras_lightnets.tflite.passes.channel_affine import _chains  # the pass's own chain finder

    model = schema.ModelT.InitFromPackedBuf(unfused, 0)
    graph = model.subgraphs[0]
    chains = [chain for chain, _, _ in _chains(model, graph, schema)]
    in_chains = {id(op) for chain in chains for op in chain}
    ops = [i for i, op in enumerate(graph.operators) if id(op) in in_chains]
    ends = {chain[-1].outputs[0] for chain in chains}
    return ops, ends


def depthwise_replacing(fused, ends):
    from ai_edge_litert import schema_py_generated as schema

    from keras_lightnets.tflite.passes.graph_edit import op_name

    model = schema.ModelT.InitFromPackedBuf(fused, 0)
    graph = model.subgraphs[0]
    return [i for i, op in enumerate(graph.operators)
            if op_name(model, op, schema) == "DEPTHWISE_CONV_2D" and op.outputs[0] in ends]


def ops_time(speed, content, indices, runs):
    """Summed median thread-CPU ms of the chosen operators, each timed alone."""
    chosen, total, kinds = set(indices), 0.0, collections.Counter()
    for i, (kind, single) in enumerate(speed.single_op_models(content)):
        if i not in chosen:
            continue
        interpreter = speed._interpreter(single)
        interpreter.invoke()
        times = []
        for _ in range(runs):
            start = time.thread_time()
            interpreter.invoke()
            times.append(time.thread_time() - start)
        total += 1e3 * float(np.median(times))
        kinds[kind] += 1
    return round(total, 3), dict(kinds)


def time_rounds(speed, contents, runs, warmup=3):
    """{key: (wall ms list, thread-CPU ms list)}, one entry a round; each round runs
    every file once, in a rotating order."""
    interpreters = {key: speed._interpreter(content) for key, content in contents.items()}
    for interpreter in interpreters.values():
        for _ in range(warmup):
            interpreter.invoke()
    keys, wall, cpu = list(interpreters), collections.defaultdict(list), collections.defaultdict(list)
    for round_ in range(runs):
        for key in keys[round_ % len(keys):] + keys[:round_ % len(keys)]:
            start_wall, start_cpu = time.perf_counter(), time.thread_time()
            interpreters[key].invoke()
            cpu[key].append(1e3 * (time.thread_time() - start_cpu))
            wall[key].append(1e3 * (time.perf_counter() - start_wall))
    return {key: (wall[key], cpu[key]) for key in keys}


def _ratio_stats(unfused, fused):
    ratios = np.asarray(unfused) / np.asarray(fused)
    return {"median": round(float(np.median(ratios)), 3), "q25": round(float(np.quantile(ratios, 0.25)), 3),
            "q75": round(float(np.quantile(ratios, 0.75)), 3)}


def measure(args):
    import keras

    speed = _int8_speed()
    images = speed.photos()
    chosen = bench_cli.chosen(MODELS, args.models)
    results = {"settings": {"input": f"1x{SIZE}x{SIZE}x3 float32", "threads": 1, "runs": args.runs, "warmup": 3,
                            "op_runs": args.op_runs, "calibration_images": len(images), "cpu": speed._cpu_name(),
                            "host": platform.machine(), "tensorflow": speed._version("tensorflow"),
                            "keras": keras.__version__, "ai_edge_litert": speed._version("ai-edge-litert"),
                            "machine_shared": args.shared},
               "models": {}}
    with tempfile.TemporaryDirectory() as workdir:
        for label, name, origin in chosen:
            entry = {"label": label, "model": name, "chains_from": origin, "modes": {}}
            files = {}
            for quantization in (None, "int8"):
                mode = quantization or "float32"
                print(f"{label} {mode}: converting", file=sys.stderr, flush=True)
                unfused, fused, chains = convert_pair(name, quantization, images, workdir)
                files[f"{mode}_unfused"], files[f"{mode}_fused"] = unfused, fused
                ops, ends = chain_ops(unfused)
                unfused_ms, unfused_kinds = ops_time(speed, unfused, ops, args.op_runs)
                fused_ms, fused_kinds = ops_time(speed, fused, depthwise_replacing(fused, ends), args.op_runs)
                entry["modes"][mode] = {
                    "chains_fused": chains, "chain_ops": unfused_kinds, "depthwise_ops": fused_kinds,
                    "chain_ops_cpu_ms": unfused_ms, "depthwise_ops_cpu_ms": fused_ms,
                    "ops_speedup": round(unfused_ms / fused_ms, 3) if fused_ms else None,
                    "size_mb": {"unfused": round(len(unfused) / 1e6, 3), "fused": round(len(fused) / 1e6, 3)},
                }
            print(f"{label}: timing {args.runs} rounds", file=sys.stderr, flush=True)
            timing = time_rounds(speed, files, args.runs)
            for mode, row in entry["modes"].items():
                (wall_u, cpu_u), (wall_f, cpu_f) = timing[f"{mode}_unfused"], timing[f"{mode}_fused"]
                row["cpu_ms"] = {"unfused": round(float(np.median(cpu_u)), 3), "fused": round(float(np.median(cpu_f)), 3)}
                row["wall_ms"] = {"unfused": round(float(np.median(wall_u)), 3), "fused": round(float(np.median(wall_f)), 3)}
                row["model_speedup_cpu"] = _ratio_stats(cpu_u, cpu_f)
                row["model_speedup_wall"] = _ratio_stats(wall_u, wall_f)
            results["models"][label] = entry
            print(_line(entry), file=sys.stderr, flush=True)
    return results


def _line(entry):
    parts = [f"{entry['label']}:"]
    for mode, row in entry["modes"].items():
        parts.append(f"{mode} whole model {row['model_speedup_cpu']['median']:.2f}x, chain ops {row['ops_speedup']}x")
    return " ".join(parts)


def markdown(results):
    s = results["settings"]
    shared = (" The machine was shared with other jobs while this ran (several processes on 2 cores): the ratios come "
              "from per-round CPU-time ratios of files run back to back, which load changes hit alike, but their "
              "quartiles show the noise." if s.get("machine_shared") else "")
    lines = [
        "# Channel-affine fusion: the same file with and without it",
        "",
        f"`python benchmarks/channel_affine_speed.py` — {s['input']} input, {s['threads']} thread, XNNPACK as "
        f"ai-edge-litert {s['ai_edge_litert']} ships it; {s['warmup']} warm-up runs, then {s['runs']} rounds in which "
        "each of a model's four files runs once; CPU time of the calling thread. "
        f"CPU: {s['cpu']}; TensorFlow {s['tensorflow']}, Keras {s['keras']}. int8: full integer, float32 input and "
        f"output, calibrated on {s['calibration_images']} real photos. Random weights, BatchNorm statistics "
        "re-estimated on the photos. The fused file is the unfused one with `fuse_channel_affine_chains` applied, "
        "which is what `kt.convert` writes by default." + shared,
        "",
        "| model | chains from | mode | chains fused | whole model unfused | fused | **speed-up** (median, quartiles of per-round ratios) "
        "| chain ops alone | their depthwise ops alone | **op speed-up** |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for entry in results["models"].values():
        for mode, row in entry["modes"].items():
            r = row["model_speedup_cpu"]
            kinds = ", ".join(f"{k} x{v}" for k, v in sorted(row["chain_ops"].items()))
            lines.append(
                f"| {entry['label']} | {entry['chains_from']} | {mode} | {row['chains_fused']} | {row['cpu_ms']['unfused']:.2f} ms "
                f"| {row['cpu_ms']['fused']:.2f} ms | **{r['median']:.2f}x** ({r['q25']:.2f}-{r['q75']:.2f}) "
                f"| {row['chain_ops_cpu_ms']:.2f} ms ({kinds}) | {row['depthwise_ops_cpu_ms']:.2f} ms "
                f"(DEPTHWISE_CONV_2D x{sum(row['depthwise_ops'].values())}) | **{row['ops_speedup']:.2f}x** |")
    lines += [
        "",
        "Speed-up: unfused time / fused time (above 1: the fusion is faster). \"Chain ops alone\": the chains' "
        "MUL / ADD / SUB ops of the unfused file, each cut out as a one-operator model and timed alone (median of "
        f"{s['op_runs']} runs), summed; \"their depthwise ops alone\": the same for the DEPTHWISE_CONV_2D ops that replace "
        "them in the fused file. Wall-clock medians are in the JSON.",
        "",
    ]
    return "\n".join(lines)


def define_flags(values):
    f = dict(flag_values=values)
    flags.DEFINE_list("models", None, "Registry names (default: all three: "
                      f"{','.join(m[1] for m in MODELS)}).", **f)
    flags.DEFINE_integer("runs", 30, "Timed rounds per model.", **f)
    flags.DEFINE_integer("op_runs", 15, "Timed runs of each one-operator model.", **f)
    flags.DEFINE_bool("shared", False, "Say in the results that the machine was shared.", **f)
    flags.DEFINE_bool("save", True, "Write benchmarks/results/; --nosave prints only.", **f)
    flags.DEFINE_bool("render", False, "Rewrite the Markdown from the saved JSON; measure nothing.", **f)


def run(args):
    results = results_io.load("channel_affine_speed") if args.render else measure(args)
    text = markdown(results)
    if not args.save:
        print(text)
        return
    results_io.save("channel_affine_speed", results, text)
    print(text)


COMMAND = bench_cli.command(__file__, __doc__, define_flags, run, light=lambda args: args.render)

if __name__ == "__main__":
    bench_cli.main(COMMAND)
