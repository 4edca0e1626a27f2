"""Learning-rate schedules the papers use, from Keras' own schedules.

Keras has exponential, piecewise-constant, polynomial and cosine (with warm-up)
decays; what it lacks is a linear warm-up in front of another schedule, which the
MnasNet and EfficientNet TPU trainers put before their exponential decay.
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_lightnets")
class LinearWarmup(keras.optimizers.schedules.LearningRateSchedule):
    """0 -> `peak` linearly over `warmup_steps`, then `after(step)`.

    As the TF TPU reference trainers: `after` counts steps from the start of
    training, not from the end of the warm-up.
    """

    def __init__(self, after, warmup_steps, peak):
        self.after = after
        self.warmup_steps = warmup_steps
        self.peak = peak

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warm = self.peak * step / max(float(self.warmup_steps), 1.0)
        after = self.after(step) if callable(self.after) else self.after
        return ops.where(step < self.warmup_steps, warm, ops.cast(after, "float32"))

    def get_config(self):
        return {
            "after": keras.saving.serialize_keras_object(self.after),
            "warmup_steps": self.warmup_steps,
            "peak": self.peak,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["after"] = keras.saving.deserialize_keras_object(config["after"])
        return cls(**config)


def build_schedule(kind, learning_rate, *, steps_per_epoch, total_steps, warmup_steps=0, **args):
    """A Keras schedule (or a float, for "constant" and "plateau") from a recipe's terms.

    kind: "constant" | "plateau" | "exponential" (decay_rate every `every_epochs`,
    staircase) | "steps" (multiply by `factor` at `milestones`, fractions of the run)
    | "poly" (to 0 with `power`, 1 = linear) | "cosine" (to 0).
    """
    S = keras.optimizers.schedules
    decay_steps = max(total_steps - warmup_steps, 1)
    if kind in ("constant", "plateau"):
        schedule = learning_rate
    elif kind == "exponential":
        schedule = S.ExponentialDecay(learning_rate, args["every_epochs"] * steps_per_epoch, args["decay_rate"], staircase=True)
    elif kind == "steps":
        # Keras switches after a boundary (step > b); the papers' milestone epoch starts at step b.
        boundaries = [max(int(round(f * total_steps)) - 1, 0) for f in args["milestones"]]
        values = [learning_rate * args["factor"] ** i for i in range(len(boundaries) + 1)]
        schedule = S.PiecewiseConstantDecay(boundaries, values)
    elif kind == "poly":
        schedule = S.PolynomialDecay(learning_rate, decay_steps, end_learning_rate=0.0, power=args.get("power", 1.0))
    elif kind == "cosine":
        # Keras' cosine decay has its own linear warm-up (from 0 to the peak).
        return S.CosineDecay(0.0, decay_steps, alpha=0.0, warmup_target=learning_rate, warmup_steps=warmup_steps)
    else:
        raise ValueError(f"Unknown schedule kind {kind!r}.")
    if warmup_steps:
        return LinearWarmup(schedule, warmup_steps, learning_rate)
    return schedule
