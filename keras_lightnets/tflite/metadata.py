"""TFLite Support metadata for image classifiers, object detectors and image segmenters,
so Android's Task Library `ImageClassifier`, `ObjectDetector` and `ImageSegmenter` (and
Android Studio's ML binding) can load the file as is: `add_metadata`,
`add_detector_metadata`, `add_segmenter_metadata` (`write_metadata(path, task, ...)` in
place), each byte-identical to tflite-support 0.4.4's writer for that task (goldens in
tests/data/tflite_support and its heads/). The detector's four outputs (location with
BoundingBoxProperties, category with the labels as TENSOR_VALUE_LABELS, score, number of
detections, grouped as "detection_result", min parser 1.2.0) and the segmenter's one
("segmentation_masks", a GRAYSCALE image over dimensions 1-2, the labels along its last
axis) are as object_detector.py and image_segmenter.py of its metadata_writers make them.
The classifier's, in detail:

What is written is what tflite-support 0.4.4's `metadata_writers.image_classifier`
writes: a `ModelMetadata` flatbuffer (file identifier "M001", public schema
`tensorflow_lite_support/metadata/metadata_schema.fbs`) stored as a model buffer
under the name "TFLITE_METADATA", with one `SubGraphMetadata`: the input tensor
"image" (ImageProperties RGB or GRAYSCALE, NormalizationOptions mean/std,
value-range Stats), the output tensor "probability" (FeatureProperties, Stats, the
labels file as an AssociatedFile of type TENSOR_AXIS_LABELS), and
`min_parser_version`; the labels file itself is packed as an (uncompressed) zip
archive appended to the flatbuffer (an empty archive when there are no labels).

Why not tflite-support itself: its wheel pins protobuf<4 (TensorFlow 2.21 needs a
newer one), its package `__init__` imports Task Library protos that fail with a
newer protobuf, and its native metadata module links libusb. So the flatbuffer is
built here with the `flatbuffers` package, table by table in the order the
schema's generated object API packs them, the model re-packed as its populator
re-packs it, and the zip written as its populator writes it: for the same model
and fields the whole file is byte-identical to the one tflite-support 0.4.4
writes, except that tflite-support stamps the packed file with the time of
writing and this module with 1980-01-01 00:00 (a reproducible file). The goldens
in tests/data/tflite_support (made by tflite-support itself, with the clock
pinned to that time) hold it. Every field used exists since schema 1.0.0, which
is therefore the minimum parser version.

Where the two part: tflite-support re-packs the model with its own copy of the
TFLite schema, older than LiteRT's, and so drops the fields added since (buffer
offset/size of models over 2 GB, `builtin_options_2`, debug metadata); here they
are kept. And this module refuses what the Task Library cannot use (a float32
input without mean/std, int8 tensors, a label count that is not the class count),
where tflite-support writes it. Task Library 0.4.4's ImageClassifier takes
1 x height x width x 3 RGB input only: a one-channel model gets GRAYSCALE
metadata, as tflite-support writes it, which that classifier refuses ("Only RGB
color space is supported for now", tests/data/tflite_support/expected/task_library.json).
"""

import io
import os
import zipfile

import flatbuffers
import numpy as np
from flatbuffers import number_types
from flatbuffers import table

from keras_lightnets.tflite.passes.graph_edit import pack

METADATA_NAME = "TFLITE_METADATA"
FILE_IDENTIFIER = b"M001"
MIN_PARSER_VERSION = "1.0.0"
LABELS_FILE = "labels.txt"
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry records
FIELDS = ("name", "description", "labels", "mean", "std", "author", "version", "license")

# tflite-support's image-classifier writer texts, kept so files match its output.
MODEL_DESCRIPTION = "Identify the most prominent object in the image from a known set of categories."
INPUT_NAME, INPUT_DESCRIPTION = "image", "Input image to be classified."
OUTPUT_NAME, OUTPUT_DESCRIPTION = "probability", "Probabilities of the labels respectively."
LABELS_DESCRIPTION = "Labels for categories that the model can recognize."

# tflite-support's object-detector writer (metadata_writers/object_detector.py): its texts,
# its four outputs in the post-process op's port order, their group.
DETECTOR_DESCRIPTION = ("Identify which of a known set of objects might be present and provide information about "
                        "their positions within the given image or a video stream.")
DETECTOR_INPUT_DESCRIPTION = "Input image to be detected."
DETECTOR_OUTPUTS = (("location", "The locations of the detected boxes."),
                    ("category", "The categories of the detected boxes."),
                    ("score", "The scores of the detected boxes."),
                    ("number of detections", "The number of the detected boxes."))
DETECTOR_GROUP = "detection_result"  # location, category and score, one entry per detection
BOUNDING_BOX_INDEX = (1, 0, 3, 2)  # where left, top, right, bottom sit in a box (ymin xmin ymax xmax)
DETECTOR_MIN_PARSER_VERSION = "1.2.0"  # output_tensor_groups, added in schema 1.2.0

# tflite-support's image-segmenter writer (metadata_writers/image_segmenter.py).
SEGMENTER_DESCRIPTION = ("Semantic image segmentation predicts whether each pixel of an image is associated with a "
                         "certain class.")
SEGMENTER_INPUT_DESCRIPTION = "Input image to be segmented."
SEGMENTER_OUTPUT_NAME, SEGMENTER_OUTPUT_DESCRIPTION = "segmentation_masks", "Masks over the target objects with high accuracy."

# Enum values of metadata_schema.fbs.
_COLOR_SPACE_VALUES = {"UNKNOWN": 0, "RGB": 1, "GRAYSCALE": 2}
_GRAYSCALE = _COLOR_SPACE_VALUES["GRAYSCALE"]  # a mask is a one-channel image
_FEATURE_PROPERTIES, _IMAGE_PROPERTIES, _BOUNDING_BOX_PROPERTIES = 1, 2, 3
_CONTENT_NAMES = {_FEATURE_PROPERTIES: "FeatureProperties", _IMAGE_PROPERTIES: "ImageProperties",
                  _BOUNDING_BOX_PROPERTIES: "BoundingBoxProperties"}
_NORMALIZATION_OPTIONS = 1
_TENSOR_AXIS_LABELS, _TENSOR_VALUE_LABELS = 2, 3
_LABEL_FILE_TYPES = {_TENSOR_AXIS_LABELS: "TENSOR_AXIS_LABELS", _TENSOR_VALUE_LABELS: "TENSOR_VALUE_LABELS"}
_BOUNDARIES = 1  # BoundingBoxType; CoordinateType RATIO is 0, the default
_BOX_TYPES, _COORDINATE_TYPES = {0: "UNKNOWN", 1: "BOUNDARIES", 2: "UPPER_LEFT", 3: "CENTER"}, {0: "RATIO", 1: "PIXEL"}
# Task Library's ImageClassifier takes these tensor types only.
_INPUT_TYPES, _OUTPUT_TYPES = ("uint8", "float32"), ("uint8", "float32")
_STATS = {"uint8": ([0.0], [255.0]), "float32": ([0.0], [1.0])}  # output (min, max) as the writer sets them


def add_metadata(content, *, name, description=None, labels=None, mean=None, std=None,
                 author=None, version=None, license=None):
    """Returns the .tflite flatbuffer `content` with image-classifier metadata
    (replacing any there was) and, if `labels` are given, the labels file packed in.

    `labels`: a list, written one label a line as "labels.txt"; or the path of
    a text file with one label a line, packed under its own name with its bytes
    as they are (as tflite-support packs a label file).
    `mean`/`std` say how the Task Library turns [0, 255] RGB pixels into the
    float input (x - mean) / std, per channel or one value for all; they are
    required for a float32 input. A uint8 input takes raw pixels.
    """
    io_spec = _image_classifier_io(content)
    mean, std = _normalization(mean, std, io_spec)
    label_file = _label_file(labels, io_spec["classes"])
    buffer = metadata_buffer(
        name=name, description=description, version=version, author=author, license=license,
        input_dtype=io_spec["input_dtype"], output_dtype=io_spec["output_dtype"],
        channels=io_spec["channels"], mean=mean, std=std, label_file=label_file[0] if label_file else None,
    )
    content = _with_model_metadata(_flatbuffer_part(content), buffer)
    # tflite-support appends the archive even with nothing to pack (its end record only)
    return _append_zip(content, dict([label_file] if label_file else []))


def add_detector_metadata(content, *, name, description=None, labels=None, mean=None, std=None,
                          author=None, version=None, license=None):
    """`add_metadata` for a detection file (one ending in TFLite_Detection_PostProcess,
    as kl.tflite.export_detector writes): Task Library ObjectDetector metadata, as
    tflite-support 0.4.4's ObjectDetectorWriter writes it. `labels` name the op's classes
    (one per foreground class, the category output's values) and are packed as the
    category output's TENSOR_VALUE_LABELS file."""
    io_spec = _detector_io(content)
    mean, std = _normalization(mean, std, io_spec)
    label_file = _label_file(labels, io_spec["classes"])
    buffer = detector_metadata_buffer(
        name=name, description=description, version=version, author=author, license=license,
        input_dtype=io_spec["input_dtype"], channels=io_spec["channels"], mean=mean, std=std,
        label_file=label_file[0] if label_file else None, output_roles=io_spec["output_roles"])
    content = _with_model_metadata(_flatbuffer_part(content), buffer)
    return _append_zip(content, dict([label_file] if label_file else []))


def add_segmenter_metadata(content, *, name, description=None, labels=None, mean=None, std=None,
                           author=None, version=None, license=None):
    """`add_metadata` for a segmentation file (per-pixel scores (1, H, W, classes), or a
    class mask (1, H, W)): Task Library ImageSegmenter metadata, as tflite-support 0.4.4's
    ImageSegmenterWriter writes it, `labels` (one per class) packed as the output's
    TENSOR_AXIS_LABELS file. The Task Library's ImageSegmenter reads the per-pixel scores;
    a mask file's metadata serves apps that read the tensor themselves."""
    io_spec = _segmenter_io(content)
    mean, std = _normalization(mean, std, io_spec)
    label_file = _label_file(labels, io_spec["classes"])
    buffer = segmenter_metadata_buffer(
        name=name, description=description, version=version, author=author, license=license,
        input_dtype=io_spec["input_dtype"], channels=io_spec["channels"], mean=mean, std=std,
        label_file=label_file[0] if label_file else None)
    content = _with_model_metadata(_flatbuffer_part(content), buffer)
    return _append_zip(content, dict([label_file] if label_file else []))


WRITERS = {"image_classifier": add_metadata, "object_detector": add_detector_metadata,
           "image_segmenter": add_segmenter_metadata}


def write_metadata(path, task="image_classifier", **fields):
    """Adds Task Library metadata to the .tflite file at `path` in place (atomically)
    and returns it as `read_metadata` reads it back. `task`: "image_classifier",
    "object_detector" or "image_segmenter"."""
    from keras_lightnets._atomic import write_atomically

    path = os.fspath(path)
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        raise ValueError(f"Unknown metadata fields {unknown}; choose from {list(FIELDS)}.")
    if task not in WRITERS:
        raise ValueError(f"Unknown metadata task {task!r}; choose from {list(WRITERS)}.")
    with open(_existing(path), "rb") as f:
        content = f.read()
    write_atomically(path, WRITERS[task](content, **fields))
    return read_metadata(path)


def resolve_metadata(metadata, model, input_type="float32", *, description=MODEL_DESCRIPTION, classes=None):
    """`convert`'s `metadata` argument as `add_metadata` fields (None: no metadata).

    True takes the defaults, a dict overrides them: the model's name, the
    Task Library writer's description, and mean 0 / std 1 when the model
    normalizes [0, 255] pixels itself (a Rescaling or Normalization layer before
    its first weights, as registry models and keras.applications' MobileNetV3 and
    EfficientNet have). Checked against the Keras model before converting:
    `classes` is the number of labels the file takes (default: a one-output model's
    last dimension), `description` the writer's default.
    """
    if metadata is None or metadata is False:
        return None
    if metadata is True:
        metadata = {}
    if not isinstance(metadata, dict):
        raise ValueError(f"`metadata` must be True, None or a dict of {list(FIELDS)}; received {type(metadata).__name__}.")
    unknown = sorted(set(metadata) - set(FIELDS))
    if unknown:
        raise ValueError(f"Unknown metadata fields {unknown}; choose from {list(FIELDS)}.")
    fields = {"name": model.name, "description": description}
    if takes_pixels(model) and "mean" not in metadata and "std" not in metadata:
        fields.update(mean=[0.0], std=[1.0])
    fields.update(metadata)
    if input_type == "float32" and fields.get("mean") is None:
        raise ValueError(f"Model {model.name!r} does not normalize pixels itself (no Rescaling/Normalization layer first), "
                         "so give metadata `mean` and `std` (the Task Library feeds (pixel - mean) / std), "
                         "e.g. mean=[127.5], std=[127.5] for a model that takes [-1, 1].")
    if fields.get("labels") is not None:  # checked now, read again when written
        if classes is None and len(model.outputs) == 1:
            classes = model.outputs[0].shape[-1]
        _label_file(fields["labels"], classes)
    return fields


def takes_pixels(model):
    """Whether a Keras model takes [0, 255] pixels: a Rescaling or Normalization
    layer comes before any layer with weights."""
    import keras

    for layer in model.layers:
        if isinstance(layer, (keras.layers.Rescaling, keras.layers.Normalization)):
            return True
        if layer.weights:
            return False
    return False


def describe_metadata(info):
    """One line for reports: what an Android app will read."""
    image, labels = info["input"], info.get("labels")
    normalization = f"mean {image['mean']} std {image['std']}" if image.get("mean") is not None else "no normalization"
    packed = f"{len(labels)} labels packed" if labels else "no labels"
    return (f"metadata: {info['name']!r}, input {image.get('color_space', '?')} {normalization}, {packed} "
            f"(TFLite Support, min parser {info['min_parser_version']})")


def metadata_buffer(*, name, description=None, version=None, author=None, license=None, input_dtype="float32",
                    output_dtype="float32", channels=3, mean=None, std=None, label_file=LABELS_FILE):
    """The image classifier's "M001" ModelMetadata flatbuffer, built in the order the
    schema's generated `ModelMetadataT.Pack` builds it (so bytes match tflite-support)."""
    def subgraph(b):
        image = _input_tensor(b, input_dtype, channels, mean, std, INPUT_DESCRIPTION)
        inputs = _vector(b, [image])
        outputs = _vector(b, [_output_tensor(b, output_dtype, label_file)])
        return _table(b, 10, {2: inputs, 3: outputs})

    return _model_metadata(_general(name, description, version, author, license), subgraph, MIN_PARSER_VERSION)


def detector_metadata_buffer(*, name, description=None, version=None, author=None, license=None,
                             input_dtype="float32", channels=3, mean=None, std=None, label_file=LABELS_FILE,
                             output_roles=(0, 1, 2, 3)):
    """The object detector's ModelMetadata, as tflite-support's ObjectDetectorWriter:
    the four outputs' metadata in the file's output order, `output_roles[i]` saying
    which of DETECTOR_OUTPUTS the file's i-th output is, and their tensor group."""
    def subgraph(b):
        image = _input_tensor(b, input_dtype, channels, mean, std, DETECTOR_INPUT_DESCRIPTION)
        inputs = _vector(b, [image])
        outputs = _vector(b, [_detector_output(b, role, label_file) for role in output_roles])
        group_name = _string(b, DETECTOR_GROUP)
        names = _vector(b, [_string(b, name) for name, _ in DETECTOR_OUTPUTS[:3]])
        groups = _vector(b, [_table(b, 2, {0: group_name, 1: names})])
        return _table(b, 10, {2: inputs, 3: outputs, 8: groups})

    return _model_metadata(_general(name, description, version, author, license), subgraph,
                           DETECTOR_MIN_PARSER_VERSION)


def segmenter_metadata_buffer(*, name, description=None, version=None, author=None, license=None,
                              input_dtype="float32", channels=3, mean=None, std=None, label_file=LABELS_FILE):
    """The image segmenter's ModelMetadata, as tflite-support's ImageSegmenterWriter: the
    output a GRAYSCALE image over dimensions 1-2 (height, width), the labels along its last axis."""
    def subgraph(b):
        image = _input_tensor(b, input_dtype, channels, mean, std, SEGMENTER_INPUT_DESCRIPTION)
        inputs = _vector(b, [image])
        masks = _tensor(b, SEGMENTER_OUTPUT_NAME, SEGMENTER_OUTPUT_DESCRIPTION,
                        lambda b: _content(b, _IMAGE_PROPERTIES, lambda b: _image_properties(b, _GRAYSCALE), (1, 2)),
                        files=[(label_file, LABELS_DESCRIPTION, _TENSOR_AXIS_LABELS)] if label_file else ())
        outputs = _vector(b, [masks])
        return _table(b, 10, {2: inputs, 3: outputs})

    return _model_metadata(_general(name, description, version, author, license), subgraph, MIN_PARSER_VERSION)


def _general(name, description, version, author, license):
    return {"name": name, "description": description, "version": version, "author": author, "license": license}


def _model_metadata(general, subgraph, min_parser_version):
    """ModelMetadataT.Pack's order: name, description, version, the subgraph, author,
    license, then the minimum parser version the populator adds."""
    b = flatbuffers.Builder(0)
    strings = [_string(b, general[key]) for key in ("name", "description", "version")]
    subgraphs = _vector(b, [subgraph(b)])
    author, license, parser = (_string(b, s) for s in (general["author"], general["license"], min_parser_version))
    root = _table(b, 8, {0: strings[0], 1: strings[1], 2: strings[2], 3: subgraphs, 4: author, 5: license, 7: parser})
    b.Finish(root, file_identifier=FILE_IDENTIFIER)
    return bytes(b.Output())


def _input_tensor(b, dtype, channels, mean, std, description):
    if dtype == "uint8":  # the writer's value range of the tensor itself
        low, high = [0.0], [255.0]
    elif dtype == "float32" and mean is not None:
        low = [(0.0 - m) / s for m, s in zip(mean, std)]
        high = [(255.0 - m) / s for m, s in zip(mean, std)]
    else:
        low = high = None
    color_space = _COLOR_SPACE_VALUES["GRAYSCALE" if channels == 1 else "RGB"]

    def units(b):
        if mean is None:
            return None
        mean_vector, std_vector = _floats(b, mean), _floats(b, std)
        options = _table(b, 2, {0: mean_vector, 1: std_vector})
        return _vector(b, [_table(b, 2, {0: (_NORMALIZATION_OPTIONS, "uint8"), 1: options})])

    return _tensor(b, INPUT_NAME, description,
                   lambda b: _content(b, _IMAGE_PROPERTIES, lambda b: _image_properties(b, color_space)),
                   units=units, stats=(low, high))


def _output_tensor(b, dtype, label_file):
    low, high = _STATS.get(dtype, (None, None))
    return _tensor(b, OUTPUT_NAME, OUTPUT_DESCRIPTION, lambda b: _content(b, _FEATURE_PROPERTIES, _feature_properties),
                   stats=(low, high), files=[(label_file, LABELS_DESCRIPTION, _TENSOR_AXIS_LABELS)] if label_file else ())


def _detector_output(b, role, label_file):
    """One of the detector's outputs (DETECTOR_OUTPUTS[role]) as the writer makes it: no
    value range (its TensorMds get no tensor type), content over dimension 2 but the count's."""
    name, description = DETECTOR_OUTPUTS[role]
    if role == 0:
        content = lambda b: _content(b, _BOUNDING_BOX_PROPERTIES, _bounding_box_properties, (2, 2))  # noqa: E731
    elif role == 3:
        content = lambda b: _content(b, _FEATURE_PROPERTIES, _feature_properties)  # noqa: E731
    else:
        content = lambda b: _content(b, _FEATURE_PROPERTIES, _feature_properties, (2, 2))  # noqa: E731
    files = [(label_file, LABELS_DESCRIPTION, _TENSOR_VALUE_LABELS)] if role == 1 and label_file else ()
    return _tensor(b, name, description, content, files=files)


def _tensor(b, name, description, content, units=None, stats=(None, None), files=()):
    """TensorMetadataT.Pack's order: name, description, content, process units, stats,
    associated files (each `(name, description, type)`)."""
    name, description = _string(b, name), _string(b, description)
    content = content(b)
    units = units(b) if units else None
    stats = _stats(b, *stats)
    packed = []
    for file_name, file_description, kind in files:
        file_name, file_description = _string(b, file_name), _string(b, file_description)
        packed.append(_table(b, 5, {0: file_name, 1: file_description, 2: (kind, "int8")}))
    files = _vector(b, packed) if packed else None
    return _table(b, 7, {0: name, 1: description, 3: content, 4: units, 5: stats, 6: files})


def _content(b, kind, properties, value_range=None):
    properties = properties(b)
    value_range = None if value_range is None else _table(b, 2, {0: (value_range[0], "int32"),
                                                                 1: (value_range[1], "int32")})
    return _table(b, 3, {0: (kind, "uint8"), 1: properties, 2: value_range})


def _feature_properties(b):
    return _table(b, 0, {})


def _image_properties(b, color_space):
    return _table(b, 2, {0: (color_space, "int8")})


def _bounding_box_properties(b):
    b.StartVector(4, len(BOUNDING_BOX_INDEX), 4)
    for value in reversed(BOUNDING_BOX_INDEX):
        b.PrependUint32(value)
    index = b.EndVector()
    return _table(b, 3, {0: index, 1: (_BOUNDARIES, "int8"), 2: (0, "int8")})  # coordinate type RATIO


def _stats(b, low, high):
    high_vector = None if high is None else _floats(b, high)
    low_vector = None if low is None else _floats(b, low)
    return _table(b, 2, {0: high_vector, 1: low_vector})  # Stats: max is field 0, min field 1


def _string(b, value):
    return None if value is None else b.CreateString(str(value))


def _floats(b, values):
    b.StartVector(4, len(values), 4)
    for value in reversed(values):
        b.PrependFloat32(float(value))
    return b.EndVector()


def _vector(b, offsets):
    b.StartVector(4, len(offsets), 4)
    for offset in reversed(offsets):
        b.PrependUOffsetTRelative(offset)
    return b.EndVector()


def _table(b, num_fields, fields):
    """A table from {slot: offset or (scalar, "int8"|"uint8"|"int32")}; None is absent, and
    a scalar at its default 0 too (as the generated code writes it)."""
    b.StartObject(num_fields)
    for slot in sorted(fields):
        value = fields[slot]
        if value is None:
            continue
        if isinstance(value, tuple):
            scalar, kind = value
            prepend = {"int8": b.PrependInt8Slot, "uint8": b.PrependUint8Slot, "int32": b.PrependInt32Slot}[kind]
            prepend(slot, scalar, 0)
        else:
            b.PrependUOffsetTRelativeSlot(slot, value, 0)
    return b.EndObject()


# --- the model side: validating the file, storing the buffer, packing files ---


def _image_classifier_io(content):
    from ai_edge_litert import schema_py_generated as schema

    model = _tflite_model(content)
    type_names = {v: k.lower() for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    graph = model.Subgraphs(0)
    if graph.InputsLength() != 1 or graph.OutputsLength() != 1:
        raise ValueError(f"Image-classifier metadata needs one input and one output; the file has "
                         f"{graph.InputsLength()} inputs and {graph.OutputsLength()} outputs.")
    image, scores = graph.Tensors(graph.Inputs(0)), graph.Tensors(graph.Outputs(0))
    image_shape, scores_shape = list(image.ShapeAsNumpy()), list(scores.ShapeAsNumpy())
    input_dtype, output_dtype = type_names[image.Type()], type_names[scores.Type()]
    if len(image_shape) != 4 or image_shape[0] != 1 or image_shape[-1] not in (1, 3):
        raise ValueError(f"Image-classifier metadata needs an input of shape [1, height, width, 3 or 1]; the file's is {image_shape}.")
    if len(scores_shape) != 2 or scores_shape[0] != 1:
        raise ValueError(f"Image-classifier metadata needs an output of shape [1, classes]; the file's is {scores_shape}.")
    for which, dtype, allowed in (("input", input_dtype, _INPUT_TYPES), ("output", output_dtype, _OUTPUT_TYPES)):
        if dtype not in allowed:
            raise ValueError(f"Android's Task Library ImageClassifier takes {' or '.join(allowed)} {which} tensors; "
                             f"this file's {which} is {dtype}: convert with {which}_type='uint8' or 'float32'.")
    return {"input_dtype": input_dtype, "output_dtype": output_dtype, "channels": image_shape[-1], "classes": scores_shape[1]}


def check_task_library_input(input_type, task):
    """Before converting: the Task Library takes uint8 or float32 images only."""
    if input_type not in _INPUT_TYPES:
        raise ValueError(f"Android's Task Library {task} takes {' or '.join(_INPUT_TYPES)} input tensors, so a file with "
                         f"metadata cannot have input_type={input_type!r}: choose 'uint8' or 'float32', or no metadata.")


def _image_input(graph, type_names, task):
    if graph.InputsLength() != 1:
        raise ValueError(f"{task} metadata needs one image input; the file has {graph.InputsLength()} inputs.")
    image = graph.Tensors(graph.Inputs(0))
    shape, dtype = list(image.ShapeAsNumpy()), type_names[image.Type()]
    if len(shape) != 4 or shape[0] != 1 or shape[-1] not in (1, 3):
        raise ValueError(f"{task} metadata needs an input of shape [1, height, width, 3 or 1]; the file's is {shape}.")
    if dtype not in _INPUT_TYPES:
        raise ValueError(f"Android's Task Library {task} takes {' or '.join(_INPUT_TYPES)} input tensors; this file's "
                         f"input is {dtype}: convert with input_type='uint8' or 'float32'.")  # as check_task_library_input
    return dtype, shape[-1]


def _detector_io(content):
    """A detection file's input, the number of its op's classes, and which output is
    which: the op's outputs, ports 0-3 (boxes, classes, scores, count), have consecutive
    tensor indices, so tflite-support's writer maps the sorted output indices to them."""
    from ai_edge_litert import schema_py_generated as schema

    model = _tflite_model(content)
    type_names = {v: k.lower() for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    graph = model.Subgraphs(0)
    input_dtype, channels = _image_input(graph, type_names, "ObjectDetector")
    options = _postprocess_options(model)
    if options is None:
        raise ValueError("ObjectDetector metadata needs a detection file that ends in TFLite_Detection_PostProcess "
                         "(boxes, classes, scores, count); this file has no such op. Export the detector with "
                         "kl.tflite.export_detector, which adds it.")
    outputs = [int(i) for i in graph.OutputsAsNumpy()]
    if len(outputs) != 4:
        raise ValueError(f"ObjectDetector metadata needs the four outputs of TFLite_Detection_PostProcess; the file "
                         f"has {len(outputs)}.")
    order = sorted(outputs)
    roles = [order.index(i) for i in outputs]
    detections = int(options["max_detections"])
    expected = ([1, detections, 4], [1, detections], [1, detections], [1])
    for i, role in zip(outputs, roles):
        shape = list(graph.Tensors(i).ShapeAsNumpy())
        if shape != expected[role] or type_names[graph.Tensors(i).Type()] != "float32":
            raise ValueError(f"ObjectDetector metadata needs float32 outputs of shapes {list(expected)} (boxes, "
                             f"classes, scores, count); the file's output {i} is "
                             f"{type_names[graph.Tensors(i).Type()]} {shape}.")
    return {"input_dtype": input_dtype, "channels": channels, "classes": int(options["num_classes"]),
            "output_roles": tuple(roles)}


def _postprocess_options(model):
    """The attributes (a flexbuffer map) of the file's TFLite_Detection_PostProcess op, or None."""
    from flatbuffers import flexbuffers

    for g in range(model.SubgraphsLength()):
        graph = model.Subgraphs(g)
        for i in range(graph.OperatorsLength()):
            op = graph.Operators(i)
            code = model.OperatorCodes(op.OpcodeIndex())
            if code.CustomCode() == b"TFLite_Detection_PostProcess":
                return flexbuffers.Loads(op.CustomOptionsAsNumpy().tobytes())
    return None


def _segmenter_io(content):
    """A segmentation file's input and its classes: an output (1, H, W, classes) of
    per-pixel scores, or a class mask (1, H, W) (classes unknown)."""
    from ai_edge_litert import schema_py_generated as schema

    model = _tflite_model(content)
    type_names = {v: k.lower() for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    graph = model.Subgraphs(0)
    input_dtype, channels = _image_input(graph, type_names, "ImageSegmenter")
    if graph.OutputsLength() != 1:
        raise ValueError(f"ImageSegmenter metadata needs one output; the file has {graph.OutputsLength()}.")
    output = graph.Tensors(graph.Outputs(0))
    shape = list(output.ShapeAsNumpy())
    if len(shape) not in (3, 4) or shape[0] != 1:
        raise ValueError(f"ImageSegmenter metadata needs an output of shape [1, height, width, classes] (scores) or "
                         f"[1, height, width] (a class mask); the file's is {shape}.")
    return {"input_dtype": input_dtype, "channels": channels, "classes": shape[3] if len(shape) == 4 else None}


def _normalization(mean, std, io_spec):
    if (mean is None) != (std is None):
        raise ValueError("Give metadata `mean` and `std` together (pixels are fed as (x - mean) / std).")
    if mean is None:
        if io_spec["input_dtype"] == "float32":
            raise ValueError("A float32 input needs metadata `mean` and `std` (the Task Library feeds (pixel - mean) / std): "
                             "mean=[0.0], std=[1.0] for models that take [0, 255] pixels, mean=[127.5], std=[127.5] for [-1, 1].")
        return None, None
    mean, std = [float(v) for v in np.ravel(mean)], [float(v) for v in np.ravel(std)]
    channels = io_spec["channels"]
    for key, values in (("mean", mean), ("std", std)):
        if len(values) not in (1, channels):
            raise ValueError(f"Metadata `{key}` needs 1 or {channels} values (one per channel); received {values}.")
    if len(mean) != len(std):
        raise ValueError(f"Metadata `mean` and `std` need the same length; received {len(mean)} and {len(std)}.")
    if min(std) <= 0:
        raise ValueError(f"Metadata `std` must be positive; received {std}.")
    return mean, std


def _label_file(labels, classes):
    """(name, bytes) of the labels file to pack, or None; one label per class."""
    if labels is None:
        return None
    if isinstance(labels, (str, os.PathLike)):
        path = _existing(os.fspath(labels))
        with open(path, "rb") as f:
            data = f.read()
        try:
            names = label_lines(data.decode("utf8"))
        except UnicodeDecodeError as error:
            raise ValueError(f"Labels file {path!r} is not UTF-8 text ({error.reason} at byte {error.start}).") from None
        name = os.path.basename(path)
    else:
        if isinstance(labels, (bytes, bytearray)) or np.ndim(labels) != 1:
            raise ValueError("Metadata `labels` must be a list of strings or the path of a text file with one label per line.")
        names = [str(label) for label in labels]
        if any("\n" in label or "\r" in label for label in names):
            raise ValueError("Labels are written one per line and cannot contain line breaks.")
        name, data = LABELS_FILE, "".join(f"{label}\n" for label in names).encode("utf8")
    if classes is not None and len(names) != classes:
        raise ValueError(f"The model has {classes} classes but {len(names)} labels were given; give one label per class.")
    return name, data


def label_lines(text):
    """The labels of a labels file: one a line (LF or CRLF line ends), trailing empty lines dropped."""
    lines = [line.rstrip("\r") for line in text.split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _existing(path):
    if not os.path.isfile(path):
        raise ValueError(f"File {path!r} does not exist.")
    return path


def _tflite_model(content):
    from ai_edge_litert import schema_py_generated as schema

    if len(content) < 8 or content[4:8] != b"TFL3":
        raise ValueError("Not a TFLite model (no TFL3 identifier): corrupt, truncated or another format.")
    return schema.Model.GetRootAsModel(content, 0)


def _flatbuffer_part(content):
    """The model flatbuffer without the zip of packed files appended to it."""
    content = bytes(content)
    end = _zip_start(content)
    return content if end is None else content[:end]


def _zip_start(content):
    """Where an appended zip archive begins, if there is one (found, as minizip
    finds it, from the end-of-central-directory record)."""
    stream = io.BytesIO(content)
    if not zipfile.is_zipfile(stream):
        return None
    with zipfile.ZipFile(stream) as archive:
        infos = archive.infolist()
        if not infos:  # an empty archive is its 22-byte end record alone, last in the file
            return archive.start_dir if archive.start_dir == len(content) - 22 else None
        # absolute offsets: zipfile adds the length of any data before the archive
        return min(info.header_offset for info in infos)


def _with_model_metadata(content, buffer):
    from ai_edge_litert import schema_py_generated as schema

    _tflite_model(content)
    model = schema.ModelT.InitFromPackedBuf(content, 0)
    model.buffers = model.buffers or []
    model.metadata = model.metadata or []
    data = schema.BufferT()
    data.data = np.frombuffer(buffer, np.uint8)
    names = [m.name.decode() if isinstance(m.name, bytes) else m.name for m in model.metadata]
    if METADATA_NAME in names:
        model.buffers[model.metadata[names.index(METADATA_NAME)].buffer] = data
    else:
        model.buffers.append(data)
        entry = schema.MetadataT()
        entry.name, entry.buffer = METADATA_NAME, len(model.buffers) - 1
        model.metadata.append(entry)
    return pack(model)  # a plain builder, as tflite-support's populator re-packs the model


def _append_zip(content, files):
    """`content` and a zip archive of `files` after it, entry by entry what
    tflite-support's `ZipFile(..., "a").writestr(name, data)` writes on Linux,
    but for the time, pinned to the zip epoch so the file is reproducible."""
    stream = io.BytesIO()
    stream.write(content)
    with zipfile.ZipFile(stream, "a") as archive:  # a non-zip opened to append: the archive starts at its end
        for name, data in files.items():
            entry = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            entry.compress_type = zipfile.ZIP_STORED  # writestr's default
            entry.create_system, entry.external_attr = 3, 0o600 << 16  # Unix, -rw-------: set, not left to the platform
            archive.writestr(entry, data)
    return stream.getvalue()


# --- reading it back ---


def read_metadata(model):
    """The image-classifier metadata of a .tflite path or flatbuffer bytes, as a
    dict (None if the file has none): the ModelMetadata fields, the input and
    output tensor metadata, the packed file names and the labels."""
    if not isinstance(model, (bytes, bytearray)):
        with open(_existing(os.fspath(model)), "rb") as f:
            model = f.read()
    content = bytes(model)
    tflite = _tflite_model(content)
    buffer = None
    for i in range(tflite.MetadataLength()):
        if tflite.Metadata(i).Name().decode() == METADATA_NAME:
            buffer = tflite.Buffers(tflite.Metadata(i).Buffer()).DataAsNumpy().tobytes()
    if buffer is None:
        return None
    info = parse_metadata_buffer(buffer)
    packed = {}
    if zipfile.is_zipfile(io.BytesIO(content)):
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            packed = {name: archive.read(name) for name in archive.namelist()}
    info["packed_files"] = sorted(packed)
    label_files = [o["label_file"] for o in info["outputs"] if o.get("label_file")]
    info["labels"] = label_lines(packed[label_files[0]].decode("utf8")) if label_files and label_files[0] in packed else None
    return info


def parse_metadata_buffer(buffer):
    """A ModelMetadata ("M001") flatbuffer as a dict (the fields written here)."""
    buffer = bytes(buffer)
    if len(buffer) < 8 or buffer[4:8] != FILE_IDENTIFIER:
        raise ValueError("Not a TFLite metadata buffer (no M001 identifier).")
    root = _Table(buffer, flatbuffers.encode.Get(flatbuffers.packer.uoffset, buffer, 0))
    info = {key: root.string(slot) for key, slot in
            (("name", 0), ("description", 1), ("version", 2), ("author", 4), ("license", 5), ("min_parser_version", 7))}
    subgraphs = root.tables(3)
    if len(subgraphs) != 1:
        raise ValueError(f"Expected one SubGraphMetadata; found {len(subgraphs)}.")
    inputs, outputs = subgraphs[0].tables(2), subgraphs[0].tables(3)
    info["input"] = _tensor_info(inputs[0]) if inputs else {}
    info["outputs"] = [_tensor_info(output) for output in outputs]  # in the file's output order
    info["output"] = info["outputs"][0] if outputs else {}
    info["output_groups"] = {group.string(0): group.strings(1) for group in subgraphs[0].tables(8)}
    return info


def _tensor_info(tensor):
    info = {"name": tensor.string(0), "description": tensor.string(1)}
    content = tensor.table(3)
    if content is not None:
        kind = content.scalar(0, number_types.Uint8Flags)
        info["content"] = _CONTENT_NAMES.get(kind, kind)
        properties = content.table(1)
        if kind == _IMAGE_PROPERTIES and properties is not None:
            space = properties.scalar(0, number_types.Int8Flags)
            info["color_space"] = {v: k for k, v in _COLOR_SPACE_VALUES.items()}.get(space, space)
        if kind == _BOUNDING_BOX_PROPERTIES and properties is not None:
            info["box_index"] = properties.uints(0)
            info["box_type"] = _BOX_TYPES.get(properties.scalar(1, number_types.Int8Flags))
            info["coordinate_type"] = _COORDINATE_TYPES.get(properties.scalar(2, number_types.Int8Flags))
        value_range = content.table(2)
        if value_range is not None:  # the dimensions the content spans
            info["content_range"] = [value_range.scalar(0, number_types.Int32Flags),
                                     value_range.scalar(1, number_types.Int32Flags)]
    for unit in tensor.tables(4):
        if unit.scalar(0, number_types.Uint8Flags) == _NORMALIZATION_OPTIONS:
            options = unit.table(1)
            info["mean"], info["std"] = options.floats(0), options.floats(1)
    stats = tensor.table(5)
    if stats is not None:
        info["max"], info["min"] = stats.floats(0), stats.floats(1)
    for file in tensor.tables(6):
        kind = file.scalar(2, number_types.Int8Flags)
        if kind in _LABEL_FILE_TYPES:
            info["label_file"] = file.string(0)
            info["label_file_description"] = file.string(1)
            info["label_file_type"] = _LABEL_FILE_TYPES[kind]
    return info


class _Table:
    """Read access to a flatbuffer table by field slot (what generated readers do)."""

    def __init__(self, buffer, position):
        self._t = table.Table(bytearray(buffer) if not isinstance(buffer, bytearray) else buffer, position)

    def _offset(self, slot):
        return self._t.Offset(4 + 2 * slot)

    def string(self, slot):
        o = self._offset(slot)
        return self._t.String(o + self._t.Pos).decode("utf8") if o else None

    def scalar(self, slot, flags):
        o = self._offset(slot)
        return self._t.Get(flags, o + self._t.Pos) if o else 0

    def table(self, slot):
        o = self._offset(slot)
        return _Table(self._t.Bytes, self._t.Indirect(o + self._t.Pos)) if o else None

    def tables(self, slot):
        o = self._offset(slot)
        if not o:
            return []
        start = self._t.Vector(o)
        return [_Table(self._t.Bytes, self._t.Indirect(start + 4 * i)) for i in range(self._t.VectorLen(o))]

    def strings(self, slot):
        o = self._offset(slot)
        if not o:
            return []
        start = self._t.Vector(o)
        return [self._t.String(start + 4 * i).decode("utf8") for i in range(self._t.VectorLen(o))]

    def uints(self, slot):
        o = self._offset(slot)
        return [int(v) for v in self._t.GetVectorAsNumpy(number_types.Uint32Flags, o)] if o else None

    def floats(self, slot):
        o = self._offset(slot)
        return [float(v) for v in self._t.GetVectorAsNumpy(number_types.Float32Flags, o)] if o else None
