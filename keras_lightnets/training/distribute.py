"""Training past one machine: which strategy `lightnets train --strategy=...` runs, the
cluster it runs on (TF_CONFIG), and the global-batch arithmetic.

    none            one device (the default)
    mirrored        tf.distribute.MirroredStrategy over this host's GPUs (TensorFlow)
    multi_worker    tf.distribute.MultiWorkerMirroredStrategy, one process per machine,
                    the cluster from TF_CONFIG or --worker_hosts/--task_index (TensorFlow)
    data_parallel   keras.distribution.DataParallel over this host's devices (JAX)

Global batch. `--global_batch_size` is the batch one optimizer step sees, summed over
every replica (devices x workers); `--batch_size` is per replica. Give one: the other
follows, global = per replica x replicas, and a global batch that the replicas do not
divide is an error (each replica must get the same batch, or the gradients are averaged
over unequal halves). The recipe then scales the paper's learning rate linearly with
the global batch and keeps its warm-up (Goyal et al. 2017, "Accurate, Large Minibatch
SGD", Sec. 2.1 and 2.2: lr x k for a k-times larger batch, reached by a gradual
warm-up; keras_lightnets.training.recipes states the rule for every recipe). Recipes
whose paper trained without warm-up keep none: we do not add one.

Fault tolerance (multi_worker). MultiWorkerMirroredStrategy is synchronous: when one
worker dies, the others' collectives fail or wait, and the job is stopped (by the
cluster manager, or the user); restarting every worker with the same command
resumes from the last finished epoch (keras.callbacks.BackupAndRestore in output_dir), as
TensorFlow's multi-worker guide prescribes. The chief (task 0) writes output_dir's files;
every other worker keeps its own copy under output_dir/workers/worker_<index>/.
"""

import json
import os
import socket
import time

import keras

TF_CONFIG = "TF_CONFIG"
STRATEGIES = ("none", "mirrored", "multi_worker", "data_parallel")
BACKENDS = {"mirrored": "tensorflow", "multi_worker": "tensorflow", "data_parallel": "jax"}
DEFAULT_JOIN_TIMEOUT_S = 300.0  # how long a worker waits for the others to start


class ClusterError(ValueError):
    """A cluster description (TF_CONFIG, --worker_hosts) that cannot work."""


def parse_tf_config(text):
    """TF_CONFIG's JSON -> {"cluster": {job: [host:port, ...]}, "task": {"type", "index"}},
    checked: a worker or chief list of host:port strings, and a task that is one of them.

    Raises:
        ClusterError: saying what is wrong, with the expected shape.
    """
    shape = ('expected e.g. {"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
             '"task": {"type": "worker", "index": 0}}')
    try:
        config = json.loads(text)
    except (TypeError, json.JSONDecodeError) as error:
        raise ClusterError(f"{TF_CONFIG} is not valid JSON ({error}); {shape}.") from None
    if not isinstance(config, dict):
        raise ClusterError(f"{TF_CONFIG} must be a JSON object; received {type(config).__name__}; {shape}.")
    cluster, task = config.get("cluster"), config.get("task")
    if not isinstance(cluster, dict) or not cluster:
        raise ClusterError(f"{TF_CONFIG} has no \"cluster\" object; {shape}.")
    for job, hosts in cluster.items():
        if not isinstance(hosts, list) or not hosts or not all(isinstance(h, str) for h in hosts):
            raise ClusterError(f"{TF_CONFIG} cluster job {job!r} must be a non-empty list of \"host:port\" strings; "
                               f"received {hosts!r}.")
        for host in hosts:
            _check_host_port(host, f"{TF_CONFIG} cluster job {job!r}")
    if not ({"worker", "chief"} & set(cluster)):
        raise ClusterError(f"{TF_CONFIG} cluster has no \"worker\" or \"chief\" job (jobs: {sorted(cluster)}); {shape}.")
    if not isinstance(task, dict) or "type" not in task or "index" not in task:
        raise ClusterError(f"{TF_CONFIG} needs \"task\": {{\"type\": ..., \"index\": ...}} naming this process; "
                           f"received {task!r}.")
    job, index = task["type"], task["index"]
    if job not in cluster:
        raise ClusterError(f"{TF_CONFIG} task type {job!r} is not a cluster job ({sorted(cluster)}).")
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(cluster[job]):
        raise ClusterError(f"{TF_CONFIG} task index {index!r} is out of range: job {job!r} has "
                           f"{len(cluster[job])} task(s), indices 0-{len(cluster[job]) - 1}.")
    return {"cluster": cluster, "task": {"type": job, "index": index}}


def tf_config_from_flags(worker_hosts, task_index):
    """--worker_hosts=h1:p1,h2:p2 --task_index=i -> TF_CONFIG's JSON text (worker 0 is the chief)."""
    hosts = [h.strip() for h in (worker_hosts.split(",") if isinstance(worker_hosts, str) else worker_hosts or [])]
    if not hosts or not all(hosts):
        raise ClusterError(f"--worker_hosts must list every worker as host:port, comma-separated; received {worker_hosts!r}.")
    if len(set(hosts)) != len(hosts):
        raise ClusterError(f"--worker_hosts lists a worker twice: {hosts}.")
    if task_index is None:
        raise ClusterError("--worker_hosts needs --task_index: this worker's position in the list (0 = the chief).")
    text = json.dumps({"cluster": {"worker": hosts}, "task": {"type": "worker", "index": task_index}})
    parse_tf_config(text)  # the same checks (host:port, index in range)
    return text


def cluster_from_environment(worker_hosts=None, task_index=None):
    """The cluster this process belongs to: from flags (which then set TF_CONFIG, as
    TensorFlow reads it) or from TF_CONFIG. Raises ClusterError when neither is there."""
    if worker_hosts:
        os.environ[TF_CONFIG] = tf_config_from_flags(worker_hosts, task_index)
    elif task_index is not None:
        raise ClusterError("--task_index needs --worker_hosts (or set TF_CONFIG instead of both).")
    text = os.environ.get(TF_CONFIG)
    if not text:
        raise ClusterError("--strategy=multi_worker needs the cluster: set TF_CONFIG on each worker, or pass "
                           "--worker_hosts=host1:port,host2:port --task_index=N.")
    return parse_tf_config(text)


def num_workers(config):
    return sum(len(config["cluster"].get(job, ())) for job in ("chief", "worker"))


def is_chief(config):
    task = config["task"]
    if "chief" in config["cluster"]:
        return task["type"] == "chief"
    return task["type"] == "worker" and task["index"] == 0


def worker_index(config):
    """This worker's position among chief + workers (the chief is 0)."""
    task = config["task"]
    offset = len(config["cluster"].get("chief", ())) if task["type"] == "worker" else 0
    return offset + task["index"]


def global_batch_size(replicas, batch_size=None, global_batch=None):
    """-> (global batch, per-replica batch). `batch_size` is per replica; give one of the two."""
    if batch_size is not None and global_batch is not None:
        if batch_size * replicas != global_batch:
            raise ValueError(f"--batch_size={batch_size} per replica x {replicas} replica(s) = {batch_size * replicas}, "
                             f"not --global_batch_size={global_batch}: give one of the two.")
        return global_batch, batch_size
    if global_batch is None:
        _check_positive("batch_size", batch_size)
        return batch_size * replicas, batch_size
    _check_positive("global_batch_size", global_batch)
    if global_batch % replicas:
        low = global_batch // replicas * replicas
        raise ValueError(f"--global_batch_size={global_batch} is not divisible by the {replicas} replicas: each "
                         f"replica must get the same batch; use {low or replicas} or {low + replicas}.")
    return global_batch, global_batch // replicas


def check_backend(strategy, backend=None):
    backend = backend or keras.backend.backend()
    if strategy not in STRATEGIES:
        raise ValueError(f"Unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}.")
    needed = BACKENDS.get(strategy)
    if needed and needed != backend:
        other = {"tensorflow": "multi_worker or mirrored", "jax": "data_parallel"}.get(backend, "none")
        raise ValueError(f"--strategy={strategy} runs on the {needed} backend (KERAS_BACKEND={needed}); this is "
                         f"KERAS_BACKEND={backend}: use --strategy={other} here.")


def make_strategy(name, worker_hosts=None, task_index=None, join_timeout=DEFAULT_JOIN_TIMEOUT_S):
    """-> Distributed(kind, strategy or distribution, replicas, cluster config or None).

    `join_timeout` bounds how long multi_worker waits for every worker to register
    (a worker that never starts is an error after it, not a hang)."""
    check_backend(name)
    if name == "none":
        return Distributed(name, None, 1, None)
    if name == "data_parallel":
        devices = keras.distribution.list_devices()
        return Distributed(name, keras.distribution.DataParallel(devices=devices), len(devices), None)
    import tensorflow as tf

    if name == "mirrored":
        strategy = tf.distribute.MirroredStrategy()
        return Distributed(name, strategy, strategy.num_replicas_in_sync, None)
    config = cluster_from_environment(worker_hosts, task_index)
    wait_for_workers(config, join_timeout)
    communication = tf.distribute.experimental.CommunicationOptions(
        implementation=tf.distribute.experimental.CommunicationImplementation.RING)
    strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=communication)
    return Distributed(name, strategy, strategy.num_replicas_in_sync, config)


PRECISIONS = {None: None, "float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16",
              "mixed_bfloat16": "mixed_bfloat16", "mixed_float16": "mixed_float16"}
# Set to "EPOCH:STEP" on one worker to make it exit abruptly (os._exit, no clean-up) after
# STEP batches of EPOCH (1-based): the pre-emption drill of tests/test_distribute.py.
EXIT_AT_STEP_ENV = "KERAS_LIGHTNETS_EXIT_AT_STEP"


def resolve(strategy, worker_hosts=None, task_index=None, join_timeout=None, mixed_precision=None):
    """train()'s `strategy` argument -> Distributed: None, a name, or a tf.distribute strategy."""
    if mixed_precision not in PRECISIONS:
        raise ValueError(f"Unknown mixed_precision {mixed_precision!r}; choose float32, bfloat16 or float16.")
    if strategy is None or isinstance(strategy, str):
        dist = make_strategy(strategy or "none", worker_hosts, task_index,
                             DEFAULT_JOIN_TIMEOUT_S if join_timeout is None else join_timeout)
    else:  # a tf.distribute strategy built by the caller: batch_size is global, as before
        dist = Distributed("given", strategy, strategy.num_replicas_in_sync, None)
    dist.precision = PRECISIONS[mixed_precision]
    return dist


def jit_compile_arg(value):
    """--jit_compile: "auto" (Keras': XLA on GPU/TPU, off on CPU), True/False or their spellings."""
    if isinstance(value, str) and value.lower() in ("auto", "true", "false", "1", "0"):
        return {"auto": "auto", "true": True, "1": True, "false": False, "0": False}[value.lower()]
    if isinstance(value, bool):
        return value
    raise ValueError(f"--jit_compile must be auto, true or false; received {value!r}.")


class Distributed:
    """The strategy of one run, with what train() asks of it."""

    precision = None

    def __init__(self, kind, strategy, replicas, cluster):
        self.kind, self.strategy, self.replicas, self.cluster = kind, strategy, replicas, cluster
        self._previous = []

    @property
    def chief(self):
        return self.cluster is None or is_chief(self.cluster)

    @property
    def workers(self):
        return num_workers(self.cluster) if self.cluster else 1

    def batch_sizes(self, batch_size, global_batch=None):
        """-> (global, per replica). A strategy object passed in keeps `batch_size` global."""
        if self.kind == "given":
            return global_batch or batch_size, (global_batch or batch_size) // self.replicas
        if global_batch is not None and batch_size is not None and self.replicas == 1:
            batch_size = None  # one replica: --global_batch_size wins over the default --batch_size
        sizes = global_batch_size(self.replicas, batch_size, global_batch)
        self.global_batch = sizes[0]
        return sizes

    def worker_dir(self, output_dir):
        """The chief writes output_dir; worker i output_dir/workers/worker_i (its own backup)."""
        if self.chief:
            return output_dir
        return os.path.join(output_dir, "workers", f"worker_{worker_index(self.cluster)}")

    def load(self, data, source, split, batch_size, **options):
        """The training pipeline, sharded per worker: tensorflow-datasets names by a
        per-worker split (tfds_worker_split), anything else by tf.data auto-shard (DATA)."""
        if self.kind == "multi_worker" and isinstance(source, str) and _is_tfds_name(source):
            return self._tfds_per_worker(data, source, split, batch_size, options)
        return shard_options(data.load(source, split, batch_size=batch_size, **options), self.kind)  # full batches

    def shard(self, dataset):
        """multi_worker: auto-shard by DATA. data_parallel: full batches only (each device
        takes an equal slice; the evaluation split's last partial batch is dropped)."""
        if self.kind == "data_parallel" and self.replicas > 1:
            out = dataset.rebatch(getattr(self, "global_batch", None) or dataset.element_spec[0].shape[0],
                                  drop_remainder=True)
            for attr in ("class_names", "num_classes", "num_examples", "image_size"):
                setattr(out, attr, getattr(dataset, attr, None))
            return out
        return shard_options(dataset, self.kind)

    def steps_per_epoch(self, dataset):
        steps = getattr(dataset, "steps", None)
        if steps is None:
            steps = int(dataset.cardinality())
        return steps if steps >= 1 else None  # unknown (e.g. tfds' mock data); "plateau" recipes still work

    def summary(self, per_replica):
        if self.kind == "none":
            return ""
        where = f"{self.workers} worker(s), " if self.cluster else ""
        return (f"; strategy {self.kind}: {where}{self.replicas} replica(s) x batch {per_replica}"
                + (f", {self.precision}" if self.precision else ""))

    def prepare(self, model, dataset):
        """multi_worker: Keras' fit first builds the model's metrics and optimizer from one
        batch, made by `strategy.reduce("MEAN", batch)` over the replicas' inputs, which
        MultiWorkerMirroredStrategy cannot reduce (a nested (images, labels) structure:
        "Attempt to convert a value (PerReplica...)", Keras 3.15). The same build is done
        here from one local batch instead."""
        if self.kind != "multi_worker":
            return
        local = getattr(dataset, "local_dataset", dataset)
        batch = next(iter(local.take(1)))

        def symbolic_build(iterator=None, data_batch=None):
            with self.strategy.scope():
                model._symbolic_build(data_batch=batch)

        model._maybe_symbolic_build = symbolic_build

    def scope(self):
        import contextlib

        if self.kind in ("mirrored", "multi_worker", "given"):
            return self.strategy.scope()
        return contextlib.nullcontext()

    def __enter__(self):
        self._previous.append((keras.config.dtype_policy().name, keras.distribution.distribution()))
        if self.precision:
            keras.config.set_dtype_policy(self.precision)
        if self.kind == "data_parallel":
            keras.distribution.set_distribution(self.strategy)
        if self.kind == "multi_worker":
            _local_metric_logs(True)
        return self

    def __exit__(self, *exc):
        policy, distribution = self._previous.pop()
        keras.config.set_dtype_policy(policy)
        if self.kind == "data_parallel":
            keras.distribution.set_distribution(distribution)
        if self.kind == "multi_worker":
            _local_metric_logs(False)
        return False

    def _tfds_per_worker(self, data, source, split, global_batch, options):
        from keras_lightnets.data.tfds_source import from_tfds

        per_replica = global_batch // self.replicas
        first = {}

        def dataset_fn(context):
            part = tfds_worker_split(split, context.num_input_pipelines, context.input_pipeline_id)
            dataset = from_tfds(source, part, batch_size=per_replica, **options)
            first.setdefault("dataset", dataset)
            return dataset

        distributed = self.strategy.distribute_datasets_from_function(dataset_fn)
        local = first["dataset"]
        local_replicas = self.replicas // self.workers
        distributed.local_dataset = local
        distributed.steps = int(local.cardinality()) // local_replicas if int(local.cardinality()) > 0 else None
        for attr in ("class_names", "num_classes", "num_examples", "image_size"):
            setattr(distributed, attr, getattr(local, attr, None))
        return distributed


def _local_metric_logs(on):
    """multi_worker under Keras 3.15: its TensorFlow trainer reduces each step's logs over
    the workers by `strategy.reduce("MEAN", value, axis=0)`, which fails on the scalar
    loss and metrics ("Invalid reduction dimension 0 for input with 0 dimensions"). While
    `on`, the logs are reduced over this worker's replicas only, as under MirroredStrategy:
    the gradients are still all-reduced over every worker (the optimizer's step), only
    the printed loss and metrics are this worker's share of the batch."""
    from keras.src.backend.tensorflow import trainer

    if on:
        if not hasattr(trainer, "_lightnets_original_check"):
            trainer._lightnets_original_check = trainer._collective_all_reduce_multi_worker
        trainer._collective_all_reduce_multi_worker = lambda strategy: False
    elif hasattr(trainer, "_lightnets_original_check"):
        trainer._collective_all_reduce_multi_worker = trainer._lightnets_original_check


def drill_callbacks(dist):
    """The pre-emption drill's callback when EXIT_AT_STEP_ENV is set in this process."""
    value = os.environ.get(EXIT_AT_STEP_ENV)
    if not value:
        return []
    epoch, _, step = value.partition(":")
    return [_ExitAtStep(int(epoch), int(step))]


class _ExitAtStep(keras.callbacks.Callback):
    def __init__(self, epoch, step):
        super().__init__()
        self.epoch, self.step, self.current = epoch, step, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch + 1

    def on_train_batch_end(self, batch, logs=None):
        if self.current == self.epoch and batch + 1 == self.step:
            print(f"{EXIT_AT_STEP_ENV}: exiting after step {self.step} of epoch {self.epoch}", flush=True)
            os._exit(137)


def _is_tfds_name(source):
    from keras_lightnets.data.pipeline import DIGITS
    from keras_lightnets.data.pipeline import _looks_like_path

    return source != DIGITS and not _looks_like_path(source)


def shard_options(dataset, kind):
    """tf.data auto-sharding for multi_worker: by DATA (every worker reads the whole
    source and keeps its 1/N of the elements: right for in-memory arrays and any source
    not split into files); a source already split per worker (tfds_worker_split) sets OFF."""
    import tensorflow as tf

    if kind != "multi_worker":
        return dataset
    options = tf.data.Options()
    policy = getattr(dataset, "auto_shard_policy", tf.data.experimental.AutoShardPolicy.DATA)
    options.experimental_distribute.auto_shard_policy = policy
    out = dataset.with_options(options)
    for attr in ("class_names", "num_classes", "num_examples", "image_size"):
        setattr(out, attr, getattr(dataset, attr, None))
    return out


def tfds_worker_split(split, workers, index):
    """tensorflow-datasets' split for one worker: the split cut into `workers` even
    parts (tfds.even_splits), this worker's part; each worker then reads only its files'
    examples and tf.data auto-sharding is off for it."""
    import tensorflow_datasets as tfds

    if workers <= 1:
        return split
    return tfds.even_splits(split, n=workers, drop_remainder=True)[index]


def wait_for_workers(config, timeout):
    """Blocks until every worker of the cluster has started this same wait, or raises
    TimeoutError after `timeout` seconds naming the ones that did not. TensorFlow's own
    start-up waits for absent workers without a bound, so each worker first meets the
    others on its own port (a plain TCP handshake: it listens there, and connects to every
    peer's), then frees the port for TensorFlow's server. A worker leaves once it has
    reached every peer and every peer has reached it, so none leaves before a peer that
    still has to reach it."""
    hosts = [h for job in ("chief", "worker") for h in config["cluster"].get(job, ())]
    me = worker_index(config)
    peers = {i: h for i, h in enumerate(hosts) if i != me}
    if not peers:
        return
    port = int(hosts[me].rpartition(":")[2])
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("", port))
    listener.listen(len(peers) + 1)
    listener.settimeout(0.05)
    heard, reached = set(), set()
    deadline = time.monotonic() + timeout
    try:
        while heard != set(peers) or reached != set(peers):
            if time.monotonic() > deadline:
                missing = sorted(set(peers) - (heard & reached))
                raise TimeoutError(
                    f"multi_worker: worker(s) {', '.join(f'{i} ({peers[i]})' for i in missing)} did not join within "
                    f"{timeout:g} s (--worker_join_timeout); this is worker {me} ({hosts[me]}). Start the same command "
                    "on every worker (TF_CONFIG or --worker_hosts/--task_index).")
            try:
                conn, _ = listener.accept()
                with conn:
                    conn.settimeout(1.0)
                    data = conn.recv(16).decode(errors="replace").strip()
                    if data.isdigit() and int(data) in peers:
                        heard.add(int(data))
            except (socket.timeout, OSError):
                pass
            for i in sorted(set(peers) - reached):
                name, _, peer_port = peers[i].rpartition(":")
                try:
                    with socket.create_connection((name, int(peer_port)), timeout=0.2) as conn:
                        conn.sendall(f"{me}\n".encode())
                    reached.add(i)
                except OSError:
                    pass
    finally:
        listener.close()


def _check_host_port(host, where):
    name, sep, port = host.rpartition(":")
    if not sep or not name or not port.isdigit() or not 0 < int(port) < 65536:
        raise ClusterError(f"{where}: {host!r} is not host:port (e.g. 'localhost:12345').")


def _check_positive(name, value):
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"--{name} must be a positive int; received {value!r}.")


def free_ports(count):
    """`count` free localhost ports (for tests and single-host drills)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("localhost", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()
