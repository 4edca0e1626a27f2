"""Writes the metadata goldens (expected/<id>.tflite) with tflite-support 0.4.4's
own image-classifier writer, one per case of cases.json, from the committed
models in inputs/. Run it through generate.sh (its own virtual environment,
requirements.txt, no TensorFlow), not in the project's environment.

tflite-support stamps each packed file with the time of writing (its populator
calls zipfile's `writestr(name, data)`, which takes `time.localtime(time.time())`).
So that the goldens do not change from run to run, the clock is pinned to
1980-01-01 00:00:00, the earliest time a zip records, the one keras_lightnets
writes. Each case is also written with the real clock, and the two outputs must
differ in those two date/time fields and nothing else; else this script fails.

Then tflite-support's Task Library `ImageClassifier` (the C++ that Android's runs)
loads each golden and classifies one fixed image (expected/probe_image.npy); what
it answers, or its refusal, goes to expected/task_library.json, which the tests
hold against the same file run with LiteRT on (pixels - mean) / std.
"""

import contextlib
import ctypes
import io
import json
import os
import sys
import tempfile
import time
import zipfile

import libusb_package
import numpy as np

# tflite-support's native metadata modules link libusb-1.0 without using it; the
# libusb-package wheel ships that library, so no system package is needed.
ctypes.CDLL(str(libusb_package.get_library_path()), mode=ctypes.RTLD_GLOBAL)

from tensorflow_lite_support.metadata import metadata_schema_py_generated as metadata_fb  # noqa: E402
from tensorflow_lite_support.metadata.python import metadata  # noqa: E402
from tensorflow_lite_support.metadata.python.metadata_writers import image_classifier  # noqa: E402
from tensorflow_lite_support.metadata.python.metadata_writers import image_segmenter  # noqa: E402
from tensorflow_lite_support.metadata.python.metadata_writers import object_detector  # noqa: E402
from tensorflow_lite_support.metadata.python.metadata_writers import metadata_info  # noqa: E402
from tensorflow_lite_support.metadata.python.metadata_writers import writer_utils  # noqa: E402
from tflite_support.task import core as task_core  # noqa: E402
from tflite_support.task import vision  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
INPUTS, EXPECTED = os.path.join(HERE, "inputs"), os.path.join(HERE, "expected")
# the detector and segmenter goldens (heads/cases.json), beside the classifier's
HEADS = os.path.join(HERE, "heads")
ZIP_EPOCH = 315532800.0  # 1980-01-01 00:00:00 UTC
# Where a DOS time and date (4 bytes) sit in a zip's local file header and central directory header.
LOCAL_HEADER, LOCAL_TIME_AT = b"PK\x03\x04", 10
CENTRAL_HEADER, CENTRAL_TIME_AT = b"PK\x01\x02", 12


@contextlib.contextmanager
def clock_at_zip_epoch():
    saved_tz, real_time = os.environ.get("TZ"), time.time
    os.environ["TZ"] = "UTC"
    time.tzset()
    time.time = lambda: ZIP_EPOCH
    try:
        yield
    finally:
        time.time = real_time
        if saved_tz is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = saved_tz
        time.tzset()


def populate(case, workdir, inputs=INPUTS):
    """tflite-support's populated model for one case, as its writer returns it."""
    model = writer_utils.load_file(os.path.join(inputs, case["input"]))
    if "labels" in case:
        label_paths = [os.path.join(workdir, "labels.txt")]
        with open(label_paths[0], "w", encoding="utf8", newline="") as f:
            f.write("".join(f"{label}\n" for label in case["labels"]))
    elif "labels_file" in case:
        label_paths = [os.path.join(inputs, case["labels_file"])]
    else:
        label_paths = []
    task = case.get("task", "image_classifier")
    if task != "image_classifier":
        return bytes(populate_head(case, task, model, label_paths).populate())
    if case["writer"] == "create_for_inference":
        # the fields it sets itself are the ones the case says
        assert case["general"] == {"name": "ImageClassifier", "description": image_classifier.MODEL_DESCRIPTION}, case
        assert case["color_space"] == "RGB", case
        writer = image_classifier.MetadataWriter.create_for_inference(model, case["mean"], case["std"], label_paths)
    else:
        assert case["writer"] == "create_from_metadata_info", case
        general = {("licenses" if key == "license" else key): value for key, value in case["general"].items()}
        writer = image_classifier.MetadataWriter.create_from_metadata_info(
            model,
            general_md=metadata_info.GeneralMd(**general),
            input_md=metadata_info.InputImageTensorMd(
                name=image_classifier.INPUT_NAME, description=image_classifier.INPUT_DESCRIPTION,
                norm_mean=case.get("mean"), norm_std=case.get("std"),
                color_space_type=getattr(metadata_fb.ColorSpaceType, case["color_space"]),
                tensor_type=writer_utils.get_input_tensor_types(model)[0]),
            output_md=metadata_info.ClassificationTensorMd(
                name=image_classifier.OUTPUT_NAME, description=image_classifier.OUTPUT_DESCRIPTION,
                label_files=[metadata_info.LabelFileMd(path) for path in label_paths],
                tensor_type=writer_utils.get_output_tensor_types(model)[0]),
        )
    return bytes(writer.populate())


def populate_head(case, task, model, label_paths):
    """The object-detector or image-segmenter writer for one case (heads/cases.json)."""
    module = {"object_detector": object_detector, "image_segmenter": image_segmenter}[task]
    if case["writer"] == "create_for_inference":
        assert case["general"] == {"name": module._MODEL_NAME, "description": module._MODEL_DESCRIPTION}, case
        assert case["color_space"] == "RGB", case
        return module.MetadataWriter.create_for_inference(model, case["mean"], case["std"], label_paths)
    assert case["writer"] == "create_from_metadata_info", case
    general = {("licenses" if key == "license" else key): value for key, value in case["general"].items()}
    input_md = metadata_info.InputImageTensorMd(
        name=module._INPUT_NAME, description=module._INPUT_DESCRIPTION,
        norm_mean=case.get("mean"), norm_std=case.get("std"),
        color_space_type=getattr(metadata_fb.ColorSpaceType, case["color_space"]),
        tensor_type=writer_utils.get_input_tensor_types(model)[0])
    labels = [metadata_info.LabelFileMd(path) for path in label_paths]
    if task == "object_detector":  # the location, score and count outputs as the writer makes them by default
        category = metadata_info.CategoryTensorMd(name=module._OUTPUT_CATRGORY_NAME,
                                                  description=module._OUTPUT_CATEGORY_DESCRIPTION, label_files=labels)
        return module.MetadataWriter.create_from_metadata_info(
            model, general_md=metadata_info.GeneralMd(**general), input_md=input_md, output_category_md=category)
    masks = metadata_info.TensorMd(name=module._OUTPUT_NAME, description=module._OUTPUT_DESCRIPTION,
                                   associated_files=labels)
    return module.MetadataWriter.create_from_metadata_info(
        model, general_md=metadata_info.GeneralMd(**general), input_md=input_md, output_md=masks)


def timestamp_offsets(content):
    """Offsets of the DOS time+date of each packed file, in its local and its central header."""
    offsets = []
    if not zipfile.is_zipfile(io.BytesIO(content)):
        return offsets
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        # searched from the archive on: the flatbuffer before it could hold the same 4 bytes
        start = min([info.header_offset for info in archive.infolist()], default=archive.start_dir)
        for info in archive.infolist():
            assert content[info.header_offset:info.header_offset + 4] == LOCAL_HEADER
            offsets.append(info.header_offset + LOCAL_TIME_AT)
    central = content.find(CENTRAL_HEADER, start)
    while central != -1:
        offsets.append(central + CENTRAL_TIME_AT)
        central = content.find(CENTRAL_HEADER, central + 4)
    return offsets


def check_only_the_clock_differs(pinned, now, case_id):
    if len(pinned) != len(now):
        sys.exit(f"{case_id}: with the real clock the file is {len(now)} bytes, pinned {len(pinned)}")
    allowed = {offset + i for offset in timestamp_offsets(pinned) for i in range(4)}
    differing = {i for i, (a, b) in enumerate(zip(pinned, now)) if a != b}
    if not differing <= allowed:
        sys.exit(f"{case_id}: bytes {sorted(differing - allowed)} differ between runs, not only the zip timestamps")
    return len(differing)


def probe_image(size=32):
    """A fixed RGB image, the input size of the models (so Task Library does not resize it)."""
    y, x, c = np.meshgrid(np.arange(size), np.arange(size), np.arange(3), indexing="ij")
    return ((37 * (3 * size * y + 3 * x + c)) % 256).astype(np.uint8)


def classify_with_task_library(path, image):
    """Task Library's answer for `image`: every class as [index, label, score], or its error."""
    try:
        options = vision.ImageClassifierOptions(base_options=task_core.BaseOptions(file_name=path))
        classifier = vision.ImageClassifier.create_from_options(options)
    except (RuntimeError, ValueError) as error:
        return {"error": str(error)}
    result = classifier.classify(vision.TensorImage.create_from_array(image))
    categories = result.classifications[0].categories
    return {"categories": sorted([c.index, c.category_name, float(c.score)] for c in categories)}


def detect_with_task_library(path, image):
    """Task Library ObjectDetector's detections for `image`: each as [[origin x, origin y,
    width, height] in pixels, [[index, label, score], ...]], or its error."""
    try:
        options = vision.ObjectDetectorOptions(base_options=task_core.BaseOptions(file_name=path))
        detector = vision.ObjectDetector.create_from_options(options)
    except (RuntimeError, ValueError) as error:
        return {"error": str(error)}
    result = detector.detect(vision.TensorImage.create_from_array(image))
    return {"detections": [[[d.bounding_box.origin_x, d.bounding_box.origin_y, d.bounding_box.width,
                              d.bounding_box.height],
                             [[c.index, c.category_name, float(c.score)] for c in d.categories]]
                            for d in result.detections]}


def segment_with_task_library(path, image):
    """Task Library ImageSegmenter's category mask for `image` (rows of class ids) and its
    label names, or its error."""
    try:
        options = vision.ImageSegmenterOptions(base_options=task_core.BaseOptions(file_name=path))
        segmenter = vision.ImageSegmenter.create_from_options(options)
    except (RuntimeError, ValueError) as error:
        return {"error": str(error)}
    result = segmenter.segment(vision.TensorImage.create_from_array(image))
    segmentation = result.segmentations[0]
    return {"category_mask": np.asarray(segmentation.category_mask)[..., 0].astype(int).tolist()
            if np.ndim(segmentation.category_mask) == 3 else np.asarray(segmentation.category_mask).astype(int).tolist(),
            "labels": [label.category_name for label in segmentation.colored_labels]}


def write_goldens(cases, inputs, expected):
    os.makedirs(expected, exist_ok=True)
    for case in cases:
        with tempfile.TemporaryDirectory() as workdir:
            with clock_at_zip_epoch():
                pinned = populate(case, workdir, inputs)
            now = populate(case, workdir, inputs)
        changed = check_only_the_clock_differs(pinned, now, case["id"])
        info = metadata.MetadataDisplayer.with_model_buffer(pinned)
        path = os.path.join(expected, f"{case['id']}.tflite")
        with open(path + ".part", "wb") as f:
            f.write(pinned)
        os.replace(path + ".part", path)
        print(f"{case['id']}: {len(pinned)} bytes, packed {info.get_packed_associated_file_list()}, "
              f"{changed} timestamp bytes differ with the real clock")


def write_answers(path, answers):
    with open(path, "w", encoding="utf8") as f:  # a line a case
        f.write("{\n" + ",\n".join(f" {json.dumps(k)}: {json.dumps(v)}" for k, v in answers.items()) + "\n}\n")


def main_heads():
    """The detector and segmenter goldens, and what Task Library's ObjectDetector /
    ImageSegmenter answer on each for the probe image."""
    with open(os.path.join(HEADS, "cases.json"), encoding="utf8") as f:
        cases = json.load(f)["cases"]
    expected = os.path.join(HEADS, "expected")
    write_goldens(cases, os.path.join(HEADS, "inputs"), expected)
    image = probe_image()
    np.save(os.path.join(expected, "probe_image.npy"), image)
    answers = {}
    for case in cases:
        run = detect_with_task_library if case["task"] == "object_detector" else segment_with_task_library
        answers[case["id"]] = run(os.path.join(expected, f"{case['id']}.tflite"), image)
    write_answers(os.path.join(expected, "task_library.json"), answers)
    for case_id, answer in answers.items():
        print(f"Task Library, {case_id}: {str(answer)[:200]}")


def main():
    with open(os.path.join(HERE, "cases.json"), encoding="utf8") as f:
        cases = json.load(f)["cases"]
    os.makedirs(EXPECTED, exist_ok=True)
    for case in cases:
        with tempfile.TemporaryDirectory() as workdir:
            with clock_at_zip_epoch():
                pinned = populate(case, workdir)
            now = populate(case, workdir)
        changed = check_only_the_clock_differs(pinned, now, case["id"])
        info = metadata.MetadataDisplayer.with_model_buffer(pinned)
        path = os.path.join(EXPECTED, f"{case['id']}.tflite")
        with open(path + ".part", "wb") as f:
            f.write(pinned)
        os.replace(path + ".part", path)
        print(f"{case['id']}: {len(pinned)} bytes, packed {info.get_packed_associated_file_list()}, "
              f"{changed} timestamp bytes differ with the real clock")
    image = probe_image()
    np.save(os.path.join(EXPECTED, "probe_image.npy"), image)
    answers = {case["id"]: classify_with_task_library(os.path.join(EXPECTED, f"{case['id']}.tflite"), image)
               for case in cases}
    with open(os.path.join(EXPECTED, "task_library.json"), "w", encoding="utf8") as f:  # a line a case
        f.write("{\n" + ",\n".join(f" {json.dumps(k)}: {json.dumps(v)}" for k, v in answers.items()) + "\n}\n")
    for case_id, answer in answers.items():
        print(f"Task Library ImageClassifier, {case_id}: {answer.get('error') or answer['categories']}")
    main_heads()


if __name__ == "__main__":
    main()
