"""Running .tflite files on the LiteRT interpreter (ai-edge-litert), with input
quantization handled, and clear errors for files that are not TFLite models."""

import os

import numpy as np


def load_interpreter(model, num_threads=1):
    """An allocated LiteRT interpreter for a .tflite path or flatbuffer bytes."""
    from ai_edge_litert.interpreter import Interpreter

    if isinstance(model, (bytes, bytearray)):
        content, where = bytes(model), "the given flatbuffer"
    else:
        path = os.fspath(model)
        if not os.path.isfile(path):
            raise ValueError(f"TFLite model {path!r} does not exist.")
        with open(path, "rb") as f:
            content, where = f.read(), repr(path)
    # Bytes 4-8 of every TFLite flatbuffer are the file identifier "TFL3".
    if len(content) < 8 or content[4:8] != b"TFL3":
        raise ValueError(f"{where} is not a TFLite model (no TFL3 identifier): corrupt, truncated or another format.")
    try:
        interpreter = Interpreter(model_content=content, num_threads=num_threads)
        interpreter.allocate_tensors()
    except (RuntimeError, ValueError) as error:
        raise ValueError(f"{where} cannot be loaded by the LiteRT interpreter (corrupt or truncated?): {error}") from None
    return interpreter


def run(interpreter, images):
    """Runs `images` (N, H, W, C) one at a time (batch 1, as on device) and returns
    the float outputs (N, ...), quantizing inputs and dequantizing outputs as the
    file's tensors require."""
    input_detail = interpreter.get_input_details()[0]
    output_detail = interpreter.get_output_details()[0]
    outputs = []
    for image in np.asarray(images):
        interpreter.set_tensor(input_detail["index"], _to_input(image[None], input_detail))
        interpreter.invoke()
        outputs.append(_from_output(interpreter.get_tensor(output_detail["index"]), output_detail))
    return np.concatenate(outputs)


def _to_input(batch, detail):
    dtype = detail["dtype"]
    scale, zero_point = detail["quantization"]
    if np.issubdtype(dtype, np.floating):
        return batch.astype(dtype)
    info = np.iinfo(dtype)
    if scale:
        batch = np.round(batch.astype("float64") / scale + zero_point)
    return np.clip(batch, info.min, info.max).astype(dtype)


def _from_output(values, detail):
    scale, zero_point = detail["quantization"]
    if np.issubdtype(values.dtype, np.floating) or not scale:
        return values.astype("float32")
    return ((values.astype("float32") - zero_point) * scale).astype("float32")
