"""SSD detectors to TFLite files that end in TFLite's `TFLite_Detection_PostProcess`
(tensorflow/lite/kernels/detection_postprocess.cc), the four outputs Android's Task
Library `ObjectDetector` reads: boxes (1, D, 4) ymin xmin ymax xmax relative to the
image, classes (1, D) foreground ids from 0 (our class 1 is its 0), scores (1, D) and
the count (1,).

    kl.tflite.export_detector(model, "ssdlite.tflite", max_detections=10)

The model's raw outputs are reordered and scored in the graph (torchvision's codes
dx dy dw dh -> the op's ty tx th tw; softmax, or sigmoid for the focal loss), the default
boxes are a constant (ycenter, xcenter, h, w relative) and the op is a composite
function the converter legalizes (`tf.function(experimental_implements=...)`, as the TF
Object Detection API's TF2 export and AutoML EfficientDet's do): a runtime without the
custom op cannot run the file, and the file is written only once it converted and ran.
"""

import tempfile

import keras
import numpy as np

from keras_lightnets._atomic import write_atomically
from keras_lightnets.heads.detection import BoxCoder
from keras_lightnets.heads.detection import anchors as model_anchors

__all__ = ["export_detector", "POSTPROCESS_OP"]

POSTPROCESS_OP = "TFLite_Detection_PostProcess"


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


def export_detector(model, path, *, max_detections=10, score_threshold=0.3, iou_threshold=0.55,
                    use_regular_nms=True, detections_per_class=100, score_activation="softmax", default_boxes=None,
                    coder=None, representative_data=None):
    """Writes `model` (an SSDLite of kl.heads: [bbox_regression, cls_logits]) as a float32
    TFLite file ending in TFLite_Detection_PostProcess; returns the file's bytes.

    Args:
        max_detections: the op's D.
        score_threshold, iou_threshold: the op's NMS thresholds.
        use_regular_nms: per-class NMS (True, as our `kl.heads.postprocess`) or the op's
            fast single-class NMS.
        detections_per_class: per-class NMS's candidates per class.
        score_activation: "softmax" (the multibox loss) or "sigmoid" (the focal loss).
        default_boxes: kl.heads.anchors(model)'s (default: the model's).
        representative_data: images (N, H, W, C) in the model's input units: the
            network is quantized to int8 (float input and outputs; the post-processing
            op runs in float, as in the TF Object Detection API's int8 files).
    """
    import tensorflow as tf

    if not isinstance(model, keras.Model) or len(model.outputs) != 2 or model.outputs[0].shape[-1] != 4:
        raise ValueError("export_detector takes an SSDLite model (kl.heads.SSDLite or a registered ssdlite_*): "
                         "outputs [bbox_regression (batch, A, 4), cls_logits (batch, A, classes)].")
    if score_activation not in ("softmax", "sigmoid"):
        raise ValueError(f"`score_activation` must be 'softmax' or 'sigmoid'; received {score_activation!r}.")
    height, width, channels = model.inputs[0].shape[1:]
    classes = model.outputs[1].shape[-1]
    corners = np.asarray(model_anchors(model) if default_boxes is None else default_boxes, "float32")
    corners = corners / np.array([width, height, width, height], "float32")
    centres = np.stack([(corners[:, 1] + corners[:, 3]) / 2, (corners[:, 0] + corners[:, 2]) / 2,
                        corners[:, 3] - corners[:, 1], corners[:, 2] - corners[:, 0]], -1)  # yc, xc, h, w
    weights = (coder or BoxCoder()).weights
    signature = _signature(classes - 1, max_detections, score_threshold, iou_threshold, use_regular_nms,
                           detections_per_class, weights)

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

    archive = keras.export.ExportArchive()  # tracks the Keras 3 variables (a SavedModel keeps the op's function)
    archive.track(model)
    archive.add_endpoint("serve", serve,
                         input_signature=[keras.InputSpec(shape=(1, height, width, channels), dtype="float32")])
    with tempfile.TemporaryDirectory() as saved_model_dir:
        archive.write_out(saved_model_dir, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir)
        converter.allow_custom_ops = True
        if representative_data is not None:
            calibration = np.asarray(representative_data, "float32")
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = lambda: ([image[None]] for image in calibration)
        try:
            content = converter.convert()
        except Exception as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise ValueError(f"TFLite could not convert {model.name!r} with {POSTPROCESS_OP}: {first}") from None
    _check_runs(content)
    write_atomically(path, content)
    return content


def _check_runs(content):
    from keras_lightnets.tflite.interpreter import load_interpreter

    interpreter = load_interpreter(content)
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"],
                           np.zeros(interpreter.get_input_details()[0]["shape"], "float32"))
    interpreter.invoke()
