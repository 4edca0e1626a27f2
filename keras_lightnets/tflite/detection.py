"""SSD detectors to TFLite files that end in TFLite's `TFLite_Detection_PostProcess`
(tensorflow/lite/kernels/detection_postprocess.cc), the four outputs Android's Task
Library `ObjectDetector` reads: boxes (1, D, 4) ymin xmin ymax xmax relative to the
image, classes (1, D) foreground ids from 0 (our class 1 is its 0), scores (1, D) and
the count (1,), in that order (the op's), so a runtime without metadata finds them too.

    kl.tflite.export_detector(model, "ssdlite.tflite", max_detections=10)
    kl.tflite.export_detector(model, "ssdlite_int8.tflite", quantization="int8", representative_data=images,
                              input_type="uint8", metadata={"labels": ["cat", "dog"]})

The model's raw outputs are reordered and scored in the graph (torchvision's codes
dx dy dw dh -> the op's ty tx th tw; softmax, or sigmoid for the focal loss), the default
boxes are a constant (ycenter, xcenter, h, w relative) and the op is a composite
function the converter legalizes (`tf.function(experimental_implements=...)`, as the TF
Object Detection API's TF2 export and AutoML EfficientDet's do): a runtime without the
custom op cannot run the file, and the file is written only once it converted and ran.

Every post-training mode of `kl.tflite.convert` applies to the network before the op;
the op itself computes in float (its kernel reads float32, or uint8 codes with uint8
anchors, no int8 or int16). So in "int8" (calibrated, or a QAT model from
`kl.tflite.quantize_aware`) and "int16x8" every op of the network is integer and the op
reads its two inputs through a DEQUANTIZE each, as in the TF Object Detection API's TF2
int8 SSD files; `export_detector` checks exactly that.
"""

import os
import tempfile

import keras
import numpy as np

from keras_lightnets._atomic import write_atomically
from keras_lightnets.heads.detection import BoxCoder
from keras_lightnets.heads.detection import anchors as model_anchors

__all__ = ["export_detector", "POSTPROCESS_OP", "postprocess_outputs"]

POSTPROCESS_OP = "TFLite_Detection_PostProcess"
MODES = (None, "float16", "dynamic", "int8", "int16x8")
# Input tensor types each mode can be given (the op's outputs are float32 in every mode).
INPUT_TYPES = {None: ("float32",), "float16": ("float32",), "dynamic": ("float32",),
               "int8": ("float32", "uint8", "int8"), "int16x8": ("float32", "int16")}


def _signature(num_classes, max_detections, score_threshold, iou_threshold, use_regular_nms, detections_per_class,
               weights):
    y, x, h, w = weights[1], weights[0], weights[3], weights[2]
    attributes = [f'name: "{POSTPROCESS_OP}"',
                  f'attr {{ key: "max_detections" value {{ i: {max_detections} }} }}',
                  'attr { key: "max_classes_per_detection" value { i: 1 } }',
                  f'attr {{ key: "detections_per_class" value {{ i: {detections_per_class} }} }}',
                  f'attr {{ key: "use_regular_nms" value {{ b: {str(bool(use_regular_nms)).lower()} }} }}',
                  f'attr {{ key: "nms_score_threshold" value {{ f: {float(score_threshold):f} }} }}',
                  f'attr {{ key: "nms_iou_threshold" value {{ f: {float(iou_threshold):f} }} }}',
                  f'attr {{ key: "y_scale" value {{ f: {y:f} }} }}', f'attr {{ key: "x_scale" value {{ f: {x:f} }} }}',
                  f'attr {{ key: "h_scale" value {{ f: {h:f} }} }}', f'attr {{ key: "w_scale" value {{ f: {w:f} }} }}',
                  f'attr {{ key: "num_classes" value {{ i: {num_classes} }} }}']
    return " ".join(attributes)


def export_detector(model, path, *, quantization=None, representative_data=None, input_type="float32",
                    max_detections=10, score_threshold=0.3, iou_threshold=0.55, use_regular_nms=True,
                    detections_per_class=100, score_activation="softmax", default_boxes=None, coder=None,
                    metadata=None, num_calibration_samples=200, decompose_hard_swish=True, fuse_channel_affine=True):
    """Writes `model` (an SSDLite of kl.heads: [bbox_regression, cls_logits]) as a TFLite
    file ending in TFLite_Detection_PostProcess; returns the file's bytes.

    Args:
        model: the Keras SSDLite, or its QAT model (`kl.tflite.quantize_aware(model)`,
            trained), which exports with quantization="int8" and `default_boxes`.
        quantization: None (float32), "float16", "dynamic", "int8" or "int16x8", as
            `kl.tflite.convert`. Given `representative_data` and no mode: "int8".
        representative_data: calibration images (N, H, W, C) in the model's input
            units, for "int8" and "int16x8".
        input_type: the input tensor's type: "float32"; "uint8" or "int8" for int8
            (the Task Library takes uint8 or float32); "int16" for int16x8.
        max_detections: the op's D.
        score_threshold, iou_threshold: the op's NMS thresholds.
        use_regular_nms: per-class NMS (True, as our `kl.heads.postprocess`) or the op's
            fast single-class NMS.
        detections_per_class: per-class NMS's candidates per class.
        score_activation: "softmax" (the multibox loss) or "sigmoid" (the focal loss).
        default_boxes: kl.heads.anchors(model)'s (default: the model's; required for a
            QAT model, e.g. kl.heads.anchors(float_model)).
        metadata: TFLite Support ObjectDetector metadata for the Task Library
            (keras_lightnets.tflite.metadata.add_detector_metadata): True for the
            defaults, or a dict of name, description, labels (one per foreground
            class), mean, std, author, version, license.
        num_calibration_samples: how many representative images calibrate.
        decompose_hard_swish, fuse_channel_affine: `kl.tflite.convert`'s rewrites of the
            converted file (keras_lightnets.tflite.passes), run here per mode as there:
            int8 HARD_SWISH as ops XNNPACK runs, preprocessing as one DEPTHWISE_CONV_2D.
    """
    from keras_lightnets.tflite.passes import run_passes
    from keras_lightnets.tflite.qat import is_quantize_aware

    qat = is_quantize_aware(model)
    if not _is_detector(model):
        raise ValueError("export_detector takes an SSDLite model (kl.heads.SSDLite or a registered ssdlite_*, or its "
                         "QAT model): outputs [bbox_regression (batch, A, 4), cls_logits (batch, A, classes)].")
    if quantization is None and representative_data is not None and not qat:
        quantization = "int8"
    if quantization not in MODES:
        raise ValueError(f"`quantization` must be one of {MODES}; received {quantization!r}.")
    if qat and quantization != "int8":
        raise ValueError(f"{model.name!r} is a quantization-aware (QAT) model: export it with quantization='int8' "
                         f"(its trained ranges make the int8 file); received quantization={quantization!r}.")
    if input_type not in INPUT_TYPES[quantization]:
        raise ValueError(f"`input_type={input_type!r}` is not available with quantization={quantization!r}; "
                         f"choose from {INPUT_TYPES[quantization]}.")
    if score_activation not in ("softmax", "sigmoid"):
        raise ValueError(f"`score_activation` must be 'softmax' or 'sigmoid'; received {score_activation!r}.")
    if qat and default_boxes is None:
        raise ValueError("A QAT detector does not carry its default boxes: pass default_boxes=kl.heads.anchors(model) "
                         "of the float model it was made from.")
    directory = os.path.dirname(os.path.abspath(os.fspath(path)))
    if not os.path.isdir(directory):
        raise ValueError(f"The output directory {directory!r} does not exist; create it or choose another `path`.")
    height, width, channels = (int(d) for d in model.inputs[0].shape[1:])
    classes = int(model.outputs[1].shape[-1])
    calibration = _calibration(quantization, qat, representative_data, (height, width, channels),
                               num_calibration_samples)
    metadata_fields = _metadata_fields(metadata, model, classes, input_type)
    corners = np.asarray(model_anchors(model) if default_boxes is None else default_boxes, "float32")
    if corners.shape != (int(model.outputs[0].shape[1]), 4):
        raise ValueError(f"`default_boxes` must be ({model.outputs[0].shape[1]}, 4) x1 y1 x2 y2 boxes, one per "
                         f"prediction; received shape {corners.shape}.")
    corners = corners / np.array([width, height, width, height], "float32")
    centres = np.stack([(corners[:, 1] + corners[:, 3]) / 2, (corners[:, 0] + corners[:, 2]) / 2,
                        corners[:, 3] - corners[:, 1], corners[:, 2] - corners[:, 0]], -1)  # yc, xc, h, w
    signature = _signature(classes - 1, max_detections, score_threshold, iou_threshold, use_regular_nms,
                           detections_per_class, (coder or BoxCoder()).weights)
    content = _convert(model, qat, signature, centres, max_detections, score_activation, (height, width, channels),
                       quantization, calibration, input_type)
    content, _ = run_passes(content, quantization, decompose_hard_swish=decompose_hard_swish,
                            fuse_channel_affine=fuse_channel_affine)
    content = postprocess_outputs(content)
    _check(content, model.name, quantization)
    if metadata_fields is not None:
        from keras_lightnets.tflite.metadata import add_detector_metadata

        content = add_detector_metadata(content, **metadata_fields)
    write_atomically(path, content)
    return content


def _is_detector(model):
    from keras_lightnets.tflite.qat import is_tf_keras_model

    if not (isinstance(model, keras.Model) or is_tf_keras_model(model)):
        return False
    outputs = model.outputs
    return len(outputs) == 2 and outputs[0].shape[-1] == 4 and len(model.inputs) == 1 \
        and None not in tuple(model.inputs[0].shape[1:])


def _calibration(quantization, qat, representative_data, shape, limit):
    from keras_lightnets.tflite.inputs import representative_images

    if quantization not in ("int8", "int16x8") or qat:
        return None
    if representative_data is None:
        raise ValueError(f"quantization={quantization!r} needs `representative_data` (a few hundred training images) "
                         "to calibrate activation ranges.")
    return representative_images(representative_data, shape, limit, "representative_data")


def _metadata_fields(metadata, model, classes, input_type):
    """`metadata` as add_detector_metadata's fields, checked before converting."""
    from keras_lightnets.tflite.metadata import DETECTOR_DESCRIPTION
    from keras_lightnets.tflite.metadata import check_task_library_input
    from keras_lightnets.tflite.metadata import resolve_metadata

    if metadata not in (None, False):
        check_task_library_input(input_type, "ObjectDetector")
    return resolve_metadata(metadata, model, input_type, description=DETECTOR_DESCRIPTION, classes=classes - 1)


def _convert(model, qat, signature, centres, max_detections, score_activation, shape, quantization, calibration,
             input_type):
    import tensorflow as tf

    from keras_lightnets.tflite.convert import configure_converter

    @tf.function(experimental_implements=signature)
    def postprocess(box_encodings, class_predictions, anchors):  # the converter puts the op in its place
        boxes = tf.constant(0.0, tf.float32, shape=[1, max_detections, 4], name="boxes")
        scores = tf.constant(0.0, tf.float32, shape=[1, max_detections], name="scores")
        classes = tf.constant(0.0, tf.float32, shape=[1, max_detections], name="classes")
        count = tf.constant(0.0, tf.float32, shape=[1], name="num_detections")
        return boxes, classes, scores, count

    anchors = tf.constant(centres)

    def serve(images):
        codes, logits = model(images, training=False)
        codes = tf.gather(codes, [1, 0, 3, 2], axis=-1)  # dx dy dw dh -> ty tx th tw
        scores = tf.nn.softmax(logits) if score_activation == "softmax" else tf.sigmoid(logits)
        return postprocess(codes, scores, anchors)

    with tempfile.TemporaryDirectory() as saved_model_dir:
        if qat:  # a tf_keras model: a plain tf.Module holds its variables (as qat.save_for_conversion)
            module = tf.Module()
            module.model_variables = list(model.variables)
            module.serve = tf.function(serve, autograph=False, input_signature=[tf.TensorSpec((1, *shape), tf.float32)])
            tf.saved_model.save(module, saved_model_dir, signatures=module.serve.get_concrete_function())
        else:
            archive = keras.export.ExportArchive()  # tracks the Keras 3 variables (a SavedModel keeps the op's function)
            archive.track(model)
            archive.add_endpoint("serve", serve, input_signature=[keras.InputSpec(shape=(1, *shape), dtype="float32")])
            archive.write_out(saved_model_dir, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir)
        converter.allow_custom_ops = True
        configure_converter(converter, quantization, calibration, qat, input_type, output_type="float32")
        try:
            return converter.convert()
        except Exception as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise ValueError(f"TFLite could not convert {model.name!r} with {POSTPROCESS_OP} in "
                             f"quantization={quantization!r}: {first}") from None


def postprocess_outputs(content):
    """The file with its outputs in the post-process op's order (boxes, classes, scores,
    count), where the converter orders them by name. Raises ValueError for a file
    without the op."""
    from ai_edge_litert import schema_py_generated as schema

    from keras_lightnets.tflite.passes.graph_edit import op_name
    from keras_lightnets.tflite.passes.graph_edit import pack

    model = schema.ModelT.InitFromPackedBuf(content, 0)
    graph = model.subgraphs[0]
    ops = [op for op in graph.operators if op_name(model, op, schema) == "CUSTOM"
           and _custom_code(model.operatorCodes[op.opcodeIndex]) == POSTPROCESS_OP]
    if len(ops) != 1:
        raise ValueError(f"A detection file must end in one {POSTPROCESS_OP} op; this one has {len(ops)}. "
                         "Export the detector with kl.tflite.export_detector.")
    graph.outputs = np.array(ops[0].outputs, np.int32)
    return pack(model)


def _custom_code(code):
    custom = code.customCode
    return custom.decode() if isinstance(custom, bytes) else custom


def _check(content, name, quantization):
    """The file runs (on zeros), and the network before the op is as integer as the mode promises."""
    from keras_lightnets.tflite.analyze import analyze
    from keras_lightnets.tflite.interpreter import load_interpreter

    try:
        interpreter = load_interpreter(content)
        detail = interpreter.get_input_details()[0]
        interpreter.set_tensor(detail["index"], np.zeros(detail["shape"], detail["dtype"]))
        interpreter.invoke()
    except (RuntimeError, ValueError) as error:
        detail = " ".join(str(error).split())[:300]
        raise ValueError(f"The {quantization or 'float32'} detection file of {name!r} converts but the LiteRT "
                         f"interpreter cannot run it: {detail}") from None
    summary = analyze(content)
    if quantization in ("int8", "int16x8"):
        float_ops = [op for op in summary.float_ops if op != "CUSTOM"]  # the post-process op computes in float
        inner = summary.inner_quantize_ops - 2  # the DEQUANTIZEs of the box codes and scores it reads
        if float_ops or inner:
            raise ValueError(f"The {quantization} detection file of {name!r} is not integer before {POSTPROCESS_OP}: "
                             f"float ops {float_ops}, {inner} QUANTIZE/DEQUANTIZE inside the network.")
