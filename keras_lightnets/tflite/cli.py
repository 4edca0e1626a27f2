"""The body of the `convert` command, shared by `lightnets convert` and the absl app
tflite/convert.py (one definition, two entry points; the flags are defined in
keras_lightnets/cli.py, which imports no TensorFlow, so that `--help` is quick).

    lightnets convert --model=mobilenet_v3_large --quantization=int8 --input_type=uint8 \
        --representative_data=digits --output=m.tflite [--labels=labels.txt] [--verify] [--json]
    lightnets convert --keras_file=trained.keras --output=m.tflite --metadata
"""

import json
import os

import numpy as np

from keras_lightnets._cli_util import write_json
from keras_lightnets.cli import METADATA_TEXT_FIELDS
from keras_lightnets.cli import QUANTIZATION as QUANTIZATION_NAMES

# Command-line spellings of convert()'s modes; float32 is convert()'s None.
QUANTIZATION = {name: None if name == "float32" else name for name in QUANTIZATION_NAMES}


def convert_command(flag_values, json_flag="json"):
    """Builds or loads the model, converts it as the flags say and prints the report
    (JSON with a bare --json; --json=PATH also writes it there)."""
    from keras_lightnets.tflite.convert import convert

    v = flag_values
    quantization = _quantization(v.quantization)
    if not v.output:
        raise ValueError("--output is required, e.g. --output=model.tflite.")
    directory = os.path.dirname(os.path.abspath(v.output))
    if not os.path.isdir(directory):
        raise ValueError(f"The output directory {directory!r} does not exist; create it or choose another --output.")
    model = _model(v)
    size = _spatial_size(model, v.input_size)
    task = _task(model)
    if task != "classifier":
        return _export_head(v, model, task, quantization, size, json_flag)
    data = _representative_data(v.representative_data, size, model.input_shape[-1])
    needs_data = quantization in ("int8", "int16x8") or v.verify
    if needs_data and data is None:
        data = _digits(size, model.input_shape[-1])
    report = convert(
        model, v.output, quantization=quantization, representative_data=data if quantization in ("int8", "int16x8") else None,
        input_type=v.input_type, output_type=v.output_type, input_shape=(*size, model.input_shape[-1]),
        verify=v.verify, verify_data=data if v.verify else None, num_calibration_samples=v.num_calibration_samples,
        allow_float_fallback=v.allow_float_fallback, metadata=_metadata(v),
    )
    _print(v, json_flag, str(report), report.to_dict())
    return report


def _print(v, json_flag, text, fields):
    """The summary, or JSON with a bare --json; --json=PATH also writes the JSON there."""
    output = v[json_flag].value if json_flag in v else False
    if output is True:
        print(json.dumps(fields, indent=2, default=_jsonable))
        return
    print(text)
    if isinstance(output, str) and output:
        write_json(output, fields, default=_jsonable)
        print(f"wrote {output}")


def _task(model):
    """"detector" (an SSDLite: box regression and class logits over its default boxes),
    "segmenter" (one per-pixel output) or "classifier"."""
    from keras_lightnets.tflite.detection import _is_detector

    if _is_detector(model):
        return "detector"
    outputs = model.outputs
    return "segmenter" if len(outputs) == 1 and len(outputs[0].shape) == 4 else "classifier"


def _export_head(v, model, task, quantization, size, json_flag):
    """A detector as a file ending in TFLite_Detection_PostProcess, a segmenter as
    per-pixel scores or the class mask; calibrated by default on the bundled scenes
    (photos with pasted shapes), as near to their inputs as the package has."""
    from keras_lightnets.tflite.analyze import analyze
    from keras_lightnets.tflite.detection import export_detector
    from keras_lightnets.tflite.segmentation import export_segmenter

    if v.verify:
        raise ValueError(f"--verify compares class probabilities; for a {task} check the file with "
                         "kl.tflite.run against the Keras model (see the detection / segmentation notebook).")
    calibrate = quantization in ("int8", "int16x8")
    data = _representative_data(v.representative_data or "scenes", size, model.input_shape[-1]) if calibrate else None
    common = dict(quantization=quantization, representative_data=data, input_type=v.input_type,
                  metadata=_metadata(v), num_calibration_samples=v.num_calibration_samples)
    if task == "detector":
        export_detector(model, v.output, max_detections=v.max_detections, score_threshold=v.score_threshold, **common)
        outputs = "boxes, classes, scores, count (TFLite_Detection_PostProcess)"
    else:
        export_segmenter(model, v.output, output=v.segmenter_output, **common)
        outputs = "per-pixel scores" if v.segmenter_output == "logits" else "class mask (int32)"
    with open(v.output, "rb") as file:
        summary = analyze(file.read())
    fields = {"task": task, "output": v.output, "quantization": quantization or "float32",
              "input_dtype": summary.input_dtype, "outputs": outputs, "bytes": os.path.getsize(v.output),
              "op_counts": dict(summary.op_counts), "float_ops": list(summary.float_ops)}
    text = (f"{task} {v.output}: {quantization or 'float32'}, {summary.input_dtype} input, outputs {outputs}, "
            f"{fields['bytes'] / 1024:.0f} KiB, ops in float: {', '.join(summary.float_ops) or 'none'}")
    _print(v, json_flag, text, fields)
    return fields


def _quantization(name):
    key = (name or "float32").lower()
    if key not in QUANTIZATION:
        raise ValueError(f"--quantization must be one of {', '.join(QUANTIZATION)}; received {name!r}.")
    return QUANTIZATION[key]


def _model(v):
    if bool(v.model) == bool(v.keras_file):
        raise ValueError("Give exactly one of --model (a registered name, see `lightnets list`) and --keras_file (a saved .keras model).")
    if v.keras_file:
        import keras

        if not (v.keras_file.endswith(".keras") and os.path.isfile(v.keras_file)):
            raise ValueError(f"--keras_file must be an existing .keras file; received {v.keras_file!r}.")
        try:
            return keras.models.load_model(v.keras_file, safe_mode=True)
        except Exception as error:  # keras raises many types for unreadable files
            raise ValueError(f"Cannot load {v.keras_file!r} as a Keras model: {str(error).splitlines()[0] if str(error) else type(error).__name__}") from None
    from keras_lightnets.registry import create_model

    from keras_lightnets.registry import model_info

    shape = None if v.input_size is None else (v.input_size, v.input_size, 3)
    # A detection or segmentation model keeps its own class count (its weight set's) unless told.
    head = model_info(v.model).family in ("detection", "segmentation")
    classes = {"classes": v.classes} if v["classes"].present or not head else {}
    return create_model(v.model, input_shape=shape, weights=v.weights, **classes)


def _spatial_size(model, input_size):
    declared = model.input_shape[1:3]
    if input_size is None:
        return tuple(224 if d is None else d for d in declared)
    if any(d is not None and d != input_size for d in declared):
        raise ValueError(f"--input_size={input_size} does not fit the model's input {tuple(model.input_shape[1:])}.")
    return (input_size, input_size)


def _representative_data(spec, size, channels):
    if not spec:
        return None
    if spec == "digits":
        return _digits(size, channels)
    if spec == "scenes":
        return _scenes(size, channels)
    if spec.endswith(".npy"):
        if not os.path.isfile(spec):
            raise ValueError(f"--representative_data file {spec!r} does not exist.")
        return np.load(spec, allow_pickle=False)
    return spec  # a tensorflow-datasets name; convert() loads and resizes it


def _digits(size, channels):
    from keras_lightnets.data import load_digits

    if size[0] != size[1]:
        raise ValueError(f"The bundled digits are square; the model takes {size[0]}x{size[1]}: give --representative_data.")
    (images, _), _ = load_digits(image_size=size[0])
    return images[..., :channels].astype("float32")


def _scenes(size, channels, count=64):
    from keras_lightnets.data.detection import detection_scenes

    if size[0] != size[1] or channels != 3:
        raise ValueError(f"The bundled scenes are square RGB photos; the model takes {size[0]}x{size[1]}x{channels}: "
                         "give --representative_data.")
    images, _, _ = detection_scenes(count, image_size=size[0], seed=0)
    return images.astype("float32")


def _metadata(v):
    fields = {}
    if v.labels:
        fields["labels"] = v.labels
    for key, values in (("mean", v.norm_mean), ("std", v.norm_std)):
        if values:
            try:
                fields[key] = [float(x) for x in values]
            except ValueError:
                raise ValueError(f"--norm_{key} must be numbers, e.g. --norm_{key}=127.5; received {','.join(values)!r}.") from None
    for field in METADATA_TEXT_FIELDS:
        if v[f"metadata_{field}"].value is not None:
            fields[field] = v[f"metadata_{field}"].value
    if not (v.metadata or fields):
        return None
    return fields or True


def _jsonable(value):
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
