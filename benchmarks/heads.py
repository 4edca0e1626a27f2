"""The detection and segmentation models on the TFLite benchmark: every registered
SSDLite, LR-ASPP and DeepLabv3 network in float32 and int8, timed side by side.

For each model of the registry's `detection` and `segmentation` families, at its
paper's resolution (or --size) with its default classes: params and multiply-adds
(kl.profile), the .tflite files a phone runs and their host latency through the TFLite
benchmark tool's host path (keras_lightnets.bench: the official `benchmark_model` if
one is on PATH, else the LiteRT interpreter in-process with the tool's rules; XNNPACK,
1 thread, batch 1, warm-up, then the median of the timed runs). The two files of a
model are timed back to back in alternating rounds, so the int8 speed-up (float32 /
int8 latency) is read from one run under one machine load. Detectors are written by
kl.tflite.export_detector, ending in TFLite_Detection_PostProcess (the Task Library's
four outputs), segmenters by kl.tflite.export_segmenter (per-pixel probabilities,
what the Task Library's ImageSegmenter reads); int8 is a full-integer network with a
uint8 input (the detectors' post-processing op computes in float). The published
mAP / mIoU of the same network, with its source, stands beside each (PUBLISHED below;
never measured here: the weights are random, the machine offline).

Random weights: BatchNorm statistics are re-estimated on real photo crops first (as in
benchmarks/zoo.py), so the int8 files get the activation ranges of a trained network.
Written to benchmarks/results/heads.{json,md,png}.

    python benchmarks/heads.py                                    # every model at its paper's size
    python benchmarks/heads.py --only=lraspp_mobilenet_v3_small --size=96 --num_runs=5 --out=/tmp/heads
    python benchmarks/heads.py --render                           # heads.md and heads.png again, from heads.json

Conversions are cached in --workdir (keyed by model, size and mode), so an interrupted
run resumes where it stopped. Absolute milliseconds on a shared host are noise; the
float32 / int8 ratio of each model is the figure to read.
"""

# keras_lightnets imports TensorFlow only when a run needs it, after quieting its logs
# (keras_lightnets/__init__.py reads this): `--help` answers without it.
LIGHTNETS_APP = True

import datetime
import json
import os
import pathlib
import statistics
import sys
import tempfile
import time

from absl import flags

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_cli  # noqa: E402  (absl flags, as the package's command-line apps have them)
import results_io  # noqa: E402  (atomic writes)

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
FAMILIES = ("detection", "segmentation")
MODES = ("float32", "int8")
BATCH_NORM_IMAGES = 16  # photo crops the BatchNorm statistics are re-estimated on
BATCH_NORM_CHUNK = 4  # ... this many at a time (DeepLabv3 at 520 px keeps 65x65x960 maps)

# The published accuracy of each registered network: (metric, value in %, what it was
# measured on, source). The torchvision figures are of the very graph registered here
# (torchvision 0.14's weights metadata, `_metrics`); the papers' of their own
# configuration, named in the source. None: nothing published for this network.
PUBLISHED = {
    "ssdlite320_mobilenet_v3_large": (
        "mAP", 21.3, "COCO val2017 (box mAP@0.5:0.95)",
        "torchvision 0.14, SSDLite320_MobileNet_V3_Large_Weights.COCO_V1 (_metrics box_map); the V3 paper's "
        "Table 6 gives 22.0 on COCO test-dev for its TF Object Detection API configuration (V3-Large, reduced tail)"),
    "ssdlite_mobilenet_v2": (
        "mAP", 22.1, "COCO test-dev (mAP@0.5:0.95)",
        "MobileNetV2 paper, Table 6 (SSDLite on MobileNetV2, 320x320: 4.3M parameters, 0.8B MAdds)"),
    "lraspp_mobilenet_v3_large": (
        "mIoU", 57.9, "COCO val2017, the 20 VOC classes",
        "torchvision 0.14, LRASPP_MobileNet_V3_Large_Weights.COCO_WITH_VOC_LABELS_V1 (_metrics miou; 520 px)"),
    "lraspp_mobilenet_v3_small": None,  # see UNPUBLISHED
    "deeplabv3_mobilenet_v3_large": (
        "mIoU", 60.3, "COCO val2017, the 20 VOC classes",
        "torchvision 0.14, DeepLabV3_MobileNet_V3_Large_Weights.COCO_WITH_VOC_LABELS_V1 (_metrics miou; 520 px)"),
    "deeplabv3_mobilenet_v2": (
        "mIoU", 75.32, "PASCAL VOC 2012 val",
        "MobileNetV2 paper, Table 7 (MNet V2*, output stride 16, no ASPP, no multi-scale: 2.11M, 2.75B MAdds)"),
}
UNPUBLISHED = {
    "lraspp_mobilenet_v3_small": "none published for this network (torchvision has no LR-ASPP on MobileNetV3-Small; "
                                 "the V3 paper's Small rows in Table 7 are Cityscapes, another head configuration)",
}


def define_flags(values):
    f = dict(flag_values=values)
    flags.DEFINE_list("only", None, "Registry names of the models to run (default: every detection and segmentation "
                      "model).", **f)
    flags.DEFINE_integer("size", None, "Input size for every model instead of its paper's (a smoke test: e.g. 96).",
                         **f)
    flags.DEFINE_integer("calibration", 8, "Real photo crops that calibrate int8.", **f)
    flags.DEFINE_integer("warmup_runs", 2, "Warm-up runs before the timed ones.", **f)
    flags.DEFINE_integer("num_runs", 10, "Timed runs per file and round.", **f)
    flags.DEFINE_integer("rounds", 3, "Alternating float32 / int8 rounds per model.", **f)
    flags.DEFINE_string("workdir", os.path.join(tempfile.gettempdir(), "keras_lightnets_heads"),
                        "Cache of converted files.", **f)
    flags.DEFINE_string("out", str(RESULTS), "Where heads.json, heads.md and heads.png go.", **f)
    flags.DEFINE_bool("render", False, "Rewrite heads.md and heads.png from --out's heads.json.", **f)


def parse_args(argv=None):
    """The flags from `argv` (the arguments after the program), in this process."""
    return bench_cli.parse(COMMAND, sys.argv[1:] if argv is None else argv)


def select_models(only=None):
    """The registered detection and segmentation models (all, or those in `only`, whose
    unknown names are a ValueError that lists the choices)."""
    import keras_lightnets as kl

    names = [n for n in kl.list_models() if kl.model_info(n).family in FAMILIES]
    models = [(kl.model_info(n).family, n) for n in names]
    return [name for _, name in bench_cli.chosen(models, only)]


def published(name):
    """{"metric", "value", "dataset", "source"} of the network's published accuracy, or
    {"value": None, "source": why there is none}."""
    entry = PUBLISHED.get(name)
    if entry is None:
        return {"metric": None, "value": None, "dataset": None,
                "source": UNPUBLISHED.get(name, "not in benchmarks/heads.py's PUBLISHED table")}
    metric, value, dataset, source = entry
    return {"metric": metric, "value": value, "dataset": dataset, "source": source}


def build(name, size):
    """The registered model at `size` x `size` with its default classes, random
    weights (seed 0)."""
    import keras

    import keras_lightnets as kl

    keras.utils.set_random_seed(0)
    return kl.create_model(name, input_shape=(size, size, 3))


def convert(name, size, calibration, workdir):
    """Builds, profiles and converts one model (files cached in `workdir`); its record."""
    import keras

    import keras_lightnets as kl
    from keras_lightnets import tflite as kt
    from keras_lightnets.tflite.segmentation import export_segmenter
    from keras_lightnets.training import recalibrate_batch_norm

    from zoo import photos  # noqa: E402  (the zoo's real photo crops, scikit-image's samples)

    info = kl.model_info(name)
    size = size or info.default_size
    key = f"{name}__{size}px__cal{calibration}"
    meta_path = os.path.join(workdir, key + ".json")
    if os.path.exists(meta_path):
        with open(meta_path) as f:
            record = json.load(f)
        if all(record["files"].get(m, {}).get("error") or os.path.exists(record["files"].get(m, {}).get("path") or "")
               for m in MODES):
            return record
    record = {"name": name, "task": info.family, "resolution": size, "paper_params_m": info.paper_params_m,
              "paper_macs_m": info.paper_macs_m, "figures_source": info.figures_source, "published": published(name),
              "files": {}, "error": None}
    try:
        model = build(name, size)
        stats = kl.profile(model)
        record.update(params=stats.params, macs=stats.macs, classes=int(model.outputs[-1].shape[-1]))
        images = photos(size, max(calibration, BATCH_NORM_IMAGES))
        recalibrate_batch_norm(model, images, batch_size=BATCH_NORM_CHUNK)
    except Exception as error:  # a model that cannot be built at this size: say so, go on
        record["error"] = _first_line(error)
        results_io.write_text(meta_path, json.dumps(record))
        return record
    for mode in MODES:
        path = os.path.join(workdir, f"{name}__{size}px__{mode}.tflite")
        start = time.perf_counter()
        try:
            # int8: calibrated on the photos, uint8 input (camera bytes as they are)
            int8 = dict(quantization="int8", representative_data=images[:calibration], input_type="uint8",
                        num_calibration_samples=calibration) if mode == "int8" else {}
            if info.family == "detection":  # the Android file: the network, then TFLite_Detection_PostProcess
                kt.export_detector(model, path, **int8)
            else:  # per-pixel class scores, what the Task Library's ImageSegmenter reads
                export_segmenter(model, path, **int8)
            with open(path, "rb") as f:
                content = f.read()
            summary = kt.analyze(content)
            record["files"][mode] = {"path": path, "size_bytes": len(content),
                                     "conversion_s": round(time.perf_counter() - start, 1),
                                     "float_ops": summary.float_ops if mode == "int8" else None,
                                     "op_counts": dict(summary.op_counts)}
        except Exception as error:
            record["files"][mode] = {"path": None, "error": _first_line(error)}
        results_io.write_text(meta_path, json.dumps(record))
    keras.backend.clear_session()
    return record


def _first_line(error):
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:300] if text else ''}"


def measure(record, warmup_runs, num_runs, rounds):
    """Host latency of the record's files, in alternating rounds (float32 first in even
    rounds, int8 first in odd ones): median of the rounds' medians."""
    from keras_lightnets import bench

    files = {m: e for m, e in record["files"].items() if e.get("path")}
    medians = {m: [] for m in files}
    for round_ in range(rounds):
        for mode in (sorted(files) if round_ % 2 == 0 else sorted(files, reverse=True)):
            try:
                result = bench.run(files[mode]["path"], num_threads=1, warmup_runs=warmup_runs, num_runs=num_runs,
                                   min_secs=0, warmup_min_secs=0)
            except Exception as error:
                files[mode]["error"] = _first_line(error)
                continue
            medians[mode].append(result.stats["p50_us"] / 1e3)
            files[mode]["runner"] = result.settings.get("runner")
    for mode, values in medians.items():
        if values:
            files[mode].update(latency_ms=round(statistics.median(values), 3),
                               round_medians_ms=[round(v, 3) for v in values], timed_runs=num_runs * len(values))
    return record


def speedup(record):
    f32, i8 = (_ms(record, m) for m in MODES)
    return None if f32 is None or not i8 else f32 / i8


def _ms(record, mode):
    return (record["files"].get(mode) or {}).get("latency_ms")


def _fmt(value, spec, missing="—"):
    return missing if value is None else format(value, spec)


def markdown(records, meta):
    contention = (f" The machine was shared with other jobs (load average {meta['load_before']:.1f} before the run, "
                  f"{meta['load_after']:.1f} after, on {meta['logical_cpus']} logical CPUs): absolute times are "
                  "inflated and noisy, the ratios less so." if meta.get("load_before") is not None else "")
    size = (f"**All models at {meta['size']}x{meta['size']}** (a reduced run); MACs at that size. " if meta["size"]
            else "Each model at its paper's resolution (SSDLite 320, LR-ASPP and torchvision's DeepLabv3 520, Mobile "
                 "DeepLabv3 513). ")
    lines = [
        "# Detection and segmentation heads on the TFLite benchmark",
        "",
        f"Host latency, {meta['generated']} on `{meta['host']}`: the TFLite benchmark tool's host path "
        f"(`keras_lightnets.bench`, runner `{meta['runner']}`, LiteRT {meta['litert']}, XNNPACK), **1 thread, batch 1**, "
        f"{meta['warmup_runs']} warm-up runs, then the median of {meta['num_runs']} timed runs; each model's float32 "
        f"and int8 files timed back to back in {meta['rounds']} alternating rounds (median of the rounds), so the "
        "speed-up is read under one load. " + size
        + "Default classes (SSDLite on V3: 91, torchvision's COCO; on V2: 81, the paper's; segmentation: 21, VOC's). "
        "Random weights, BatchNorm statistics re-estimated on "
        f"{BATCH_NORM_IMAGES} real photo crops; int8 calibrated on {meta['calibration']} of them. "
        "Detection files: `kl.tflite.export_detector`, the network then `TFLite_Detection_PostProcess` (10 "
        "detections, float outputs); segmentation files: `kl.tflite.export_segmenter`, per-pixel class "
        "probabilities (float32 output). int8: post-training full-integer network with a uint8 input; the "
        "detectors' post-processing op computes in float, as in the TF Object Detection API's int8 SSD files. "
        "Params (BatchNorm statistics included) and MACs: `kl.profile`; beside them the registry's "
        "paper or torchvision figure (`kl.model_info`; its source in heads.json). "
        "Published: the figure its source gives for a trained network, not measured here (random weights, offline "
        f"machine); sources below the table.{contention} The run took {meta['wall_seconds'] / 60:.0f} min "
        f"(`python benchmarks/heads.py {meta.get('command', '')}`).",
        "",
        "| model | task | res | classes | params | MMACs | paper params / MMACs | float32 MB | float32 ms | int8 MB "
        "| int8 ms | int8 speed-up | published |",
        "|" + " --- |" * 13,
    ]
    sources = []
    for r in records:
        pub = r["published"]
        if pub["value"] is not None:
            sources.append(f"{pub['metric']} of `{r['name']}`: {pub['dataset']}; {pub['source']}.")
            note = f"{pub['value']:g} {pub['metric']} [{len(sources)}]"
        else:
            note = "none published"
        if r.get("error"):
            lines.append(f"| `{r['name']}` | {r['task']} | {r['resolution']} | — | — | — | error: {r['error'][:80]} |"
                         + " |" * 5 + f" {note} |")
            continue
        paper = " / ".join([_fmt(r["paper_params_m"], ".2f", "—") + ("M" if r["paper_params_m"] else ""),
                            _fmt(r["paper_macs_m"], ",.0f", "—")])
        cells = [f"`{r['name']}`", r["task"], str(r["resolution"]), str(r["classes"]), f"{r['params'] / 1e6:.2f}M",
                 f"{r['macs'] / 1e6:,.1f}", paper]
        for mode in MODES:
            entry = r["files"].get(mode) or {}
            missing = "error" if entry.get("error") else "—"
            cells += [_fmt(entry.get("size_bytes") and entry["size_bytes"] / 1e6, ".2f", missing),
                      _fmt(entry.get("latency_ms"), ".2f", missing)]
        ratio = speedup(r)
        cells += [f"{ratio:.2f}x" if ratio else "—", note]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Published figures:", ""] + [f"{i}. {s}" for i, s in enumerate(sources, 1)]
    none = [f"`{r['name']}`: {r['published']['source']}" for r in records if r["published"]["value"] is None]
    if none:
        lines += ["", "None published: " + "; ".join(none) + "."]
    float_ops = sorted({op for r in records for op in (r["files"].get("int8") or {}).get("float_ops") or []})
    if float_ops:
        lines += ["", f"Op types computing in float in the int8 files: {', '.join(float_ops)} (CUSTOM is the detectors' "
                  "TFLite_Detection_PostProcess; any other would be a fallback of the integer kernels)."]
    fused = [f"`{r['name']}` ({(r['files'].get('int8') or {}).get('op_counts', {}).get('HARD_SWISH')})" for r in records
             if (r["files"].get("int8") or {}).get("op_counts", {}).get("HARD_SWISH")]
    if fused:  # benchmarks/results/hard_swish_rewrite.md: the rewrite makes MobileNetV3's int8 about 2.3x faster
        lines += ["", f"int8 files that keep TFLite's fused HARD_SWISH op (count): {', '.join(fused)}. It runs on "
                  "TFLite's own int8 kernel, not XNNPACK's; `kl.tflite.convert` rewrites it for XNNPACK "
                  "(benchmarks/results/hard_swish_rewrite.md: MobileNetV3's int8 about 2.3x faster), a file written "
                  "without that pass keeps it."]
    errors = [(r["name"], m, e["error"]) for r in records for m, e in r["files"].items() if e.get("error")]
    errors += [(r["name"], "build", r["error"]) for r in records if r.get("error")]
    if errors:
        lines += ["", "Failures (the run went on):", ""] + [f"- `{n}` ({m}): {e}" for n, m, e in errors]
    return "\n".join(lines) + "\n"


def plot(records, path, title):
    """Per model: float32 and int8 latency side by side, the speed-up written above."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker
    import numpy as np

    shown = [r for r in records if any(_ms(r, m) for m in MODES)]
    if not shown:
        return False
    fig, ax = plt.subplots(figsize=(1.6 * len(shown) + 3, 4.8))
    x = np.arange(len(shown))
    for offset, mode, colour in ((-0.2, "float32", "tab:blue"), (0.2, "int8", "tab:orange")):
        ax.bar(x + offset, [_ms(r, mode) or 0 for r in shown], 0.4, label=mode, color=colour)
    for i, r in enumerate(shown):
        ratio = speedup(r)
        top = max(_ms(r, m) or 0 for m in MODES)
        pub = r["published"]
        text = (f"{ratio:.2f}x" if ratio else "") + (f"\n{pub['value']:g} {pub['metric']}" if pub["value"] else "")
        ax.annotate(text, (i, top), ha="center", va="bottom", fontsize=8, xytext=(0, 3), textcoords="offset points")
    ax.set_xticks(x, [f"{r['name']}\n{r['resolution']} px" for r in shown], rotation=20, ha="right", fontsize=8)
    ax.set(ylabel="latency (ms, median, 1 thread)", title=title)
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    low, high = ax.get_ylim()
    ax.set_ylim(low, high * 2.5)  # room for the labels under the title
    ax.legend(fontsize=8)
    ax.grid(True, axis="y", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def render(out, records, meta):
    results_io.write_text(out / "heads.md", markdown(records, meta))
    plot(records, out / "heads.png", f"detection / segmentation on {meta['host']}, {meta['generated']}: host LiteRT, "
         "1 thread, batch 1\n(above: int8 speed-up; published accuracy, not measured here)")


def run(args, argv=None):
    out = pathlib.Path(args.out)
    if args.render:
        data = json.loads((out / "heads.json").read_text())
        render(out, data["models"], data["meta"])
        print(f"wrote {out / 'heads.md'}, {out / 'heads.png'} from {out / 'heads.json'}")
        return data["models"]
    if args.size is not None and args.size < 32:
        raise ValueError(f"--size={args.size}: the heads need at least 32 px (SSDLite's and LR-ASPP's strides); "
                         "give e.g. --size=96.")
    names = select_models(args.only)
    os.makedirs(args.workdir, exist_ok=True)
    started, load_before = time.time(), os.getloadavg()[0]
    records = []
    for name in names:
        print(f"{name}: building and converting", flush=True)
        records.append(convert(name, args.size, args.calibration, args.workdir))
    for record in records:
        print(f"{record['name']}: timing", flush=True)
        measure(record, args.warmup_runs, args.num_runs, args.rounds)

    from ai_edge_litert import __version__ as litert_version

    from keras_lightnets.bench.device_info import host_device

    host = host_device()
    runners = sorted({e.get("runner") for r in records for e in r["files"].values() if e.get("runner")})
    meta = {"generated": datetime.date.today().isoformat(), "host": host["model"], "platform": host["platform"],
            "logical_cpus": host["logical_cpus"], "litert": litert_version, "runner": ", ".join(runners) or "none",
            "size": args.size, "calibration": args.calibration, "warmup_runs": args.warmup_runs,
            "num_runs": args.num_runs, "rounds": args.rounds, "load_before": round(load_before, 2),
            "load_after": round(os.getloadavg()[0], 2), "wall_seconds": round(time.time() - started),
            "command": " ".join(sys.argv[1:] if argv is None else argv)}
    for record in records:  # paths into the cache are not results
        for entry in record["files"].values():
            entry.pop("path", None)
    out.mkdir(parents=True, exist_ok=True)
    results_io.write_text(out / "heads.json", json.dumps({"meta": meta, "models": records}, indent=1) + "\n")
    render(out, records, meta)
    print(f"wrote {out / 'heads.json'}, {out / 'heads.md'}, {out / 'heads.png'} in {meta['wall_seconds']} s")
    return records


def main(argv=None):
    """The benchmark on `argv` (the arguments after the program), in this process."""
    return run(parse_args(argv), argv)


COMMAND = bench_cli.command(__file__, __doc__, define_flags, lambda args: 0 if run(args) else 1,
                            light=lambda args: args.render)

if __name__ == "__main__":
    bench_cli.main(COMMAND)
