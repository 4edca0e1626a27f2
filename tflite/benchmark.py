"""Benchmark a .tflite file the way the MobileNet papers did: the standard TFLite
benchmark tool on one big core of a phone, batch 1, warm-up first.

    # Android: the official binary over adb, pinned to the fastest cluster
    python tflite/benchmark.py --graph=m.tflite --target=android \
        --benchmark_binary=android_aarch64_benchmark_model [--serial=...] [--cpu_mask=f0] \
        --num_threads=1 --warmup_runs=5 --num_runs=50 [--enable_op_profiling] --json=result.json

    # Host: the official binary when given or on PATH, else LiteRT in-process
    python tflite/benchmark.py --graph=m.tflite [--benchmark_binary=benchmark_model]

The logic lives in keras_lightnets.bench (also `lightnets benchmark` and
`keras_lightnets.bench.run(...)`); this is its TensorFlow-repo-style entry point.
"""

import os

from absl import app
from absl import flags

from keras_lightnets.bench import cli as bench_cli

bench_cli.define_flags()
bench_cli.define_bool_or_path("json", False, "--json=PATH writes the JSON result there; a bare --json prints it.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments {argv[1:]}; options are --flags.")
    bench_cli.main_errors("benchmark", lambda: bench_cli.benchmark(flags.FLAGS))


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    app.run(main)
