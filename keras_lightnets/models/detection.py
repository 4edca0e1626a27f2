"""The papers' SSDLite detectors: SSDLite on MobileNetV2 (Sandler et al., CVPR 2018,
section 6.2 and Table 6) and on MobileNetV3-Large (Howard et al., ICCV 2019, section
6.3; torchvision 0.14's ssdlite320_mobilenet_v3_large), each the zoo's backbone in
features_only mode and kl.heads.SSDLite.

Both read the backbone at the expansion of the first block at stride 32 ("C4", the
layer before its strided depthwise: 576 channels on V2, the TF Object Detection API's
`layer_15/expansion_output`; 672 on V3-Large) and at its last 1x1 convolution, then
four extra layers (512, 256, 256, 128): six levels, 20, 10, 5, 3, 2, 1 cells at 320 px.

- ssdlite320_mobilenet_v3_large: torchvision's (3,440,060 parameters at 91 classes):
  the backbone's reduced tail (section 6.4's RF2, as torchvision without an ImageNet
  backbone and as its COCO checkpoint), BatchNorm epsilon 1e-3, its default boxes
  (6 per cell: ratios 1, 1', 2, 1/2, 3, 1/3; scales 0.2-0.95). Pixels [0, 255] -> [-1, 1]
  (torchvision's SSDLite normalizes with mean = std = 0.5, on both layouts).
- ssdlite_mobilenet_v2: the TF Object Detection API's ssdlite_mobilenet_v2_coco (the
  paper's authors' configuration): 3 default boxes in the lowest level
  (reduce_boxes_in_lowest_layer), 6 elsewhere. At 81 classes (COCO's 80 and the
  background) 4,337,013 parameters and 788.8M multiply-adds at 320 px: the paper's
  4.3M and 0.8B; at 91 (the API's label map, 90 ids with holes) 4,500,543 and 804.4M.

`weights=`: None, a torchvision checkpoint of ssdlite320_mobilenet_v3_large (its module
names, `backbone.features.*`, `backbone.extra.*`, `head.*`; with layout="torchvision")
or a Keras weights file; on ssdlite320_mobilenet_v3_large also "torchvision" (its COCO_V1
set: 91 COCO ids, box mAP 21.3, keras_lightnets/weights/head_sets.py), downloaded once
and hash-checked; `backbone_weights=`: the backbone's ("imagenet": keras.applications'
files, layout="keras", reduced_tail=False). An input under 32 px a side (no stride-32
map) is refused.
"""

import os

import keras

from keras_lightnets import heads
from keras_lightnets.heads import detection as det
from keras_lightnets.models import _common
from keras_lightnets.models import mobilenet_v2
from keras_lightnets.models import mobilenet_v3
from keras_lightnets.models._family import variant
from keras_lightnets.models.mobilenet_v2 import MobileNetV2
from keras_lightnets.models.mobilenet_v3 import MobileNetV3
from keras_lightnets.models.segmentation import check_input_size

__all__ = ["SSDLiteMobileNetV3", "SSDLiteMobileNetV2"]  # and each variant (@variant)

DEFAULT_SHAPE = (320, 320, 3)


def c4_block(table):
    """The index of the first block at stride 32 (torchvision's `stage_indices[-2]` - 1)."""
    return max(i for i, row in enumerate(table) if row[5] == 2)


def torch_names(model, model_type="large"):
    """{our layer: torchvision module}: MobileNetV3's `features.k` split at C4 as
    torchvision's SSDLiteFeatureExtractorMobileNet (`backbone.features.0`: up to C4's
    expansion; `backbone.features.1`: from its depthwise on), the extras and the head."""
    c4 = c4_block(mobilenet_v3.TABLES[model_type]) + 1  # features.0 is the stem
    names = {}
    for ours, module in mobilenet_v3.torch_names(model).items():
        if not module.startswith("features."):
            continue
        k, rest = module[len("features."):].split(".", 1)
        k = int(k)
        if k < c4:
            names[ours] = f"backbone.features.0.{k}.{rest}"
        elif k > c4:
            names[ours] = f"backbone.features.1.{k - c4}.{rest}"
        elif rest.startswith("block.0."):
            names[ours] = f"backbone.features.0.{k}.{rest[len('block.0.'):]}"
        else:
            names[ours] = f"backbone.features.1.0.{rest[len('block.'):]}"
    names.update(det.ssdlite_torch_names())
    return names


def _check_weights(weights, classes):
    if weights == "imagenet":
        raise ValueError("No ImageNet weights for a detection model; `backbone_weights='imagenet'` gives its "
                         "backbone keras.applications' weights (layout='keras').")
    _common.check_weights(weights, False, classes)


def _image(input_shape, input_tensor, include_preprocessing, model):
    """The model's input, and the backbone's input tensor: [0, 255] -> [-1, 1] first
    when `include_preprocessing` (SSDLite's normalization on either layout)."""
    check_input_size(input_shape, input_tensor, model, DEFAULT_SHAPE[0])
    if input_tensor is None:
        image = keras.Input(input_shape or DEFAULT_SHAPE, name="input_layer")
    else:
        image = input_tensor
    return _common.preprocessing(image) if include_preprocessing else image


def SSDLiteMobileNetV3(input_shape=None, model_type="large", alpha=1.0, minimalistic=False, weights=None,
                       input_tensor=None, classes=91, include_preprocessing=True, name=None, layout="keras",
                       reduced_tail=True, backbone_weights=None, default_boxes=None):
    """SSDLite on MobileNetV3 (torchvision's ssdlite320_mobilenet_v3_large: 3,440,060
    parameters at 91 classes).

    Args:
        input_shape: (height, width, 3); default (320, 320, 3). SSDLite needs a fixed size.
        model_type, alpha, minimalistic, layout, reduced_tail: the MobileNetV3
            backbone's (see kl.MobileNetV3); layout="torchvision" (PyTorch's padding,
            also in the extra layers) for torchvision's checkpoints.
        weights: None, or the path of a torchvision checkpoint or a Keras weights file.
        input_tensor: optional Keras tensor to build the model on.
        classes: number of classes, the background (0) included (91: torchvision's COCO).
        include_preprocessing: the model takes [0, 255] pixels.
        name: model name (default SSDLiteMobileNetV3Large / Small).
        backbone_weights: the backbone's weights: None, "imagenet" or a file.
        default_boxes: a kl.heads.DefaultBoxes (default torchvision's).

    Returns:
        A keras.Model from images to [bbox_regression (batch, A, 4), cls_logits
        (batch, A, classes)]; `kl.heads.anchors(model)` gives its default boxes.
    """
    _check_weights(weights, classes)
    model_type_name = model_type.capitalize() if isinstance(model_type, str) else model_type
    x = _image(input_shape, input_tensor, include_preprocessing, f"SSDLiteMobileNetV3{model_type_name}")
    backbone = MobileNetV3(model_type=model_type, alpha=alpha, minimalistic=minimalistic, weights=backbone_weights,
                           input_tensor=x, include_preprocessing=False, features_only=True, out_strides=(32,),
                           layout=layout, reduced_tail=reduced_tail)
    c4 = mobilenet_v3.STYLE.naming(c4_block(mobilenet_v3.TABLES[model_type]), "expand_act")
    model = heads.SSDLite(backbone, classes, features=(c4, None), default_boxes=default_boxes or det.TORCHVISION_BOXES,
                          padding=mobilenet_v3.PADDING[layout], name=name or f"SSDLiteMobileNetV3{model_type_name}")
    if weights is not None:
        _load(model, weights, lambda m: torch_names(m, model_type))
    return model


def SSDLiteMobileNetV2(input_shape=None, alpha=1.0, weights=None, input_tensor=None, classes=81,
                       include_preprocessing=True, name=None, backbone_weights=None, default_boxes=None):
    """SSDLite on MobileNetV2 (the paper's section 6.2 and Table 6; the TF Object
    Detection API's ssdlite_mobilenet_v2_coco): 4,337,013 parameters and 788.8M
    multiply-adds at 320 px and 81 classes (the paper: 4.3M, 0.8B).

    Args: SSDLiteMobileNetV3's but model_type, minimalistic, layout and reduced_tail;
    classes default 81 (COCO's 80 and the background; 91 for the API's label map);
    default_boxes default the API's (3 in the lowest level, 6 elsewhere).
    """
    _check_weights(weights, classes)
    x = _image(input_shape, input_tensor, include_preprocessing, "SSDLiteMobileNetV2")
    backbone = MobileNetV2(alpha=alpha, weights=backbone_weights, input_tensor=x, include_preprocessing=False,
                           features_only=True, out_strides=(32,))
    blocks = mobilenet_v2.blocks_from_stages(mobilenet_v2.PAPER_TABLE)
    c4 = mobilenet_v2.STYLE.naming(max(i for i, block in enumerate(blocks) if block.stride == 2), "expand_relu")
    model = heads.SSDLite(backbone, classes, features=(c4, None), default_boxes=default_boxes or det.TF_SSDLITE_BOXES,
                          name=name or "SSDLiteMobileNetV2")
    if weights is not None:
        _load(model, weights, None)
    return model


def _load(model, weights, names):
    from keras_lightnets.models._family import _is_torch_checkpoint
    from keras_lightnets.weights import load_state_dict
    from keras_lightnets.weights import load_weights_by_name
    from keras_lightnets.weights import read_checkpoint

    if _is_torch_checkpoint(weights):
        if names is None:
            raise ValueError(f"{model.name} has no torchvision counterpart; `weights` must be a Keras weights file.")
        load_state_dict(model, read_checkpoint(weights), names=names(model), source=repr(os.fspath(weights)))
    else:
        load_weights_by_name(model, weights)


# ------------------------------------------------------------------------ the variants

_V3 = "Searching for MobileNetV3 (ICCV 2019)"


@variant("ssdlite320_mobilenet_v3_large", SSDLiteMobileNetV3, knobs={"model_type": "large"},
         defaults={"classes": 91},  # its COCO set's (a registry default, so weights="torchvision" needs no classes)
         model_name="SSDLiteMobileNetV3Large", paper_params_m=3.44006, paper_macs_m=None,
         figures_source="torchvision's weights metadata (num_params 3,440,060 at 91 classes); MACs: none published "
                        "by torchvision 0.14 (ours: 583.2M at 320 px); the paper's Table 6 (V3 reduced, 3.22M, "
                        "0.51B) counts the TF Object Detection API's configuration, which ours gives with its default "
                        "boxes (default_boxes=kl.heads.detection.TF_SSDLITE_BOXES): 3,248,255 and 506.6M",
         reference="torchvision.models.detection.ssdlite320_mobilenet_v3_large", note="", family="detection",
         paper=_V3, arxiv="1905.02244", default_size=320)
def SSDLite320MobileNetV3Large(*args, **kwargs):
    """SSDLite on MobileNetV3-Large with the reduced tail, as torchvision's
    ssdlite320_mobilenet_v3_large (3,440,060 parameters at 91 classes, 320 px).
    SSDLiteMobileNetV3's arguments but `model_type`."""


@variant("ssdlite_mobilenet_v2", SSDLiteMobileNetV2, knobs={"alpha": 1.0}, model_name="SSDLiteMobileNetV2",
         paper_params_m=4.3, paper_macs_m=800,
         figures_source="paper, Table 6 (SSDLite, 320x320: 4.3M parameters, 0.8B MAdds), counted at COCO's 80 "
                        "classes and the background (ours 4,337,013 and 788.8M; 4,500,543 and 804.4M at the TF "
                        "Object Detection API's 91)",
         reference=None, note="", family="detection",
         paper="MobileNetV2: Inverted Residuals and Linear Bottlenecks (CVPR 2018)", arxiv="1801.04381",
         default_size=320)
def SSDLite320MobileNetV2(*args, **kwargs):
    """SSDLite on MobileNetV2 (the paper's Table 6): 4.3M parameters, 0.8B MAdds at
    320 px, 81 classes. SSDLiteMobileNetV2's arguments but `alpha`."""
