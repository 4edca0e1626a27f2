"""Keras on JAX: the package imports without TensorFlow, and a registry model builds,
compiles with its paper recipe and fits a step on real images. A subprocess, since
the backend is fixed when Keras is first imported."""

import json
import os
import subprocess
import sys
import textwrap

import jax  # noqa: F401  (a broken install fails here; the test itself runs JAX in a subprocess)
import pytest

SCRIPT = textwrap.dedent("""
    import json, sys
    import keras_lightnets as kl
    heavy = sorted(m for m in ("tensorflow", "tensorflow_datasets", "tf_keras", "ai_edge_litert") if m in sys.modules)
    import keras
    import numpy as np

    model = kl.create_model("mobilenet_v1_025", input_shape=(32, 32, 3), classes=3)
    (x, y), _ = kl.data.load_digits(image_size=32, num_classes=3)
    x, y = x[:8].astype("float32"), y[:8]
    recipe = kl.training.recipe(model, batch_size=8, steps_per_epoch=1, epochs=1)
    recipe.compile(model)
    before = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    after = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
    probs = keras.ops.convert_to_numpy(model.predict(x[:2], verbose=0))
    print(json.dumps({
        "backend": keras.backend.backend(),
        "heavy_modules_after_import": heavy,
        "recipe": recipe.name,
        "loss": float(history.history["loss"][0]),
        "weights_changed": sum(not np.array_equal(a, b) for a, b in zip(before, after)),
        "weights": len(before),
        "l2_terms": len(model.losses),
        "prob_sums": probs.sum(axis=1).tolist(),
    }))
""")


def test_registry_model_fits_on_jax():
    # XLA at its lowest optimisation level: compiling dominates a one-step run.
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="3",
               XLA_FLAGS="--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true")
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["backend"] == "jax"
    assert report["heavy_modules_after_import"] == []  # models, layers, recipes: no TensorFlow
    assert report["recipe"] == "mobilenet_v1"
    assert report["loss"] > 0 and report["weights_changed"] == report["weights"]
    assert report["l2_terms"] > 0  # the recipe's weight decay works on JAX too
    assert report["prob_sums"] == pytest.approx([1.0, 1.0], rel=1e-5)
