"""The tutorials in notebooks/ run top to bottom (small settings: KL_NOTEBOOK_SMALL=1),
on this venv's Python through ipykernel, with the kernel's working directory in
notebooks/ as a reader's would be. Their files go to a temporary directory."""

import pathlib

import nbclient
import nbformat
import pytest

NOTEBOOKS = pathlib.Path(__file__).resolve().parent.parent / "notebooks"
NAMES = ["01_quick_start", "02_quantization", "03_model_zoo", "04_android_deployment", "05_fine_tune",
         "06_detection_segmentation"]
# 03 converts models only when the committed zoo benchmark results are missing.
WRITE_FILES = {"01_quick_start", "02_quantization", "04_android_deployment", "05_fine_tune", "06_detection_segmentation"}


def test_every_notebook_is_tested_and_has_a_parameters_cell():
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == NAMES
    for name in NAMES:
        cells = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4).cells
        tagged = [c for c in cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1 and "KL_NOTEBOOK_SMALL" in tagged[0].source, name


def test_every_notebook_is_committed_with_its_outputs():
    """A reader on GitHub sees each step's output and the plots without running anything."""
    for name in NAMES:
        cells = [c for c in nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4).cells if c.cell_type == "code"]
        without = [i for i, c in enumerate(cells) if not c.outputs and "parameters" not in c.metadata.get("tags", [])
                   and not c.source.lstrip().startswith(("import", "from"))]
        assert not without, f"{name}: code cells {without} have no committed output; execute and save the notebook"
        assert any("image/png" in o.get("data", {}) for c in cells for o in c.outputs), f"{name}: no plot committed"
        errors = [o for c in cells for o in c.outputs if o.get("output_type") == "error"]
        assert not errors, f"{name} was saved with an error output"


# Small settings (KL_NOTEBOOK_SMALL=1): each notebook is about a minute, so CI runs them all.
# "03_model_zoo:measure" runs 03 without the committed zoo results, down the branch
# that converts and times the models itself.
@pytest.mark.parametrize("name", NAMES + ["03_model_zoo:measure"])
def test_notebook_runs_top_to_bottom(name, tmp_path, monkeypatch):
    name, _, branch = name.partition(":")
    monkeypatch.setenv("KL_NOTEBOOK_SMALL", "1")
    monkeypatch.setenv("KL_NOTEBOOK_OUTPUT", str(tmp_path))
    if branch == "measure":
        monkeypatch.setenv("KL_NOTEBOOK_ZOO_JSON", str(tmp_path / "no_zoo_results.json"))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    book = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    for cell in book.cells:
        if cell.cell_type == "code":
            cell.outputs = []
    client = nbclient.NotebookClient(book, timeout=900, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute()  # raises CellExecutionError, with the cell and its traceback, on failure
    images = [o for c in book.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert images, f"{name} shows no plot"
    if name in WRITE_FILES or branch == "measure":
        assert list(tmp_path.glob("*.tflite")), f"{name} wrote no .tflite file to KL_NOTEBOOK_OUTPUT"
    if branch == "measure":  # the small settings' two Pareto models, converted at 64 px
        assert sorted(p.name for p in tmp_path.glob("*.tflite")) == ["mobilenet_v1_025_64.tflite", "mobilenet_v3_small_64.tflite"]
