"""Training throughput on a GPU, Keras on JAX: ours against keras.applications, one run.

For MobileNetV3-Large, EfficientNet-B0 and ResNet-50 (224x224, 1000 classes, random
weights), each in float32 and in Keras' `mixed_bfloat16` policy, our registry model and
keras.applications' same architecture (weights=None) are built in one process and
trained with `model.fit` (SGD with momentum, sparse categorical cross-entropy, no
metrics, Keras' default steps_per_execution=1): images per second.

The input is device-resident so the figure is the training step's, not the input
pipeline's: one fixed batch of random [0, 255] pixels and random labels is put on the GPU
once, and a Python generator yields those same arrays every step (Keras' JAX iterator
`device_put`s each batch, a no-op for an array already there). An earlier measurement
of keras.applications alone through a host pipeline (2,100-2,950 img/s at batch 128,
flat across precisions) was input-bound; `--host_feed_check` adds one round per model
fed from a host NumPy array of the same batch (Keras copies it to the GPU one batch
ahead), to show what a host-side feed costs.

Method: per (model, precision), both models are compiled first (a short warm-up fit;
its time, XLA compilation included, is recorded as compile_s and kept out of the
throughput); then a calibration fit picks the steps per round so a round lasts about
--round_s seconds (the same number of steps for both); then --rounds rounds, each
timing one fit of ours and one of keras.applications, alternating which goes first, so
drift hits both. A round's time is the whole `fit` call, ending when the last step's
loss is on the host. Reported: the median img/s over rounds, the ours/anchor ratio (the
median over rounds of the ratio within a round) and the bf16/fp32 speed-up of each.

    KERAS_BACKEND=jax python benchmarks/train_throughput_gpu.py            # writes results
    python benchmarks/train_throughput_gpu.py --models=resnet50 --precisions=float32 \\
        --image_size=64 --batch_size=8 --rounds=1 --nosave                  # CPU smoke test
    python benchmarks/train_throughput_gpu.py --render                      # Markdown from the JSON

Writes benchmarks/results/train_throughput_gpu.{json,md} (or --output_dir), after every
(model, precision) so an interrupted run keeps what it measured.

On a GPU, XLA's autotuning decides the absolute figures: with it off
(XLA_FLAGS=--xla_gpu_autotune_level=0, as in the committed H200 run) the step is
compute-bound on slow default kernels, about 10x below the earlier input-bound figure;
with it on, compiling took minutes per model there. A run with autotuning needs a
longer device budget than one 15-minute session, or XLA's
--xla_gpu_dump_autotune_results_to / --xla_gpu_load_autotune_results_from to carry the
tuning from one run to the next.
"""

# keras_lightnets imports TensorFlow only when a run needs it, after quieting its logs
# (keras_lightnets/__init__.py reads this): `--help` answers without it.
LIGHTNETS_APP = True

import datetime
import gc
import json
import os
import pathlib
import platform
import shlex
import statistics
import subprocess
import sys
import time

import numpy as np  # noqa: E402
from absl import flags  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_cli  # noqa: E402  (absl flags, as the package's command-line apps have them)

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
NAME = "train_throughput_gpu"
# (label, our registry name, keras.applications class)
MODELS = [
    ("MobileNetV3-Large", "mobilenet_v3_large", "MobileNetV3Large"),
    ("EfficientNet-B0", "efficientnet_b0", "EfficientNetB0"),
    ("ResNet-50", "resnet50", "ResNet50"),
]
PRECISIONS = ("float32", "mixed_bfloat16")
SIDES = ("ours", "keras.applications")


def write_atomic(path, text):
    """Write via a temporary file and a rename: never a half-written file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def environment():
    import jax
    import keras

    import keras_lightnets

    env = {
        "python": platform.python_version(),
        "jax": jax.__version__,
        "jaxlib": _version("jaxlib"),
        "keras": keras.__version__,
        "keras_backend": keras.backend.backend(),
        "keras_lightnets_from": str(pathlib.Path(keras_lightnets.__file__).parent),
        "jax_default_backend": jax.default_backend(),
        "devices": [f"{d.platform}:{d.device_kind}" for d in jax.devices()],
        "jax_default_matmul_precision": getattr(jax.config, "jax_default_matmul_precision", "unknown"),
        "tensorflow_imported": "tensorflow" in sys.modules,
        "env": {k: os.environ[k] for k in ("KERAS_BACKEND", "XLA_FLAGS", "XLA_PYTHON_CLIENT_PREALLOCATE",
                                          "XLA_PYTHON_CLIENT_MEM_FRACTION") if k in os.environ},
    }
    try:  # the driver's view of the card; absent on a CPU host
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total,clocks.max.sm",
                              "--format=csv,noheader"], capture_output=True, text=True, timeout=30)
        env["nvidia_smi"] = out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        env["nvidia_smi"] = None
    return env


def _version(dist):
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def build(side, registry_name, apps_class, args):
    import keras

    import keras_lightnets as kl

    shape = (args.image_size, args.image_size, 3)
    if side == "ours":
        model = kl.create_model(registry_name, input_shape=shape, classes=args.classes)
    else:
        model = getattr(keras.applications, apps_class)(weights=None, input_shape=shape, classes=args.classes)
    # The same optimizer and loss for both: the comparison is the network, not the recipe.
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=1e-3, momentum=0.9),
                  loss="sparse_categorical_crossentropy")
    return model


def repeat(x, y):
    while True:  # the same device arrays every step: no host work, no transfer
        yield x, y


def timed_fit(model, data, steps):
    """Seconds for one `fit` of `steps` steps, and its last loss. fit returns once the
    loss is on the host; blocking on a weight as well makes the end explicit."""
    import jax

    start = time.perf_counter()
    history = model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False)
    jax.block_until_ready(model.trainable_variables[0].value)
    return time.perf_counter() - start, float(history.history["loss"][-1])


class Group:
    """One model in one precision: ours and keras.applications, built, compiled, warmed up."""

    def __init__(self, label, registry_name, apps_class, precision):
        self.label, self.registry_name, self.apps_class, self.precision = label, registry_name, apps_class, precision
        self.models, self.sides = {}, {}
        self.failed = None  # why it could not be measured, if so

    def __str__(self):
        return f"{self.label} {self.precision}"


def prepare(groups, data, args, log):
    """Build every model (the dtype policy is read when a layer is built), then run each
    one's warm-up fit, which traces and XLA-compiles its training step. With
    --compile_workers > 1 the warm-ups run in threads (no timing happens meanwhile). On
    the H200 that did not pay: six at a time, XLA's autotuners timed their candidate
    kernels on a shared GPU ("Delay kernel timed out") and none of 12 had finished after
    345 s; hence the default of 1."""
    import concurrent.futures

    import keras

    for group in groups:
        keras.config.set_dtype_policy(group.precision)
        try:
            for side in SIDES:
                t0 = time.perf_counter()
                model = build(side, group.registry_name, group.apps_class, args)
                group.models[side] = model
                group.sides[side] = {"params": model.count_params(), "build_s": round(time.perf_counter() - t0, 2),
                                     "variable_dtype": model.trainable_variables[0].dtype,
                                     "compute_dtype": model.layers[-1].compute_dtype}
        finally:
            keras.config.set_dtype_policy("float32")
    log(f"built {2 * len(groups)} models; warm-up fits ({args.warmup_steps} steps, compilation included) "
        f"in {args.compile_workers} thread(s)")

    def warm_up(group, side):
        seconds, loss = timed_fit(group.models[side], repeat(*data), args.warmup_steps)
        group.sides[side].update(compile_s=round(seconds, 2), warmup_loss=loss)
        log(f"  {group} {side}: warm-up {seconds:.1f}s, loss {loss:.3f}")

    jobs = [(g, s) for g in groups for s in SIDES]
    if args.compile_workers == 1:
        for job in jobs:
            warm_up(*job)
        return
    with concurrent.futures.ThreadPoolExecutor(args.compile_workers) as pool:
        futures = {job: pool.submit(warm_up, *job) for job in jobs}
    for (group, side), future in futures.items():
        if future.exception() is None:
            continue
        # E.g. out of device memory with several at once: once more, alone; if that fails
        # too, the group is reported as failed and the others are still measured.
        log(f"  {group} {side}: warm-up failed in a thread ({describe(future.exception())}); again alone")
        try:
            warm_up(group, side)
            group.sides[side]["warmup_retried_alone"] = True
        except Exception as error:  # noqa: BLE001 -- reported in the results, not raised
            group.failed = f"{side}: {describe(error)}"
            log(f"  {group} {side}: failed again ({describe(error)})")


def describe(error):
    first = str(error).strip().splitlines()[0][:300] if str(error).strip() else ""
    return f"{type(error).__name__}: {first}"


def measure(group, data, host_data, args, log):
    """Interleaved timed rounds of ours and keras.applications for one group."""
    models, per_side = group.models, group.sides
    # Steps per round from a short fit of each (the slower one sets it). Not in the figures;
    # its time is kept, since a retrace or recompile would show there.
    step_s = 0.0
    for side in SIDES:
        seconds, _ = timed_fit(models[side], repeat(*data), args.calibration_steps)
        per_side[side]["calibration_s"] = round(seconds, 3)
        step_s = max(step_s, seconds / args.calibration_steps)
    steps = int(min(args.max_steps, max(args.min_steps, round(args.round_s / step_s))))
    rounds = {s: [] for s in SIDES}
    losses = {s: [] for s in SIDES}
    for r in range(args.rounds):
        for side in SIDES if r % 2 == 0 else SIDES[::-1]:
            seconds, loss = timed_fit(models[side], repeat(*data), steps)
            rounds[side].append(steps * args.batch_size / seconds)
            losses[side].append(loss)
        log(f"  round {r + 1}/{args.rounds}: " + ", ".join(f"{s} {rounds[s][-1]:,.0f} img/s" for s in SIDES))
    for side in SIDES:
        per_side[side].update(img_per_s_rounds=[round(v, 1) for v in rounds[side]],
                              img_per_s=round(statistics.median(rounds[side]), 1),
                              last_loss=losses[side][-1],
                              loss_finite=bool(np.all(np.isfinite(losses[side]))))
    ratios = [o / a for o, a in zip(rounds["ours"], rounds["keras.applications"])]
    if args.host_feed_check:  # the same batch from host memory: Keras copies each one to the device
        for side in SIDES:
            seconds, _ = timed_fit(models[side], repeat(*host_data), steps)
            per_side[side]["host_feed_img_per_s"] = round(steps * args.batch_size / seconds, 1)
        log("  host-fed: " + ", ".join(f"{s} {per_side[s]['host_feed_img_per_s']:,.0f} img/s" for s in SIDES))
    return {"model": group.label, "registry_name": group.registry_name, "keras_applications": group.apps_class,
            "precision": group.precision, "batch_size": args.batch_size, "image_size": args.image_size,
            "steps_per_round": steps, "ratio_rounds": [round(v, 4) for v in ratios],
            "ratio": round(statistics.median(ratios), 4), "sides": per_side}


def speedups(rows):
    """bf16/fp32 speed-up per (model, side, batch), where both precisions were measured."""
    out = []
    for label, _, _ in MODELS:
        for batch in sorted({r["batch_size"] for r in rows}):
            by = {r["precision"]: r for r in rows if r["model"] == label and r["batch_size"] == batch}
            if set(PRECISIONS) <= by.keys():
                out.append({"model": label, "batch_size": batch, **{
                    side: round(by["mixed_bfloat16"]["sides"][side]["img_per_s"]
                                / by["float32"]["sides"][side]["img_per_s"], 3) for side in SIDES}})
    return out


def markdown(results):
    env = results["environment"]
    gpu = env.get("nvidia_smi") or ", ".join(env["devices"])
    date = results["started_utc"][:10]
    lines = [
        "# Training throughput on a GPU: ours against keras.applications (Keras on JAX)",
        "",
        f"Measured here on one {gpu.split(',')[0]}, {date}, JAX backend "
        f"(jax {env['jax']}, Keras {env['keras']}, Python {env['python']}), by `benchmarks/train_throughput_gpu.py`; "
        f"results in `train_throughput_gpu.json`. Command: `{results['command']}`.",
        "",
        f"`model.fit` training, {results['settings']['image_size']}x{results['settings']['image_size']}, "
        f"{results['settings']['classes']} classes, random weights, SGD with momentum, sparse categorical "
        "cross-entropy. **Input: one fixed batch of random pixels already on the GPU, yielded every step** "
        "(no host pipeline, no host-to-device copy), so the figures are the training step's. float32 is Keras' "
        "float32 policy with matrix products at JAX's default precision "
        f"(`jax_default_matmul_precision={env['jax_default_matmul_precision']}`: XLA may use TF32 on this GPU); "
        "bf16 is Keras' `mixed_bfloat16` (bfloat16 compute, float32 variables). Compilation is excluded "
        "(a warm-up fit first); then rounds that time one fit of each model, alternating which goes first. "
        "img/s: median over rounds; ours/keras.applications: median of the within-round ratios (min-max in brackets).",
        "",
        *([f"XLA_FLAGS: `{env['env']['XLA_FLAGS']}`.", ""] if env["env"].get("XLA_FLAGS") else []),
        "| model | precision | batch | steps/round x rounds | ours img/s | keras.applications img/s | **ours / keras.applications** |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results["rows"]:
        o, a = r["sides"]["ours"], r["sides"]["keras.applications"]
        lo, hi = min(r["ratio_rounds"]), max(r["ratio_rounds"])
        lines.append(f"| {r['model']} | {r['precision']} | {r['batch_size']} | {r['steps_per_round']} x "
                     f"{len(r['ratio_rounds'])} | {o['img_per_s']:,.0f} | {a['img_per_s']:,.0f} | "
                     f"**{r['ratio']:.3f}** ({lo:.3f}-{hi:.3f}) |")
    ups = speedups(results["rows"])
    if ups:
        lines += ["", "## bf16 speed-up (mixed_bfloat16 img/s over float32 img/s)", "",
                  "| model | batch | ours | keras.applications |", "| --- | ---: | ---: | ---: |"]
        lines += [f"| {u['model']} | {u['batch_size']} | {u['ours']:.2f}x | {u['keras.applications']:.2f}x |"
                  for u in ups]
    if any("host_feed_img_per_s" in r["sides"]["ours"] for r in results["rows"]):
        lines += ["", "## The same batch fed from host memory (one round; Keras copies each batch to the GPU one "
                  "step ahead)", "", "| model | precision | ours img/s | keras.applications img/s |",
                  "| --- | --- | ---: | ---: |"]
        lines += [f"| {r['model']} | {r['precision']} | {r['sides']['ours']['host_feed_img_per_s']:,.0f} | "
                  f"{r['sides']['keras.applications']['host_feed_img_per_s']:,.0f} |"
                  for r in results["rows"] if "host_feed_img_per_s" in r["sides"]["ours"]]
    lines += ["", "## Compilation (warm-up fit, XLA compile included; seconds)", "",
              (f"All {2 * len(results['rows'])} models' builds and warm-up fits took "
               f"{results.get('build_and_warmup_wall_s', '?')} s of wall time, the warm-ups in "
               f"{results['settings']['compile_workers']} concurrent threads (so one model's figure includes waiting "
               "for the others)." if results["settings"]["compile_workers"] > 1 else
               "Each model compiled alone, just before its group was measured."), "",
              "| model | precision | ours | keras.applications |", "| --- | --- | ---: | ---: |"]
    lines += [f"| {r['model']} | {r['precision']} | {r['sides']['ours']['compile_s']} | "
              f"{r['sides']['keras.applications']['compile_s']} |" for r in results["rows"]]
    if results.get("failed"):
        lines += ["", "Failed: " + "; ".join(results["failed"]) + "."]
    if results.get("skipped"):
        lines += ["", "Not measured (the run's time limit): " + ", ".join(results["skipped"]) + "."]
    notes = results.get("notes")
    if notes:
        lines += [""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def define_flags(values):
    f = dict(flag_values=values)
    flags.DEFINE_list("models", [m[1] for m in MODELS], "Registry names, from: " + ",".join(m[1] for m in MODELS) + ".",
                      **f)
    flags.DEFINE_list("precisions", list(PRECISIONS), "Keras dtype policies.", **f)
    flags.DEFINE_integer("batch_size", 128, "Images per training step.", **f)
    flags.DEFINE_integer("image_size", 224, "Input height and width.", **f)
    flags.DEFINE_integer("classes", 1000, "Classifier width.", **f)
    flags.DEFINE_integer("rounds", 3, "Timed rounds per (model, precision).", **f)
    flags.DEFINE_float("round_s", 1.5, "Target seconds of one model's fit in a round.", **f)
    flags.DEFINE_integer("min_steps", 10, "Fewest steps of a round's fit.", **f)
    flags.DEFINE_integer("max_steps", 200, "Most steps of a round's fit.", **f)
    flags.DEFINE_integer("warmup_steps", 2, "Steps of the compiling fit.", **f)
    flags.DEFINE_integer("calibration_steps", 5, "Steps of the fit that sizes a round.", **f)
    flags.DEFINE_integer("compile_workers", 1, "Threads for the warm-up fits that compile every model (1: one after "
                         "another).", **f)
    flags.DEFINE_bool("host_feed_check", True, "One extra round per model fed from a host NumPy array.", **f)
    flags.DEFINE_float("time_budget_s", None, "Start no new (model, precision) after this many seconds.", **f)
    flags.DEFINE_multi_string("note", None, "A line for the notes; repeat the flag for more.", **f)
    flags.DEFINE_string("output_dir", str(RESULTS), "Where the .json and .md go.", **f)
    flags.DEFINE_bool("save", True, "Write the results; --nosave prints only.", **f)
    flags.DEFINE_bool("render", False, "Rewrite the .md from the saved .json; measure nothing.", **f)


def check(args):
    """A ValueError naming the flag for settings the run cannot take."""
    known = [m[1] for m in MODELS]
    bad = [m for m in args.models if m not in known]
    if bad:
        raise ValueError(f"unknown --models {bad}: choose from {','.join(known)}")
    bad = [p for p in args.precisions if p not in PRECISIONS]
    if bad:
        raise ValueError(f"unknown --precisions {bad}: choose from {','.join(PRECISIONS)}")
    for name in ("batch_size", "image_size", "classes", "rounds", "min_steps", "warmup_steps", "calibration_steps",
                 "compile_workers"):
        if args[name].value < 1:
            raise ValueError(f"--{name} must be at least 1, got {args[name].value}")
    if args.max_steps < args.min_steps:
        raise ValueError(f"--max_steps ({args.max_steps}) is below --min_steps ({args.min_steps})")


def run(args):
    check(args)
    out_dir = pathlib.Path(args.output_dir)
    if args.render:
        path = out_dir / f"{NAME}.json"
        if not path.exists():
            raise ValueError(f"--render: no {path}; run the benchmark first")
        results = json.loads(path.read_text())
        write_atomic(out_dir / f"{NAME}.md", markdown(results))
        print(markdown(results))
        return
    import keras

    if keras.backend.backend() != "jax":
        raise ValueError(f"Keras runs on the {keras.backend.backend()!r} backend; this benchmark is for JAX: "
                         "run it with KERAS_BACKEND=jax in the environment")
    t_start = time.perf_counter()

    def log(msg):
        print(f"[{time.perf_counter() - t_start:7.1f}s] {msg}", flush=True)

    results = {
        "started_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": shlex.join([f"KERAS_BACKEND={os.environ.get('KERAS_BACKEND')}", "python",
                               "benchmarks/train_throughput_gpu.py", *sys.argv[1:]]),
        "settings": {k: v for k, v in args.flag_values_dict().items()
                     if k not in ("save", "render", "output_dir", "note", "verbose")},
        "input": "device-resident: one fixed batch of random [0, 255] float32 pixels and random int32 labels, "
                 "put on the accelerator once and yielded by a Python generator every step",
        "environment": environment(),
        "rows": [],
        "skipped": [],
        "failed": [],
        "notes": list(args.note or []),
    }
    log(f"{results['environment']['devices']}, jax {results['environment']['jax']}, keras {keras.__version__}")
    if args.save:
        out_dir.mkdir(parents=True, exist_ok=True)
    import jax

    rng = np.random.default_rng(0)
    host_data = (rng.integers(0, 256, (args.batch_size, args.image_size, args.image_size, 3)).astype("float32"),
                 rng.integers(0, args.classes, (args.batch_size,)).astype("int32"))
    data = tuple(jax.device_put(a) for a in host_data)  # on the device once, for every model and step
    groups = [Group(label, name, apps, precision) for label, name, apps in MODELS if name in args.models
              for precision in args.precisions]
    # With several workers every model is compiled first, concurrently; with one, each group
    # is compiled just before it is measured, so a run cut short keeps the groups it finished.
    ahead = args.compile_workers > 1
    if ahead:
        prepare(groups, data, args, log)
        results["build_and_warmup_wall_s"] = round(time.perf_counter() - t_start, 1)
    for group in groups:
        elapsed = time.perf_counter() - t_start
        if not ahead and not (args.time_budget_s is not None and elapsed > args.time_budget_s):
            prepare([group], data, args, log)
        if group.failed:
            results["failed"].append(f"{group}: {group.failed}")
        elif args.time_budget_s is not None and elapsed > args.time_budget_s:
            results["skipped"].append(str(group))
            log(f"skip {group}: {elapsed:.0f}s elapsed, over --time_budget_s")
        else:
            log(f"{group}, batch {args.batch_size}")
            try:
                results["rows"].append(measure(group, data, host_data, args, log))
            except Exception as error:  # noqa: BLE001 -- reported; the other groups still run
                results["failed"].append(f"{group}: {describe(error)}")
                log(f"  failed: {describe(error)}")
        group.models = {}  # the next groups need the memory more than these need the weights
        gc.collect()
        results["speedups"] = speedups(results["rows"])
        results["elapsed_s"] = round(time.perf_counter() - t_start, 1)
        if args.save:  # after every group: an interrupted run keeps what it measured
            write_atomic(out_dir / f"{NAME}.json", json.dumps(results, indent=2) + "\n")
            write_atomic(out_dir / f"{NAME}.md", markdown(results))
    text = markdown(results)
    print(text)
    if args.save:
        print(f"wrote {out_dir / (NAME + '.json')} and {out_dir / (NAME + '.md')}", file=sys.stderr)


COMMAND = bench_cli.command(__file__, __doc__, define_flags, run, light=lambda args: args.render)

if __name__ == "__main__":
    # Before Keras is imported (the backend is fixed then), and only when run: a test that
    # imports this module must not switch every later subprocess of its worker to JAX.
    os.environ.setdefault("KERAS_BACKEND", "jax")
    bench_cli.main(COMMAND)
