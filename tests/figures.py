"""Bounds on trained figures, recorded so that their spread across seeds is measured.

A test that trains asserts its figure through `at_least` / `at_most`. Each call appends
(test, figure, value, bound, seed offset) to the JSON-lines file named by
KL_FIGURES_LOG, when set. `benchmarks/seed_spread.py` reruns those tests under
several seeds (KL_SEED_OFFSET, applied in conftest.py to every
keras.utils.set_random_seed call) and writes the spread of each figure next to its
bound, so that every bound has a margin measured across seeds rather than tuned on
one machine's float order.
"""

import json
import os

SEED_OFFSET_ENV = "KL_SEED_OFFSET"
LOG_ENV = "KL_FIGURES_LOG"


def seed_offset():
    return int(os.environ.get(SEED_OFFSET_ENV, "0"))


def _record(figure, value, relation, bound):
    log = os.environ.get(LOG_ENV)
    if not log:
        return
    test = os.environ.get("PYTEST_CURRENT_TEST", "?").rsplit(" (", 1)[0]
    entry = {"test": test, "figure": figure, "value": float(value), "relation": relation, "bound": float(bound),
             "seed_offset": seed_offset()}
    with open(log, "a") as f:
        f.write(json.dumps(entry) + "\n")


def at_least(figure, value, bound):
    """Asserts value >= bound, after recording both."""
    _record(figure, value, ">=", bound)
    assert value >= bound, f"{figure}: {value:.6g} is below its bound {bound:.6g}"


def at_most(figure, value, bound):
    """Asserts value <= bound, after recording both."""
    _record(figure, value, "<=", bound)
    assert value <= bound, f"{figure}: {value:.6g} is above its bound {bound:.6g}"
