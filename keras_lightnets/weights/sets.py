"""Each model's published weight sets, in one place (torchvision's `Weights` enums are
the model): where the file is, its hash and license, the architecture and the
preprocessing it was trained with, and the publisher's ImageNet figures.

Set names:
- "imagenet": keras.applications' files (loaded by layer name, as keras.applications does);
- "torchvision.<ENUM>" (e.g. "torchvision.IMAGENET1K_V2"): torchvision 0.14's checkpoints,
  read without torch; "torchvision" alone is torchvision's DEFAULT set for the model.
- "timm.<architecture>.<tag>" (e.g. "timm.tf_efficientnet_lite0.in1k"): timm 0.9.16's
  checkpoints (their GitHub-release files) for what torchvision lacks; "timm" alone is
  the tag timm loads by default for the model's timm architecture.

A torchvision set is offered only for architectures whose forward pass the test suite
checks against torchvision's own (tests/test_torchvision_reference*.py): TORCHVISION
below lists them, with the architecture knobs the checkpoint needs. Likewise a timm set
only where tests/test_timm_reference.py checks the architecture against timm's (TIMM).

Pure data and the standard library: `lightnets list` reads it without TensorFlow.
"""

import dataclasses
import functools
from typing import Any, Mapping, Optional, Tuple

from keras_lightnets.weights import timm_sets
from keras_lightnets.weights import torchvision_sets

TORCHVISION_LAYOUT = {"layout": "torchvision"}  # the family's switch to torchvision's graph (padding, BN, head)

# our registry name -> (torchvision model, the knobs its checkpoints were trained with):
# the architectures tests/test_torchvision_reference*.py check against torchvision 0.14.
TORCHVISION = {
    "resnet18": ("resnet18", {}),
    "resnext50_32x4d": ("resnext50_32x4d", {}),
    "wide_resnet50_2": ("wide_resnet50_2", {}),
    "shufflenet_v2_x0_5": ("shufflenet_v2_x0_5", {}),
    "shufflenet_v2_x1_0": ("shufflenet_v2_x1_0", {}),
    "shufflenet_v2_x1_5": ("shufflenet_v2_x1_5", {}),
    "shufflenet_v2_x2_0": ("shufflenet_v2_x2_0", {}),
    "squeezenet1_0": ("squeezenet1_0", {}),
    "squeezenet1_1": ("squeezenet1_1", {}),
    "resnet34": ("resnet34", {}),
    "resnet50": ("resnet50", TORCHVISION_LAYOUT),
    "resnet101": ("resnet101", TORCHVISION_LAYOUT),
    "resnet152": ("resnet152", TORCHVISION_LAYOUT),
    "resnext101_32x8d": ("resnext101_32x8d", {}),
    "resnext101_64x4d": ("resnext101_64x4d", {}),
    "wide_resnet101_2": ("wide_resnet101_2", {}),
    # Published before torchvision 0.3's module names (denselayerN.norm.1): the loader
    # renames them as torchvision does (state_dict.TORCH_RENAMED).
    **{f"densenet{d}": (f"densenet{d}", TORCHVISION_LAYOUT) for d in (121, 161, 169, 201)},
    # Their files hold the auxiliary classifiers (left out without aux_logits, taken with
    # it); torchvision's builders add transform_input, our include_preprocessing's [-1, 1].
    "googlenet": ("googlenet", TORCHVISION_LAYOUT),
    "inception_v3": ("inception_v3", TORCHVISION_LAYOUT),
    **{f"efficientnet_b{i}": (f"efficientnet_b{i}", TORCHVISION_LAYOUT) for i in range(8)},
    **{f"mnasnet{w}": (f"mnasnet{w}", TORCHVISION_LAYOUT) for w in ("0_5", "0_75", "1_0", "1_3")},
    "mobilenet_v2": ("mobilenet_v2", TORCHVISION_LAYOUT),
    "mobilenet_v3_large": ("mobilenet_v3_large", TORCHVISION_LAYOUT),
    "mobilenet_v3_small": ("mobilenet_v3_small", TORCHVISION_LAYOUT),
    **{f"vgg{d}{bn}": (f"vgg{d}{bn}", TORCHVISION_LAYOUT) for d in (11, 13, 16, 19) for bn in ("", "_bn")},
    "alexnet": ("alexnet", {}),
    **{f"vit_{size}{patch}": (f"vit_{size}_{patch}", {}) for size, patch in (("b", 16), ("b", 32), ("l", 16), ("l", 32))},
    **{f"swin_{size}": (f"swin_{size}", {}) for size in "tsb"},
}
TORCHVISION_LICENSE = ("torchvision's code is BSD-3-Clause; the weights were trained on ImageNet-1k, whose terms "
                       "allow non-commercial research and education only")

KERAS_LAYOUT = {"layout": "keras"}  # the authors' TensorFlow graph (TensorFlow padding, BN epsilon 1e-3)
# our registry name -> (timm 0.9.16 architecture, the knobs its checkpoints need): the
# architectures tests/test_timm_reference.py checks against timm's forward pass. timm's
# tf_ models are the authors' TensorFlow graphs, ours as keras.applications builds them;
# timm's seresnet50 strides on the 3x3 (torchvision's v1.5 graph, with SE); its MnasNets
# were trained in PyTorch (symmetric padding, BN epsilon 1e-5: layout='torchvision').
TIMM = {
    **{f"efficientnet_lite{i}": (f"tf_efficientnet_lite{i}", {}) for i in range(5)},
    **{f"efficientnet_b{i}": (f"tf_efficientnet_b{i}", KERAS_LAYOUT) for i in range(8)},
    "mobilenet_v3_large": ("tf_mobilenetv3_large_100", KERAS_LAYOUT),
    "mobilenet_v3_large_075": ("tf_mobilenetv3_large_075", KERAS_LAYOUT),
    "mobilenet_v3_large_minimalistic": ("tf_mobilenetv3_large_minimal_100", KERAS_LAYOUT),
    "mobilenet_v3_small": ("tf_mobilenetv3_small_100", KERAS_LAYOUT),
    "mobilenet_v3_small_075": ("tf_mobilenetv3_small_075", KERAS_LAYOUT),
    "mobilenet_v3_small_minimalistic": ("tf_mobilenetv3_small_minimal_100", KERAS_LAYOUT),
    "seresnet50": ("seresnet50", TORCHVISION_LAYOUT),
    "seresnext50_32x4d": ("seresnext50_32x4d", {}),
    "seresnext101_32x4d": ("seresnext101_32x4d", {}),
    "mnasnet_a1": ("semnasnet_100", TORCHVISION_LAYOUT),
    "mnasnet_b1": ("mnasnet_100", TORCHVISION_LAYOUT),
    # Cadene's PyTorch port of keras.applications' Xception: PyTorch's max-pool padding
    # and BatchNorm epsilon; each SeparableConv2d's conv1 / pointwise pair is our one layer.
    "xception": ("legacy_xception", {"layout": "timm_legacy"}),
}
# The EfficientNet families' `normalization` knob, by a set's (mean, std): the input
# normalization the set was trained with is part of its graph (include_preprocessing).
TIMM_NORMALIZATION = {((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)): "imagenet",
                      ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)): "inception"}
TAKES_NORMALIZATION = ("tf_efficientnet_",)
# Published by timm for architectures we build, not offered, and why (issue 17, left).
TIMM_NOT_YET = {
    "legacy_seresnet50/101/152, legacy_seresnext50/101_32x4d": (
        "the SENet authors' Caffe graph (Cadene's port): stride on the first 1x1 as our seresnet*, but its stem "
        "max-pools with ceil_mode (no padding) and its modules are named layer0.*, se_module.*, last_linear; "
        "not checked against timm yet"),
    **{name: "timm publishes it only on the Hugging Face hub (no GitHub-release file with a hash in its name)"
       for name in timm_sets.NOT_OFFERED},
}

# keras.applications' ImageNet files: (its builder, top-1 %, top-5 %) as the table at
# https://keras.io/api/applications/ gives them (None: the table has no row for it).
KERAS_APPLICATIONS = {
    "xception": ("Xception", 79.0, 94.5), "vgg16": ("VGG16", 71.3, 90.1), "vgg19": ("VGG19", 71.3, 90.0),
    "resnet50": ("ResNet50", 74.9, 92.1), "resnet101": ("ResNet101", 76.4, 92.8), "resnet152": ("ResNet152", 76.6, 93.1),
    "resnet50_v2": ("ResNet50V2", 76.0, 93.0), "resnet101_v2": ("ResNet101V2", 77.2, 93.8),
    "resnet152_v2": ("ResNet152V2", 78.0, 94.2), "inception_v3": ("InceptionV3", 77.9, 93.7),
    "mobilenet_v1": ("MobileNet", 70.4, 89.5), "mobilenet_v2": ("MobileNetV2", 71.3, 90.1),
    "densenet121": ("DenseNet121", 75.0, 92.3), "densenet169": ("DenseNet169", 76.2, 93.2),
    "densenet201": ("DenseNet201", 77.3, 93.6),
    **{f"efficientnet_b{i}": (f"EfficientNetB{i}", top1, top5) for i, (top1, top5) in enumerate(
        [(77.1, 93.3), (79.1, 94.4), (80.1, 94.9), (81.6, 95.7), (82.9, 96.4), (83.6, 96.7), (84.0, 96.8), (84.3, 97.0)])},
}
KERAS_APPLICATIONS_TABLE = "https://keras.io/api/applications/ (table 'Available models')"


@dataclasses.dataclass(frozen=True)
class WeightSet:
    """One published set of trained weights for one model."""

    model: str  # our registry name
    name: str  # "imagenet", "torchvision.IMAGENET1K_V1", ...
    source: str  # who published it, and as what
    url: Optional[str]  # None: the family picks keras.applications' file by configuration
    sha256_prefix: Optional[str]
    license: str
    knobs: Mapping[str, Any]  # the architecture the weights were trained on
    # resize, crop, interpolation, mean and std of [0, 1] pixels; transform_input: the mean
    # and std the network re-normalizes to instead (torchvision's googlenet, inception_v3)
    preprocessing: Mapping[str, Any]
    top1: Optional[float]  # the publisher's ImageNet-1k val top-1 / top-5, %
    top5: Optional[float]
    figures_source: str
    classes: int = 1000
    default: bool = False  # the set "torchvision" alone names

    @property
    def class_names(self) -> Tuple[str, ...]:
        from keras_lightnets.weights.imagenet_classes import IMAGENET_CLASSES

        return IMAGENET_CLASSES

    def fetch(self, progress=True):
        """The local checkpoint, downloaded once (hash-checked) into the cache."""
        from keras_lightnets.weights.download import fetch

        return fetch(self.url, self.sha256_prefix, progress=progress)

    def to_dict(self):
        return {f.name: (dict(v) if isinstance(v := getattr(self, f.name), Mapping) else v)
                for f in dataclasses.fields(self)}


@functools.lru_cache(maxsize=None)
def weight_sets(model, keras_imagenet=False) -> Tuple[WeightSet, ...]:
    """Every set published for our registry model `model`; `keras_imagenet`: its family
    loads keras.applications' files for it (weights="imagenet")."""
    found = []
    if keras_imagenet or model in KERAS_APPLICATIONS:
        builder, top1, top5 = KERAS_APPLICATIONS.get(model, (None, None, None))
        builder = builder or "the family's builder"
        found.append(WeightSet(
            model, "imagenet", f"keras.applications.{builder}", None, None,
            "keras.applications' weights are Apache-2.0 (ImageNet-1k's terms apply to the data)", {},
            {"normalization": f"keras.applications' preprocess_input for {builder}, applied in the graph "
                              "(include_preprocessing=True)"},
            top1, top5, KERAS_APPLICATIONS_TABLE if top1 else "keras.io's table has no row for this configuration"))
    if model in TORCHVISION:
        torchvision_model, knobs = TORCHVISION[model]
        for enum, entry in torchvision_sets.SETS[torchvision_model].items():
            found.append(WeightSet(
                model, f"torchvision.{enum}", f"torchvision {torchvision_sets.TORCHVISION_VERSION} "
                f"{torchvision_model} weights {enum} ({entry['recipe']})", entry["url"], entry["sha256_prefix"],
                TORCHVISION_LICENSE, dict(knobs), dict(entry["transform"]), entry["top1"], entry["top5"],
                f"torchvision {torchvision_sets.TORCHVISION_VERSION}'s Weights.meta['_metrics']", default=entry["default"]))
    if model in TIMM:
        found.extend(_timm_sets(model))
    from keras_lightnets.weights import head_sets  # deferred: its sets extend WeightSet, defined above

    found.extend(head_sets.weight_sets(model))
    return tuple(found)


def _timm_sets(model):
    architecture, knobs = TIMM[model]
    for tag, entry in timm_sets.SETS[architecture].items():
        transform = entry["transform"]
        statistics = (tuple(transform["mean"]), tuple(transform["std"]))
        set_knobs = dict(knobs)
        if architecture.startswith(TAKES_NORMALIZATION):
            set_knobs["normalization"] = TIMM_NORMALIZATION[statistics]
        at = entry["figures_at"]
        yield WeightSet(
            model, f"timm.{architecture}.{tag}", f"timm {timm_sets.TIMM_VERSION} {architecture}.{tag}", entry["url"],
            entry["sha256_prefix"], entry["license"], set_knobs, dict(transform), entry["top1"], entry["top5"],
            f"{timm_sets.FIGURES_SOURCE}: {at['img_size']} px, crop_pct {at['crop_pct']}" if at else
            "timm's results CSV has no row for it", default=entry["default"])


SOURCES = ("imagenet", "torchvision", "timm")
DEFAULT_OF = ("torchvision", "timm")  # a source's name alone: its default set for the model


def find(model, sets: Tuple[WeightSet, ...], name) -> WeightSet:
    """The set `name` ("torchvision" or "timm" alone: that source's default one) of
    `model`, or an error listing the sets it has."""
    wanted = [s for s in sets if s.name == name or (name in DEFAULT_OF and s.default and s.name.startswith(name + "."))]
    if wanted:
        return wanted[0]
    names = [s.name for s in sets] + [source for source in DEFAULT_OF if any(s.name.startswith(source + ".") for s in sets)]
    raise ValueError(f"{model} has no weight set {name!r}; its sets: {sorted(names) or 'none'} "
                     "(keras_lightnets.list_pretrained() lists every model's). Or pass the path of a weights file.")


def is_set_name(weights):
    """A string naming a weight set rather than a file (a path may still be a file)."""
    return isinstance(weights, str) and (weights in SOURCES or weights.split(".", 1)[0] in SOURCES[1:])
