"""MobileNet (V1) (Howard et al., "MobileNets: Efficient Convolutional Neural
Networks for Mobile Vision Applications", 2017, arXiv:1704.04861).

Layer names, channel widths (`int(filters * alpha)`, no rounding to 8, as the
authors' TF-slim code) and batch-norm settings follow keras.applications.MobileNet,
so its weight files load into this model and give the same outputs.
Stride-2 depthwise convolutions use "same" padding (TF-slim's); keras.applications
pads explicitly with ((0, 1), (0, 1)), which is the same for even feature maps, so
outputs agree for every input size whose stride-2 inputs are even (e.g. 96, 128,
160, 192, 224) and differ in spatial size only for odd ones.
"""

from keras import layers

from keras_lightnets.layers.blocks import conv_bn_act
from keras_lightnets.layers.blocks import depthwise_separable
from keras_lightnets.models import _common
from keras_lightnets.models._family import Family
from keras_lightnets.models._family import variant
from keras_lightnets.weights import KERAS_APPLICATIONS_URL
from keras_lightnets.weights import WeightFile

__all__ = ["MobileNet"]  # and each variant, added by @variant

# ------------------------------------------------------------ the architecture as data

# Table 1 of the paper after the first full convolution (32 filters, stride 2):
# depthwise separable layers as (pointwise filters, depthwise stride). The paper's
# table prints stride 2 for the last depthwise layer; its 7x7 output needs stride 1.
STEM_FILTERS = 32
PAPER_TABLE = (
    (64, 1),
    (128, 2), (128, 1),
    (256, 2), (256, 1),
    (512, 2), (512, 1), (512, 1), (512, 1), (512, 1), (512, 1),
    (1024, 2), (1024, 1),
)
BN_MOMENTUM = 0.99  # keras.applications' (Keras default) value for V1

IMAGENET_ALPHAS = {1.0: "1_0", 0.75: "7_5", 0.5: "5_0", 0.25: "2_5"}
IMAGENET_SIZES = (128, 160, 192, 224)


def width(filters, alpha):
    return max(1, int(filters * alpha))


def imagenet_weights(alpha, rows, include_top):
    name = f"mobilenet_{IMAGENET_ALPHAS[alpha]}_{rows}_tf{'' if include_top else '_no_top'}.h5"
    return WeightFile(name, KERAS_APPLICATIONS_URL + "mobilenet/" + name)  # no published hash


def _check_depth_multiplier(name, value):
    if not isinstance(value, int) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer; received {value!r}.")


def imagenet(knobs, rows, has_top):
    """keras.applications' file for this width at the input size (224 for sizes it lacks)."""
    if knobs["alpha"] not in IMAGENET_ALPHAS:
        return None, f"alpha must be one of {tuple(IMAGENET_ALPHAS)}, received {knobs['alpha']}"
    if knobs["depth_multiplier"] != 1:
        return None, f"depth_multiplier must be 1, received {knobs['depth_multiplier']}"
    return imagenet_weights(knobs["alpha"], rows if rows in IMAGENET_SIZES else 224, has_top), None


# ------------------------------------------------------------------- the graph


def graph(x, taps, *, alpha, depth_multiplier):
    """The first full convolution, then Table 1's depthwise separable layers."""
    x = conv_bn_act(x, width(STEM_FILTERS, alpha), 3, strides=2, act="relu6", name="conv1",
                    bn_momentum=BN_MOMENTUM, act_name="conv1_relu")
    stride = 2
    for block_id, (filters, block_stride) in enumerate(PAPER_TABLE, start=1):
        if block_stride > 1:
            taps.record(x, stride)
            stride *= block_stride
        names = {
            "depthwise": f"conv_dw_{block_id}", "depthwise_bn": f"conv_dw_{block_id}_bn",
            "depthwise_act": f"conv_dw_{block_id}_relu", "pointwise": f"conv_pw_{block_id}",
            "pointwise_bn": f"conv_pw_{block_id}_bn", "pointwise_act": f"conv_pw_{block_id}_relu",
        }
        x = depthwise_separable(x, width(filters, alpha), block_stride, names, depth_multiplier,
                                bn_momentum=BN_MOMENTUM)
    taps.record(x, stride)
    return x


def head(x, *, classes, classifier_activation, dropout, dropout_rate):
    """Pooling, dropout and a 1x1 convolution as the classifier (keras.applications')."""
    x = layers.GlobalAveragePooling2D(keepdims=True, name="global_average_pooling2d")(x)
    x = layers.Dropout(dropout if dropout_rate is None else dropout_rate, name="dropout")(x)
    x = layers.Conv2D(classes, 1, padding="same", name="conv_preds")(x)
    x = layers.Reshape((classes,), name="reshape_2")(x)
    return layers.Activation(classifier_activation, name="predictions")(x)


# ------------------------------------------------------------------------ the builder

MobileNet = Family(
    "MobileNet", graph=graph, head=head, preprocessing=_common.preprocessing,
    knobs={"alpha": 1.0, "depth_multiplier": 1, "dropout": 1e-3, "dropout_rate": None},
    # keras.applications.MobileNet's order, then ours (issue 21).
    order=("input_shape", "alpha", "depth_multiplier", "dropout", "include_top", "weights", "input_tensor", "pooling",
           "classes", "classifier_activation", "name", "include_preprocessing", "features_only", "out_strides",
           "dropout_rate"),
    checks={"alpha": lambda name, value: _common.check_alpha(value), "depth_multiplier": _check_depth_multiplier},
    imagenet=imagenet,
    default_name=lambda knobs, rows: f"mobilenet_{knobs['alpha']:0.2f}_{rows}",
).builder(doc="""MobileNet V1, with keras.applications.MobileNet's signature and layer names.

    Args:
        input_shape: (height, width, channels), spatial size 32 or more (the
            paper's resolution multiplier rho). Defaults to (224, 224, 3) with the
            classifier, open spatial dims without it, as keras.applications.
        alpha: the width multiplier (paper section 3.2): every layer's channels
            scaled by alpha.
        depth_multiplier: depthwise channel multiplier (keras.applications' knob).
        dropout / dropout_rate: dropout before the classifier (same thing; the
            first is keras.applications' name).
        include_top: add the pooled 1x1-conv classifier.
        weights: None, "imagenet" (alpha 0.25/0.5/0.75/1.0) or a weights file.
        input_tensor: optional Keras tensor to build the model on.
        pooling: None, "avg" or "max", for include_top=False.
        classes: classifier width.
        classifier_activation: activation of the classifier, None for logits.
        name: model name (None: keras.applications' "mobilenet_{alpha}_{rows}").
        include_preprocessing: add a Rescaling layer so the model takes [0, 255]
            pixels. False, as keras.applications (`preprocess_input` gives [-1, 1]).
        features_only: return the feature maps at `out_strides` (2, 4, 8, 16, 32).
    """)


# ------------------------------------------------------------------------ the variants
# Figures: the paper's Table 6.

_PAPER = "MobileNets: Efficient Convolutional Neural Networks for Mobile Vision Applications (2017)"
_FIGURES = {"family": "mobilenet_v1", "paper": _PAPER, "arxiv": "1704.04861", "default_size": 224,
            "figures_source": "paper", "reference": "keras.applications.MobileNet"}


@variant("mobilenet_v1", MobileNet, knobs={"alpha": 1.0}, paper_params_m=4.2, paper_macs_m=569, **_FIGURES)
def MobileNetV1_100(*args, **kwargs):
    """1.0 MobileNet-224 (Table 6): 4.2M parameters, 569M MACs. MobileNet's arguments but `alpha`."""


@variant("mobilenet_v1_075", MobileNet, knobs={"alpha": 0.75}, paper_params_m=2.6, paper_macs_m=325, **_FIGURES)
def MobileNetV1_075(*args, **kwargs):
    """0.75 MobileNet-224 (Table 6): 2.6M parameters, 325M MACs. MobileNet's arguments but `alpha`."""


@variant("mobilenet_v1_050", MobileNet, knobs={"alpha": 0.5}, paper_params_m=1.3, paper_macs_m=149, **_FIGURES)
def MobileNetV1_050(*args, **kwargs):
    """0.5 MobileNet-224 (Table 6): 1.3M parameters, 149M MACs. MobileNet's arguments but `alpha`."""


@variant("mobilenet_v1_025", MobileNet, knobs={"alpha": 0.25}, paper_params_m=0.5, paper_macs_m=41, **_FIGURES)
def MobileNetV1_025(*args, **kwargs):
    """0.25 MobileNet-224 (Table 6): 0.5M parameters, 41M MACs. MobileNet's arguments but `alpha`."""
