"""The main job: build a registered model, train it on the bundled digits, evaluate
it and report its profile. (The converter and benchmark stages join it as those
parts of the package land.)"""

import dataclasses
import time

import keras

from keras_lightnets.data import load_digits
from keras_lightnets.profile import profile
from keras_lightnets.registry import create_model


@dataclasses.dataclass
class DemoResult:
    model_name: str
    image_size: int
    epochs: int
    train_loss: list
    test_accuracy: float
    train_seconds: float
    params: int
    macs: int


def short_schedule_batch_norm(model, momentum=0.9):
    """The papers' BN momentum (0.99-0.999) suits 100+ epochs; for a run of a few
    hundred steps the moving statistics would lag far behind, so evaluation in
    inference mode would be meaningless. Lower it for short runs."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = momentum


def run_demo(model_name="mobilenet_v3_small", image_size=64, epochs=8, batch_size=32, learning_rate=2e-3, seed=0, verbose=1):
    keras.utils.set_random_seed(seed)
    (x_train, y_train), (x_test, y_test) = load_digits(image_size=image_size, seed=seed)
    num_classes = int(y_train.max()) + 1
    model = create_model(model_name, input_shape=(image_size, image_size, 3), classes=num_classes)
    short_schedule_batch_norm(model)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    start = time.perf_counter()
    history = model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, verbose=verbose, shuffle=True)
    train_seconds = time.perf_counter() - start
    _, accuracy = model.evaluate(x_test, y_test, batch_size=128, verbose=0)
    stats = profile(model)
    return model, DemoResult(
        model_name=model_name,
        image_size=image_size,
        epochs=epochs,
        train_loss=[float(v) for v in history.history["loss"]],
        test_accuracy=float(accuracy),
        train_seconds=train_seconds,
        params=stats.params,
        macs=stats.macs,
    )


def format_result(result: DemoResult):
    losses = " -> ".join(f"{v:.3f}" for v in result.train_loss)
    return "\n".join([
        f"model            {result.model_name} @ {result.image_size}x{result.image_size}x3, 10 digit classes",
        f"training         {result.epochs} epochs in {result.train_seconds:.1f} s, loss {losses}",
        f"test accuracy    {result.test_accuracy * 100:.2f}% (held-out real handwritten digits)",
        f"parameters       {result.params:,}",
        f"multiply-adds    {result.macs / 1e6:.2f} M per image",
    ])
