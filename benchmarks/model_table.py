"""Writes the README's model table: every registered model's measured params and
multiply-adds (kl.profile at the paper's resolution, 1000 classes) next to the
published figures and their sources, and the same data as JSON in benchmarks/results/.

The "params" and "MACs" columns are measured here (this script); the "published"
columns and their source come from the registry (each entry names a paper's table, a
reference implementation's published metadata, or says that none is published).

    python benchmarks/model_table.py            # print the table
    python benchmarks/model_table.py --update   # also rewrite it in README.md and save JSON
    python benchmarks/model_table.py --render   # rewrite README.md from the saved measurements
                                                # and the registry's current sources (no builds)
    python benchmarks/model_table.py --update --only=nasnet_mobile,nasnet_large
                                                # measure these (new models), keep the rest saved
"""

# keras_lightnets imports TensorFlow only when a run needs it, after quieting its logs
# (keras_lightnets/__init__.py reads this): `--help` answers without it.
LIGHTNETS_APP = True

import dataclasses
import json
import os
import pathlib
import re
import sys

from absl import flags
from tqdm import tqdm

import keras_lightnets as kl  # the API on first use (kl.list_models): after --help, after quieting logs

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_cli  # noqa: E402  (absl flags, as the package's command-line apps have them)
import results_io  # noqa: E402  (atomic writes)

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "model_table.json"
BEGIN, END = "<!-- model-table:begin -->", "<!-- model-table:end -->"


def measure_all(only=None):
    """Every registered model's entry with its Profile; `only`: measure these names and take
    the others' measurements from model_table.json (a new model does not rebuild the zoo)."""
    if only:
        unknown = sorted(set(only) - set(kl.list_models()))
        if unknown:
            raise ValueError(f"--only names unregistered models {unknown}; see `lightnets list`.")
        saved = {info.name: info for info in saved_rows(measuring=only)}
    names = kl.list_models()
    rows = []
    for name in tqdm(names, desc="profiling the zoo", unit="model"):
        rows.append(kl.model_info(name, measure=True) if not only or name in only else saved[name])
    return rows


def saved_rows(path=None, measuring=()):
    """The registry's entries with the measurements saved in model_table.json (no builds):
    for a change of sources or wording, which does not change what is measured. Models in
    `measuring` are about to be measured and may be missing (they are left out)."""
    saved = {row["name"]: row["measured"] for row in json.loads((path or RESULTS).read_text())}
    missing = sorted(set(kl.list_models()) - set(saved) - set(measuring))
    if missing:
        raise ValueError(f"{RESULTS.name} has no measurement for {missing}; run `python benchmarks/model_table.py --update`.")
    from keras_lightnets.profiling import Profile

    rows = []
    for name in kl.list_models():
        if name not in saved:
            continue
        measured = {k: v for k, v in saved[name].items() if k in Profile.__dataclass_fields__}
        measured["layers"] = []
        measured["input_shape"] = tuple(measured["input_shape"])
        rows.append(dataclasses.replace(kl.model_info(name), measured=Profile(**measured)))
    return rows


def _figure(value, unit=""):
    return "—" if value is None else f"{value:.10g}{unit}"  # as published, every digit


def source_cell(info):
    """Where the published figures come from, and the paper: an arXiv link where the
    paper has one, else its venue (AlexNet, NIPS 2012, is not on arXiv)."""
    if info.arxiv:
        return f"{info.figures_source} ([{info.arxiv}](https://arxiv.org/abs/{info.arxiv}))"
    return f"{info.figures_source} (paper not on arXiv: {info.paper})"


def markdown(rows):
    lines = [
        "| model | input | params (trainable) | published params | MACs | published MACs | published figures from | reference |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for info in rows:
        m = info.measured
        note = " \\*" if info.note else ""
        lines.append(
            f"| `{info.name}`{note} | {info.default_size} | {m.params / 1e6:.2f}M ({m.trainable_params / 1e6:.2f}M) "
            f"| {_figure(info.paper_params_m, 'M')} | {m.macs / 1e6:,.1f}M | {_figure(info.paper_macs_m, 'M')} "
            f"| {source_cell(info)} | {info.reference or '—'} |"
        )
    notes = [f"- `{info.name}`: {info.note}" for info in rows if info.note]
    if notes:
        lines += ["", "\\* Published figures that disagree with the architecture they describe:", *notes]
    return "\n".join(lines)


def define_flags(values):
    f = dict(flag_values=values)
    flags.DEFINE_bool("update", False, "Rewrite README.md's table and save the JSON.", **f)
    flags.DEFINE_bool("render", False, "Rewrite README.md's table and the JSON's sources from the saved "
                      "measurements (no builds).", **f)
    flags.DEFINE_list("only", [], "Measure only these models (comma-separated registry names) and keep "
                      "the others' saved measurements: for newly registered models.", **f)


def run(args):
    rows = saved_rows() if args.render else measure_all(args.only)
    table = markdown(rows)
    print(table)
    if args.update or args.render:
        readme = ROOT / "README.md"
        text = readme.read_text()
        block = f"{BEGIN}\n{table}\n{END}"
        text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: block, text, flags=re.S)
        results_io.write_text(readme, text)
        results_io.write_text(RESULTS, json.dumps([info.to_dict() for info in rows], indent=2) + "\n")


COMMAND = bench_cli.command(__file__, __doc__, define_flags, run)

if __name__ == "__main__":
    bench_cli.main(COMMAND)
