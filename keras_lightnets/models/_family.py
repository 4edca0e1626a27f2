"""One builder per family from the family's own parts, and each variant declared once.

A family file has four parts (issue 16):

1. the architecture as data: the paper's table;
2. the graph code specific to the family: `graph(x, taps, **knobs)` walks the table and
   records the feature maps, `head(x, classes=..., classifier_activation=..., **knobs)`
   is its classifier;
3. its builder, `Family(...).builder()`: keras.applications' arguments and checks, the
   input, the preprocessing, `features_only`, pooling and weights, written here once;
4. each variant, an explicit `def` under `@variant(...)`, which registers it with its
   published figures and fixes its knobs.

The builder keeps keras.applications' calling convention: the family's arguments in the
order it gives (so positional calls keep working), each a keyword with its default, and
a signature `help()` and `inspect` show.
"""

import dataclasses
import functools
import inspect
import os
import sys
from typing import Any, Callable, Mapping, Optional, Sequence, Tuple

from keras_lightnets.models import _common
from keras_lightnets.registry import register_model
from keras_lightnets.registry import resolve_weight_set

# keras.applications' arguments that every family takes; what they mean is the same
# in every family (see _common).
COMMON_DEFAULTS = {
    "input_shape": None,
    "include_top": True,
    "weights": None,
    "input_tensor": None,
    "pooling": None,
    "classes": 1000,
    "classifier_activation": "softmax",
    "include_preprocessing": False,
    "name": None,
    "features_only": False,
    "out_strides": _common.DEFAULT_OUT_STRIDES,
}


def one_of(choices, described=None):
    """A check: the value is one of `choices` (`described`: how the error names them)."""

    def check(name, value):
        if value not in choices:
            raise ValueError(f"`{name}` must be {described or f'one of {tuple(choices)}'}; received {name}={value!r}.")

    return check


def boolean(name_of_choice="True or False"):
    """A check: exactly True or False (not 1 or "yes")."""

    def check(name, value):
        if not isinstance(value, bool):
            raise ValueError(f"`{name}` must be {name_of_choice}; received {name}={value!r}.")

    return check


def rate(example):
    """A check: a number in [0, 1), e.g. a dropout rate."""

    def check(name, value):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
            raise ValueError(f"`{name}` must be a number in [0, 1), e.g. {example}; received {name}={value!r}.")

    return check


@dataclasses.dataclass(frozen=True)
class Family:
    """A family's parts, from which `builder()` makes its one builder.

    `knobs`: the family's own arguments and their defaults, in keras.applications'
    positional order where it has one (`order` places them among the common ones).
    `checks`: {argument: check(name, value)} run before anything is built.
    `min_size(knobs)`, `default_name(knobs, rows)`: per configuration.
    `imagenet(knobs, rows, has_top)`: (WeightFile, None) when ImageNet weights exist
    for the configuration, else (None, why not).
    `load_imagenet(model, path)`: how that file is read, when not by layer name.
    `load_weights(model, path)`: how every weights file is read (ImageNet's and a
    user's), when layer names do not say (keras.applications' auto-named layers).
    `preprocessing(x, *, <knobs>)` may take knobs, by keyword, when it depends on them.
    `default_size`: an int, or `default_size(knobs)` when it depends on them.
    `static_default`: with neither input_shape nor input_tensor, build at
    default_size when the classifier is on (keras.applications'), else open dims;
    "always": at default_size in every case (a transformer's position embedding or
    window masks are built for one size).
    """

    name: str
    # Each takes, by keyword, those of the builder's arguments it names.
    graph: Callable  # graph(x, taps, *, <knobs>) -> x, taps recorded at every stride
    head: Callable  # head(x, *, classes, classifier_activation, <knobs>) -> predictions
    preprocessing: Callable  # [0, 255] pixels -> the range the network was trained on
    knobs: Mapping[str, Any]
    order: Sequence[str]  # every argument, in the builder's positional order
    default_name: Callable[[Mapping[str, Any], Optional[int]], str]
    checks: Mapping[str, Callable] = dataclasses.field(default_factory=dict)
    defaults: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # common ones the family changes
    default_size: Any = 224  # int, or callable(knobs) -> int
    min_size: Callable[[Mapping[str, Any]], int] = lambda knobs: 32
    static_default: Any = True  # True: static with the classifier; "always": also without; False: open
    imagenet: Optional[Callable] = None
    no_imagenet: str = "no ImageNet weights are published for it in a Keras format"
    load_imagenet: Optional[Callable] = None  # load_imagenet(model, path); default: by layer name
    load_weights: Optional[Callable] = None  # load_weights(model, path), for every file
    # {our layer: torch module} for a PyTorch checkpoint (.pth, .safetensors), where our
    # layer names are not the publisher's module names with dots as underscores.
    torch_names: Optional[Callable] = None  # torch_names(model) -> Mapping[str, str]
    # Module prefixes of a PyTorch checkpoint that a model may leave out when none of its
    # layers takes them (torchvision's published files hold the auxiliary classifiers,
    # "aux1.", "AuxLogits.", which a model built without aux heads does not have).
    torch_optional: Sequence[str] = ()

    def signature(self):
        defaults = {**COMMON_DEFAULTS, **self.defaults, **self.knobs}
        missing = set(defaults) ^ set(self.order)
        if missing:
            raise TypeError(f"{self.name}: `order` must name every argument once; differs in {sorted(missing)}.")
        return inspect.Signature(
            [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=defaults[n]) for n in self.order])

    def builder(self, doc):
        signature = self.signature()

        def build(*args, **kwargs):
            try:
                bound = signature.bind(*args, **kwargs)
            except TypeError as error:
                raise TypeError(f"{self.name}: {error}. Its arguments: {', '.join(self.order)}.") from None
            bound.apply_defaults()
            return self._build(dict(bound.arguments))

        build.__name__ = build.__qualname__ = self.name
        build.__module__ = sys._getframe(1).f_globals.get("__name__", __name__)  # the family's file, for help()
        build.__doc__ = doc
        build.__signature__ = signature
        build.family = self
        return build

    def _build(self, args):
        """keras.applications' set-up, the family's graph and head, and the tear-down."""
        path = args["weights"]
        if path not in (None, "imagenet") and _is_torch_checkpoint(path):
            has_top = args["include_top"] and not args["features_only"]
            return self._build_then_load(args, path, functools.partial(self._load_torch_checkpoint, has_top=has_top))
        if self.load_weights is not None and path not in (None, "imagenet"):
            return self._build_then_load(args, path, self.load_weights)
        _common.check_channels_last()
        knobs = {k: args[k] for k in self.knobs}
        for name, check in self.checks.items():
            check(name, args[name])
        _common.check_pooling(args["pooling"])
        has_top = args["include_top"] and not args["features_only"]
        weights_file, problem = self.imagenet(knobs, None, has_top) if self.imagenet else (None, self.no_imagenet)
        _common.check_weights(args["weights"], has_top, args["classes"], available=problem)
        image, inputs = _common.resolve_input(
            args["input_shape"], args["input_tensor"],
            default_size=self.default_size(knobs) if callable(self.default_size) else self.default_size, min_size=self.min_size(knobs),
            weights=args["weights"],
            static_default=self.static_default == "always" or (self.static_default and has_top))

        taps = _common.FeatureTaps()
        x = _call(self.preprocessing, image, arguments=knobs) if args["include_preprocessing"] else image  # knobs only
        x = _call(self.graph, x, taps, arguments=args)
        if has_top:
            x = _call(self.head, x, arguments=args)
        else:
            x = _common.pool(x, args["pooling"])
        rows = image.shape[1]
        if self.imagenet and problem is None:
            weights_file, _ = self.imagenet(knobs, rows if rows == image.shape[2] else None, has_top)
        return _common.finish(
            inputs, x, name=args["name"] or self.default_name(knobs, rows), weights=args["weights"],
            imagenet_file=weights_file, taps=taps, features_only=args["features_only"], out_strides=args["out_strides"],
            load_imagenet=self.load_weights or self.load_imagenet)

    def _build_then_load(self, args, path, load):
        """A user's file read by `load(model, path)`: the model is built without it, after
        the checks Family makes of one, then reads it (with features_only, into the
        feature extractor, whose layers are the model's)."""
        _common.check_weights(path, False, args["classes"])  # an existing file, before building
        model = self._build({**args, "weights": None})
        channels = model.inputs[0].shape[-1]
        if channels != 3:
            raise ValueError(f"Pretrained weights expect 3 input channels; received {channels}. "
                             f"Use weights=None for {channels}-channel input.")
        load(model, path)
        return model

    def _load_torch_checkpoint(self, model, path, has_top=True):
        from keras_lightnets.weights import load_state_dict
        from keras_lightnets.weights import read_checkpoint

        from keras_lightnets.weights.efficientnet_pytorch import efficientnet_pytorch_names
        from keras_lightnets.weights.efficientnet_pytorch import is_efficientnet_pytorch
        from keras_lightnets.weights.timm_names import is_timm_efficientnet
        from keras_lightnets.weights.timm_names import is_timm_mobilenet_v3
        from keras_lightnets.weights.timm_names import timm_mobilenet_v3_names
        from keras_lightnets.weights.timm_names import timm_efficientnet_names

        tensors = read_checkpoint(path)
        if is_efficientnet_pytorch(tensors):  # Luke Melas' layout (TF-ported EfficientNets), told by its names
            names = efficientnet_pytorch_names(model)
        elif is_timm_efficientnet(tensors):  # timm's EfficientNet builder (its tf_ models: TensorFlow padding)
            names = timm_efficientnet_names(model)
        elif is_timm_mobilenet_v3(tensors):  # timm's MobileNetV3 (its tf_ models: TensorFlow padding)
            names = timm_mobilenet_v3_names(model)
        else:
            names = self.torch_names(model) if self.torch_names else None
        from keras_lightnets.weights.state_dict import tensors_for

        optional = [k for k in tensors if k.startswith(tuple(self.torch_optional))] if self.torch_optional else ()
        if optional:  # left out where no layer takes them (a model without aux heads)
            taken = tensors_for(model, {k: tensors[k] for k in optional}, names)
            tensors = {k: v for k, v in tensors.items() if k in taken or k not in optional}
        if not has_top:  # include_top=False / features_only: the file's classifier stays out
            tensors = tensors_for(model, tensors, names)
        load_state_dict(model, tensors, names=names, source=repr(os.fspath(path)))


def _has_keras_imagenet(builder, fixed):
    """Whether the family loads keras.applications' ImageNet file for these knobs."""
    family = getattr(builder, "family", None)
    if family is None or family.imagenet is None:
        return False
    return family.imagenet({**family.knobs, **{k: v for k, v in fixed.items() if k in family.knobs}}, None, True)[1] is None


def _is_torch_checkpoint(path):
    """A PyTorch checkpoint or .safetensors file, by its content (Keras files go on as before)."""
    from keras_lightnets.weights import file_format

    return isinstance(path, (str, os.PathLike)) and os.path.isfile(path) and file_format(path) in (
        "torch-zip", "torch-legacy", "safetensors")


def _call(function, *inputs, arguments):
    """function(*inputs, **the arguments among its keyword parameters)."""
    wanted = inspect.signature(function).parameters
    return function(*inputs, **{k: v for k, v in arguments.items() if k in wanted})


def variant(registry_name, builder, *, knobs, defaults=None, order=None, model_name=None, hide=(), **figures):
    """Declares a variant: `@variant("squeezenet1_1", SqueezeNet, knobs={"version": "1_1"}, paper=..., ...)`
    over `def SqueezeNet1_1(input_shape=None, **kwargs)`, whose docstring is the variant's.

    The decorated def builds `builder` with `knobs` fixed (another value for one of them
    is an error that names the family builder) and `defaults` as its own defaults (the
    caller may override them: e.g. a paper's drop-path rate per size). It takes the
    builder's other arguments, by keyword or by position in the builder's order, or in
    `order` where keras.applications' variant orders them differently (VGG16 starts with
    include_top). `model_name`: the model's default name, when the family's
    `default_name` does not give the published one. `hide`: family arguments the
    variant does not take (they keep the family's default; passing one is an error
    that names the knobs it does take: ResNet18 has no `cardinality`). It is registered as `registry_name`
    with its figures (registry.ModelInfo's fields) and added to its module's `__all__`."""
    defaults = dict(defaults or {})
    signature_defaults = {**defaults, **({"name": model_name} if model_name else {})}

    def declare(function):
        family_signature = inspect.signature(builder)
        parameters = {n: p for n, p in family_signature.parameters.items() if n not in knobs and n not in hide}
        family_knobs = builder.family.knobs if hasattr(builder, "family") else {}
        takes = [n for n in family_knobs if n in parameters]
        unknown = [n for n in [*(order or ()), *signature_defaults] if n not in parameters]
        if unknown:
            raise TypeError(f"{function.__name__}: {sorted(set(unknown))} are not arguments of {builder.__name__} "
                            "(or are fixed knobs).")
        names = list(order or ()) + [n for n in parameters if n not in (order or ())]
        signature = inspect.Signature(
            [parameters[n].replace(default=signature_defaults.get(n, parameters[n].default)) for n in names])

        @functools.wraps(function)
        def build(*args, **kwargs):
            hidden = sorted(set(kwargs) & set(hide))
            if hidden:
                raise ValueError(f"{function.__name__} got unknown argument(s) {hidden}; its architecture knobs are {takes}.")
            clash = [k for k in knobs if k in kwargs]
            if clash:
                settings = ", ".join(f"{k} {knobs[k]!r}" for k in clash)
                raise ValueError(f"{function.__name__} is {settings}: {function.__name__} fixes {clash}; "
                                 f"use {builder.__name__}({', '.join(f'{k}=...' for k in clash)}) for another.")
            try:
                bound = signature.bind(*args, **kwargs)
            except TypeError as error:
                raise TypeError(f"{function.__name__}: {error}. Its arguments: {', '.join(names)}.") from None
            given = {**bound.arguments, **knobs}  # a weight set's knobs clash only with what the caller chose
            bound.apply_defaults()
            return builder(**{**bound.arguments, **resolve_weight_set(registry_name, given)})

        build.__signature__ = signature
        register_model(registry_name, builder, defaults={**knobs, **defaults},
                       keras_imagenet=functools.partial(_has_keras_imagenet, builder, {**knobs, **defaults}), **figures)
        sys.modules[function.__module__].__dict__.setdefault("__all__", []).append(function.__name__)
        return build

    return declare
