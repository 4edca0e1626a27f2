"""Model families. Importing this package registers every model."""

from keras_lightnets.models.alexnet import AlexNet
from keras_lightnets.models.alexnet import ZFNet
from keras_lightnets.models.densenet import DenseNet
from keras_lightnets.models.densenet import DenseNet121
from keras_lightnets.models.densenet import DenseNet169
from keras_lightnets.models.densenet import DenseNet201
from keras_lightnets.models.densenet import DenseNet264
from keras_lightnets.models.densenet import DenseNetCifar
from keras_lightnets.models.inception import GoogLeNet
from keras_lightnets.models.inception import InceptionV1
from keras_lightnets.models.inception import InceptionV3
from keras_lightnets.models.inception import inference_model
from keras_lightnets.models.mobilenet_v1 import MobileNet
from keras_lightnets.models.mobilenet_v2 import MobileNetV2
from keras_lightnets.models.mobilenet_v3 import MobileNetV3Large
from keras_lightnets.models.mobilenet_v3 import MobileNetV3Small
from keras_lightnets.models.resnet import ResNet18
from keras_lightnets.models.resnet import ResNet34
from keras_lightnets.models.resnet import ResNet50
from keras_lightnets.models.resnet import ResNet101
from keras_lightnets.models.resnet import ResNet152
from keras_lightnets.models.resnet import ResNet50V2
from keras_lightnets.models.resnet import ResNet101V2
from keras_lightnets.models.resnet import ResNet152V2
from keras_lightnets.models.resnet import WideResNet
from keras_lightnets.models.resnet import WideResNet50_2
from keras_lightnets.models.resnet import WideResNet101_2
from keras_lightnets.models.resnet import ResNeXt50_32x4d
from keras_lightnets.models.resnet import ResNeXt101_32x8d
from keras_lightnets.models.resnet import ResNeXt101_64x4d
from keras_lightnets.models.resnet import SEResNet50
from keras_lightnets.models.resnet import SEResNet101
from keras_lightnets.models.resnet import SEResNet152
from keras_lightnets.models.resnet import SEResNeXt50_32x4d
from keras_lightnets.models.resnet import SEResNeXt101_32x4d
from keras_lightnets.models.vgg import VGG11
from keras_lightnets.models.vgg import VGG11BN
from keras_lightnets.models.vgg import VGG13
from keras_lightnets.models.vgg import VGG13BN
from keras_lightnets.models.vgg import VGG16
from keras_lightnets.models.vgg import VGG16BN
from keras_lightnets.models.vgg import VGG19
from keras_lightnets.models.vgg import VGG19BN
from keras_lightnets.models.xception import Xception

__all__ = [
    "AlexNet", "ZFNet",
    "DenseNet", "DenseNet121", "DenseNet169", "DenseNet201", "DenseNet264", "DenseNetCifar",
    "GoogLeNet", "InceptionV1", "InceptionV3", "inference_model",
    "MobileNet", "MobileNetV2", "MobileNetV3Large", "MobileNetV3Small",
    "ResNet18", "ResNet34", "ResNet50", "ResNet101", "ResNet152", "ResNet50V2", "ResNet101V2", "ResNet152V2",
    "WideResNet", "WideResNet50_2", "WideResNet101_2", "ResNeXt50_32x4d", "ResNeXt101_32x8d", "ResNeXt101_64x4d",
    "SEResNet50", "SEResNet101", "SEResNet152", "SEResNeXt50_32x4d", "SEResNeXt101_32x4d",
    "VGG11", "VGG11BN", "VGG13", "VGG13BN", "VGG16", "VGG16BN", "VGG19", "VGG19BN",
    "Xception",
]

# Families added by later issues each append their own block below its marker
# (imports, then `__all__ += [...]`), so their edits never touch each other's lines.
# --- efficientnet, mnasnet ---
from keras_lightnets.models.efficientnet import EfficientNet  # noqa: E402
from keras_lightnets.models.efficientnet import EfficientNetB0  # noqa: E402
from keras_lightnets.models.efficientnet import EfficientNetB1  # noqa: E402
from keras_lightnets.models.efficientnet import EfficientNetB2  # noqa: E402
from keras_lightnets.models.efficientnet import EfficientNetB3  # noqa: E402
from keras_lightnets.models.efficientnet import EfficientNetB4  # noqa: E402
from keras_lightnets.models.efficientnet import EfficientNetB5  # noqa: E402
from keras_lightnets.models.efficientnet import EfficientNetB6  # noqa: E402
from keras_lightnets.models.efficientnet import EfficientNetB7  # noqa: E402
from keras_lightnets.models.efficientnet import EfficientNetLite  # noqa: E402
from keras_lightnets.models.efficientnet import EfficientNetLite0  # noqa: E402
from keras_lightnets.models.efficientnet import EfficientNetLite1  # noqa: E402
from keras_lightnets.models.efficientnet import EfficientNetLite2  # noqa: E402
from keras_lightnets.models.efficientnet import EfficientNetLite3  # noqa: E402
from keras_lightnets.models.efficientnet import EfficientNetLite4  # noqa: E402
from keras_lightnets.models.mnasnet import MnasNet  # noqa: E402
from keras_lightnets.models.mnasnet import MnasNetA1  # noqa: E402
from keras_lightnets.models.mnasnet import MnasNetB1  # noqa: E402
from keras_lightnets.models.scaling import ScalableNet  # noqa: E402
from keras_lightnets.models.scaling import Stage  # noqa: E402
from keras_lightnets.models.scaling import compound_scale  # noqa: E402

__all__ += [
    "EfficientNet", "EfficientNetB0", "EfficientNetB1", "EfficientNetB2", "EfficientNetB3",
    "EfficientNetB4", "EfficientNetB5", "EfficientNetB6", "EfficientNetB7",
    "EfficientNetLite", "EfficientNetLite0", "EfficientNetLite1", "EfficientNetLite2", "EfficientNetLite3",
    "EfficientNetLite4", "MnasNet", "MnasNetA1", "MnasNetB1", "ScalableNet", "Stage", "compound_scale",
]
# --- shufflenet, squeezenet ---
from keras_lightnets.models.shufflenet import ShuffleNetV1  # noqa: E402
from keras_lightnets.models.shufflenet import ShuffleNetV2  # noqa: E402
from keras_lightnets.models.shufflenet import ShuffleNetV2x0_5  # noqa: E402
from keras_lightnets.models.shufflenet import ShuffleNetV2x1_0  # noqa: E402
from keras_lightnets.models.shufflenet import ShuffleNetV2x1_5  # noqa: E402
from keras_lightnets.models.shufflenet import ShuffleNetV2x2_0  # noqa: E402
from keras_lightnets.models.squeezenet import SqueezeNet  # noqa: E402
from keras_lightnets.models.squeezenet import SqueezeNet1_0  # noqa: E402
from keras_lightnets.models.squeezenet import SqueezeNet1_1  # noqa: E402

__all__ += ["ShuffleNetV1", "ShuffleNetV2", "ShuffleNetV2x0_5", "ShuffleNetV2x1_0", "ShuffleNetV2x1_5", "ShuffleNetV2x2_0",
            "SqueezeNet", "SqueezeNet1_0", "SqueezeNet1_1"]
# --- vit, swin ---
from keras_lightnets.models.swin import SwinB  # noqa: E402
from keras_lightnets.models.swin import SwinS  # noqa: E402
from keras_lightnets.models.swin import SwinT  # noqa: E402
from keras_lightnets.models.swin import SwinTransformer  # noqa: E402
from keras_lightnets.models.vit import ViT  # noqa: E402
from keras_lightnets.models.vit import ViTB16  # noqa: E402
from keras_lightnets.models.vit import ViTB32  # noqa: E402
from keras_lightnets.models.vit import ViTL16  # noqa: E402
from keras_lightnets.models.vit import ViTS16  # noqa: E402
from keras_lightnets.models.vit import ViTTi16  # noqa: E402

__all__ += ["SwinTransformer", "SwinT", "SwinS", "SwinB", "ViT", "ViTTi16", "ViTS16", "ViTB16", "ViTB32", "ViTL16"]
