"""keras_lightnets.data: arrays, folders and tensorflow-datasets (on tfds' mock data)
through the ImageNet-style pipeline."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_lightnets import data


def _batches(dataset):
    return [(x.numpy(), y.numpy()) for x, y in dataset]


def _coordinate_image(size=256):
    """R = row, G = column, B = 0: a crop's pixels tell where it came from."""
    rows, cols = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    return np.stack([rows, cols, np.zeros_like(rows)], axis=-1).astype("uint8")


def test_from_arrays_training_batches():
    x = np.random.RandomState(0).randint(0, 256, (20, 50, 40, 3)).astype("uint8")
    y = np.arange(20) % 4
    dataset = data.from_arrays(x, y, image_size=32, batch_size=8, training=True, seed=1)
    batches = _batches(dataset)
    assert len(batches) == 2  # 20 // 8: training drops the partial batch
    images, labels = batches[0]
    assert images.shape == (8, 32, 32, 3) and images.dtype == np.float32 and labels.dtype == np.int32
    assert 0 <= images.min() and images.max() <= 255 and images.max() > 200  # [0, 255], not rescaled
    assert dataset.num_classes == 4 and dataset.num_examples == 20 and dataset.image_size == (32, 32)
    # A seed makes the crops and flips reproducible; another seed changes them.
    again = _batches(data.from_arrays(x, y, image_size=32, batch_size=8, training=True, seed=1))
    other = _batches(data.from_arrays(x, y, image_size=32, batch_size=8, training=True, seed=2))
    np.testing.assert_array_equal(batches[0][0], again[0][0])
    assert not np.array_equal(batches[0][0], other[0][0])


def test_evaluation_is_resize_and_central_crop():
    image = np.random.RandomState(0).randint(0, 256, (256, 256, 3)).astype("uint8")
    # 224 / 0.875 = 256: no resize, the central 224 x 224.
    (out, _), = _batches(data.from_arrays(image[None], np.zeros(1, int), image_size=224, batch_size=1))
    np.testing.assert_array_equal(out[0], image[16:240, 16:240])
    # A 512 x 256 image for 112: halved to 256 x 128 (TF bilinear with half-pixel
    # centres averages 2 x 2 blocks), then the central 112 x 112.
    tall = np.random.RandomState(1).randint(0, 256, (512, 256, 3)).astype("float32")
    halved = tall.reshape(256, 2, 128, 2, 3).mean(axis=(1, 3))
    (out, _), = _batches(data.from_arrays(tall[None], np.zeros(1, int), image_size=112, batch_size=1))
    np.testing.assert_allclose(out[0], halved[72:184, 8:120], atol=1e-3)


def test_random_resized_crop_samples_inception_boxes():
    image = _coordinate_image(256)
    x = np.repeat(image[None], 64, axis=0)
    images = np.concatenate([b[0] for b in _batches(data.from_arrays(x, np.zeros(64, int), image_size=64, batch_size=32, training=True, seed=3))])
    areas, ratios, flips = [], [], 0
    for crop in images:
        rows, cols = crop[..., 0], crop[..., 1]
        height = rows.max() - rows.min() + 1
        width = cols.max() - cols.min() + 1
        areas.append(height * width / 256.0**2)
        ratios.append(width / height)
        flips += cols[0, 0] > cols[0, -1]
    areas, ratios = np.array(areas), np.array(ratios)
    # Inception's boxes: >= 10% of the image (min_object_covered), aspect 3/4..4/3.
    assert areas.min() > 0.09 and areas.max() <= 1.0 and areas.min() < 0.4
    assert ratios.min() > 0.7 and ratios.max() < 1.4
    assert 10 < flips < 54  # about half flipped


def test_flip_and_crop_can_be_switched_off():
    image = _coordinate_image(64)
    batch = _batches(data.from_arrays(image[None], np.zeros(1, int), batch_size=1, training=True, seed=0,
                                      crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), flip=False))
    np.testing.assert_allclose(batch[0][0][0], image, atol=1e-4)


def test_grayscale_and_rgba_become_rgb():
    gray = np.full((2, 40, 40, 1), 100, "uint8")
    rgba = np.full((2, 40, 40, 4), 50, "uint8")
    for x, value in ((gray, 100), (rgba, 50)):
        (images, _), = _batches(data.from_arrays(x, np.array([0, 1]), image_size=24, batch_size=2))
        assert images.shape == (2, 24, 24, 3)
        np.testing.assert_allclose(images, value, atol=1e-3)


def test_batch_larger_than_data_and_bad_arrays_are_clear_errors():
    x, y = np.zeros((10, 32, 32, 3), "uint8"), np.zeros(10, int)
    with pytest.raises(ValueError, match=r"batch_size=16 is larger than the data \(10 examples\)"):
        data.from_arrays(x, y, batch_size=16, training=True)
    with pytest.raises(ValueError, match="one integer label per image"):
        data.from_arrays(x, y[:5])
    with pytest.raises(ValueError, match="shape \\(N, height, width, 1\\|3\\|4\\)"):
        data.from_arrays(x[..., :2], y)
    with pytest.raises(ValueError, match="crop_fraction"):
        data.from_arrays(x, y, batch_size=4, crop_fraction=1.5)


def test_for_model_reads_the_input_size():
    model = keras.Sequential([keras.Input((40, 48, 3)), keras.layers.GlobalAveragePooling2D()])
    dataset = data.for_model(model, "digits", "test", batch_size=50)
    images, labels = next(iter(dataset))
    assert images.shape == (50, 40, 48, 3)
    assert dataset.class_names == [str(d) for d in range(10)] and dataset.num_classes == 10
    assert dataset.num_examples == 359 and len(dataset) == 8  # the 20% test split, last batch kept
    open_dims = keras.Sequential([keras.Input((None, None, 3)), keras.layers.GlobalAveragePooling2D()])
    with pytest.raises(ValueError, match="open spatial dims"):
        data.for_model(open_dims, "digits")
    with pytest.raises(ValueError, match="splits 'train' and 'test'"):
        data.for_model(model, "digits", "validation")


def _write_folder(root, photos, sizes=((60, 80), (90, 50), (64, 64))):
    """Two classes of real photos as JPEG and PNG, of different sizes."""
    images = photos(96)
    for c, name in enumerate(("cat", "astronaut")):
        os.makedirs(root / name / "nested")
        for i, (h, w) in enumerate(sizes):
            image = Image.fromarray(images[c * 3 + i]).resize((w, h))
            path = root / name / ("nested" if i == 2 else ".") / f"{i}.{'png' if i else 'jpg'}"
            image.save(path)
        (root / name / "notes.txt").write_text("not an image")
    return images


def test_from_directory(tmp_path, photos):
    _write_folder(tmp_path, photos)
    dataset = data.from_directory(tmp_path, image_size=32, batch_size=6)
    assert dataset.class_names == ["astronaut", "cat"] and dataset.num_examples == 6
    (images, labels), = _batches(dataset)
    assert images.shape == (6, 32, 32, 3)
    np.testing.assert_array_equal(labels, [0, 0, 0, 1, 1, 1])
    # The lossless PNGs come out exactly as the same pixels through from_arrays.
    png = np.asarray(Image.open(tmp_path / "cat" / "1.png"))
    (expected, _), = _batches(data.from_arrays(png[None], np.zeros(1, int), image_size=32, batch_size=1))
    np.testing.assert_allclose(images[4], expected[0], atol=1e-4)
    train = data.from_directory(tmp_path, image_size=32, batch_size=4, training=True, seed=0)
    assert [b[0].shape for b in _batches(train)] == [(4, 32, 32, 3)]


def test_load_picks_split_folders(tmp_path, photos):
    _write_folder(tmp_path / "train", photos)
    _write_folder(tmp_path / "val", photos, sizes=((40, 40),))
    assert data.load(str(tmp_path), "train", image_size=24, batch_size=2).num_examples == 6
    assert data.load(str(tmp_path), "validation", image_size=24, batch_size=2).num_examples == 2
    with pytest.raises(ValueError, match="has no 'test' split"):
        data.load(str(tmp_path), "test", image_size=24, batch_size=2)


def test_directory_errors_name_the_problem(tmp_path, photos):
    with pytest.raises(ValueError, match="does not exist"):
        data.from_directory(tmp_path / "missing")
    with pytest.raises(ValueError, match="does not exist"):
        data.load("./no/such/folder", "train")
    with pytest.raises(ValueError, match="no class sub-folders"):
        data.from_directory(tmp_path)
    _write_folder(tmp_path, photos)
    os.makedirs(tmp_path / "empty")
    (tmp_path / "empty" / "readme.md").write_text("nothing here")
    with pytest.raises(ValueError, match=r"'.*empty' holds no images .*readme\.md"):
        data.from_directory(tmp_path)
    (tmp_path / "empty" / "broken.jpg").write_bytes(b"this is not a JPEG")
    with pytest.raises(ValueError, match=r"1 unreadable image file\(s\): .*broken\.jpg"):
        data.from_directory(tmp_path)
    with pytest.raises(ValueError, match="batch_size=100 is larger than the data"):
        data.from_directory(tmp_path, class_names=["cat", "astronaut"], batch_size=100)


def test_from_tfds_on_mock_data():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=6):
        flowers = data.from_tfds("tf_flowers", "train", image_size=40, batch_size=3, seed=0)
        (images, labels), _ = _batches(flowers)
        assert images.shape == (3, 40, 40, 3) and images.dtype == np.float32
        assert flowers.num_classes == 5 and flowers.class_names[0] == "dandelion"
        assert set(labels) <= set(range(5))
        imagenette = data.from_tfds("imagenette/160px", "validation", image_size=32, batch_size=6)
        (images, labels), = _batches(imagenette)  # evaluation keeps every example
        assert images.shape == (6, 32, 32, 3) and imagenette.num_classes == 10
        mnist = data.load("mnist", "test", image_size=32, batch_size=6)  # grayscale -> RGB
        assert next(iter(mnist))[0].shape == (6, 32, 32, 3)


def test_from_tfds_errors(tmp_path):
    with pytest.raises(ValueError, match="Unknown tensorflow-datasets name 'tf_flowerz'. Did you mean tf_flowers"):
        data.from_tfds("tf_flowerz")
    with pytest.raises(ValueError, match="not prepared in .*download=True"):
        data.from_tfds("tf_flowers", data_dir=str(tmp_path))
    with pytest.raises(ValueError, match="not an image-classification dataset"):
        data.from_tfds("imdb_reviews", data_dir=str(tmp_path))


def test_cache_to_disk(tmp_path):
    x, y = np.random.RandomState(0).randint(0, 256, (8, 32, 32, 3)).astype("uint8"), np.arange(8) % 2
    dataset = data.from_arrays(x, y, batch_size=4, cache=str(tmp_path / "cache"))
    first, second = _batches(dataset), _batches(dataset)
    np.testing.assert_array_equal(first[0][0], second[0][0])
    assert any(name.startswith("cache") for name in os.listdir(tmp_path))
    assert isinstance(dataset, tf.data.Dataset)
