"""The papers' segmentation networks on MobileNetV3: LR-ASPP (Howard et al., "Searching
for MobileNetV3", ICCV 2019, section 6.4) and DeepLabV3 (torchvision's
deeplabv3_mobilenet_v3_large), each the zoo's MobileNetV3 in backbone mode with the
paper's backbone changes as its arguments, and a head of keras_lightnets.heads.

As torchvision 0.14 builds them (torchvision/models/segmentation): the backbone dilated
(the last stage at stride 1, dilation 2: output stride 16), its full channels (the
paper's `reduced_tail`, "RF2", is an argument: torchvision's lraspp_mobilenet_v3_large,
whose parameter count and COCO weights these models match, does not reduce it);
LR-ASPP's low-level features from the first block at stride 8 (torchvision's "C2",
`stage_indices[-4]`), its high-level features and DeepLabV3's from the last 1x1
convolution; per-pixel logits upsampled bilinearly to the input's size. The paper's
LR-ASPP pools with a large strided average pooling; torchvision's, ours, globally.
DeepLabV3's auxiliary FCN head (training only) is not built; a torchvision checkpoint
that holds one loads without it.

`weights=`: None, a torchvision checkpoint of the same configuration (.pth,
.safetensors: torchvision's module names, `backbone.*` and `classifier.*`) or a Keras
weights file; on the registered Large variants also "torchvision" (torchvision's
COCO_WITH_VOC_LABELS_V1 set: 21 VOC labels, mIoU 57.9 / 60.3, keras_lightnets/weights/
head_sets.py), downloaded once and hash-checked; `backbone_weights=`: the backbone's
(e.g. "imagenet": keras.applications' MobileNetV3 files, layout="keras").

An input under 32 px a side is refused: the backbone's first stride-32 block (dilated or
not) needs one position.
"""

import os

from keras_lightnets import heads
from keras_lightnets.models import _common
from keras_lightnets.models import mobilenet_v2
from keras_lightnets.models import mobilenet_v3
from keras_lightnets.models._family import variant
from keras_lightnets.models.mobilenet_v2 import MobileNetV2
from keras_lightnets.models.mobilenet_v3 import MobileNetV3

__all__ = ["LRASPPMobileNetV3", "DeepLabV3MobileNetV3", "DeepLabV3MobileNetV2"]  # and each variant (@variant)

DEFAULT_SIZE = 520  # torchvision's evaluation size (SemanticSegmentation(resize_size=520))
DEEPLAB_CROP = 513  # the DeepLab authors' PASCAL VOC evaluation crop (the V2 paper's Table 7 counts it)
AUXILIARY = "aux_classifier."  # torchvision's DeepLabV3 checkpoints hold its training-only FCN head


def low_level_layer(model_type, stride=8):
    """The layer whose output is the first block at `stride` (torchvision's LR-ASPP
    low-level features): the projection's BatchNorm of the block that reaches it."""
    reached = 2  # the stem
    for index, row in enumerate(mobilenet_v3.TABLES[model_type]):
        reached *= row[5]
        if reached == stride:
            return mobilenet_v3.STYLE.naming(index, "project_bn")
    raise ValueError(f"MobileNetV3-{model_type} never reaches stride {stride}.")


def torch_names(model, head_names, backbone_names=mobilenet_v3.torch_names):
    """{our layer: torchvision module}: the backbone's `features.*` as `backbone.*` (an
    IntermediateLayerGetter over MobileNetV3.features), the head's `classifier.*`."""
    names = {ours: "backbone." + module[len("features."):]
             for ours, module in backbone_names(model).items() if module.startswith("features.")}
    names.update(head_names)
    return names


def _check_weights(weights, classes):
    if weights == "imagenet":
        raise ValueError("No ImageNet weights for a segmentation model; `backbone_weights='imagenet'` gives its "
                         "backbone keras.applications' MobileNetV3 weights (layout='keras').")
    _common.check_weights(weights, False, classes)  # None, or an existing file


def _load(model, weights, head_names, backbone_names=mobilenet_v3.torch_names):
    """A torchvision checkpoint by its module names, a Keras file by layer name."""
    from keras_lightnets.models._family import _is_torch_checkpoint
    from keras_lightnets.weights import load_state_dict
    from keras_lightnets.weights import load_weights_by_name
    from keras_lightnets.weights import read_checkpoint

    if _is_torch_checkpoint(weights):
        tensors = {k: v for k, v in read_checkpoint(weights).items() if not k.startswith(AUXILIARY)}
        load_state_dict(model, tensors, names=torch_names(model, head_names, backbone_names),
                        source=repr(os.fspath(weights)))
    else:
        load_weights_by_name(model, weights)


def _backbone(input_shape, input_tensor, model_type, alpha, minimalistic, include_preprocessing, layout,
              reduced_tail, dilated, backbone_weights):
    return MobileNetV3(input_shape=input_shape, model_type=model_type, alpha=alpha, minimalistic=minimalistic,
                       weights=backbone_weights, input_tensor=input_tensor, include_preprocessing=include_preprocessing,
                       features_only=True, out_strides=(16 if dilated else 32,), layout=layout,
                       reduced_tail=reduced_tail, dilated=dilated)


MIN_SIZE = 32  # the backbone's first stride-32 block (dilated or not) needs one position


def check_input_size(input_shape, input_tensor, model, default_size):
    """An input the heads' strides cannot serve, refused naming the model and its own
    size (the backbone's check would suggest a classifier's 224)."""
    shape = input_shape
    if shape is None and input_tensor is not None and hasattr(input_tensor, "shape"):
        shape = tuple(input_tensor.shape[1:])
    if shape is None or len(shape) != 3:
        return  # open dims, or a malformed shape: the backbone reports it
    if any(d is not None and d < MIN_SIZE for d in tuple(shape)[:2]):
        raise ValueError(f"{model} needs an input of at least {MIN_SIZE}x{MIN_SIZE} (its backbone's stride 32); "
                         f"received input_shape={tuple(shape)}. Resize the images, e.g. "
                         f"input_shape=({default_size}, {default_size}, 3).")


def _default_name(head, model_type):
    return f"{head}MobileNetV3{model_type.capitalize() if isinstance(model_type, str) else model_type}"


def LRASPPMobileNetV3(input_shape=None, model_type="large", alpha=1.0, minimalistic=False, weights=None,
                      input_tensor=None, classes=21, classifier_activation="softmax", include_preprocessing=True,
                      name=None, layout="keras", reduced_tail=False, dilated=True, backbone_weights=None,
                      inter_channels=128):
    """LR-ASPP on MobileNetV3 (the paper's section 6.4; torchvision's
    lraspp_mobilenet_v3_large, 3,221,538 parameters at 21 classes).

    Args:
        input_shape: (height, width, channels); default open spatial dims (give a size
            for TFLite conversion).
        model_type, alpha, minimalistic, layout, reduced_tail, dilated: the
            MobileNetV3 backbone's (see kl.MobileNetV3); layout="torchvision" for
            torchvision's checkpoints.
        weights: None, or the path of a torchvision checkpoint or a Keras weights file.
        input_tensor: optional Keras tensor to build the model on.
        classes: number of classes, the background included (21: VOC's).
        classifier_activation: "softmax" (per-pixel class probabilities, as the zoo's
            classifiers) or None (per-pixel logits, torchvision's 'out').
        include_preprocessing: the model takes [0, 255] pixels.
        name: model name (default LRASPPMobileNetV3Large / Small).
        backbone_weights: the backbone's weights: None, "imagenet" or a file.
        inter_channels: the head's width (128).

    Returns:
        A keras.Model from images to (batch, height, width, classes).
    """
    _check_weights(weights, classes)
    check_input_size(input_shape, input_tensor, _default_name("LRASPP", model_type), DEFAULT_SIZE)
    backbone = _backbone(input_shape, input_tensor, model_type, alpha, minimalistic, include_preprocessing, layout,
                         reduced_tail, dilated, backbone_weights)
    model = heads.LRASPP(backbone, classes, low=low_level_layer(model_type), inter_channels=inter_channels,
                         classifier_activation=classifier_activation,
                         name=name or _default_name("LRASPP", model_type))
    if weights is not None:
        _load(model, weights, heads.LRASPP_TORCH_NAMES)
    return model


def DeepLabV3MobileNetV3(input_shape=None, model_type="large", alpha=1.0, minimalistic=False, weights=None,
                         input_tensor=None, classes=21, classifier_activation="softmax", include_preprocessing=True,
                         name=None, layout="keras", reduced_tail=False, dilated=True, backbone_weights=None,
                         atrous_rates=heads.segmentation.DEEPLABV3_RATES, channels=256, dropout_rate=0.5):
    """DeepLabV3 on MobileNetV3 (torchvision's deeplabv3_mobilenet_v3_large: 11,025,477
    parameters at 21 classes without its auxiliary head).

    Args: LRASPPMobileNetV3's, and instead of inter_channels the ASPP's `atrous_rates`
    (12, 24, 36), `channels` (256) and `dropout_rate` (0.5) (see kl.heads.DeepLabV3).
    """
    _check_weights(weights, classes)
    check_input_size(input_shape, input_tensor, _default_name("DeepLabV3", model_type), DEFAULT_SIZE)
    backbone = _backbone(input_shape, input_tensor, model_type, alpha, minimalistic, include_preprocessing, layout,
                         reduced_tail, dilated, backbone_weights)
    model = heads.DeepLabV3(backbone, classes, atrous_rates=atrous_rates, channels=channels,
                            dropout_rate=dropout_rate, classifier_activation=classifier_activation,
                            name=name or _default_name("DeepLabV3", model_type))
    if weights is not None:
        _load(model, weights, heads.deeplabv3_torch_names(tuple(atrous_rates)))
    return model


def DeepLabV3MobileNetV2(input_shape=None, alpha=1.0, weights=None, input_tensor=None, classes=21,
                         classifier_activation="softmax", include_preprocessing=True, name=None, layout="keras",
                         output_stride=16, backbone_weights=None, atrous_rates=(), channels=256, dropout_rate=0.1,
                         refine=False):
    """Mobile DeepLabv3 (the MobileNetV2 paper's section 6.3 and Table 7, "MNet V2*"):
    DeepLabv3's head on the second-last feature map of MobileNetV2 (its 320 channels,
    not the last 1x1 convolution's 1280) at output stride 16, with the 1x1 and image
    pooling branches (no atrous branches, `atrous_rates=()`: the paper's efficient
    choice) and the DeepLab authors' projection -> dropout 0.1 -> classifier: 2.11M
    parameters, 2.75B multiply-adds at DeepLab's 513x513 crop.

    Args: LRASPPMobileNetV3's (but model_type, minimalistic, reduced_tail, dilated,
    inter_channels), `output_stride` (16, or 8) and DeepLabV3's head arguments
    (see kl.heads.DeepLabV3): `atrous_rates` (e.g. (6, 12, 18) at 16: the paper's
    ASPP row), `channels`, `dropout_rate`, `refine` (torchvision's 3x3 conv).
    """
    _check_weights(weights, classes)
    check_input_size(input_shape, input_tensor, "MobileDeepLabV3", DEEPLAB_CROP)
    backbone = MobileNetV2(input_shape=input_shape, alpha=alpha, weights=backbone_weights, input_tensor=input_tensor,
                           include_preprocessing=include_preprocessing, features_only=True,
                           out_strides=(output_stride,), layout=layout, output_stride=output_stride)
    last_block = len(mobilenet_v2.blocks_from_stages(mobilenet_v2.PAPER_TABLE)) - 1
    model = heads.DeepLabV3(backbone, classes, feature=mobilenet_v2.STYLE.naming(last_block, "project_bn"),
                            atrous_rates=atrous_rates, channels=channels, dropout_rate=dropout_rate, refine=refine,
                            classifier_activation=classifier_activation, name=name or "MobileDeepLabV3")
    if weights is not None:
        _load(model, weights, heads.deeplabv3_torch_names(tuple(atrous_rates)), mobilenet_v2.torch_names)
    return model


# ------------------------------------------------------------------------ the variants

_PAPER = "Searching for MobileNetV3 (ICCV 2019)"
_TORCHVISION = ("torchvision's weights metadata (num_params, 21 classes: {params}); MACs: none published "
                "(torchvision 0.14 prints none; the paper's Table 7 counts them at Cityscapes' 1024x2048{table})")
# The MobileNetV3 paper's Table 7 rows that are these networks with reduced_tail=True at 19
# classes and 1024x2048 (tests/test_head_weights.py holds them): MAdds within 2%; the
# paper's "RF2" backbone has fewer parameters than torchvision's reduced tail, which ours
# builds (in every RF2 row, whatever the head: 0.24M on Large, 0.05M on Small; its rows
# without RF2 equal ours), a reduction the paper does not give layer by layer.
_TABLE_7_LARGE = (": row 8, RF2 and 128 filters, 1.51M parameters and 9.74B MAdds, is this network with "
                  "reduced_tail=True and 19 classes, ours 1,746,878 and 9,915.2M: the paper's RF2 halves more than "
                  "torchvision's reduced tail")
_FIGURES = {"family": "segmentation", "paper": _PAPER, "arxiv": "1905.02244", "default_size": DEFAULT_SIZE,
            "paper_macs_m": None}


@variant("lraspp_mobilenet_v3_large", LRASPPMobileNetV3, knobs={"model_type": "large"},
         defaults={"classes": 21},  # its COCO set's VOC labels (weights="torchvision" needs no classes)
         model_name="LRASPPMobileNetV3Large", paper_params_m=3.221538,
         figures_source=_TORCHVISION.format(params="3,221,538", table=_TABLE_7_LARGE),
         reference="torchvision.models.segmentation.lraspp_mobilenet_v3_large", note="", **_FIGURES)
def LRASPPMobileNetV3Large(*args, **kwargs):
    """LR-ASPP on MobileNetV3-Large, dilated, as torchvision's lraspp_mobilenet_v3_large
    (3,221,538 parameters at 21 classes). LRASPPMobileNetV3's arguments but `model_type`."""


@variant("lraspp_mobilenet_v3_small", LRASPPMobileNetV3, knobs={"model_type": "small"},
         model_name="LRASPPMobileNetV3Small", paper_params_m=None,
         figures_source="none published for this configuration (torchvision has no LR-ASPP on Small; ours is its "
                        "construction, _lraspp_mobilenetv3(mobilenet_v3_small(dilated=True)): 1,077,954 parameters "
                        "at 21 classes); the paper's Table 7 row 11 (RF2, 19 classes, 1024x2048: 0.47M parameters, "
                        "2.90B MAdds) is it with reduced_tail=True and 19 classes, ours 515,614 and 2,832.0M",
         reference="torchvision.models.segmentation.lraspp._lraspp_mobilenetv3 on mobilenet_v3_small(dilated=True)",
         note="", **_FIGURES)
def LRASPPMobileNetV3Small(*args, **kwargs):
    """LR-ASPP on MobileNetV3-Small, dilated (the paper's section 6.4 network on Small;
    torchvision's construction on its Small). LRASPPMobileNetV3's arguments but `model_type`."""


@variant("deeplabv3_mobilenet_v3_large", DeepLabV3MobileNetV3, knobs={"model_type": "large"},
         defaults={"classes": 21},  # its COCO set's VOC labels (weights="torchvision" needs no classes)
         model_name="DeepLabV3MobileNetV3Large", paper_params_m=11.025477,
         figures_source=_TORCHVISION.format(params="11,025,477 without the auxiliary head",
                                            table=" with LR-ASPP and R-ASPP heads, not this ASPP"),
         reference="torchvision.models.segmentation.deeplabv3_mobilenet_v3_large", note="",
         **{**_FIGURES, "paper": "Rethinking Atrous Convolution for Semantic Image Segmentation (arXiv 2017)",
            "arxiv": "1706.05587"})
def DeepLabV3MobileNetV3Large(*args, **kwargs):
    """DeepLabV3 on MobileNetV3-Large, dilated, as torchvision's deeplabv3_mobilenet_v3_large
    (11,025,477 parameters at 21 classes, no auxiliary head). DeepLabV3MobileNetV3's
    arguments but `model_type`."""


@variant("deeplabv3_mobilenet_v2", DeepLabV3MobileNetV2, knobs={"alpha": 1.0}, model_name="MobileDeepLabV3",
         paper_params_m=2.11, paper_macs_m=2750,
         figures_source="paper, Table 7 (MNet V2*, output stride 16, no ASPP, no multi-scale: 2.11M parameters, "
                        "2.75B MAdds at DeepLab's 513x513 crop; ours 2,113,557 and 2,740.7M, at 512x512 2,604.0M); "
                        "the MobileNetV3 paper's Table 7 row 1 is it at Cityscapes' 1024x2048 and 19 classes (2.11M, "
                        "21.29B; ours 2,113,043 and 20,826.9M)",
         reference=None, note="", family="segmentation",
         paper="MobileNetV2: Inverted Residuals and Linear Bottlenecks (CVPR 2018)", arxiv="1801.04381",
         default_size=DEEPLAB_CROP)
def MobileDeepLabV3(*args, **kwargs):
    """Mobile DeepLabv3 (MobileNetV2 paper, section 6.3): 2.11M parameters, 2.75B MACs
    at 513x513, 21 classes. DeepLabV3MobileNetV2's arguments but `alpha`."""
