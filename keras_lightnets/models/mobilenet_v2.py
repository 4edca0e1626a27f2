"""MobileNetV2 (Sandler et al., "MobileNetV2: Inverted Residuals and Linear
Bottlenecks", CVPR 2018, arXiv:1801.04381).

Layer names and channel rounding follow keras.applications.MobileNetV2, so its
weight files load into this model and give the same outputs.
"""

from keras import layers

from keras_lightnets.layers.blocks import conv_bn_act
from keras_lightnets.layers.blocks import make_divisible
from keras_lightnets.layers.inverted_residual import BlockNaming
from keras_lightnets.models import _common
from keras_lightnets.models._inverted_residual_net import Block
from keras_lightnets.models._inverted_residual_net import Family
from keras_lightnets.models._inverted_residual_net import walk_blocks
from keras_lightnets.registry import register_model
from keras_lightnets.weights import KERAS_APPLICATIONS_URL
from keras_lightnets.weights import WeightFile

# Table 2 of the paper: expansion t, output channels c, repeats n, first stride s.
PAPER_TABLE = (
    # t,   c, n, s
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
STEM_FILTERS = 32
HEAD_FILTERS = 1280


def blocks_from_table(table=PAPER_TABLE):
    """Expands (t, c, n, s) rows into one Block per layer (stride s on the first)."""
    return tuple(
        Block(kernel=3, expansion=t, out=c, se_ratio=None, act="relu6", stride=s if i == 0 else 1)
        for t, c, n, s in table
        for i in range(n)
    )


FAMILY = Family(
    naming=BlockNaming(
        prefix=lambda i: f"block_{i}_" if i else "expanded_conv_",
        suffixes={
            "expand_bn": "expand_BN",
            "expand_act": "expand_relu",
            "depthwise_bn": "depthwise_BN",
            "depthwise_act": "depthwise_relu",
            "project_bn": "project_BN",
        },
    ),
    # int() before rounding, exactly as the reference implementation.
    round_filters=lambda filters, alpha: make_divisible(int(filters * alpha)),
)

IMAGENET_ALPHAS = (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)
IMAGENET_SIZES = (96, 128, 160, 192, 224)


def imagenet_weights(alpha, rows, include_top):
    # keras.applications publishes no hashes for these files.
    name = f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(alpha)}_{rows}{'' if include_top else '_no_top'}.h5"
    return WeightFile(name, KERAS_APPLICATIONS_URL + "mobilenet_v2/" + name)


def MobileNetV2(
    input_shape=None,
    alpha=1.0,
    include_top=True,
    weights=None,
    input_tensor=None,
    classes=1000,
    pooling=None,
    dropout_rate=0.0,
    classifier_activation="softmax",
    include_preprocessing=False,
    name=None,
    features_only=False,
    out_strides=_common.DEFAULT_OUT_STRIDES,
):
    """MobileNetV2, with keras.applications.MobileNetV2's signature and layer names.

    Args:
        input_shape: (height, width, channels), spatial size 32 or more (the paper's
            resolution multiplier). Defaults to (224, 224, 3) with the classifier,
            open spatial dims without it, as keras.applications.
        alpha: width multiplier; channels are scaled and rounded to multiples of 8.
            Above 1.0 the last 1x1 convolution (1280) is widened too.
        include_top: add the global pooling + Dense classifier.
        weights: None, "imagenet" (keras.applications' published file for this
            alpha and the nearest published resolution) or a weights file path.
        input_tensor: optional Keras tensor to build the model on.
        classes: classifier width.
        pooling: None, "avg" or "max", for include_top=False.
        dropout_rate: dropout before the classifier (the reference has none: 0).
        classifier_activation: activation of the classifier, None for logits.
        include_preprocessing: add a Rescaling layer so the model takes [0, 255]
            pixels. False, as keras.applications, which expects
            `preprocess_input` ([-1, 1]) to be applied by the caller.
        name: model name.
        features_only: return the backbone's feature maps at `out_strides`
            (strides 2, 4, 8, 16, 32) instead of the classifier.
    """
    _common.check_channels_last()
    _common.check_alpha(alpha)
    _common.check_pooling(pooling)
    _common.check_weights(
        weights, include_top and not features_only, classes,
        available=None if alpha in IMAGENET_ALPHAS else f"alpha must be one of {IMAGENET_ALPHAS}, received {alpha}",
    )
    image, inputs = _common.resolve_input(
        input_shape, input_tensor, default_size=224, weights=weights,
        static_default=include_top and not features_only,
    )
    taps = _common.FeatureTaps()
    x = _common.preprocessing(image) if include_preprocessing else image
    x = conv_bn_act(x, make_divisible(STEM_FILTERS * alpha), 3, strides=2, act="relu6", name="Conv1", bn_name="bn_Conv1", act_name="Conv1_relu")
    x, stride = walk_blocks(x, blocks_from_table(), alpha, FAMILY, taps, stride=2)
    head_filters = make_divisible(HEAD_FILTERS * alpha) if alpha > 1.0 else HEAD_FILTERS
    x = conv_bn_act(x, head_filters, 1, act="relu6", name="Conv_1", bn_name="Conv_1_bn", act_name="out_relu")
    taps.record(x, stride)

    if include_top and not features_only:
        x = layers.GlobalAveragePooling2D(name="global_average_pooling2d")(x)
        if dropout_rate > 0:
            x = layers.Dropout(dropout_rate, name="dropout")(x)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = _common.pool(x, pooling)

    rows = image.shape[1]
    weight_rows = rows if rows == image.shape[2] and rows in IMAGENET_SIZES else 224
    return _common.finish(
        inputs, x,
        name=name or f"mobilenetv2_{alpha:0.2f}_{rows}",
        weights=weights,
        imagenet_file=imagenet_weights(alpha, weight_rows, include_top and not features_only),
        taps=taps, features_only=features_only, out_strides=out_strides,
    )


_PAPER = "MobileNetV2: Inverted Residuals and Linear Bottlenecks (CVPR 2018)"
_CHECKPOINTS = "the authors' checkpoint table (tensorflow/models slim)"
_NOTE_140 = (
    "The paper prints 6.9M parameters for width 1.4; the architecture it describes (and the "
    "authors' own 1.4 checkpoint, listed at 6.06M) has 6.11M trainable parameters, as "
    "keras.applications.MobileNetV2(alpha=1.4) has (6,108,776)."
)
for _alpha, _params, _macs, _source, _note in (
    # Paper Tables 4 and 6 for 1.0 and 1.4; the authors' checkpoint table for the rest.
    (1.0, 3.4, 300, "paper", ""),
    (1.4, 6.9, 585, "paper", _NOTE_140),
    (1.3, 5.3, 509, _CHECKPOINTS, ""),
    (0.75, 2.61, 209, _CHECKPOINTS, ""),
    (0.5, 1.95, 97, _CHECKPOINTS, ""),
    (0.35, 1.66, 59, _CHECKPOINTS, ""),
):
    register_model(
        "mobilenet_v2" if _alpha == 1.0 else f"mobilenet_v2_{int(round(_alpha * 100)):03d}",
        MobileNetV2, defaults={"alpha": _alpha}, family="mobilenet_v2",
        paper=_PAPER, arxiv="1801.04381", default_size=224,
        paper_params_m=_params, paper_macs_m=_macs, figures_source=_source, note=_note,
        reference="keras.applications.MobileNetV2",
    )
