"""The model registry: timm/torchvision-style names -> builders + paper figures."""

import dataclasses
import difflib
import fnmatch
import json
import os
import pprint
from typing import Any, Callable, Dict, List, Mapping, Optional


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """What the paper says about a registered model, and how to build it."""

    name: str
    builder: Callable
    defaults: Mapping[str, Any]
    family: str
    paper: str
    arxiv: str
    default_size: int
    paper_params_m: Optional[float]  # millions of parameters, as published
    paper_macs_m: Optional[float]  # millions of multiply-adds at default_size, as published
    figures_source: str  # "paper", or where the published figures come from
    reference: Optional[str]  # the reference implementation ours matches, if any
    note: str = ""  # where the published figures disagree with the architecture, and why
    measured: Optional[Any] = None  # a keras_lightnets.profiling.Profile, when asked for

    def to_dict(self):
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in ("builder", "measured")}
        out["builder"] = self.builder.__name__
        out["defaults"] = dict(self.defaults)
        if self.measured is not None:
            out["measured"] = self.measured.to_dict()
        return out


_REGISTRY: Dict[str, ModelInfo] = {}


def register_model(name, builder, *, defaults=None, **info):
    """Registers `builder` (called with `defaults` merged under the user's kwargs)."""
    if name in _REGISTRY:
        raise ValueError(f"Model {name!r} is already registered.")
    _REGISTRY[name] = ModelInfo(name=name, builder=builder, defaults=dict(defaults or {}), **info)


def list_models(pattern="*") -> List[str]:
    """Registered names matching a shell-style pattern, e.g. "mobilenet_v3*"."""
    return sorted(n for n in _REGISTRY if fnmatch.fnmatch(n, pattern))


def unknown_model_error(name, names) -> ValueError:
    """The error for a name not among `names`, with the closest names as a hint."""
    close = difflib.get_close_matches(name, list(names), n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    return ValueError(f"Unknown model {name!r}.{hint} See keras_lightnets.list_models().")


def _lookup(name) -> ModelInfo:
    if name not in _REGISTRY:
        raise unknown_model_error(name, _REGISTRY)
    return _REGISTRY[name]


def create_model(name, **kwargs):
    """Builds a registered model.

    Unlike the class-style builders (which keep keras.applications' defaults),
    registry models are uniform: they take [0, 255] pixels
    (`include_preprocessing=True`) at the paper's resolution unless told otherwise,
    so one input pipeline and one converter call fit all of them.
    """
    info = _lookup(name)
    args = {"include_preprocessing": True, **info.defaults, **kwargs}
    if args.get("input_shape") is None and args.get("input_tensor") is None:
        args["input_shape"] = (info.default_size, info.default_size, 3)
    args.setdefault("name", name)
    return info.builder(**args)


def model_info(name, measure=False) -> ModelInfo:
    """The paper's figures for a model; with `measure=True`, also our measured
    params and MACs (builds the model at its default resolution, 1000 classes)."""
    info = _lookup(name)
    if not measure:
        return info
    from keras_lightnets.profiling import profile  # deferred: avoids building at import

    return dataclasses.replace(info, measured=profile(create_model(name)))


# The registry without TensorFlow: `lightnets list` and `info` read
# keras_lightnets/registry_index.py, written from the live registry by write_index()
# (the command in INDEX_HEADER); tests/test_cli_help.py holds it equal to index().
INDEX_MODULE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "registry_index.py")
INDEX_HEADER = '''"""Every registered model as `lightnets info` prints it, by name, for `lightnets list`
and `lightnets info` to answer without importing TensorFlow.

Generated from the live registry; do not edit. tests/test_cli_help.py fails when it
differs from the registry; then rewrite it with
    python -c "from keras_lightnets.registry import write_index; write_index()"
"""

'''


def index() -> Dict[str, dict]:
    """Every registered model's `ModelInfo.to_dict()` in JSON types, by name."""
    return {name: json.loads(json.dumps(_REGISTRY[name].to_dict())) for name in sorted(_REGISTRY)}


def write_index(path=INDEX_MODULE):
    """Writes index() as the Python module keras_lightnets/registry_index.py (a .py file,
    so every install carries it)."""
    text = INDEX_HEADER + "MODELS = " + pprint.pformat(index(), indent=1, width=120, sort_dicts=False) + "\n"
    from keras_lightnets._atomic import write_atomically

    write_atomically(path, text)
    return path

