"""Which int8 HARD_SWISH ops does `kt.convert` rewrite, and what do the rewrite and its
folded 1/6 buy? The same file with and without them, side by side in one run.

For MobileNetV3-Large and -Small at 224x224 with 1000 classes, each model is converted
to full int8 (float32 input and output, calibrated on real photos) with the HARD_SWISH
rewrite off: the file `tf.lite.TFLiteConverter` writes. The rewrite
(keras_lightnets/tflite/passes/hard_swish.py) is then applied to that file twice, with the last
MUL(u, 1/6) of each h-swish kept (fold_sixth=False) and folded into the consumers'
weights (fold_sixth=True, what `kt.convert` writes), so the three files differ only
by the rewrite.

Coverage: how many HARD_SWISH ops the rewrite takes and how many it leaves fused (an
op whose input's int8 scale XNNPACK's int8 ADD cannot take, see the module docstring),
for two states of the same random network: BatchNorm statistics re-estimated on the
photos (activations with a trained network's ranges), and the initial statistics
(mean 0, variance 1: BN is an identity and activations shrink through the network, as
in a network nobody trained).

Speed (re-estimated statistics only): every file is timed on the host LiteRT
interpreter (ai-edge-litert, XNNPACK as it comes, 1 thread, batch 1), warm-up first,
then rounds in which each of the model's three files runs once (rotating order); the
per-round ratios of the calling thread's CPU time give the median and quartiles.

    python benchmarks/hard_swish_rewrite.py                  # both models, writes results
    python benchmarks/hard_swish_rewrite.py --models=mobilenet_v3_small --runs=10 --nosave
    python benchmarks/hard_swish_rewrite.py --render         # the Markdown again, from the JSON
"""

# keras_lightnets imports TensorFlow only when a run needs it, after quieting its logs
# (keras_lightnets/__init__.py reads this): `--help` answers without it.
LIGHTNETS_APP = True

import os
import pathlib
import platform
import sys
import tempfile

import numpy as np
from absl import flags

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import bench_cli  # noqa: E402  (absl flags, as the package's command-line apps have them)
import results_io  # noqa: E402
import channel_affine_speed as shared  # noqa: E402  (photos, timing rounds, ratio statistics)

SIZE = 224
MODELS = [("MobileNetV3-Large", "mobilenet_v3_large"), ("MobileNetV3-Small", "mobilenet_v3_small")]


def stock_int8(name, images, workdir, reestimate):
    """The int8 file with the HARD_SWISH rewrite off (and no other pass it would undo)."""
    import keras_lightnets as kl
    from keras_lightnets import tflite as kt
    from keras_lightnets.training import recalibrate_batch_norm

    model = kl.create_model(name, input_shape=(SIZE, SIZE, 3))
    if reestimate:
        recalibrate_batch_norm(model, images, batch_size=16)
    path = os.path.join(workdir, f"{name}_{'bn' if reestimate else 'initial'}.tflite")
    kt.convert(model, path, quantization="int8", representative_data=images, num_calibration_samples=len(images),
               decompose_hard_swish=False)
    with open(path, "rb") as f:
        return f.read()


def hard_swish_inputs(content):
    """The int8 scale of each HARD_SWISH op's input, in graph order."""
    from ai_edge_litert import schema_py_generated as schema

    from keras_lightnets.tflite.passes.graph_edit import op_name

    model = schema.ModelT.InitFromPackedBuf(content, 0)
    graph = model.subgraphs[0]
    return [float(graph.tensors[op.inputs[0]].quantization.scale[0])
            for op in graph.operators if op_name(model, op, schema) == "HARD_SWISH"]


def coverage(content):
    from keras_lightnets.tflite.passes.hard_swish import decompose_int8_hard_swish

    scales = hard_swish_inputs(content)
    rewritten, count = decompose_int8_hard_swish(content)
    left = hard_swish_inputs(rewritten)
    return rewritten, {
        "hard_swish": len(scales), "rewritten": count, "left_fused": len(left),
        "input_range_of_left": [round(255 * s, 6) for s in left],  # the int8 range, max - min
        "smallest_input_range": round(255 * min(scales), 6) if scales else None,
    }


def measure(args):
    import keras

    from keras_lightnets.tflite.passes.hard_swish import decompose_int8_hard_swish

    speed = shared._int8_speed()
    images = speed.photos()
    chosen = bench_cli.chosen(MODELS, args.models)
    results = {"settings": {"input": f"1x{SIZE}x{SIZE}x3 float32", "threads": 1, "runs": args.runs, "warmup": 3,
                            "calibration_images": len(images), "cpu": speed._cpu_name(), "host": platform.machine(),
                            "tensorflow": speed._version("tensorflow"), "keras": keras.__version__,
                            "ai_edge_litert": speed._version("ai-edge-litert"), "machine_shared": args.shared},
               "models": {}}
    with tempfile.TemporaryDirectory() as workdir:
        for label, name in chosen:
            print(f"{label}: converting", file=sys.stderr, flush=True)
            entry = {"label": label, "model": name, "coverage": {}}
            initial = stock_int8(name, images, workdir, reestimate=False)
            _, entry["coverage"]["initial BatchNorm statistics"] = coverage(initial)
            stock = stock_int8(name, images, workdir, reestimate=True)
            folded, entry["coverage"]["re-estimated BatchNorm statistics"] = coverage(stock)
            kept, _ = decompose_int8_hard_swish(stock, fold_sixth=False)
            files = {"fused": stock, "rewritten_sixth_kept": kept, "rewritten": folded}
            print(f"{label}: timing {args.runs} rounds", file=sys.stderr, flush=True)
            timing = shared.time_rounds(speed, files, args.runs)
            entry["cpu_ms"] = {key: round(float(np.median(cpu)), 3) for key, (_, cpu) in timing.items()}
            entry["wall_ms"] = {key: round(float(np.median(wall)), 3) for key, (wall, _) in timing.items()}
            entry["speedup_rewrite"] = shared._ratio_stats(timing["fused"][1], timing["rewritten_sixth_kept"][1])
            entry["speedup_fold"] = shared._ratio_stats(timing["rewritten_sixth_kept"][1], timing["rewritten"][1])
            entry["speedup_total"] = shared._ratio_stats(timing["fused"][1], timing["rewritten"][1])
            results["models"][label] = entry
            print(f"{label}: rewrite {entry['speedup_rewrite']['median']}x, fold {entry['speedup_fold']['median']}x",
                  file=sys.stderr, flush=True)
    return results


def markdown(results):
    s = results["settings"]
    shared_note = (" The machine was shared with other jobs while this ran (several processes on 2 cores): ratios come "
                   "from per-round CPU-time ratios of files run back to back; their quartiles show the noise."
                   if s.get("machine_shared") else "")
    lines = [
        "# int8 HARD_SWISH rewrite: which ops, and what it buys",
        "",
        f"`python benchmarks/hard_swish_rewrite.py` — {s['input']} input, {s['threads']} thread, XNNPACK as "
        f"ai-edge-litert {s['ai_edge_litert']} ships it; {s['warmup']} warm-up runs, then {s['runs']} rounds in which "
        "each of a model's three files runs once; CPU time of the calling thread. "
        f"CPU: {s['cpu']}; TensorFlow {s['tensorflow']}, Keras {s['keras']}. Full int8, float32 input and output, "
        f"calibrated on {s['calibration_images']} real photos; random weights." + shared_note,
        "",
        "## Which HARD_SWISH ops are rewritten",
        "",
        "| model | BatchNorm statistics | HARD_SWISH ops | rewritten | left fused | int8 input range of those left | smallest input range of all |",
        "| --- | --- | ---: | ---: | ---: | --- | ---: |",
    ]
    for entry in results["models"].values():
        for state, row in entry["coverage"].items():
            left = ", ".join(f"{r:.4g}" for r in row["input_range_of_left"]) or "—"
            lines.append(f"| {entry['label']} | {state} | {row['hard_swish']} | {row['rewritten']} | {row['left_fused']} "
                         f"| {left} | {row['smallest_input_range']:.4g} |")
    lines += [
        "",
        "An op is left fused where its input's int8 range is too narrow for XNNPACK's int8 ADD at the scale t needs "
        "(keras_lightnets/tflite/passes/hard_swish.py); it then runs on TFLite's own kernel, and the conversion report's op "
        "counts list it as HARD_SWISH.",
        "",
        "## Speed (re-estimated statistics)",
        "",
        "| model | fused HARD_SWISH | rewritten, 1/6 kept | rewritten, 1/6 folded (kt.convert) | **rewrite** | **fold** | **both** |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for entry in results["models"].values():
        ms = entry["cpu_ms"]
        cells = [f"**{entry[k]['median']:.3f}x** ({entry[k]['q25']:.3f}-{entry[k]['q75']:.3f})"
                 for k in ("speedup_rewrite", "speedup_fold", "speedup_total")]
        lines.append(f"| {entry['label']} | {ms['fused']:.2f} ms | {ms['rewritten_sixth_kept']:.2f} ms "
                     f"| {ms['rewritten']:.2f} ms | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Ratios: time before / time after, per round (median, quartiles; above 1: faster after): rewrite = fused / "
        "rewritten with 1/6 kept; fold = 1/6 kept / 1/6 folded; both = fused / what kt.convert writes.",
        "",
    ]
    return "\n".join(lines)


def define_flags(values):
    f = dict(flag_values=values)
    flags.DEFINE_list("models", None, f"Registry names (default: both: {','.join(m[1] for m in MODELS)}).", **f)
    flags.DEFINE_integer("runs", 40, "Timed rounds per model.", **f)
    flags.DEFINE_bool("shared", False, "Say in the results that the machine was shared.", **f)
    flags.DEFINE_bool("save", True, "Write benchmarks/results/; --nosave prints only.", **f)
    flags.DEFINE_bool("render", False, "Rewrite the Markdown from the saved JSON; measure nothing.", **f)


def run(args):
    results = results_io.load("hard_swish_rewrite") if args.render else measure(args)
    text = markdown(results)
    if not args.save:
        print(text)
        return
    results_io.save("hard_swish_rewrite", results, text)
    print(text)


COMMAND = bench_cli.command(__file__, __doc__, define_flags, run, light=lambda args: args.render)

if __name__ == "__main__":
    bench_cli.main(COMMAND)
