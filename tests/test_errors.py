"""Bad arguments give a ValueError that names the argument and what would work."""

import h5py
import pytest

import keras_lightnets as kl


@pytest.mark.parametrize("builder", [kl.MobileNet, kl.MobileNetV2, kl.MobileNetV3Large, kl.MobileNetV3Small])
class TestEveryBuilder:
    def test_imagenet_weights_need_1000_classes(self, builder):
        with pytest.raises(ValueError, match=r"classes=1000.*include_top=False"):
            builder(weights="imagenet", classes=10)

    @pytest.mark.parametrize("alpha", [0, -1, "big"])
    def test_alpha_must_be_positive(self, builder, alpha):
        with pytest.raises(ValueError, match="alpha"):
            builder(alpha=alpha)

    def test_input_smaller_than_32_pixels(self, builder):
        with pytest.raises(ValueError, match=r"at least 32x32.*input_shape=\(16, 16, 3\)"):
            builder(input_shape=(16, 16, 3))

    def test_pretrained_weights_need_3_channels(self, builder):
        with pytest.raises(ValueError, match="3 input channels"):
            builder(input_shape=(96, 96, 1), weights="imagenet", include_top=False)

    def test_missing_weights_file(self, builder):
        with pytest.raises(ValueError, match="weights.*no/such/file.h5"):
            builder(weights="no/such/file.h5")

    def test_unknown_pooling(self, builder):
        with pytest.raises(ValueError, match="pooling.*'avg' or 'max'"):
            builder(include_top=False, pooling="mean")

    def test_input_shape_must_have_three_dims(self, builder):
        with pytest.raises(ValueError, match="height, width, channels"):
            builder(input_shape=(96, 96))

    def test_out_strides_must_exist(self, builder):
        with pytest.raises(ValueError, match="out_strides"):
            builder(input_shape=(96, 96, 3), features_only=True, out_strides=(64,))


def test_grayscale_input_is_fine_without_weights():
    assert kl.MobileNetV3Small(input_shape=(64, 64, 1), classes=3).input_shape == (None, 64, 64, 1)


@pytest.mark.parametrize(
    "builder, kwargs, message",
    [
        (kl.MobileNetV3Large, {"alpha": 0.5}, "alpha must be 0.75 or 1.0"),
        (kl.MobileNetV3Small, {"alpha": 0.75, "minimalistic": True}, "alpha must be 0.75 or 1.0"),
        (kl.MobileNetV2, {"alpha": 0.6}, r"alpha must be one of \(0.35"),
        (kl.MobileNet, {"alpha": 0.6}, r"alpha must be one of \(1.0, 0.75"),
        (kl.MobileNet, {"depth_multiplier": 2}, "depth_multiplier must be 1"),
    ],
)
def test_imagenet_weights_only_for_published_configurations(builder, kwargs, message):
    with pytest.raises(ValueError, match=message):
        builder(weights="imagenet", **kwargs)


def test_weights_of_another_width_name_the_layers(tmp_path):
    path = tmp_path / "small_075.weights.h5"
    kl.MobileNetV3Small(alpha=0.75, input_shape=(64, 64, 3)).save_weights(path)
    with pytest.raises(ValueError, match=r"do not fit model.*shape mismatch.*expanded_conv.*same architecture arguments"):
        kl.MobileNetV3Small(input_shape=(64, 64, 3), weights=str(path))


def test_weights_of_another_architecture_list_missing_layers(tmp_path):
    path = tmp_path / "v2.h5"
    kl.MobileNetV2(input_shape=(64, 64, 3), alpha=0.35).save(path)
    with pytest.raises(ValueError, match=r"no weights in the file for conv, conv_bn"):
        kl.MobileNetV3Small(input_shape=(64, 64, 3), weights=str(path))


def test_corrupt_weights_file(tmp_path):
    path = tmp_path / "broken.h5"
    path.write_bytes(b"not an hdf5 file at all")
    with pytest.raises(ValueError, match=r"Cannot read weight file .*broken.h5"):
        kl.MobileNetV3Small(weights=str(path))


def test_h5_file_without_weights(tmp_path):
    path = tmp_path / "empty.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("something", data=[1, 2, 3])
    with pytest.raises(ValueError, match="holds no Keras weights"):
        kl.MobileNetV3Small(weights=str(path))


def test_depth_multiplier_must_be_a_positive_integer():
    with pytest.raises(ValueError, match="depth_multiplier"):
        kl.MobileNet(depth_multiplier=0)


def test_unknown_registry_name_suggests_close_ones():
    with pytest.raises(ValueError, match=r"Unknown model 'mobilenet_v3_larg'.*Did you mean mobilenet_v3_large"):
        kl.create_model("mobilenet_v3_larg")
