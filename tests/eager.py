"""`infer(model, x)`: the model run eagerly on a small batch, as numpy -- what
`model.predict(x, verbose=0)` returns, without tracing a predict function first. The
trace is most of a single predict's cost: 3.8-10 s for ResNet-50 / MobileNetV3-Large /
DenseNet-121 on this CI's CPUs against 0.5-1.1 s eagerly, with identical outputs
(measured here); the suite compares models on one batch hundreds of times."""

import keras


def infer(model, x):
    outputs = model(keras.ops.convert_to_tensor(x, dtype=model.inputs[0].dtype), training=False)
    return keras.tree.map_structure(keras.ops.convert_to_numpy, outputs)
