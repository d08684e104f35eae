"""The variables a checkpoint holds, by name.

Names are built from what the builders name (each layer's name, each variable's), scoped
by their owner: `generator/g_conv1/kernel`, `d_optimizer/g_conv1_kernel_momentum`,
`ema/g_conv1/kernel`, `schedule/alpha`. Keras' own variable paths would not do: a
dropout's RNG state and an optimizer are named with process-wide counters
(`seed_generator_7`, `adam_1`), so they differ between two builds in one process. Named
state is what lets a network that changes between phases (a new block, a second
generator) resume: the trainer rebuilds the phase, then every variable finds its value.
"""

from __future__ import annotations

import numpy as np

from pipeline.errors import DataError


def model_variables(prefix: str, model) -> dict[str, object]:
    """`prefix/<layer>/<variable>` -> variable for every variable of a functional model
    (a model nested in it as a layer adds its own name: `prefix/<model>/<layer>/...`)."""
    named: dict[str, object] = {}
    for layer in model.layers:
        if hasattr(layer, "layers"):  # a nested model
            named |= model_variables(f"{prefix}/{layer.name}", layer)
            continue
        for variable in layer.variables:
            key = f"{prefix}/{layer.name}/{variable.name}"
            if key in named:  # two variables of one name in one layer: number them
                key = f"{key}#{sum(k.startswith(key) for k in named)}"
            named[key] = variable
    count = len({id(v) for v in model.variables})
    if len({id(v) for v in named.values()}) != count:
        raise ValueError(f"{prefix}: {count} variables, but {len(named)} are reachable by layer")
    return named


def optimizer_variables(prefix: str, optimizer) -> dict[str, object]:
    """`prefix/<slot>` -> variable; slots are named after the variable they serve."""
    named = {f"{prefix}/{variable.name}": variable for variable in optimizer.variables}
    if len(named) != len(optimizer.variables):
        raise ValueError(f"{prefix}: optimizer variable names are not unique")
    return named


def gan_state(gan, extra: dict[str, object] | None = None) -> dict[str, object]:
    """Every variable a checkpoint holds: both networks, both optimizers, the model's own
    (schedules, the replay buffer, a family's `checkpointed()` state) and any `extra`
    named variables (the averaged generator)."""
    named = {
        **model_variables("generator", gan.generator),
        **model_variables("discriminator", gan.discriminator),
        **optimizer_variables("d_optimizer", gan.d_optimizer),
        **optimizer_variables("g_optimizer", gan.g_optimizer),
        **{f"schedule/{name}": v for name, v in getattr(gan, "schedule", {}).items()},
        **(gan.replay.named_variables() if getattr(gan, "replay", None) else {}),
        **getattr(gan, "checkpointed", dict)(),
        **(extra or {}),
    }
    return named


def snapshot(named: dict[str, object]) -> dict[str, np.ndarray]:
    return {key: np.asarray(variable.numpy()) for key, variable in named.items()}


def restore(named: dict[str, object], values: dict[str, np.ndarray], where: str) -> None:
    """Assign every named variable its saved value; a missing or extra name, or a shape
    that differs, is a DataError (the checkpoint is of another network)."""
    missing = sorted(set(named) - set(values))
    unknown = sorted(set(values) - set(named))
    if missing or unknown:
        what = f"lacks {missing[0]}" if missing else f"holds an unknown {unknown[0]}"
        raise DataError(
            f"{where} {what} ({len(missing)} missing, {len(unknown)} unknown); it was "
            "written by other code: delete it to start afresh"
        )
    for key, variable in named.items():
        value = values[key]
        if tuple(value.shape) != tuple(variable.shape):
            raise DataError(
                f"{where}: {key} has shape {value.shape}, the network {tuple(variable.shape)}; "
                "delete it to start afresh"
            )
        variable.assign(value)
