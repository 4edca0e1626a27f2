"""What a benchmark ran on: the host CPU, or an Android phone read through getprop
and sysfs; and the architecture a benchmark binary was built for (its ELF header)."""

import os
import platform
import re
import struct
from typing import Dict, List, Optional

# e_machine values of the ELF header (System V ABI) -> the architecture's name.
ELF_MACHINES = {0x03: "x86", 0x28: "arm", 0x3E: "x86_64", 0xB7: "aarch64", 0xF3: "riscv64"}
# Android ABIs (ro.product.cpu.abilist) -> the ELF architecture they run.
ABI_ARCH = {"arm64-v8a": "aarch64", "armeabi-v7a": "arm", "armeabi": "arm", "x86_64": "x86_64", "x86": "x86",
            "riscv64": "riscv64"}


def elf_architecture(path) -> str:
    """The architecture an executable was built for, from its ELF header's e_machine."""
    with open(path, "rb") as f:
        header = f.read(20)
    if len(header) < 20 or header[:4] != b"\x7fELF":
        raise ValueError(f"{os.fspath(path)!r} is not an ELF executable: give the benchmark_model binary built for the "
                         f"device (e.g. android_aarch64_benchmark_model), not a script, APK or archive.")
    byte_order = "<" if header[5] == 1 else ">"  # EI_DATA: 1 little-endian, 2 big-endian
    (machine,) = struct.unpack(byte_order + "H", header[18:20])
    return ELF_MACHINES.get(machine, f"unknown (e_machine=0x{machine:x})")


def parse_getprop(text) -> Dict[str, str]:
    """`adb shell getprop` output (`[key]: [value]` lines) -> dict."""
    return dict(re.findall(r"^\[([^\]]+)\]: \[(.*)\]\s*$", text, flags=re.MULTILINE))


def android_device(props: Dict[str, str]) -> dict:
    """The fields of the result's `device` section, from getprop properties."""
    abis = [a for a in (props.get("ro.product.cpu.abilist") or props.get("ro.product.cpu.abi", "")).split(",") if a]
    soc = " ".join(v for v in (props.get("ro.soc.manufacturer"), props.get("ro.soc.model")) if v)
    return {
        "kind": "android",
        "model": props.get("ro.product.model"),
        "manufacturer": props.get("ro.product.manufacturer"),
        "soc": soc or props.get("ro.board.platform") or props.get("ro.hardware"),
        "board_platform": props.get("ro.board.platform"),
        "android_version": props.get("ro.build.version.release"),
        "sdk": props.get("ro.build.version.sdk"),
        "abis": abis,
        "fingerprint": props.get("ro.build.fingerprint"),
    }


def check_binary_runs_on(binary_arch, abis: List[str], binary_path, device_name):
    """Refuses a binary the device's CPU cannot execute (a clear error, before pushing)."""
    runnable = {ABI_ARCH.get(abi, abi) for abi in abis}
    if binary_arch not in runnable:
        raise ValueError(
            f"{os.path.basename(os.fspath(binary_path))!r} is built for {binary_arch}, but {device_name} runs "
            f"{', '.join(abis) or 'an unknown ABI'} ({', '.join(sorted(runnable)) or '?'}): use the benchmark_model "
            f"build for that ABI (android_aarch64_benchmark_model for arm64-v8a, android_arm_benchmark_model for armeabi-v7a)."
        )


def parse_max_freqs(text) -> Dict[int, int]:
    """`grep -H . /sys/devices/system/cpu/cpu*/cpufreq/cpuinfo_max_freq` -> {cpu: kHz}."""
    freqs = {}
    for cpu, khz in re.findall(r"/cpu(\d+)/cpufreq/cpuinfo_max_freq:(\d+)", text):
        freqs[int(cpu)] = int(khz)
    return freqs


def fastest_cluster(freqs: Dict[int, int]) -> List[int]:
    """The cores of the highest-clocked cluster (the "big" or "prime" cores)."""
    if not freqs:
        return []
    top = max(freqs.values())
    return sorted(cpu for cpu, khz in freqs.items() if khz == top)


def cpu_mask(cpus) -> str:
    """[4, 5, 6, 7] -> "f0", the hexadecimal affinity mask `taskset` takes."""
    return format(sum(1 << c for c in cpus), "x")


def cpus_of_mask(mask) -> List[int]:
    """"f0" -> [4, 5, 6, 7]; raises ValueError on a mask that is not hexadecimal or is 0."""
    text = str(mask).lower()
    text = text[2:] if text.startswith("0x") else text
    try:
        value = int(text, 16)
    except ValueError:
        raise ValueError(f"cpu_mask={mask!r} is not a hexadecimal affinity mask (e.g. 'f0' for cores 4-7).") from None
    if value <= 0:
        raise ValueError(f"cpu_mask={mask!r} selects no core.")
    return [bit for bit in range(value.bit_length()) if value >> bit & 1]


def host_device(cpus_used=None) -> dict:
    """The host: CPU model from /proc/cpuinfo (Linux), OS and Python platform."""
    return {
        "kind": "host",
        "model": _cpu_model(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "logical_cpus": os.cpu_count(),
        "cpus_used": cpus_used,
        "python": platform.python_version(),
    }


def _cpu_model() -> Optional[str]:
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
    except OSError:
        return platform.processor() or None
    for key in ("model name", "Hardware", "Processor", "cpu model"):
        match = re.search(rf"^{key}\s*:\s*(.+)$", text, flags=re.MULTILINE)
        if match:
            return match.group(1).strip()
    return platform.processor() or None
