"""ViT: exact parameter counts against torchvision and timm, numerical agreement
with a NumPy transcription of torchvision's VisionTransformer.forward, the
multiply-adds of attention, input sizes, backbone and pooling modes, safe
round trip, training, TFLite float32 fidelity, and the errors of bad arguments."""

import keras
import numpy as np
import pytest
from scipy.special import erf

from figures import at_least, at_most  # tests/figures.py
import keras_lightnets as kl
from keras_lightnets import tflite as kt
from keras_lightnets.data import load_digits
from keras_lightnets.models import vit
from eager import infer  # tests/eager.py: model(x) as numpy, no predict trace

TINY = dict(patch_size=8, depth=2, num_heads=2, width=32, mlp_dim=64)


def randomize(model, seed=0, scale=0.3):
    """Non-trivial values for every weight (zero biases or a zero class token
    would hide a misplaced term); LayerNorm gammas around 1."""
    rng = np.random.RandomState(seed)
    for w in model.weights:
        values = rng.normal(0.0, scale, w.shape)
        w.assign((values + 1.0 if w.path.endswith("gamma") else values).astype("float32"))


def torchvision_state(model, depth):
    """Our weights in torchvision's layout (nn.Linear: (out, in); in_proj: q|k|v rows)."""
    get = lambda name: model.get_layer(name).get_weights()  # noqa: E731
    state = {}
    kernel, bias = get("conv_proj")
    state["conv_proj"] = (kernel, bias)
    state["class_token"] = get("class_token")[0]
    state["pos_embedding"] = get("pos_embedding")[0]
    for i in range(depth):
        p = f"encoder_layer_{i}"
        wq, bq, wk, bk, wv, bv, wo, bo = get(f"{p}_self_attention")
        width = wq.shape[0]
        state[f"{p}.in_proj"] = (
            np.concatenate([w.reshape(width, width).T for w in (wq, wk, wv)]),  # (3D, D), heads major
            np.concatenate([b.reshape(-1) for b in (bq, bk, bv)]),
        )
        state[f"{p}.out_proj"] = (wo.reshape(width, width).T, bo)
        state[f"{p}.ln_1"], state[f"{p}.ln_2"] = get(f"{p}_ln_1"), get(f"{p}_ln_2")
        state[f"{p}.mlp.0"] = tuple(a.T if a.ndim == 2 else a for a in get(f"{p}_mlp_fc1"))
        state[f"{p}.mlp.3"] = tuple(a.T if a.ndim == 2 else a for a in get(f"{p}_mlp_fc2"))
    state["encoder.ln"] = get("encoder_ln")
    state["heads.head"] = tuple(a.T if a.ndim == 2 else a for a in get("head"))
    return state


def _layer_norm(x, gamma_beta, eps=1e-6):
    gamma, beta = gamma_beta
    mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def _linear(x, weight_bias):
    weight, bias = weight_bias
    return x @ weight.T + bias


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def torchvision_forward(images, state, patch_size, depth, num_heads):
    """torchvision's VisionTransformer.forward, transcribed to NumPy (NHWC input)."""
    n, h, w, c = images.shape
    p = patch_size
    kernel, bias = state["conv_proj"]
    patches = images.reshape(n, h // p, p, w // p, p, c).transpose(0, 1, 3, 2, 4, 5).reshape(n, -1, p * p * c)
    x = patches @ kernel.reshape(p * p * c, -1) + bias  # _process_input: (n, n_h * n_w, D)
    width = x.shape[-1]
    x = np.concatenate([np.broadcast_to(state["class_token"], (n, 1, width)), x], axis=1)
    x = x + state["pos_embedding"]
    d = width // num_heads
    for i in range(depth):
        s = f"encoder_layer_{i}"
        y = _layer_norm(x, state[f"{s}.ln_1"])
        q, k, v = np.split(_linear(y, state[f"{s}.in_proj"]), 3, axis=-1)
        heads = lambda t: t.reshape(n, -1, num_heads, d).transpose(0, 2, 1, 3)  # noqa: E731
        attn = _softmax(heads(q) @ heads(k).transpose(0, 1, 3, 2) / np.sqrt(d))
        y = (attn @ heads(v)).transpose(0, 2, 1, 3).reshape(n, -1, width)
        x = x + _linear(y, state[f"{s}.out_proj"])
        y = _linear(_layer_norm(x, state[f"{s}.ln_2"]), state[f"{s}.mlp.0"])
        y = 0.5 * y * (1.0 + erf(y / np.sqrt(2.0)))  # nn.GELU()
        x = x + _linear(y, state[f"{s}.mlp.3"])
    x = _layer_norm(x, state["encoder.ln"])
    return _linear(x[:, 0], state["heads.head"])


def test_outputs_equal_torchvision_forward_on_real_photos(photos):
    """Class token first, learned position embedding, pre-norm blocks, exact
    GELU, LayerNorm eps 1e-6, head on the class token: to 1e-5, on a non-square
    input (6 x 4 patches)."""
    model = kl.ViT(**TINY, input_shape=(48, 32, 3), classes=5, classifier_activation=None)
    randomize(model)
    images = photos(48)[:, :, :32].astype("float32") / 255.0
    expected = torchvision_forward(images.astype("float64"), torchvision_state(model, 2), 8, 2, 2)
    got = infer(model, images)
    assert np.abs(expected).max() > 0.1
    np.testing.assert_allclose(got, expected, atol=1e-5 * max(1.0, np.abs(expected).max()), rtol=0)
    assert model.get_layer("encoder_ln").epsilon == 1e-6


def _expected_params(patch, depth, width, mlp, tokens, classes=1000):
    """torchvision's count from the definition: patch conv, class token, position
    embedding, blocks (2 LayerNorms, in/out projections, MLP), final LayerNorm, head."""
    block = 2 * 2 * width + (3 * width * width + 3 * width) + (width * width + width) + (2 * width * mlp + mlp + width)
    return 3 * patch * patch * width + width + width + (tokens + 1) * width + depth * block + 2 * width + width * classes + classes


@pytest.mark.parametrize(
    "builder, key, expected",
    [
        (kl.ViTTi16, "vit_ti16", 5_717_416),  # timm vit_tiny_patch16_224 / deit_tiny_patch16_224
        pytest.param(kl.ViTS16, "vit_s16", 22_050_664, marks=pytest.mark.slow),  # timm vit_small_patch16_224
        pytest.param(kl.ViTB16, "vit_b16", 86_567_656, marks=pytest.mark.slow),  # torchvision vit_b_16
        pytest.param(kl.ViTB32, "vit_b32", 88_224_232, marks=pytest.mark.slow),  # torchvision vit_b_32
        pytest.param(kl.ViTL16, "vit_l16", 304_326_632, marks=pytest.mark.slow),  # torchvision vit_l_16
    ],
    ids=["Ti16", "S16", "B16", "B32", "L16"],
)
def test_parameter_counts_equal_torchvision_and_timm(builder, key, expected):
    patch, depth, width, mlp, _ = vit.VIT_TABLE[key]
    assert _expected_params(patch, depth, width, mlp, (224 // patch) ** 2) == expected  # the definition
    model = builder()
    assert model.input_shape == (None, 224, 224, 3)
    assert model.count_params() == expected


def test_attention_multiply_adds_count_qk_and_av():
    """profile() counts Keras' MultiHeadAttention as the q/k/v/output projections
    (4 L D^2) plus QK^T and AV (2 L^2 D), L = 17 tokens here; ViT-Ti/16 at 224
    totals 1.254G multiply-adds (timm: "1.3 GMACs")."""
    model = kl.ViT(**TINY, input_shape=(32, 32, 3), classes=5)
    rows = {r.name: r for r in kl.profile(model, per_layer=True).layers}
    tokens, width = 17, 32
    assert rows["encoder_layer_0_self_attention"].macs == 4 * tokens * width ** 2 + 2 * tokens ** 2 * width
    assert rows["encoder_layer_0_mlp_fc1"].macs == tokens * width * 64
    assert rows["conv_proj"].macs == 16 * 8 * 8 * 3 * width
    tiny_total = 2 * (4 * 17 * 32 ** 2 + 2 * 17 ** 2 * 32 + 2 * 17 * 32 * 64) + 16 * 192 * 32 + 32 * 5
    assert kl.profile(model).macs == tiny_total
    assert kl.profile(kl.ViTTi16()).macs == 1_253_683_200


def test_position_embedding_is_sized_for_the_input():
    for shape, tokens in (((32, 32, 3), 17), ((64, 48, 3), 49)):
        model = kl.ViT(**TINY, input_shape=shape, classes=3)
        assert model.get_layer("pos_embedding").weights[0].shape == (1, tokens, 32)
        assert infer(model, np.zeros((1, *shape), "float32")).shape == (1, 3)


@pytest.mark.parametrize(
    "kwargs, shape",
    [
        (dict(include_top=False), (6, 4, 32)),  # the token map, class token dropped
        (dict(include_top=False, pooling="avg"), (32,)),
        (dict(include_top=False, pooling="max"), (32,)),
        (dict(include_top=False, pooling="token"), (32,)),
    ],
    ids=["map", "avg", "max", "token"],
)
def test_headless_outputs(kwargs, shape):
    model = kl.ViT(**TINY, input_shape=(48, 32, 3), **kwargs)
    assert model.output_shape == (None, *shape)


def test_backbone_mode_is_the_final_token_map(photos, tmp_path):
    """features_only: one map at stride p, the patch tokens after the final
    LayerNorm in row-major order; the class token, what the head reads, is not in it."""
    full = kl.ViT(**TINY, input_shape=(48, 32, 3), classes=5)
    randomize(full)
    full.save(tmp_path / "full.h5")  # legacy .h5: weights keyed by layer name
    backbone = kl.ViT(**TINY, input_shape=(48, 32, 3), weights=str(tmp_path / "full.h5"), features_only=True)
    assert backbone.output_shape == (None, 6, 4, 32) and len(backbone.outputs) == 1
    images = photos(48)[:2, :, :32].astype("float32") / 255.0
    tokens = infer(keras.Model(full.inputs, full.get_layer("encoder_ln").output), images)
    # Same weights, same ops, both eager; the margin is float32 rounding of O(1) values
    # (predict's graph against an eager call differed by 1.4e-6 on one host).
    np.testing.assert_allclose(infer(backbone, images), tokens[:, 1:].reshape(2, 6, 4, 32), atol=1e-5)
    with pytest.raises(ValueError, match=r"single-scale.*stride 8 only.*`out_strides` must be None or \(8,\)"):
        kl.ViT(**TINY, input_shape=(32, 32, 3), features_only=True, out_strides=(4, 8, 16, 32))


def test_keras_file_round_trip_in_safe_mode(photos, tmp_path):
    model = kl.ViT(**TINY, input_shape=(32, 32, 3), classes=5, include_preprocessing=True, dropout_rate=0.1,
                   attention_dropout=0.1, stochastic_depth_rate=0.1)
    randomize(model)
    model.save(tmp_path / "vit.keras")
    loaded = keras.models.load_model(tmp_path / "vit.keras", safe_mode=True)  # no custom_objects
    x = photos(32).astype("float32")
    np.testing.assert_array_equal(infer(loaded, x), infer(model, x))
    assert type(loaded.get_layer("class_token")).__name__ == "ClassToken"
    # Drop path rises linearly from 0 (no layer) at the first block to the rate at the last.
    assert "encoder_layer_0_drop_path_1" not in [layer.name for layer in loaded.layers]
    assert loaded.get_layer("encoder_layer_1_drop_path_1").rate == pytest.approx(0.1)
    assert loaded.get_layer("encoder_layer_1_drop_path_1").noise_shape == (None, 1, 1)


def test_fit_reduces_loss_on_real_digits():
    keras.utils.set_random_seed(2)
    (x, y), _ = load_digits(image_size=32, num_classes=5)
    x, y = x[:704], y[:704]  # whole batches of 32: a last, smaller batch would trace the step again
    model = kl.ViT(patch_size=8, depth=2, num_heads=4, width=64, mlp_dim=128, input_shape=(32, 32, 3), classes=5,
                   include_preprocessing=True)
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"], jit_compile=False)
    history = model.fit(x, y, batch_size=32, epochs=3, verbose=0)
    losses = history.history["loss"]
    at_most("small vit: last / first epoch loss", losses[-1] / losses[0], 0.5)
    at_least("small vit: last epoch accuracy", history.history["accuracy"][-1], 0.7)


def test_tflite_float32_agrees_with_keras_on_real_photos(photos, tmp_path):
    model = kl.ViT(patch_size=8, depth=2, num_heads=2, width=64, mlp_dim=128, input_shape=(64, 64, 3), classes=5,
                   include_preprocessing=True, classifier_activation=None)
    randomize(model, scale=0.1)
    x = photos(64).astype("float32")
    report = kt.convert(model, tmp_path / "vit.tflite", verify=True, verify_data=x)
    assert np.abs(infer(model, x)).max() > 0.1  # logits, not a softmax of near-zeros
    assert report.fidelity["max_abs_diff"] <= 1e-4, report.fidelity
    assert report.op_counts["BATCH_MATMUL"] == 4  # QK^T and AV in each block
    assert report.op_counts["GELU"] == 2


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: kl.ViT(**TINY, input_shape=(36, 36, 3)), r"static input size divisible by patch_size=8.*\(36, 36, 3\)"),
        (lambda: kl.ViT(**TINY, input_shape=(None, None, 3)), r"static input size divisible by patch_size=8"),
        (lambda: kl.ViT(patch_size=8, depth=2, num_heads=3, width=32, mlp_dim=64), r"`width`=32 must be divisible by `num_heads`=3"),
        (lambda: kl.ViT(**{**TINY, "depth": 0}), r"`depth` must be a positive integer"),
        (lambda: kl.ViT(**TINY, stochastic_depth_rate=1.0), r"`stochastic_depth_rate` must be in \[0, 1\)"),
        (lambda: kl.ViT(**TINY, include_top=False, pooling="cls"), r"`pooling` must be one of \(None, 'avg', 'max', 'token'\)"),
        (lambda: kl.ViTB16(weights="imagenet"), r"No ImageNet weights.*PyTorch checkpoints"),
        (lambda: kl.ViT(**TINY, input_shape=(4, 4, 3)), r"at least 8x8"),
    ],
    ids=["indivisible", "open-dims", "heads", "depth", "drop-path", "pooling", "imagenet", "too-small"],
)
def test_bad_arguments_name_the_argument(build, message):
    with pytest.raises(ValueError, match=message):
        build()


@pytest.mark.parametrize("filename", ["full.keras", "full.weights.h5"])
def test_keras3_weight_files_load_attention_sublayers(filename, photos, tmp_path):
    """Keras 3 files keep MultiHeadAttention's weights in sub-layer groups, in an
    order that is not the layer's variable order; they still load by structure."""
    full = kl.ViT(**TINY, input_shape=(32, 32, 3), classes=5)
    randomize(full)
    path = tmp_path / filename
    full.save(path) if filename.endswith(".keras") else full.save_weights(path)
    loaded = kl.ViT(**TINY, input_shape=(32, 32, 3), classes=5, weights=str(path))
    images = photos(32)[:2].astype("float32") / 255.0
    np.testing.assert_array_equal(infer(loaded, images), infer(full, images))
    with pytest.raises(ValueError, match="do not fit model"):
        kl.ViT(**{**TINY, "mlp_dim": 48}, input_shape=(32, 32, 3), classes=5, weights=str(path))
