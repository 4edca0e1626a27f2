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
from keras_lightnets.registry import register_model
from keras_lightnets.weights import KERAS_APPLICATIONS_URL
from keras_lightnets.weights import WeightFile

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


def MobileNet(
    input_shape=None,
    alpha=1.0,
    depth_multiplier=1,
    dropout=1e-3,
    include_top=True,
    weights=None,
    input_tensor=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    include_preprocessing=False,
    name=None,
    features_only=False,
    out_strides=_common.DEFAULT_OUT_STRIDES,
    dropout_rate=None,
):
    """MobileNet V1, with keras.applications.MobileNet's signature and layer names.

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
        include_preprocessing: add a Rescaling layer so the model takes [0, 255]
            pixels. False, as keras.applications (`preprocess_input` gives [-1, 1]).
        name: model name.
        features_only: return the feature maps at `out_strides` (2, 4, 8, 16, 32).
    """
    _common.check_channels_last()
    _common.check_alpha(alpha)
    _common.check_pooling(pooling)
    if not isinstance(depth_multiplier, int) or depth_multiplier < 1:
        raise ValueError(f"`depth_multiplier` must be a positive integer; received {depth_multiplier!r}.")
    has_top = include_top and not features_only
    problem = None
    if alpha not in IMAGENET_ALPHAS:
        problem = f"alpha must be one of {tuple(IMAGENET_ALPHAS)}, received {alpha}"
    elif depth_multiplier != 1:
        problem = f"depth_multiplier must be 1, received {depth_multiplier}"
    _common.check_weights(weights, has_top, classes, available=problem)
    image, inputs = _common.resolve_input(input_shape, input_tensor, default_size=224, weights=weights, static_default=has_top)
    dropout = dropout if dropout_rate is None else dropout_rate

    taps = _common.FeatureTaps()
    x = _common.preprocessing(image) if include_preprocessing else image
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

    if has_top:
        x = layers.GlobalAveragePooling2D(keepdims=True, name="global_average_pooling2d")(x)
        x = layers.Dropout(dropout, name="dropout")(x)
        x = layers.Conv2D(classes, 1, padding="same", name="conv_preds")(x)
        x = layers.Reshape((classes,), name="reshape_2")(x)
        x = layers.Activation(classifier_activation, name="predictions")(x)
    else:
        x = _common.pool(x, pooling)

    rows = image.shape[1]
    weight_rows = rows if rows == image.shape[2] and rows in IMAGENET_SIZES else 224
    return _common.finish(
        inputs, x,
        name=name or f"mobilenet_{alpha:0.2f}_{rows}",
        weights=weights,
        imagenet_file=imagenet_weights(alpha, weight_rows, has_top) if problem is None else None,
        taps=taps, features_only=features_only, out_strides=out_strides,
    )


_PAPER = "MobileNets: Efficient Convolutional Neural Networks for Mobile Vision Applications (2017)"
for _alpha, _params, _macs in ((1.0, 4.2, 569), (0.75, 2.6, 325), (0.5, 1.3, 149), (0.25, 0.5, 41)):  # Table 6
    register_model(
        "mobilenet_v1" if _alpha == 1.0 else f"mobilenet_v1_{int(_alpha * 100):03d}",
        MobileNet, defaults={"alpha": _alpha}, family="mobilenet_v1", paper=_PAPER, arxiv="1704.04861",
        default_size=224, paper_params_m=_params, paper_macs_m=_macs, figures_source="paper",
        reference="keras.applications.MobileNet",
    )
