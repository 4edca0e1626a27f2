"""The model registry: timm/torchvision-style names -> builders + paper figures."""

import dataclasses
import difflib
import fnmatch
import json
import os
import pprint
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple


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
    # keras_imagenet(): whether its family loads keras.applications' ImageNet file for it
    # (asked when needed: a family's ImageNet table may be defined below its variants).
    keras_imagenet: Callable[[], bool] = dataclasses.field(default=lambda: False, repr=False, compare=False)

    @property
    def weights(self) -> Tuple[Any, ...]:
        """Its published weight sets (keras_lightnets.weights.sets.WeightSet)."""
        from keras_lightnets.weights import sets as weight_set_table  # deferred: keras_lightnets.weights loads Keras

        return weight_set_table.weight_sets(self.name, self.keras_imagenet())

    def to_dict(self):
        hidden = ("builder", "measured", "keras_imagenet")
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in hidden}
        out["builder"] = self.builder.__name__
        out["defaults"] = dict(self.defaults)
        out["weights"] = [s.to_dict() for s in self.weights]
        if self.measured is not None:
            out["measured"] = self.measured.to_dict()
        return out


_REGISTRY: Dict[str, ModelInfo] = {}


def register_model(name, builder, *, defaults=None, keras_imagenet=False, **info):
    """Registers `builder` (called with `defaults` merged under the user's kwargs), with
    its published weight sets (`keras_imagenet`: its family loads keras.applications'
    ImageNet file for it)."""
    if name in _REGISTRY:
        raise ValueError(f"Model {name!r} is already registered.")
    has_keras = keras_imagenet if callable(keras_imagenet) else (lambda: keras_imagenet)
    _REGISTRY[name] = ModelInfo(name=name, builder=builder, defaults=dict(defaults or {}),
                                keras_imagenet=has_keras, **info)


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


def list_pretrained(pattern="*") -> List[Tuple[str, str]]:
    """(model, weight set) for every published set of the models matching `pattern`,
    e.g. list_pretrained("mobilenet*"); pass the set's name as `weights=`."""
    return [(name, s.name) for name in list_models(pattern) for s in _REGISTRY[name].weights]


def resolve_weight_set(name, args):
    """`args` with a weight-set name in args["weights"] replaced by the set's local file
    (downloaded once) and the architecture knobs it was trained with. A set's own
    classifier has its classes: another class count needs include_top=False."""
    from keras_lightnets.weights import sets as weight_set_table

    weights = args.get("weights")
    if not weight_set_table.is_set_name(weights) or weights == "imagenet" or os.path.exists(weights):
        return args
    info = _lookup(name)
    chosen = weight_set_table.find(name, info.weights, weights)
    has_top = args.get("include_top", True) and not args.get("features_only", False)
    classes = args.get("classes", info.defaults.get("classes", 1000))
    if has_top and classes != chosen.classes:
        fix = ("weights=None with backbone_weights='imagenet' (a head for your classes on a trained backbone)"
               if info.family in ("detection", "segmentation") else "include_top=False and add a head (or weights=None)")
        raise ValueError(f"weights={weights!r} has a {chosen.classes}-class classifier; received classes={classes}. "
                         f"For your own classes use {fix}.")
    clash = {k: args[k] for k, v in chosen.knobs.items() if args.get(k, v) != v}
    if clash:
        raise ValueError(f"weights={weights!r} was trained with {dict(chosen.knobs)}; received {clash}.")
    resolved = {**args, **chosen.knobs, "weights": chosen.fetch()}
    # A set evaluated at another size than the model's default (ViT's SWAG sets at 384 and
    # 518: their position embeddings have that size) builds at its size unless told.
    size = chosen.preprocessing.get("crop")
    if size and size != info.default_size and args.get("input_shape") is None and args.get("input_tensor") is None:
        resolved["input_shape"] = (size, size, 3)
    return resolved


def create_model(name, /, **kwargs):
    """Builds a registered model.

    Unlike the class-style builders (which keep keras.applications' defaults),
    registry models are uniform: they take [0, 255] pixels
    (`include_preprocessing=True`) at the paper's resolution unless told otherwise,
    so one input pipeline and one converter call fit all of them. `weights`: None,
    a weight set's name (list_pretrained(); "torchvision" alone: its default set) or
    a file.
    """
    info = _lookup(name)
    args = resolve_weight_set(name, {"include_preprocessing": True, **info.defaults, **kwargs})
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

