"""The local patterns that decide how the QAT path quantizes a layer (its role and
what consumes it), and one small model made of the zoo's own blocks that holds every
pattern of the zoo's CNNs. tests/test_qat.py takes that model the whole way (QAT, a
fit step, fully-integer int8); tests/test_graph_rules.py checks that each registered
CNN has no pattern outside it."""

import keras
from keras import layers

SIZE = 32
CLASSES = 3
TRANSFORMERS = ("vit", "swin", "convnext")  # no QAT path (transformers; ConvNeXt: LayerNormalization, models/convnext.py)


def _role(graph, layer_config):
    from keras_lightnets.tflite.qat import twin

    layer = graph.model.get_layer(layer_config["name"])
    kind, config = type(layer).__name__, layer.get_config()
    if kind in ("Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Dense"):
        activation = keras.activations.serialize(keras.activations.get(config.get("activation")))
        grouped = "/grouped" if config.get("groups", 1) > 1 else ""
        return f"{kind}{grouped}/{activation}"
    if kind == "BatchNormalization":  # the twin keeps it (folded into the conv) or makes it an affine map
        return "BatchNormalization/" + ("folded" if twin.follows_linear_op(graph, layer_config) else "affine")
    if kind == "Activation":
        return f"Activation/{keras.activations.serialize(keras.activations.get(layer.activation))}"
    if kind == "ReLU":
        return "ReLU/6" if config.get("max_value") else "ReLU"
    if kind == "Dropout" and config.get("noise_shape"):
        return "Dropout/noise_shape"
    return kind


def _consumer_kind(role):
    """What of a consumer decides its producer's quantization: fused ReLU, folded
    BN, a concatenation (shared ranges), or nothing."""
    if role in ("ReLU", "ReLU/6", "Activation/relu", "Activation/relu6"):
        return "relu"
    if role == "BatchNormalization/folded":
        return "bn"
    return "concat" if role == "Concatenate" else "other"


def motifs(model):
    """{(role of a layer, kind of its only consumer)}: the local patterns the
    quantization rules (keras_lightnets.tflite.qat) and twins depend on."""
    from keras_lightnets.tflite.qat import twin

    graph = twin.Graph.of(model)
    roles = {c["name"]: _role(graph, c) for c in graph.layers if c["class_name"] != "InputLayer"}
    found = set()
    for name, role in roles.items():
        consumers = graph.consumer_names(name)
        only = roles.get(consumers[0]) if len(consumers) == 1 else None
        found.add((role, _consumer_kind(only) if only else "other"))
    return found


def _nasnet_cells():
    from keras_lightnets.models.nasnet import Cell, Combination, Operation

    reduction = Cell("reduction", 2, (
        Combination(Operation("max3", "h", "left1"), Operation("sep3", "p", "right1"), "add_1"),
        Combination(Operation("identity", "c1"), Operation("avg3", "h", "left2"), "add_2")), concat=("c1", "c2"))
    normal = Cell("normal", 1, (
        Combination(Operation("sep3", "h", "left1"), Operation("identity", "p"), "add_1"),
        Combination(Operation("avg3", "p", "left2"), Operation("identity", "h"), "add_2")), concat=("p", "c1", "c2"))
    return reduction, normal


def zoo_motif_model(classes=CLASSES):
    """One small model with every pattern of the zoo's CNNs, made of the zoo's own
    blocks (ShuffleNet units, fire modules, dense blocks, inverted residuals with
    SE and stochastic depth, residual blocks, caffe preprocessing, LRN, the
    segmentation heads' resizing...)."""
    from keras_lightnets.layers import blocks
    from keras_lightnets.layers import dense_blocks
    from keras_lightnets.layers import preprocessing
    from keras_lightnets.layers.inverted_residual import BlockNaming
    from keras_lightnets.layers.inverted_residual import SqueezeExciteStyle
    from keras_lightnets.layers.inverted_residual import inverted_residual
    from keras_lightnets.layers.normalization import LocalResponseNormalization
    from keras_lightnets.layers.resize import ResizeLike
    from keras_lightnets.layers.residual import ResidualBlockNames
    from keras_lightnets.layers.residual import residual_block
    from keras_lightnets.models.shufflenet import shufflenet_v1_unit
    from keras_lightnets.models.shufflenet import shufflenet_v2_unit
    from keras_lightnets.models.nasnet import cell_block
    from keras_lightnets.models.squeezenet import fire

    nasnet_reduction, nasnet_normal = _nasnet_cells()
    inputs = keras.Input((SIZE, SIZE, 3))
    x = preprocessing.caffe_preprocessing(inputs)  # Permute, Cropping2D -> Concatenate, Normalization
    x = layers.Rescaling(1 / 64, name="rescale")(x)
    x = layers.ZeroPadding2D(1, name="stem_pad")(x)
    x = layers.Conv2D(16, 3, strides=2, name="stem_conv")(x)  # conv -> ReLU
    x = layers.ReLU(name="stem_relu")(x)
    x = LocalResponseNormalization(name="lrn")(x)
    x = layers.Conv2D(16, 3, padding="same", activation="relu", name="relu_conv")(x)
    x = layers.MaxPooling2D(2, name="pool")(x)  # 8x8
    # NASNet's cells, as small tables its cell builder walks: a reduction cell (zero-padded
    # 3x3/2 pools, an explicitly padded strided separable conv, Add -> Concatenate), then a
    # normal cell whose p is factorized-reduced (Cropping2D shift, 1x1/2 average pools,
    # Concatenate -> BN affine) and whose Concatenate feeds a ReLU; back to 8x8
    reduced, previous = cell_block(x, None, nasnet_reduction, 8, "nas_r")  # 4x4
    x, _ = cell_block(reduced, previous, nasnet_normal, 8, "nas_n")
    x = layers.Activation("relu", name="nas_relu")(x)
    x = layers.UpSampling2D(2, name="nas_up")(x)
    x = blocks.conv_bn_act(x, 24, 1, act="relu6", name="expand")  # conv -> folded BN -> ReLU6
    x = layers.SeparableConv2D(24, 3, padding="same", use_bias=False, name="separable")(x)
    x = layers.BatchNormalization(name="separable_bn")(x)
    x = layers.Activation("relu", name="separable_relu")(x)
    # MobileNetV3 (h-swish, h-sigmoid SE, Multiply, Add) and EfficientNet (swish, sigmoid SE, stochastic depth)
    naming = BlockNaming(prefix=lambda i: f"ir{i}_")
    x = inverted_residual(x, expanded_filters=48, out_filters=24, kernel_size=3, stride=1, act="hard_swish",
                          se_ratio=0.25, index=0, naming=naming)
    x = inverted_residual(x, expanded_filters=48, out_filters=24, kernel_size=3, stride=1, act="swish",
                          se_ratio=0.25, index=1, naming=naming, drop_rate=0.2,
                          se_style=SqueezeExciteStyle(divisor=1, inner_act="swish", gate_act="sigmoid"))
    # ShuffleNet V1 (grouped convs, shuffle, stride-2 concat with an average pool) and V2 (split)
    x = shufflenet_v1_unit(x, 48, stride=2, groups=2, first_groups=2, prefix="v1a")  # 4x4
    x = shufflenet_v1_unit(x, 48, stride=1, groups=2, first_groups=2, prefix="v1b")
    x = shufflenet_v2_unit(x, 48, stride=1, prefix="v2")
    # Inception: conv-BN-Activation(relu) branches, a max pool and a nested concatenation into the concatenation
    branches = []
    for i in range(2):
        b = layers.Conv2D(16, 1, use_bias=False, name=f"inc_b{i}_conv")(x)
        b = layers.BatchNormalization(name=f"inc_b{i}_bn")(b)
        branches.append(layers.Activation("relu", name=f"inc_b{i}_relu")(b))
    fork = layers.Concatenate(name="inc_fork")(branches)
    avg = layers.AveragePooling2D(3, strides=1, padding="same", name="inc_avg")(x)
    avg = blocks.conv_bn_act(avg, 16, 1, name="inc_avg_proj")
    pool = layers.MaxPooling2D(3, strides=1, padding="same", name="inc_max")(x)
    x = layers.Concatenate(name="inc_concat")([fork, avg, pool])
    # SqueezeNet fire module (ReLU -> Concatenate), then DenseNet (conv -> concat, BN affine after concat)
    x = fire(x, 16, 32, 32, prefix="fire")
    x = dense_blocks.dense_block(x, 2, growth_rate=8, bottleneck=True, name="dense")
    x = dense_blocks.transition(x, 0.5, name="trans")  # 2x2
    # ResNet: post-activation with grouped conv and SE, pre-activation (BN affine, max-pool shortcut)
    x = residual_block(x, kind="bottleneck", width=32, out_channels=64, groups=4, se_ratio=4,
                       names=ResidualBlockNames("keras", "res_a", preact=False))
    x = residual_block(x, kind="preact_bottleneck", width=16, out_channels=64, stride=2,
                       names=ResidualBlockNames("keras", "res_b", preact=True))
    x = layers.UpSampling2D(2, name="upsample")(x)
    # Segmentation heads (DeepLabV3's image pooling, LR-ASPP): bilinear ResizeLike into a
    # concatenation, and to the input's size into the pooling below
    pooled = layers.GlobalAveragePooling2D(keepdims=True, name="seg_pool")(x)
    pooled = ResizeLike(name="seg_pool_resize")([pooled, x])
    x = layers.Concatenate(name="seg_concat")([x, pooled])
    x = ResizeLike(name="seg_resize")([x, inputs])
    # MobileNet V1's head (conv classifier, Reshape, softmax Activation) feeding VGG's (Flatten, Dense)
    x = layers.GlobalAveragePooling2D(keepdims=True, name="gap")(x)
    x = layers.Dropout(0.1, name="head_dropout")(x)
    x = layers.Conv2D(32, 1, name="head_conv")(x)
    # SSDLite's outputs: each level's predictions Reshaped to (boxes, columns) into a Concatenate along the boxes
    levels = [layers.Reshape((-1, 16), name=f"det_reshape_{i}")(x) for i in range(2)]
    boxes = layers.Concatenate(axis=1, name="det_concat")(levels)
    boxes = layers.Conv2D(32, 1, name="det_proj")(layers.Reshape((1, 1, 64), name="det_flat")(boxes))
    x = layers.Add(name="det_add")([x, boxes])
    x = layers.Reshape((32,), name="head_reshape")(x)
    x = layers.Activation("softmax", name="head_softmax")(x)
    x = layers.Dense(16, name="fc1")(x)
    x = layers.ReLU(name="fc1_relu")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(16, activation="relu", name="fc2")(x)
    x = layers.Dense(classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, x, name="zoo_motifs")
