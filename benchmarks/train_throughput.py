"""Training throughput on this host: 1 vs 2 MultiWorkerMirroredStrategy workers and mixed
precision on/off, ours against keras.applications' same architecture in the same run.

Each configuration (workers x precision) is one job: 1 process, or 2 worker processes on
localhost ports (TF_CONFIG, keras_lightnets.training.distribute as `lightnets train
--strategy=multi_worker` runs it). In each process both models (our registry model and
keras.applications' twin, weights=None) are built under the strategy, compiled (SGD with
momentum, sparse categorical cross-entropy) and fed the same in-memory random batches
(tf.data, auto-shard DATA, global batch = per-worker batch x workers). After a warm-up fit
(tracing excluded) each model runs --rounds timed fits of --steps steps, alternating which
goes first. img/s = steps x global batch / the slowest worker's fit time; median over rounds.

    python benchmarks/train_throughput.py                 # writes benchmarks/results/train_throughput.{json,md}
    python benchmarks/train_throughput.py --steps=3 --rounds=1 --nosave   # smoke test
    python benchmarks/train_throughput.py --render        # the Markdown again, from the JSON

GPU rows: not measured here (no GPU host in this session; see train_throughput_gpu.py for
the JAX GPU benchmark). On a shared 2-core CPU host, two workers split the same cores:
the figure shows the overhead of the collectives, not a speed-up.
"""

# keras_lightnets imports TensorFlow only when a run needs it, after quieting its logs
# (keras_lightnets/__init__.py reads this): `--help` answers without it.
LIGHTNETS_APP = True

import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time

from absl import flags

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_cli  # noqa: E402  (absl flags, as the package's command-line apps have them)
import results_io  # noqa: E402  (atomic writes)

NAME = "train_throughput"
MODEL = ("MobileNetV3-Small", "mobilenet_v3_small", "MobileNetV3Small")


def worker(args):
    """One process of one job: prints a JSON line of per-round fit seconds per side."""
    import numpy as np
    import keras
    import tensorflow as tf

    import keras_lightnets as kl
    from keras_lightnets.training import distribute

    dist = distribute.resolve("multi_worker" if os.environ.get("TF_CONFIG") else None,
                              mixed_precision=None if args.precision == "float32" else args.precision)
    global_batch = args.batch_size * dist.replicas
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (global_batch, args.image_size, args.image_size, 3)).astype("float32")
    y = rng.integers(0, 10, global_batch).astype("int32")
    data = distribute.shard_options(tf.data.Dataset.from_tensor_slices((x, y)).batch(global_batch).repeat(), dist.kind)
    shape = (args.image_size, args.image_size, 3)
    models = {}
    with dist, dist.scope():
        models["ours"] = kl.create_model(MODEL[1], input_shape=shape, classes=10)
        models["keras.applications"] = getattr(keras.applications, MODEL[2])(input_shape=shape, weights=None, classes=10)
        for model in models.values():
            model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
                          loss="sparse_categorical_crossentropy", jit_compile=False)
            dist.prepare(model, data)
    times = {side: [] for side in models}
    with dist:
        for model in models.values():
            model.fit(data, steps_per_epoch=2, epochs=1, verbose=0)  # tracing
        for r in range(args.rounds):
            order = list(models) if r % 2 == 0 else list(models)[::-1]
            for side in order:
                start = time.perf_counter()
                models[side].fit(data, steps_per_epoch=args.steps, epochs=1, verbose=0)
                times[side].append(time.perf_counter() - start)
    print(json.dumps({"times": times, "global_batch": global_batch, "replicas": dist.replicas}))


def job(workers, precision, args):
    from keras_lightnets.training.distribute import free_ports

    base = [sys.executable, __file__, "--worker", f"--precision={precision}", f"--steps={args.steps}",
            f"--rounds={args.rounds}", f"--batch_size={args.batch_size}", f"--image_size={args.image_size}"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    env.pop("TF_CONFIG", None)
    hosts = [f"localhost:{p}" for p in free_ports(workers)] if workers > 1 else []
    procs = []
    for i in range(workers):
        e = dict(env)
        if hosts:
            e["TF_CONFIG"] = json.dumps({"cluster": {"worker": hosts}, "task": {"type": "worker", "index": i}})
        procs.append(subprocess.Popen(base, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=e))
    reports = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=args.timeout)
            if p.returncode:
                raise RuntimeError(f"worker failed ({p.returncode}): {err[-2000:]}")
            reports.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    global_batch = reports[0]["global_batch"]
    row = {"workers": workers, "precision": precision, "global_batch": global_batch}
    for side in ("ours", "keras.applications"):
        rounds = [max(r["times"][side][k] for r in reports) for k in range(args.rounds)]
        row[side] = round(statistics.median(args.steps * global_batch / t for t in rounds), 1)
    row["ours / keras.applications"] = round(row["ours"] / row["keras.applications"], 3)
    return row


def render(result):
    lines = [f"# Training throughput on this host: workers and mixed precision, ours vs keras.applications", "",
             f"Measured {result['date']} on {result['host']} (CPU only, {result['cpus']} cores shared with other "
             "jobs), TensorFlow backend, by `benchmarks/train_throughput.py`; results in `train_throughput.json`. "
             f"{result['model'][0]} ({result['model'][1]} vs keras.applications.{result['model'][2]}), "
             f"{result['image_size']}x{result['image_size']}, 10 classes, random weights and in-memory random batches, "
             f"SGD momentum; {result['steps']} steps x {result['rounds']} rounds, per-worker batch "
             f"{result['batch_size']}; img/s = steps x global batch / slowest worker's fit time, median over rounds.", "",
             "| host | workers | precision | global batch | ours img/s | keras.applications img/s | ours / keras.applications |",
             "| --- | ---: | --- | ---: | ---: | ---: | ---: |"]
    for r in result["rows"]:
        lines.append(f"| CPU | {r['workers']} | {r['precision']} | {r['global_batch']} | {r['ours']} | "
                     f"{r['keras.applications']} | {r['ours / keras.applications']} |")
    for workers in (1, 2):
        for precision in ("float32", "bfloat16"):
            lines.append(f"| GPU | {workers} | {precision} | - | not measured: no GPU host in this session | "
                         "not measured | - |")
    lines += ["", "- Two workers on one 2-core host share the same cores: the 2-worker rows measure the cost of "
              "MultiWorkerMirroredStrategy's collectives here, not a speed-up. bfloat16 on a CPU without fast "
              "bfloat16 matrix units is not expected to be faster.", *[f"- {n}" for n in result.get("notes", [])]]
    return "\n".join(lines) + "\n"


def define_flags(values):
    f = dict(flag_values=values)
    flags.DEFINE_string("precision", "float32", "Inside a --worker process: float32, bfloat16 or float16.", **f)
    flags.DEFINE_integer("steps", 10, "Timed steps per fit.", **f)
    flags.DEFINE_integer("rounds", 3, "Timed fits per model, alternating which model goes first.", **f)
    flags.DEFINE_integer("batch_size", 32, "Batch per worker.", **f)
    flags.DEFINE_integer("image_size", 64, "Input size.", **f)
    flags.DEFINE_float("timeout", 600, "Seconds a worker process may take.", **f)
    flags.DEFINE_bool("save", True, "Write benchmarks/results/; --nosave prints only.", **f)
    flags.DEFINE_bool("render", False, "Rewrite the Markdown from the saved JSON; measure nothing.", **f)
    flags.DEFINE_bool("worker", False, "Internal: one worker process of a job (the script starts these itself).", **f)


def run(args):
    if args.worker:
        return worker(args)
    if args.render:
        result = results_io.load(NAME)
    else:
        rows = []
        for workers in (1, 2):
            for precision in ("float32", "bfloat16"):
                rows.append(job(workers, precision, args))
                print(json.dumps(rows[-1]), flush=True)
        result = {"date": datetime.date.today().isoformat(), "host": platform.processor() or platform.machine(),
                  "cpus": os.cpu_count(), "model": MODEL, "image_size": args.image_size, "steps": args.steps,
                  "rounds": args.rounds, "batch_size": args.batch_size, "rows": rows,
                  "gpu": "not measured: no GPU host in this session"}
    text = render(result)
    if args.save:
        results_io.save(NAME, result, text)
    print(text)


COMMAND = bench_cli.command(__file__, __doc__, define_flags, run, light=lambda args: args.render)

if __name__ == "__main__":
    bench_cli.main(COMMAND)
