"""`case_fields(case, inputs)`: a golden case of tests/data/tflite_support (an entry of
cases.json) as the keyword arguments keras_lightnets' metadata writers take; a case's
label file is read from the `inputs` folder."""


def case_fields(case, inputs):
    fields = dict(case["general"])
    if "mean" in case:
        fields.update(mean=case["mean"], std=case["std"])
    if "labels" in case:
        fields["labels"] = case["labels"]
    elif "labels_file" in case:
        fields["labels"] = str(inputs / case["labels_file"])
    return fields
