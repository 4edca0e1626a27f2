"""Input data. `load_digits` is the bundled offline dataset for demos and tests."""

from keras_lightnets.data.digits import load_digits

__all__ = ["load_digits"]
