"""VGG (Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale
Image Recognition", ICLR 2015, arXiv:1409.1556).

Configurations A, B, D and E of the paper's Table 1 (VGG-11, 13, 16, 19) are one
table walked by one builder; `batch_norm=True` gives torchvision's `vgg*_bn`
(Conv2D with bias -> BatchNormalization -> ReLU; torchvision counts their gamma and
beta, so the parameter counts equal torchvision's).

Layer names, the Flatten head and the defaults follow keras.applications.VGG16 and
VGG19 (block{b}_conv{i}, block{b}_pool, flatten, fc1, fc2, predictions), so their
weight files load into VGG16 / VGG19 and give the same outputs.

Where we differ from the references:
- The classifier flattens the last 512-channel map, as the paper and
  keras.applications; torchvision first adaptive-average-pools it to 7x7, so it
  accepts any input size with the same 25088-wide fc1. Here fc1's width follows
  the input (224x224 -> 7x7x512 = 25088, the paper's and torchvision's count);
  with include_top=False any size from 32x32 works.
- Dropout 0.5 after fc1 and fc2 (the paper's regularisation, and torchvision's)
  is the `dropout_rate` knob, 0.0 by default as keras.applications (which has
  none). Dropout has no weights: the counts do not change.
"""

from keras import layers

from keras_lightnets.layers.preprocessing import caffe_preprocessing
from keras_lightnets.models import _common
from keras_lightnets.registry import register_model
from keras_lightnets.weights import KERAS_APPLICATIONS_URL
from keras_lightnets.weights import WeightFile

# Table 1 of the paper: conv3 layer widths, "M" = 2x2 max pooling, stride 2.
# (Configuration A-LRN and C, with its 1x1 convolutions, are not built.)
PAPER_TABLE = {
    "vgg11": (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),  # A
    "vgg13": (64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),  # B
    "vgg16": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),  # D
    "vgg19": (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
              512, 512, 512, 512, "M"),  # E
}
FC_UNITS = 4096
BN_EPSILON = 1e-5  # torchvision's BatchNorm2d
BN_MOMENTUM = 0.9  # torchvision's 0.1 in Keras' convention

# keras.applications' published files (URLs and hashes from keras/src/applications/vgg16.py, vgg19.py).
_VGG_FILES = {
    ("vgg16", True): ("vgg16_weights_tf_dim_ordering_tf_kernels.h5", "64373286793e3c8b2b4e3219cbf3544b"),
    ("vgg16", False): ("vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5", "6d6bbae143d832006294945121d1f1fc"),
    ("vgg19", True): ("vgg19_weights_tf_dim_ordering_tf_kernels.h5", "cbe5617147190e668d6c5d5026f83318"),
    ("vgg19", False): ("vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5", "253f8cb515780f3b799900260a226db6"),
}


def imagenet_weights(config, include_top):
    filename, file_hash = _VGG_FILES[(config, include_top)]
    return WeightFile(filename, KERAS_APPLICATIONS_URL + f"{config}/{filename}", file_hash)


def VGG(
    config="vgg16",
    batch_norm=False,
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    dropout_rate=0.0,
    include_preprocessing=False,
    name=None,
    features_only=False,
    out_strides=_common.DEFAULT_OUT_STRIDES,
):
    """A VGG network of the paper's Table 1, keras.applications.VGG16's signature.

    Args:
        config: "vgg11", "vgg13", "vgg16" or "vgg19" (configurations A, B, D, E).
        batch_norm: batch normalization after every convolution (torchvision's
            vgg*_bn; not in the paper, which predates it).
        include_top: add Flatten -> fc1 (4096) -> fc2 (4096) -> predictions.
        weights: None, "imagenet" (keras.applications' files: VGG-16 and VGG-19
            without batch norm) or a weights file path.
        input_tensor: optional Keras tensor to build the model on.
        input_shape: (height, width, channels), 32x32 or more. Defaults to
            (224, 224, 3) with the classifier (whose fc1 width follows the
            input size), open spatial dims without it, as keras.applications.
        pooling: None, "avg" or "max", for include_top=False.
        classes: classifier width.
        classifier_activation: activation of the classifier, None for logits.
        dropout_rate: dropout after fc1 and fc2; the paper's 0.5, keras' 0.0.
        include_preprocessing: take [0, 255] RGB pixels (keras' "caffe"
            preprocess_input as layers: BGR flip, ImageNet mean subtraction).
            False, as keras.applications.
        name: model name.
        features_only: return the feature maps at `out_strides`: the last tensor
            at each stride, i.e. the last convolution of blocks 2-5 (strides 2,
            4, 8, 16) and block5_pool (32).
    """
    _common.check_channels_last()
    if config not in PAPER_TABLE:
        raise ValueError(f"`config` must be one of {tuple(PAPER_TABLE)}; received config={config!r}.")
    if not isinstance(dropout_rate, (int, float)) or not 0 <= dropout_rate < 1:
        raise ValueError(f"`dropout_rate` must be a number in [0, 1), e.g. 0.5 (the paper's); received dropout_rate={dropout_rate!r}.")
    _common.check_pooling(pooling)
    has_top = include_top and not features_only
    problem = None
    if batch_norm or (config, has_top) not in _VGG_FILES:
        problem = "keras.applications publishes VGG-16 and VGG-19 without batch norm only (config='vgg16' or 'vgg19', batch_norm=False)"
    _common.check_weights(weights, has_top, classes, available=problem)
    image, inputs = _common.resolve_input(input_shape, input_tensor, default_size=224, weights=weights, static_default=has_top)
    if has_top and weights == "imagenet" and tuple(image.shape[1:3]) != (224, 224):
        raise ValueError(
            f"`weights='imagenet'` with `include_top=True` needs input_shape=(224, 224, 3) (fc1 is sized for a 7x7 "
            f"map); received {tuple(image.shape[1:])}. Use include_top=False for other sizes."
        )
    if has_top and (image.shape[1] is None or image.shape[2] is None):
        raise ValueError(
            "`include_top=True` flattens the last feature map, so it needs a fixed `input_shape`, e.g. (224, 224, 3); "
            f"received {tuple(image.shape[1:])}. Use include_top=False (with pooling='avg') for open sizes."
        )

    taps = _common.FeatureTaps()
    x = caffe_preprocessing(image) if include_preprocessing else image
    block, conv, stride = 1, 1, 1
    for item in PAPER_TABLE[config]:
        if item == "M":
            if stride > 1:  # the last tensor at each stride: the block's last conv
                taps.record(x, stride)
            stride *= 2
            x = layers.MaxPooling2D((2, 2), strides=(2, 2), name=f"block{block}_pool")(x)
            block, conv = block + 1, 1
            continue
        conv_name = f"block{block}_conv{conv}"
        if batch_norm:
            x = layers.Conv2D(item, (3, 3), padding="same", name=conv_name)(x)
            x = layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=f"{conv_name}_bn")(x)
            x = layers.ReLU(name=f"{conv_name}_relu")(x)
        else:
            x = layers.Conv2D(item, (3, 3), activation="relu", padding="same", name=conv_name)(x)
        conv += 1
    taps.record(x, stride)  # block5_pool, stride 32

    if has_top:
        x = layers.Flatten(name="flatten")(x)
        for fc in ("fc1", "fc2"):
            x = layers.Dense(FC_UNITS, activation="relu", name=fc)(x)
            if dropout_rate > 0:
                x = layers.Dropout(dropout_rate, name=f"{fc}_dropout")(x)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = _common.pool(x, pooling)

    default_name = config + ("_bn" if batch_norm else "")
    return _common.finish(
        inputs, x,
        name=name or default_name,
        weights=weights,
        imagenet_file=None if problem else imagenet_weights(config, has_top),
        taps=taps, features_only=features_only, out_strides=out_strides,
    )


def _class_style(config, batch_norm, class_name):
    def builder(
        include_top=True,
        weights=None,
        input_tensor=None,
        input_shape=None,
        pooling=None,
        classes=1000,
        classifier_activation="softmax",
        name=None,
        dropout_rate=0.0,
        include_preprocessing=False,
        features_only=False,
        out_strides=_common.DEFAULT_OUT_STRIDES,
    ):
        return VGG(
            config, batch_norm, include_top=include_top, weights=weights, input_tensor=input_tensor,
            input_shape=input_shape, pooling=pooling, classes=classes, classifier_activation=classifier_activation,
            dropout_rate=dropout_rate, include_preprocessing=include_preprocessing, name=name,
            features_only=features_only, out_strides=out_strides,
        )

    builder.__name__ = builder.__qualname__ = class_name
    depth = config[3:]
    builder.__doc__ = (
        f"VGG-{depth}{' with batch normalization (torchvision vgg' + depth + '_bn)' if batch_norm else ''}: "
        f"VGG(config={config!r}, batch_norm={batch_norm}) with keras.applications.VGG16's signature and defaults."
        " See `VGG` for the arguments."
    )
    return builder


VGG11 = _class_style("vgg11", False, "VGG11")
VGG13 = _class_style("vgg13", False, "VGG13")
VGG16 = _class_style("vgg16", False, "VGG16")
VGG19 = _class_style("vgg19", False, "VGG19")
VGG11BN = _class_style("vgg11", True, "VGG11BN")
VGG13BN = _class_style("vgg13", True, "VGG13BN")
VGG16BN = _class_style("vgg16", True, "VGG16BN")
VGG19BN = _class_style("vgg19", True, "VGG19BN")

_PAPER = "Very Deep Convolutional Networks for Large-Scale Image Recognition (ICLR 2015)"
_SOURCE = "paper Table 2 (params); MACs from torchvision's model table (the paper prints none)"
# config: (Table 2 params in millions, torchvision's GFLOPS (multiply-adds) at 224 in millions)
_FIGURES = {"vgg11": (133, 7610), "vgg13": (133, 11310), "vgg16": (138, 15470), "vgg19": (144, 19630)}
for _config, (_params, _macs) in _FIGURES.items():
    for _bn in (False, True):
        register_model(
            _config + ("_bn" if _bn else ""), VGG, defaults={"config": _config, "batch_norm": _bn}, family="vgg",
            paper=_PAPER, arxiv="1409.1556", default_size=224, paper_params_m=_params, paper_macs_m=_macs,
            figures_source=_SOURCE,
            reference=(f"torchvision.models.{_config}_bn" if _bn else
                       f"keras.applications.VGG{_config[3:]}" if _config in ("vgg16", "vgg19") else f"torchvision.models.{_config}"),
            note="batch norm adds 2 parameters a channel (gamma, beta; ~0.01%), not in the paper" if _bn else "",
        )
