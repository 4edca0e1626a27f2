"""Writes the README's model table: every registered model's measured params and
multiply-adds (kl.profile at the paper's resolution, 1000 classes) next to the
published figures, and the same data as JSON in benchmarks/results/.

    python benchmarks/model_table.py            # print the table
    python benchmarks/model_table.py --update   # also rewrite it in README.md and save JSON
"""

import argparse
import json
import os
import pathlib
import re

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from tqdm import tqdm  # noqa: E402

import keras_lightnets as kl  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- model-table:begin -->", "<!-- model-table:end -->"


def measure_all():
    rows = []
    for name in tqdm(kl.list_models(), desc="profiling the zoo", unit="model"):
        rows.append(kl.model_info(name, measure=True))
    return rows


def _figure(value, unit=""):
    return "—" if value is None else f"{value:g}{unit}"


def markdown(rows):
    lines = [
        "| model | input | params (trainable) | paper params | MACs | paper MACs | figures from | reference |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for info in rows:
        m = info.measured
        note = " \\*" if info.note else ""
        lines.append(
            f"| `{info.name}`{note} | {info.default_size} | {m.params / 1e6:.2f}M ({m.trainable_params / 1e6:.2f}M) "
            f"| {_figure(info.paper_params_m, 'M')} | {m.macs / 1e6:,.1f}M | {_figure(info.paper_macs_m, 'M')} "
            f"| {info.figures_source} ([{info.arxiv}](https://arxiv.org/abs/{info.arxiv})) | {info.reference or '—'} |"
        )
    notes = [f"- `{info.name}`: {info.note}" for info in rows if info.note]
    if notes:
        lines += ["", "\\* Published figures that disagree with the architecture they describe:", *notes]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--update", action="store_true", help="rewrite README.md's table and save JSON")
    args = parser.parse_args()
    rows = measure_all()
    table = markdown(rows)
    print(table)
    if args.update:
        readme = ROOT / "README.md"
        text = readme.read_text()
        block = f"{BEGIN}\n{table}\n{END}"
        text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: block, text, flags=re.S)
        readme.write_text(text)
        results = ROOT / "benchmarks" / "results" / "model_table.json"
        results.write_text(json.dumps([info.to_dict() for info in rows], indent=2) + "\n")


if __name__ == "__main__":
    main()
