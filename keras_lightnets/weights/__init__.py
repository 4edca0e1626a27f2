"""Trained weights: the published files (keras.applications', torchvision's, timm's),
reading them without the framework that wrote them, and loading them into our models.

- keras_files: Keras' own formats (legacy .h5, .weights.h5, .keras), matched by layer name.
- checkpoint: PyTorch checkpoints (.pth, zip or legacy) and .safetensors, read safely
  without torch.
- state_dict: a PyTorch state_dict loaded into a Keras model (layouts transposed).
"""

from keras_lightnets.weights.checkpoint import UnsafeCheckpointError
from keras_lightnets.weights.checkpoint import file_format
from keras_lightnets.weights.checkpoint import read_checkpoint
from keras_lightnets.weights.keras_files import KERAS_APPLICATIONS_URL
from keras_lightnets.weights.keras_files import WeightFile
from keras_lightnets.weights.keras_files import load_weights_by_name
from keras_lightnets.weights.keras_files import read_weight_arrays
from keras_lightnets.weights.keras_files import structure_keys
from keras_lightnets.weights.state_dict import load_state_dict
