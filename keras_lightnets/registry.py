"""The model registry: timm/torchvision-style names -> builders + paper figures."""

import dataclasses
import difflib
import fnmatch
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
    measured: Optional[Any] = None  # a keras_lightnets.profile.Profile, when asked for

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


def _lookup(name) -> ModelInfo:
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"Unknown model {name!r}.{hint} See keras_lightnets.list_models().")
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
    from keras_lightnets.profile import profile  # deferred: avoids building at import

    return dataclasses.replace(info, measured=profile(create_model(name)))
