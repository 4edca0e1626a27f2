"""One result format for every benchmark path (host LiteRT, host benchmark_model,
Android over adb): JSON with the model file, the device, the settings, the
statistics in microseconds (as the official tool reports them) and, when asked
for and available, the op-level profile."""

import dataclasses
import datetime
import hashlib
import json
import os
from typing import Any, Dict, List, Optional

from keras_lightnets._atomic import write_atomically

SCHEMA = "keras_lightnets.bench/1"
STAT_KEYS = ("init_us", "first_inference_us", "warmup_runs", "warmup_avg_us", "count", "mean_us", "std_us",
             "min_us", "max_us", "p50_us", "p90_us", "p99_us")


def model_file(path) -> dict:
    """{"path", "size_bytes", "sha256"} of a .tflite file."""
    path = os.fspath(path)
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return {"path": os.path.abspath(path), "size_bytes": os.path.getsize(path), "sha256": digest.hexdigest()}


@dataclasses.dataclass
class BenchmarkResult:
    model: Dict[str, Any]  # path, size_bytes, sha256
    device: Dict[str, Any]  # host CPU + platform, or phone model, SoC, Android version, ABIs
    settings: Dict[str, Any]  # target, runner, num_threads, runs, delegates, cpu mask and cores used
    stats: Dict[str, Optional[float]]  # microseconds; see STAT_KEYS
    memory: Optional[Dict[str, Any]] = None  # MB, with the method that measured it
    op_profile: Optional[Dict[str, Any]] = None  # per op type: time and share of total
    op_profile_note: Optional[str] = None  # why op_profile is None when it was asked for
    notes: List[str] = dataclasses.field(default_factory=list)
    timestamp: str = dataclasses.field(default_factory=lambda: datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
    schema: str = SCHEMA
    raw_output: Optional[str] = dataclasses.field(default=None, repr=False)  # the tool's text; not in the JSON

    @property
    def mean_ms(self):
        return None if self.stats.get("mean_us") is None else self.stats["mean_us"] / 1e3

    @property
    def median_ms(self):
        """p50 where measured (in-process); the official tool prints no percentiles, so its mean."""
        value = self.stats.get("p50_us")
        return self.mean_ms if value is None else value / 1e3

    def to_dict(self):
        out = dataclasses.asdict(self)
        out.pop("raw_output")
        return out

    def to_json(self, indent=2):
        return json.dumps(self.to_dict(), indent=indent, sort_keys=False)

    def save(self, path):
        """Writes the JSON through a temporary file: an interrupted save never leaves
        half a file where a result was."""
        write_atomically(path, self.to_json() + "\n")
        return path

    @classmethod
    def from_dict(cls, data):
        data = dict(data)
        if data.get("schema") != SCHEMA:
            raise ValueError(f"Not a {SCHEMA} result (schema={data.get('schema')!r}).")
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls) if f.name in data})

    @classmethod
    def load(cls, path):
        with open(path) as f:
            return cls.from_dict(json.load(f))

    def __str__(self):
        s, d = self.stats, self.device
        where = (f"{d.get('model')} ({d.get('soc')}, Android {d.get('android_version')})" if d.get("kind") == "android"
                 else f"host {d.get('model')}")
        cores = self.settings.get("cpus")
        lines = [
            f"{os.path.basename(self.model['path'])}: {self.model['size_bytes'] / 1e6:.2f} MB, sha256 {self.model['sha256'][:12]}",
            f"on {where} via {self.settings['runner']}, {self.settings['num_threads']} thread(s)"
            + (f", cores {cores}" if cores else ""),
            f"init {_ms(s.get('init_us'))}, first inference {_ms(s.get('first_inference_us'))}, "
            f"warm-up avg {_ms(s.get('warmup_avg_us'))}",
            f"inference over {s.get('count')} runs: mean {_ms(s.get('mean_us'))} +- {_ms(s.get('std_us'))}, "
            f"min {_ms(s.get('min_us'))}, max {_ms(s.get('max_us'))}"
            + (f", p50 {_ms(s['p50_us'])}, p90 {_ms(s['p90_us'])}, p99 {_ms(s['p99_us'])}" if s.get("p50_us") is not None else ""),
        ]
        if self.memory:
            lines.append("memory: " + ", ".join(f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}"
                                                for k, v in self.memory.items() if v is not None and k != "method"))
        if self.op_profile:
            top = self.op_profile["by_op_type"][:8]
            lines.append("op profile: " + ", ".join(f"{r['op_type']} {r['share']:.1%}" for r in top))
        elif self.op_profile_note:
            lines.append(f"op profile: none ({self.op_profile_note})")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def _ms(us):
    return "n/a" if us is None else f"{us / 1e3:.3f} ms"
