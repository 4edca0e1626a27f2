"""`lightnets train`: build a registered model, train it with its paper's recipe on a
dataset, checkpoint every epoch, resume after an interruption.

    output_dir/
      run.json          the run's arguments (a resumed run must match them)
      backup/           keras.callbacks.BackupAndRestore: weights, optimizer, epoch
      logs/             TensorBoard
      history.json      metrics per epoch, the interrupted part of a run included
      model.keras       the trained model (with `include_preprocessing`: takes [0, 255] pixels)

Rerunning the same command after an interruption (a crash, a pre-empted machine, or
Ctrl-C) resumes at the first unfinished epoch. Multi-GPU: pass a
`tf.distribute.MirroredStrategy()` as `strategy` (the `batch_size` is global), or a
strategy name: "multi_worker" (several machines, TF_CONFIG or worker_hosts/task_index,
the same output_dir on shared storage), "data_parallel" (JAX); see
keras_lightnets/training/distribute.py.
"""

import dataclasses
import inspect
import json
import os
import time
import warnings
from typing import Optional

import keras

from keras_lightnets._atomic import write_atomically
from keras_lightnets.registry import create_model
from keras_lightnets.registry import model_info
from keras_lightnets.training.recipes import recipe as make_recipe
from keras_lightnets.training.transfer import pretrained_with_new_head

# Set to N to stop with an error after epoch N is checkpointed: a reproducible
# interruption for tests and pre-emption drills.
STOP_AFTER_EPOCH_ENV = "KERAS_LIGHTNETS_STOP_AFTER_EPOCH"
DIGITS_IMAGE_SIZE = 64  # the bundled 8x8 scans are upsampled; 64 keeps the demo quick
_RUN_KEYS = ("model", "dataset", "image_size", "batch_size", "recipe", "num_classes", "weights")


class Interrupted(RuntimeError):
    pass


@dataclasses.dataclass
class TrainResult:
    model_path: str
    history_path: str
    epochs: int
    initial_epoch: int  # > 0 when the run resumed
    history: list  # one dict of metrics per epoch, from epoch 1
    seconds: float
    recipe: str
    model: Optional[keras.Model] = dataclasses.field(default=None, repr=False)


def train(
    model="mobilenet_v3_small",
    dataset="digits",
    epochs=None,
    batch_size=32,
    recipe="auto",
    output_dir="lightnets_train",
    image_size=None,
    strategy=None,
    seed=0,
    ema=True,
    verbose=1,
    weights=None,
    global_batch_size=None,
    mixed_precision=None,
    jit_compile="auto",
    worker_hosts=None,
    task_index=None,
    worker_join_timeout=None,
    **data_options,
) -> TrainResult:
    """Trains a registered model; see the module docstring for what it writes.

    Args:
        model: a registered model name.
        dataset: "digits" (bundled, offline), a tensorflow-datasets name or a folder
            with a sub-folder per class (train/ and val/ splits if it has them).
        epochs: default the recipe's (the paper's).
        recipe: "auto" (the model's paper recipe) or a recipe name.
        image_size: default 64 for digits, else the model's paper resolution.
        strategy: a tf.distribute strategy (TensorFlow backend), e.g. MirroredStrategy
            (`batch_size` is then global); or a name from training.distribute.STRATEGIES
            ("multi_worker", "data_parallel", ...: `batch_size` is then per replica, or give
            `global_batch_size`; see training/distribute.py).
        mixed_precision: None / "float32", "bfloat16" or "float16" (Keras' mixed_* policy;
            float16 gets loss scaling from compile).
        jit_compile: "auto" (Keras': XLA on GPU/TPU, off on CPU), True or False.
        worker_hosts, task_index, worker_join_timeout: multi_worker's cluster, instead of
            TF_CONFIG, and how long to wait for every worker to start.
        ema: False turns the recipe's weight averaging off (short runs).
        weights: None (from scratch), or pretrained weights to fine-tune: a weight set's
            name ("imagenet", "torchvision", see list_pretrained()) or a file; the
            network's features under a new classifier for the dataset's classes
            (training.transfer.pretrained_with_new_head).
        data_options: passed to the pipelines (cache, data_dir, download, ...).
    """
    from keras_lightnets import data  # deferred: tf.data
    from keras_lightnets.training import distribute

    start = time.perf_counter()
    keras.utils.set_random_seed(seed)
    info = model_info(model)
    dist = distribute.resolve(strategy, worker_hosts, task_index, worker_join_timeout, mixed_precision)
    batch_size, per_replica = dist.batch_sizes(batch_size, global_batch_size)
    output_dir = dist.worker_dir(output_dir)
    image_size = image_size or (DIGITS_IMAGE_SIZE if dataset == "digits" else info.default_size)
    train_data = dist.load(data, dataset, "train", image_size=image_size, batch_size=batch_size, training=True,
                           seed=seed, **data_options)
    val_data = _validation_data(data, dataset, image_size, batch_size, data_options)
    val_data = dist.shard(val_data) if val_data is not None else None
    num_classes = train_data.num_classes
    if not num_classes:
        raise ValueError(f"Could not tell the number of classes of dataset {dataset!r}.")
    steps_per_epoch = dist.steps_per_epoch(train_data)  # None: unknown (e.g. tfds' mock data)

    os.makedirs(output_dir, exist_ok=True)
    run = {"model": model, "dataset": dataset, "image_size": image_size, "batch_size": batch_size,
           "recipe": recipe, "num_classes": num_classes, **({"weights": str(weights)} if weights else {})}
    backup_dir = os.path.join(output_dir, "backup")
    initial_epoch = _check_resume(output_dir, backup_dir, run)

    with dist, dist.scope():
        overrides = {} if ema else {"ema_momentum": None}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            plan = make_recipe(model if recipe == "auto" else recipe, batch_size=batch_size,
                               steps_per_epoch=steps_per_epoch, epochs=epochs, **overrides)
        for w in caught:
            print(f"note: {w.message}" + (" (command line: --noema)" if "EMA" in str(w.message) else ""))
        if weights is None:
            net = create_model(model, input_shape=(*train_data.image_size, 3), classes=num_classes,
                               **_accepted_kwargs(info.builder, plan.model_kwargs))
        else:
            net = pretrained_with_new_head(model, weights=weights, classes=num_classes,
                                           input_shape=(*train_data.image_size, 3))
        plan.compile(net, jit_compile=distribute.jit_compile_arg(jit_compile))
        dist.prepare(net, train_data)
    if verbose:
        print(plan.summary() + dist.summary(per_replica))
        if initial_epoch:
            print(f"Resuming from {backup_dir}: epochs 1-{initial_epoch} are done.")

    history_path = os.path.join(output_dir, "history.json")
    callbacks = [
        keras.callbacks.BackupAndRestore(backup_dir),
        *plan.callbacks,
        keras.callbacks.TensorBoard(os.path.join(output_dir, "logs")),
        _HistoryFile(history_path, initial_epoch, run),
        *distribute.drill_callbacks(dist),
    ]
    stop_after = os.environ.get(STOP_AFTER_EPOCH_ENV)
    if stop_after:
        callbacks.append(_StopAfter(int(stop_after)))
    with dist:
        net.fit(train_data, validation_data=val_data, epochs=plan.epochs, callbacks=callbacks, verbose=verbose,
                shuffle=False)

    model_path = os.path.join(output_dir, "model.keras")
    net.save(model_path)
    with open(history_path) as f:
        history = json.load(f)["epochs"]
    os.remove(os.path.join(output_dir, "run.json"))  # finished: the next run in this folder starts afresh
    return TrainResult(model_path=model_path, history_path=history_path, epochs=plan.epochs, initial_epoch=initial_epoch,
                       history=history, seconds=time.perf_counter() - start, recipe=plan.name, model=net)


def _validation_data(data, dataset, image_size, batch_size, options):
    splits = ("test",) if dataset == "digits" else ("validation", "val", "test")
    for split in splits:
        try:
            return data.load(dataset, split, image_size=image_size, batch_size=batch_size, training=False, **options)
        except ValueError:
            continue
    return None


def _accepted_kwargs(builder, kwargs):
    """The recipe's model settings this builder takes (e.g. stochastic depth)."""
    params = inspect.signature(builder).parameters
    return {k: v for k, v in kwargs.items() if k in params}


def _check_resume(output_dir, backup_dir, run):
    """-> epochs already done. A backup from a different run is an error, not a silent mix."""
    run_path = os.path.join(output_dir, "run.json")
    metadata = os.path.join(backup_dir, "training_metadata.json")
    if os.path.exists(run_path) and os.path.exists(metadata):
        with open(run_path) as f:
            previous = json.load(f)
        changed = {k: (previous.get(k), run.get(k)) for k in _RUN_KEYS if previous.get(k) != run.get(k)}
        if changed:
            detail = ", ".join(f"{k} {a!r} -> {b!r}" for k, (a, b) in changed.items())
            raise ValueError(
                f"{output_dir!r} holds an interrupted run with other settings ({detail}): "
                "rerun with the same flags to resume, or use another --output_dir."
            )
        with open(metadata) as f:
            return int(json.load(f)["epoch"])
    with open(run_path, "w") as f:
        json.dump(run, f, indent=2)
    return 0


class _HistoryFile(keras.callbacks.Callback):
    """history.json, written each epoch, so an interrupted run's epochs are kept."""

    def __init__(self, path, initial_epoch, run):
        super().__init__()
        self.path, self.run = path, run
        self.epochs = []
        if initial_epoch and os.path.exists(path):
            with open(path) as f:
                self.epochs = json.load(f)["epochs"][:initial_epoch]

    def on_epoch_end(self, epoch, logs=None):
        entry = {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()}}
        entry["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        entry["iterations"] = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
        self.epochs = [e for e in self.epochs if e["epoch"] < epoch + 1] + [entry]
        write_atomically(self.path, json.dumps({"run": self.run, "epochs": self.epochs}, indent=2))


class _StopAfter(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.epoch:
            raise Interrupted(f"stopped after epoch {self.epoch} ({STOP_AFTER_EPOCH_ENV}); rerun to resume.")
