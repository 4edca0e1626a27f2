"""Benchmark a .tflite file the way the MobileNet papers did: the standard TFLite
benchmark tool on one big core of a phone, batch 1, warm-up first.

    # Android: the official binary over adb, pinned to the fastest cluster
    python tflite/benchmark.py --graph=m.tflite --target=android \
        --benchmark_binary=android_aarch64_benchmark_model [--serial=...] [--cpu_mask=f0] \
        --num_threads=1 --warmup_runs=5 --num_runs=50 [--enable_op_profiling] --json=result.json

    # Host: the official binary when given or on PATH, else LiteRT in-process
    python tflite/benchmark.py --graph=m.tflite [--benchmark_binary=benchmark_model]

    python tflite/benchmark.py --help   every flag, with examples

The logic lives in keras_lightnets.bench (also `lightnets benchmark`, same flags, and
`keras_lightnets.bench.run(...)`); this is its TensorFlow-repo-style entry point.
TensorFlow's logs are off unless --verbose.
"""

# keras_lightnets imports TensorFlow only when the command needs it, after quieting its
# logs (keras_lightnets/__init__.py reads this).
LIGHTNETS_APP = True

from keras_lightnets import cli  # noqa: E402

if __name__ == "__main__":
    cli.run_app("benchmark", prog="python tflite/benchmark.py", label="benchmark")
