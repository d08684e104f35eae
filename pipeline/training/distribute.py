"""tf.distribute strategy and precision policy, chosen by `train.strategy`/`train.precision`.

auto          MirroredStrategy over all GPUs when there are two or more, else the default
              (one device).
default       one device (the first GPU if any, else the CPU).
mirrored      MirroredStrategy over every GPU, or every logical CPU device when there is
              no GPU (how the tests check that two devices train like one).
multi_worker  MultiWorkerMirroredStrategy; the cluster comes from TF_CONFIG.
"""

from __future__ import annotations

import contextlib
import json
import os

import keras
import tensorflow as tf

from pipeline.errors import ConfigError


def make_strategy(kind: str) -> tf.distribute.Strategy:
    if kind == "multi_worker":
        # Before anything that initialises the TF runtime (list_logical_devices does):
        # collective ops can only be configured at startup, else the constructor raises
        # "Collective ops must be configured at program startup".
        if not os.environ.get("TF_CONFIG"):
            raise ConfigError(
                "train.strategy is multi_worker but TF_CONFIG is not set; set it on every "
                "worker (docs/training.md: GPUs and clusters) or use train.strategy: auto"
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if kind == "auto":
        return tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()
    if kind == "default":
        return tf.distribute.get_strategy()
    if kind == "mirrored":
        if gpus:
            return tf.distribute.MirroredStrategy([d.name for d in gpus])
        # On CPUs the default collective all-reduce can launch synchronised batch-norm
        # and gradient reductions in a different order on each replica and abort;
        # reducing through one device has no ordering to get wrong.
        cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(cpus, tf.distribute.ReductionToOneDevice())
    raise ConfigError(
        f"train.strategy must be auto, default, mirrored or multi_worker, got {kind!r}"
    )


def is_chief() -> bool:
    """Whether this process writes outputs: always, except non-chief multi-worker tasks."""
    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    task = config.get("task") or {}
    if not task:
        return True
    has_chief = "chief" in (config.get("cluster") or {})
    if has_chief:
        return task.get("type") == "chief"
    return task.get("type") == "worker" and int(task.get("index", 0)) == 0


def cpu_has_bf16(cpuinfo: str | None = None) -> bool:
    """Whether the CPU computes in bfloat16 natively (AVX512_BF16 or AMX-BF16 in its flags:
    oneDNN uses them); without, bfloat16 is emulated and slower than float32."""
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo") as handle:
                cpuinfo = handle.read()
        except OSError:  # not Linux: no way to tell, so no
            return False
    flags = {
        flag for line in cpuinfo.splitlines() if line.startswith("flags") for flag in line.split()
    }
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def resolve_precision(name: str) -> tuple[str, str]:
    """(the policy `train.precision` stands for on this machine, why): `auto` is
    mixed_bfloat16 on a GPU of compute capability 8.0 or more (Ampere on) or, without a
    GPU, on a CPU with native bf16 (cpu_has_bf16), else float32. Any other name is itself."""
    if name != "auto":
        return name, "set in params"
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        capability = tf.config.experimental.get_device_details(gpus[0]).get("compute_capability")
        if capability and tuple(capability) >= (8, 0):
            return "mixed_bfloat16", f"GPU compute capability {capability[0]}.{capability[1]}"
        return "float32", "GPU without bfloat16 units (compute capability below 8.0)"
    if cpu_has_bf16():
        return "mixed_bfloat16", "CPU with AVX512_BF16/AMX-BF16"
    return "float32", "CPU without native bfloat16"


@contextlib.contextmanager
def precision_policy(name: str):
    """Keras' dtype policy is process-wide; set it for one build and put it back after.
    `auto` is resolved for this machine (resolve_precision)."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(resolve_precision(name)[0])
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def make_optimizer(lr: float, beta1: float, precision: str) -> keras.optimizers.Optimizer:
    """Adam(lr, beta1) as seed 000 uses it; float16 needs dynamic loss scaling."""
    optimizer = keras.optimizers.Adam(learning_rate=lr, beta_1=beta1)
    if precision == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer
