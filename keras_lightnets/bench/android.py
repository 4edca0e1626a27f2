"""The official benchmark_model on an Android phone over adb, as the MobileNet papers
measured ("a single large core of Pixel phones, batch size 1, the standard TFLite
benchmark tool"):

    adb devices                                  -> one ready device (or --serial)
    adb -s S shell getprop                       -> model, SoC, Android version, ABIs
    (the binary's ELF machine must match an ABI of the device)
    adb -s S shell grep -H . /sys/devices/system/cpu/cpu*/cpufreq/cpuinfo_max_freq
                                                 -> the fastest cluster's affinity mask
    adb -s S push benchmark_model model.tflite /data/local/tmp/
    adb -s S shell taskset <mask> /data/local/tmp/... --graph=... --num_threads=1 ...
    adb -s S shell rm -f <the pushed files>      (always, also after a failure)
"""

import os
import shlex
import shutil
import subprocess

from keras_lightnets.bench import official_output
from keras_lightnets.bench import tool_settings
from keras_lightnets.bench.device_info import android_device
from keras_lightnets.bench.device_info import check_binary_runs_on
from keras_lightnets.bench.device_info import cpu_mask as mask_of
from keras_lightnets.bench.device_info import cpus_of_mask
from keras_lightnets.bench.device_info import elf_architecture
from keras_lightnets.bench.device_info import fastest_cluster
from keras_lightnets.bench.device_info import parse_getprop
from keras_lightnets.bench.device_info import parse_max_freqs
from keras_lightnets.bench.errors import BenchmarkError
from keras_lightnets.bench.host import _tool_result
from keras_lightnets.bench.settings import TOOL_PERCENTILES_NOTE
from keras_lightnets.tflite.interpreter import load_interpreter

REMOTE_DIR = "/data/local/tmp"
ADB_TIMEOUT = 120.0  # seconds for one adb step other than the benchmark itself
_STATE_ADVICE = {
    "unauthorized": "unlock the phone and accept the 'Allow USB debugging?' prompt, then retry",
    "offline": "reconnect the cable or run `adb reconnect`, then retry",
    "no permissions": "fix the udev rules for the device (see `adb devices -l`), then retry",
}


class Adb:
    """A thin adb client: every call has a timeout and failures say what happened."""

    def __init__(self, adb=None):
        self.path = adb or os.environ.get("ADB") or shutil.which("adb")
        if not self.path or not shutil.which(self.path):
            raise BenchmarkError(
                "`adb` was not found"
                + (f" at {adb!r}" if adb else " on PATH")
                + ": install Android platform-tools (e.g. `sdkmanager platform-tools` or `apt-get install adb`) "
                "and put adb on PATH, or pass adb=/path/to/adb."
            )
        self.serial = None

    def __call__(self, *args, timeout=ADB_TIMEOUT, reraise_timeout=False):
        command = [self.path, *(("-s", self.serial) if self.serial else ()), *args]
        try:
            return subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            if reraise_timeout:
                raise
            raise BenchmarkError(f"`adb {' '.join(args)}` did not answer within {timeout:g} s"
                                 + (f" ({self.serial} unresponsive?)" if self.serial else "") + ".") from None
        except OSError as error:
            raise BenchmarkError(f"cannot run adb ({self.path}): {error}") from None

    def shell(self, command, timeout=ADB_TIMEOUT, reraise_timeout=False):
        return self("shell", command, timeout=timeout, reraise_timeout=reraise_timeout)

    def devices(self):
        """[(serial, state), ...] from `adb devices`."""
        completed = self("devices")
        if completed.returncode != 0:
            raise BenchmarkError(f"`adb devices` failed: {_text(completed) or 'no output'}")
        entries = []
        for line in completed.stdout.splitlines():
            line = line.strip()
            if not line or line.startswith(("List of devices", "*", "adb server")):
                continue
            serial, _, state = line.partition("\t")
            entries.append((serial.strip(), (state or "unknown").strip()))
        return entries

    def select(self, serial=None):
        """Picks the device (or checks the given one) and requires it to be ready."""
        entries = self.devices()
        listing = ", ".join(f"{s} ({st})" for s, st in entries)
        if serial is not None:
            states = dict(entries)
            if serial not in states:
                raise BenchmarkError(f"device {serial!r} is not connected; adb devices lists: {listing or 'none'}.")
            state = states[serial]
        elif not entries:
            raise BenchmarkError("no Android device connected (`adb devices` lists none): connect a phone with USB "
                                 "debugging enabled, or start an emulator.")
        elif len(entries) > 1:
            raise BenchmarkError(f"several devices connected ({listing}): choose one with serial=... (--serial=...).")
        else:
            serial, state = entries[0]
        if state != "device":
            advice = _STATE_ADVICE.get(state, "wait until `adb devices` shows it as 'device', then retry")
            raise BenchmarkError(f"device {serial!r} is {state}: {advice}.")
        self.serial = serial
        return serial

    def still_connected(self):
        try:
            completed = self("get-state", timeout=15)
        except BenchmarkError:
            return False
        return completed.returncode == 0 and completed.stdout.strip() == "device"


def run_android(graph, settings, benchmark_binary, serial=None, adb=None):
    if not benchmark_binary:
        raise ValueError("target='android' needs the official benchmark_model built for the phone "
                         "(benchmark_binary=.../android_aarch64_benchmark_model).")
    binary = os.fspath(benchmark_binary)
    if not os.path.isfile(binary):
        raise ValueError(f"benchmark binary {binary!r} does not exist.")
    load_interpreter(graph)  # never push a missing or corrupt model
    binary_arch = elf_architecture(binary)

    client = Adb(adb)
    serial = client.select(serial)
    props = parse_getprop(_checked(client, client.shell("getprop"), "read the device properties (getprop)"))
    device = android_device(props)
    device["serial"] = serial
    check_binary_runs_on(binary_arch, device["abis"], binary, f"{device['model'] or serial}")

    freqs = parse_max_freqs(client.shell("grep -H . /sys/devices/system/cpu/cpu*/cpufreq/cpuinfo_max_freq").stdout)
    device["cpu_max_freq_khz"] = {str(c): f for c, f in sorted(freqs.items())} or None
    notes = [TOOL_PERCENTILES_NOTE]
    if settings.cpu_mask is not None:
        cpus = cpus_of_mask(settings.cpu_mask)
        unknown = sorted(set(cpus) - set(freqs)) if freqs else []
        if unknown:
            raise ValueError(f"cpu_mask={settings.cpu_mask!r} names cores {unknown} that {device['model'] or serial} "
                             f"does not have (cores: {sorted(freqs)}).")
        mask = settings.cpu_mask
    elif freqs:
        cpus = fastest_cluster(freqs)
        mask = mask_of(cpus)
    else:
        cpus, mask = None, None
        notes.append("cpufreq is not readable on this device: the run is not pinned to the big cores.")
    device["cpus_used"] = cpus
    device["cpu_mask"] = mask

    tag = f"lightnets_{os.getpid()}"
    remote_binary = f"{REMOTE_DIR}/{tag}_{os.path.basename(binary)}"
    remote_model = f"{REMOTE_DIR}/{tag}_{os.path.basename(os.fspath(graph))}"
    pushed = []
    try:
        for local, remote in ((binary, remote_binary), (os.fspath(graph), remote_model)):
            pushed.append(remote)
            _checked(client, client("push", local, remote, timeout=max(ADB_TIMEOUT, settings.timeout)), f"push {local}")
        _checked(client, client.shell(f"chmod 755 {shlex.quote(remote_binary)}"), "make the binary executable")
        flags = settings.tool_flags(remote_model)
        command = " ".join(([f"taskset {mask}"] if mask else []) + [shlex.quote(remote_binary)]
                           + [shlex.quote(flag) for flag in flags])
        try:
            completed = client.shell(command, timeout=settings.timeout, reraise_timeout=True)
        except subprocess.TimeoutExpired:
            _stop_remote(client, remote_binary)
            raise BenchmarkError(f"the benchmark on {serial} did not finish within {settings.timeout:g} s (hung, or "
                                 f"the model is too slow for this timeout); raise `timeout` if it is just slow.") from None
        output = completed.stdout + completed.stderr
        try:
            parsed = official_output.parse(output)
        except official_output.OfficialOutputError as error:
            _raise_if_disconnected(client, completed, "during the benchmark")
            raise BenchmarkError(f"{error} (on {serial}, exit status {completed.returncode}; command: adb shell {command})") from None
        echoed = tool_settings.check(flags, output)  # the tool ran with what we asked, or a clear error
    finally:
        cleanup_note = _cleanup(client, pushed)
    if cleanup_note:
        notes.append(cleanup_note)
    result = _tool_result(graph, parsed, output, settings, device, "benchmark_model (android, adb)", binary, notes, echoed)
    result.settings["remote_command"] = f"adb -s {serial} shell {command}"
    return result


def _checked(client, completed, what):
    if completed.returncode != 0:
        _raise_if_disconnected(client, completed, f"while trying to {what}")
        raise BenchmarkError(f"adb could not {what} on {client.serial}: {_text(completed) or 'no output'}")
    return completed.stdout


def _raise_if_disconnected(client, completed, when):
    if not client.still_connected():
        raise BenchmarkError(f"device {client.serial!r} disconnected {when} "
                             f"(adb: {_text(completed) or 'no output'}); reconnect it and run again.")


def _stop_remote(client, remote_binary):
    """Best effort: end the benchmark we started (matched by its own unique path)."""
    try:
        client.shell(f"pkill -f {shlex.quote(remote_binary)}", timeout=15)
    except BenchmarkError:
        pass


def _cleanup(client, pushed):
    """Removes what we pushed; returns a note when that was not possible."""
    if not pushed:
        return None
    try:
        completed = client.shell("rm -f " + " ".join(shlex.quote(p) for p in pushed), timeout=30)
        if completed.returncode == 0:
            return None
        reason = _text(completed)
    except BenchmarkError as error:
        reason = str(error)
    return f"could not remove {', '.join(pushed)} from the device ({reason})."


def _text(completed):
    return " ".join((completed.stderr.strip() + " " + completed.stdout.strip()).split())[:500]
