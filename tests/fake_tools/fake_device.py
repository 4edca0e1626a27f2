"""Helpers for the benchmark tests: an emulated phone behind the fake `adb`, ELF
headers for fake binaries, and a tiny real .tflite file.

The phone and the benchmark tool are fakes. The tool's output is RECONSTRUCTED FROM THE
TOOL'S SOURCE, NOT RECORDED FROM A PHONE (the fake benchmark_model's docstring names the
TensorFlow files and commits); the Pixel 7's getprop answers are written to look like
one's, with the clocks of Tensor G2's published 4x1.80 + 2x2.35 + 2x2.85 GHz cores, not
read from a device."""

import json
import os
import stat

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE_ADB = os.path.join(HERE, "adb")
FAKE_BENCHMARK_MODEL = os.path.join(HERE, "benchmark_model")
TRANSCRIPTS = os.path.join(HERE, "transcripts")

PIXEL_7 = {
    "ro.product.model": "Pixel 7",
    "ro.product.manufacturer": "Google",
    "ro.soc.manufacturer": "Google",
    "ro.soc.model": "GS201",
    "ro.board.platform": "gs201",
    "ro.hardware": "panther",
    "ro.build.version.release": "14",
    "ro.build.version.sdk": "34",
    "ro.product.cpu.abi": "arm64-v8a",
    "ro.product.cpu.abilist": "arm64-v8a",
    "ro.build.fingerprint": "google/panther/panther:14/UQ1A.240205.004/11269751:user/release-keys",
}
# Tensor G2: four little cores, two mid, two big (the "fastest cluster" is 6-7, mask c0).
PIXEL_7_MAX_FREQ = {"0": 1803000, "1": 1803000, "2": 1803000, "3": 1803000, "4": 2348000, "5": 2348000,
                    "6": 2850000, "7": 2850000}
ELF_MACHINE = {"aarch64": 0xB7, "arm": 0x28, "x86_64": 0x3E}


class FakeDevice:
    """$FAKE_ADB_HOME for the fake adb, and a PATH on which `adb` is the fake."""

    def __init__(self, root, monkeypatch, devices=None, props=None, freqs=None, mode="ok", tool_mode="ok", tool_env=None):
        self.home = os.path.join(root, "adb_home")
        os.makedirs(os.path.join(self.home, "fs", "data", "local", "tmp"))
        bin_dir = os.path.join(root, "bin")
        os.makedirs(bin_dir)
        os.symlink(FAKE_ADB, os.path.join(bin_dir, "adb"))
        self.configure(devices={"28161FDH2002KZ": "device"} if devices is None else devices,
                       props=PIXEL_7 if props is None else props, freqs=PIXEL_7_MAX_FREQ if freqs is None else freqs,
                       mode=mode, tool_mode=tool_mode, tool_env=tool_env)
        monkeypatch.setenv("FAKE_ADB_HOME", self.home)
        monkeypatch.setenv("PATH", bin_dir + os.pathsep + os.environ["PATH"])
        monkeypatch.delenv("ADB", raising=False)

    def configure(self, devices, props, freqs, mode="ok", tool_mode="ok", tool_env=None):
        with open(os.path.join(self.home, "config.json"), "w") as f:
            json.dump({"devices": devices, "props": props, "cpu_max_freq": freqs, "mode": mode, "tool_mode": tool_mode,
                       "tool_env": tool_env or {}}, f)

    def calls(self):
        path = os.path.join(self.home, "calls.jsonl")
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [json.loads(line) for line in f]

    def remote_files(self):
        return sorted(os.listdir(os.path.join(self.home, "fs", "data", "local", "tmp")))


def fake_elf(path, arch):
    """A file whose ELF header names `arch` (the rest is padding: adb's fake never runs it)."""
    header = bytearray(64)
    header[:4] = b"\x7fELF"
    header[4] = 2  # ELFCLASS64
    header[5] = 1  # little-endian
    header[6] = 1
    header[16:18] = (2).to_bytes(2, "little")  # ET_EXEC
    header[18:20] = ELF_MACHINE[arch].to_bytes(2, "little")
    with open(path, "wb") as f:
        f.write(bytes(header) + b"\0" * 64)
    os.chmod(path, os.stat(path).st_mode | stat.S_IEXEC)
    return path


def tiny_tflite(path, quantization=None):
    """A real, tiny convolutional model converted by keras_lightnets.tflite.convert."""
    import keras
    import numpy as np

    from keras_lightnets import tflite as kt

    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="conv")(inputs)
    x = keras.layers.DepthwiseConv2D(3, padding="same", activation="relu", name="dw")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(5, activation="softmax", name="classifier")(x)
    model = keras.Model(inputs, outputs, name="tiny")
    data = np.random.default_rng(0).uniform(0, 255, (16, 16, 16, 3)).astype("float32")
    kt.convert(model, path, quantization=quantization, representative_data=data if quantization == "int8" else None,
               input_type="uint8" if quantization == "int8" else "float32")
    return path


def run_fake_tool(flags, env=None, merged=False, timeout=60):
    """Runs the fake benchmark_model with `flags` (and FAKE_BM_* `env`); returns the
    CompletedProcess. merged=True sends stderr into stdout, in the order a terminal shows."""
    import subprocess
    import sys

    clean = {k: v for k, v in os.environ.items() if not k.startswith("FAKE_BM_")}
    return subprocess.run([sys.executable, FAKE_BENCHMARK_MODEL, *flags], capture_output=not merged,
                          stdout=subprocess.PIPE if merged else None, stderr=subprocess.STDOUT if merged else None,
                          text=True, timeout=timeout, env={**clean, **(env or {})})
