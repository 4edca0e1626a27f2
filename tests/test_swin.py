"""Swin Transformer: the shifted-window attention against a NumPy transcription of
torchvision's `shifted_window_attention` (padding, cyclic shift, mask, relative
position bias), a whole small network against torchvision's forward, exact
parameter counts, multiply-adds, sizes that are not multiples of the window,
backbone mode, stochastic depth, safe round trip, training, TFLite fidelity and
the errors of bad arguments."""

import keras
import numpy as np
import pytest
from scipy.special import erf

import keras_lightnets as kl
from keras_lightnets import tflite as kt
from keras_lightnets.data import load_digits
from keras_lightnets.layers.window_attention import PatchMerge
from keras_lightnets.layers.window_attention import WindowAttention
from keras_lightnets.layers.window_attention import WindowPartition
from keras_lightnets.layers.window_attention import WindowReverse
from keras_lightnets.layers.window_attention import effective_shift

from figures import at_least  # tests/figures.py: bounds on trained figures, measured across seeds
from figures import at_most
from eager import infer  # tests/eager.py: model(x) as numpy, no predict trace

# Two stages, window 4, at 40x40: the 10x10 map pads to 12x12 (9 windows, shifted
# by 2), merging makes it 5x5, padded to 8x8 (4 windows, still shifted).
TINY = dict(embed_dim=16, depths=(2, 2), num_heads=(2, 4), window_size=4)


def randomize(model, seed=0, scale=0.3):
    """Non-trivial values for every weight; LayerNorm gammas around 1 and bias
    tables large enough that a misplaced bias would show."""
    rng = np.random.RandomState(seed)
    for w in model.weights:
        values = rng.normal(0.0, 1.0 if "relative_position" in w.path else scale, w.shape)
        w.assign((values + 1.0 if w.path.endswith("gamma") else values).astype("float32"))


# ---- torchvision's swin_transformer.py, transcribed to NumPy (nn.Linear as x @ W + b) ----

def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _layer_norm(x, gamma, beta, eps=1e-5):
    return (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + eps) * gamma + beta


def torchvision_shifted_window_attention(x, qkv_w, qkv_b, proj_w, proj_b, table, window, num_heads, shift):
    B, H, W, C = x.shape
    pad_r, pad_b = (window - W % window) % window, (window - H % window) % window
    x = np.pad(x, ((0, 0), (0, pad_b), (0, pad_r), (0, 0)))
    _, pad_H, pad_W, _ = x.shape
    shift = list(shift)
    if window >= pad_H:
        shift[0] = 0
    if window >= pad_W:
        shift[1] = 0
    if sum(shift) > 0:
        x = np.roll(x, shift=(-shift[0], -shift[1]), axis=(1, 2))
    num_windows = (pad_H // window) * (pad_W // window)
    x = x.reshape(B, pad_H // window, window, pad_W // window, window, C)
    x = x.transpose(0, 1, 3, 2, 4, 5).reshape(B * num_windows, window * window, C)
    qkv = (x @ qkv_w + qkv_b).reshape(x.shape[0], x.shape[1], 3, num_heads, C // num_heads).transpose(2, 0, 3, 1, 4)
    q, k, v = qkv[0], qkv[1], qkv[2]
    q = q * (C // num_heads) ** -0.5
    attn = q @ k.transpose(0, 1, 3, 2)
    # define_relative_coords + _get_relative_position_bias
    coords = np.stack(np.meshgrid(np.arange(window), np.arange(window), indexing="ij")).reshape(2, -1)
    relative = (coords[:, :, None] - coords[:, None, :]).transpose(1, 2, 0).copy()
    relative[:, :, 0] += window - 1
    relative[:, :, 1] += window - 1
    relative[:, :, 0] *= 2 * window - 1
    n = window * window
    bias = table[relative.sum(-1).reshape(-1)].reshape(n, n, -1).transpose(2, 0, 1)[None]
    attn = attn + bias
    if sum(shift) > 0:
        attn_mask = np.zeros((pad_H, pad_W))
        h_slices = ((0, -window), (-window, -shift[0]), (-shift[0], None))
        w_slices = ((0, -window), (-window, -shift[1]), (-shift[1], None))
        count = 0
        for h in h_slices:
            for w in w_slices:
                attn_mask[h[0]:h[1], w[0]:w[1]] = count
                count += 1
        attn_mask = attn_mask.reshape(pad_H // window, window, pad_W // window, window)
        attn_mask = attn_mask.transpose(0, 2, 1, 3).reshape(num_windows, n)
        attn_mask = attn_mask[:, None, :] - attn_mask[:, :, None]
        attn_mask = np.where(attn_mask != 0, -100.0, 0.0)
        attn = attn.reshape(B, num_windows, num_heads, n, n) + attn_mask[None, :, None]
        attn = attn.reshape(-1, num_heads, n, n)
    attn = _softmax(attn)
    x = (attn @ v).transpose(0, 2, 1, 3).reshape(-1, n, C)
    x = x @ proj_w + proj_b
    x = x.reshape(B, pad_H // window, pad_W // window, window, window, C)
    x = x.transpose(0, 1, 3, 2, 4, 5).reshape(B, pad_H, pad_W, C)
    if sum(shift) > 0:
        x = np.roll(x, shift=(shift[0], shift[1]), axis=(1, 2))
    return x[:, :H, :W]


def torchvision_patch_merging(x):
    H, W = x.shape[1:3]
    x = np.pad(x, ((0, 0), (0, H % 2), (0, W % 2), (0, 0)))
    return np.concatenate([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], axis=-1)


def torchvision_swin_forward(images, model, depths, window):
    """SwinTransformer.forward with our model's weights (read by layer name)."""
    get = lambda name: model.get_layer(name).get_weights()  # noqa: E731
    kernel, bias = get("patch_embed")
    B, H, W, C = images.shape
    patches = images.reshape(B, H // 4, 4, W // 4, 4, C).transpose(0, 1, 3, 2, 4, 5).reshape(B, H // 4, W // 4, -1)
    x = _layer_norm(patches @ kernel.reshape(-1, kernel.shape[-1]) + bias, *get("patch_embed_norm"))
    for s, depth in enumerate(depths, start=1):
        if s > 1:
            x = torchvision_patch_merging(x)
            x = _layer_norm(x, *get(f"stage{s}_merge_norm")) @ get(f"stage{s}_merge_reduction")[0]
        for b in range(depth):
            p = f"stage{s}_block{b}"
            heads = model.get_layer(f"{p}_attn").num_heads
            y = torchvision_shifted_window_attention(
                _layer_norm(x, *get(f"{p}_norm1")), *get(f"{p}_attn_qkv"), *get(f"{p}_attn_proj"),
                get(f"{p}_attn")[0], window, heads, [0, 0] if b % 2 == 0 else [window // 2] * 2,
            )
            x = x + y
            w1, b1 = get(f"{p}_mlp_fc1")
            y = _layer_norm(x, *get(f"{p}_norm2")) @ w1 + b1
            y = 0.5 * y * (1.0 + erf(y / np.sqrt(2.0)))
            w2, b2 = get(f"{p}_mlp_fc2")
            x = x + y @ w2 + b2
    x = _layer_norm(x, *get("norm")).mean(axis=(1, 2))
    w, b = get("head")
    return x @ w + b


# ---- the attention layers alone ----

def _attention_block(size, channels, heads, window, shift):
    """Our SW-MSA as the builder wires it: partition -> qkv -> attention -> proj -> reverse."""
    shift = effective_shift(size, (window, window), shift)
    inputs = keras.Input((*size, channels))
    x = WindowPartition(window, shift)(inputs)
    x = keras.layers.Dense(3 * channels, name="qkv")(x)
    x = WindowAttention(heads, window, size, shift, name="attn")(x)
    x = keras.layers.Dense(channels, name="proj")(x)
    return keras.Model(inputs, WindowReverse(window, size, shift)(x))


@pytest.mark.parametrize(
    "size, window, shift",
    [
        ((8, 8), 4, (0, 0)),  # W-MSA, no padding
        ((10, 13), 4, (2, 2)),  # SW-MSA on a padded map (12 x 16)
        ((3, 10), 4, (2, 2)),  # one window high: no shift along rows (torchvision's rule)
        ((14, 14), 7, (3, 3)),  # Swin's M = 7
    ],
    ids=["w-msa", "sw-msa-padded", "one-row-of-windows", "window-7"],
)
def test_window_attention_equals_torchvision(size, window, shift):
    channels, heads = 12, 3
    model = _attention_block(size, channels, heads, window, shift)
    randomize(model, seed=1)
    x = np.random.RandomState(2).normal(size=(2, *size, channels)).astype("float32")
    expected = torchvision_shifted_window_attention(
        x.astype("float64"), *model.get_layer("qkv").get_weights(), *model.get_layer("proj").get_weights(),
        model.get_layer("attn").get_weights()[0], window, heads, list(shift),
    )
    np.testing.assert_allclose(infer(model, x), expected, atol=2e-5, rtol=0)
    table = model.get_layer("attn").weights[0]
    assert table.shape == ((2 * window - 1) ** 2, heads)


def test_shifted_windows_are_masked():
    """Shifted by 2 on an 8x8 map, the last window column holds the old columns
    6, 7 | 0, 1: two regions of the map that the mask keeps apart. Changing
    column 7 changes column 6's output (same region), not column 0's (same
    window, other region) -- which the unmasked attention would."""
    model = _attention_block((8, 8), 4, 1, 4, (2, 2))
    randomize(model)
    x = np.random.RandomState(0).normal(size=(1, 8, 8, 4)).astype("float32")
    changed = x.copy()
    changed[:, :, 7] += 5.0
    a, b = infer(model, x), infer(model, changed)
    np.testing.assert_allclose(a[:, :, 0], b[:, :, 0], atol=1e-6)
    assert np.abs(a[:, :, 6] - b[:, :, 6]).max() > 1e-3


def test_patch_merge_order_and_odd_sizes():
    for size in ((4, 6), (5, 7)):
        x = np.arange(2 * size[0] * size[1] * 3, dtype="float32").reshape(2, *size, 3)
        np.testing.assert_array_equal(PatchMerge()(x), torchvision_patch_merging(x))


# ---- the network ----

def test_network_equals_torchvision_forward_on_real_photos(photos):
    model = kl.SwinTransformer(**TINY, input_shape=(40, 40, 3), classes=5, classifier_activation=None,
                               stochastic_depth_rate=0.2)  # inference: drop path is the identity
    randomize(model, scale=0.2)
    images = photos(40).astype("float32") / 255.0
    expected = torchvision_swin_forward(images.astype("float64"), model, TINY["depths"], TINY["window_size"])
    assert np.abs(expected).max() > 0.1
    np.testing.assert_allclose(infer(model, images), expected, atol=1e-4 * np.abs(expected).max(), rtol=0)
    # The shift is on every second block, and kept at 5x5 (padded to 8x8: two windows a side).
    assert model.get_layer("stage1_block1_attn").shift_size == (2, 2)
    assert model.get_layer("stage2_block1_attn").shift_size == (2, 2)
    assert model.get_layer("stage2_block0_attn").shift_size == (0, 0)


@pytest.mark.parametrize(
    "builder, expected",
    [
        (kl.SwinT, 28_288_354),
        pytest.param(kl.SwinS, 49_606_258, marks=pytest.mark.slow),
        pytest.param(kl.SwinB, 87_768_224, marks=pytest.mark.slow),
    ],
    ids=["T", "S", "B"],
)
def test_parameter_counts_equal_torchvision(builder, expected):
    """torchvision's swin_t/s/b (num_params). No weight depends on the input
    size (padding keeps the 13x13 bias tables), so a 64x64 build counts the same."""
    model = builder(input_shape=(64, 64, 3))
    assert model.count_params() == expected
    assert model.get_layer("stage1_block0_attn").weights[0].shape == (13 * 13, 3 if expected < 8e7 else 4)


def test_multiply_adds_count_window_attention():
    """QK^T and AV: 2 N^2 C per window (N = M^2); the rest are the Dense
    projections, MLPs and merges, counted as Dense."""
    model = kl.SwinTransformer(**TINY, input_shape=(40, 40, 3), classes=5)
    rows = {r.name: r for r in kl.profile(model, per_layer=True).layers}
    assert rows["stage1_block1_attn"].macs == 9 * 2 * 16 ** 2 * 16  # 9 windows of 16 tokens, C = 16
    assert rows["stage2_block0_attn"].macs == 4 * 2 * 16 ** 2 * 32
    assert rows["stage1_block0_attn_qkv"].macs == 9 * 16 * 16 * 48  # padded tokens are computed too
    stage1 = 2 * (144 * 16 * 48 + 9 * 2 * 256 * 16 + 144 * 16 * 16 + 2 * 100 * 16 * 64)
    stage2 = 2 * (64 * 32 * 96 + 4 * 2 * 256 * 32 + 64 * 32 * 32 + 2 * 25 * 32 * 128)
    merge, embed, head = 25 * 64 * 32, 100 * 48 * 16, 32 * 5
    assert kl.profile(model).macs == stage1 + stage2 + merge + embed + head


def test_sizes_that_are_not_multiples_of_the_window():
    """96x96 (the shared tests' size): maps 24, 12, 6, 3 pad to 28, 14, 7, 7; the
    last two stages are one window each and do not shift. 33x47 builds too."""
    model = kl.SwinTransformer(embed_dim=8, depths=(2, 2, 2, 2), num_heads=(1, 1, 2, 2), input_shape=(96, 96, 3), classes=3)
    shifts = [model.get_layer(f"stage{s}_block1_attn").shift_size for s in (1, 2, 3, 4)]
    assert shifts == [(3, 3), (3, 3), (0, 0), (0, 0)]
    assert model.get_layer("stage1_block1_attn_partition").output.shape == (None, 16, 49, 8)
    assert model.get_layer("stage4_block1_attn_partition").output.shape == (None, 1, 49, 64)
    odd = kl.SwinTransformer(embed_dim=8, depths=(2, 2), num_heads=(1, 2), input_shape=(33, 47, 3), features_only=True,
                             out_strides=(4, 8))
    assert [tuple(t.shape[1:]) for t in odd.outputs] == [(8, 11, 8), (4, 6, 16)]


def test_backbone_mode_gives_strides_4_to_32(tmp_path):
    kwargs = dict(embed_dim=8, depths=(1, 1, 1, 1), num_heads=(1, 2, 2, 4), input_shape=(64, 64, 3))
    full = kl.SwinTransformer(**kwargs, classes=4)
    full.save(tmp_path / "full.keras")
    backbone = kl.SwinTransformer(**kwargs, features_only=True, weights=str(tmp_path / "full.keras"))
    assert [tuple(t.shape[1:]) for t in backbone.outputs] == [(16, 16, 8), (8, 8, 16), (4, 4, 32), (2, 2, 64)]
    for name in ("patch_embed", "stage3_block0_attn", "stage4_merge_reduction"):
        for got, want in zip(backbone.get_layer(name).get_weights(), full.get_layer(name).get_weights()):
            np.testing.assert_array_equal(got, want)
    assert backbone.outputs[-1] is backbone.get_layer("norm").output  # the last map is layer-normed
    with pytest.raises(ValueError, match=r"out_strides.*\[4, 8, 16, 32\]"):
        kl.SwinTransformer(**kwargs, features_only=True, out_strides=(2, 4))


def test_stochastic_depth_drops_whole_samples_in_training_only():
    model = kl.SwinTransformer(**TINY, input_shape=(40, 40, 3), classes=5, stochastic_depth_rate=0.3)
    rates = [model.get_layer(f"stage{s}_block{b}_drop_path1").rate for s, b in ((1, 1), (2, 0), (2, 1))]
    np.testing.assert_allclose(rates, [0.1, 0.2, 0.3])  # 0.3 * i / 3 over the 4 blocks; block 0 has none
    assert "stage1_block0_drop_path1" not in [layer.name for layer in model.layers]
    drop = model.get_layer("stage2_block1_drop_path2")
    ones = np.ones((64, 5, 5, 32), "float32")
    out = keras.ops.convert_to_numpy(drop(ones, training=True))
    per_sample = out.reshape(64, -1)
    assert (per_sample.min(axis=1) == per_sample.max(axis=1)).all()  # the whole sample, or nothing
    kept = per_sample[:, 0] != 0
    assert 0 < kept.sum() < 64
    np.testing.assert_allclose(per_sample[kept], 1 / 0.7, rtol=1e-6)  # kept samples are rescaled
    np.testing.assert_array_equal(drop(ones, training=False), ones)


def test_keras_file_round_trip_in_safe_mode(photos, tmp_path):
    model = kl.SwinTransformer(**TINY, input_shape=(40, 40, 3), classes=5, include_preprocessing=True,
                               dropout_rate=0.1, stochastic_depth_rate=0.1)
    randomize(model, scale=0.1)
    model.save(tmp_path / "swin.keras")
    loaded = keras.models.load_model(tmp_path / "swin.keras", safe_mode=True)  # no custom_objects
    x = photos(40).astype("float32")
    np.testing.assert_array_equal(infer(loaded, x), infer(model, x))
    assert loaded.get_layer("stage1_block1_attn").get_config()["shift_size"] == (2, 2)


def test_fit_reduces_loss_on_real_digits():
    keras.utils.set_random_seed(3)
    (x, y), _ = load_digits(image_size=32, num_classes=5)
    x, y = x[:704], y[:704]  # whole batches of 32: a last, smaller batch would trace the step again
    model = kl.SwinTransformer(embed_dim=24, depths=(2, 1), num_heads=(2, 4), window_size=4, input_shape=(32, 32, 3),
                               classes=5, include_preprocessing=True)
    model.compile(keras.optimizers.Adam(2e-3), "sparse_categorical_crossentropy", metrics=["accuracy"], jit_compile=False)
    history = model.fit(x, y, batch_size=32, epochs=4, verbose=0)
    losses = history.history["loss"]
    at_most("small swin: last / first epoch loss", losses[-1] / losses[0], 0.5)
    at_least("small swin: last epoch accuracy", history.history["accuracy"][-1], 0.7)


def test_tflite_float32_agrees_with_keras_on_real_photos(photos, tmp_path):
    """Padding, shift (as slices + concatenation), masks and bias tables convert
    to TFLite builtins and agree with Keras to 1e-4 on logits."""
    model = kl.SwinTransformer(embed_dim=16, depths=(2, 1), num_heads=(2, 4), window_size=4, input_shape=(40, 40, 3),
                               classes=5, include_preprocessing=True, classifier_activation=None)
    randomize(model, scale=0.15)
    x = photos(40).astype("float32")
    report = kt.convert(model, tmp_path / "swin.tflite", verify=True, verify_data=x)
    assert np.abs(infer(model, x)).max() > 0.1
    assert report.fidelity["max_abs_diff"] <= 1e-4, report.fidelity
    assert report.op_counts["SOFTMAX"] == 3 and "ROLL" not in report.op_counts


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: kl.SwinTransformer(depths=(2, 2), num_heads=(3, 6, 12)), r"one entry per stage; received 2 and 3"),
        (lambda: kl.SwinTransformer(embed_dim=96, num_heads=(5, 6, 12, 24)), r"Stage 1 has 96 channels, not divisible by its num_heads=5"),
        (lambda: kl.SwinTransformer(depths=(2, 0, 6, 2)), r"`depths` must be a non-empty sequence of positive integers"),
        (lambda: kl.SwinTransformer(window_size=1), r"`window_size` \(M\) must be an integer >= 2"),
        (lambda: kl.SwinT(stochastic_depth_rate=1.2), r"`stochastic_depth_rate` must be in \[0, 1\)"),
        (lambda: kl.SwinT(input_shape=(None, None, 3), include_top=False), r"needs a static input size"),
        (lambda: kl.SwinT(weights="imagenet"), r"No ImageNet weights.*PyTorch checkpoints"),
        (lambda: kl.SwinT(input_shape=(16, 16, 3)), r"at least 32x32"),
        (lambda: WindowAttention(2, 4, (8, 8), shift_size=(4, 4)), r"`shift_size` must be in \[0, window_size\)"),
    ],
    ids=["stages", "heads", "depths", "window", "drop-path", "open-dims", "imagenet", "too-small", "shift"],
)
def test_bad_arguments_name_the_argument(build, message):
    with pytest.raises(ValueError, match=message):
        build()
