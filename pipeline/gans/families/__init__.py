"""The zoo: every GAN family is one registered `Family`, declared in one file of this folder.

A family declares what the rest of the package asks of it: its name, its typed params
(`models.<name>.*`), its input kind (what the generator is fed and which data file it
trains on, pipeline.gans.inputs), how it builds its two networks, its adversarial model
(the objective), which `train.loss` values that objective takes, its phases, and the extra
scores `evaluate` computes for it. Nothing outside this folder asks which family a model
is: it asks the family.

Families are found by file: `pipeline/gans/families/<name>.py` registers `<name>` when it
is imported (`register(Family(...))`), which happens the first time the name is looked up.
So checking a model name needs no TensorFlow, and adding a family is adding its file (plus
its `models.<name>` block in params.yaml and its `train.models` line). A family defined
elsewhere (a plugin, a test) registers itself the same way before it is used.
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.errors import ConfigError
from pipeline.plugins import Registry

# Every train.loss value (pipeline.gans.objectives.LOSSES, repeated here so that reading a
# family's declaration imports no TensorFlow; a test keeps the two equal).
ALL_LOSSES = ("nonsaturating", "minimax", "wgan", "wgan_gp", "hinge", "lsgan", "dragan")

# Seed 004's stabilisers (train.*, docs/training.md, Stabilisers). A family lists the ones its
# discriminator takes: its builder adds the batch-statistic layers
# (pipeline.gans.blocks.stabilizers.BatchFeatures), the trainer the replay buffer.
STABILIZERS = ("minibatch_std", "minibatch_discrimination", "replay")

# Names reserved for families that are not built yet (DESIGN.md's zoo is built: none).
PLANNED: tuple[str, ...] = ()


def _no_options(run) -> dict:
    return {}


@dataclass(frozen=True)
class Family:
    """One GAN family, as the pipeline sees it."""

    name: str
    params: type  # the dataclass of models.<name>.* (its own knobs, not train.* overrides)
    inputs: Any  # an input kind of pipeline.gans.inputs (LATENT, CONDITIONAL, ...)
    # (run, image_shape, num_classes) -> keras.Model; num_classes is 0 without labels
    build_generator: Callable
    build_discriminator: Callable
    # The adversarial model class (pipeline.gans.adversarial) and its own constructor
    # arguments: the family's objective beyond the shared loss.
    model: type | None = None
    model_options: Callable[[Any], dict] = _no_options
    # The train.loss values the objective takes; given another, the family keeps
    # `own_objective` and says so in MLflow (param `objective`).
    losses: tuple[str, ...] = ALL_LOSSES
    own_objective: str = ""
    label_plan: Callable | None = None  # run -> pipeline.data.labels.LabelPlan
    augmentation: Callable | None = None  # (run, image_shape) -> augment(batch, seed, step)
    phases: Callable | None = None  # (run, image_shape) -> tuple of pipeline.gans.phases.Phase
    stabilizers: tuple[str, ...] = ()  # the STABILIZERS its discriminator takes
    scores: tuple[str, ...] = ()  # extra metrics evaluate computes (pipeline.scoring.metrics)
    summary: str = ""

    def objective(self, loss: str) -> str:
        """What this family trains with under train.loss = `loss` (MLflow's `objective`)."""
        if loss in self.losses:
            return loss
        return f"{self.own_objective} (takes no train.loss={loss})"

    def stabilizers_of(self, train) -> str:
        """The stabilisers a run's train.* switches on, as MLflow's `stabilizers` says them:
        'none', 'minibatch_std(4) + replay(0.5 of 1024)', and any this family does not
        take, e.g. 'none (cgan takes no replay)'."""
        settings = {
            "minibatch_std": f"minibatch_std({train.minibatch_std})",
            "minibatch_discrimination": (
                f"minibatch_discrimination({train.minibatch_discrimination}"
                f"x{train.minibatch_kernel_dim})"
            ),
            "replay": f"replay({train.replay:g} of {train.replay_buffer})",
        }
        wanted = [name for name in STABILIZERS if getattr(train, name)]
        taken = [settings[name] for name in wanted if name in self.stabilizers]
        refused = [name for name in wanted if name not in self.stabilizers]
        text = " + ".join(taken) or "none"
        if refused:
            text += f" ({self.name} takes no {', '.join(refused)})"
        return text


ZOO = Registry(__name__, __path__, "family")
register = ZOO.register
unregister = ZOO.unregister


def builtin_names() -> tuple[str, ...]:
    """The families that have a file in this folder (found without importing them)."""
    return ZOO.files()


def family_names() -> tuple[str, ...]:
    return tuple(sorted({*ZOO.files(), *ZOO.registered()}))


def param_names() -> dict[str, frozenset[str]]:
    """Every family's own `models.<name>.*` keys, without importing TensorFlow: a family
    that is not imported yet is read from its file (the fields of its `Config` dataclass,
    the convention every family file follows; tests/test_config.py checks the two agree),
    so the CLI can check all of params.yaml before anything heavy loads."""
    names = {name: _config_fields(name) for name in ZOO.files()}
    for name in ZOO.registered():
        names[name] = frozenset(f.name for f in dataclasses.fields(ZOO.get(name).params))
    return names


def _config_fields(name: str) -> frozenset[str]:
    """The annotated fields of `class Config` in the family file `name`.py."""
    paths = [Path(folder) / f"{name}.py" for folder in __path__]
    path = next(p for p in paths if p.is_file())
    return _class_fields(path, "Config", must_exist=False)


def _class_fields(path: Path, class_name: str, must_exist: bool = True) -> frozenset[str]:
    """The annotated fields of dataclass `class_name` in the file `path`, its base
    classes' included (a base imported from another module of this package is read from
    that module's file, e.g. the DCGAN trunks' TrunkConfig)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            own = {
                item.target.id
                for item in node.body
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)
            }
            for base in node.bases:
                own |= _class_fields(*_base_location(tree, path, base))
            return frozenset(own)
    if must_exist:
        raise TypeError(f"{path} defines no class {class_name}")
    return frozenset()  # a family without params of its own


def _base_location(tree: ast.Module, path: Path, base: ast.expr) -> tuple[Path, str]:
    """(file, class name) of a base class `Name` or `module.Name` of the file `path`: a
    class of that file, or one its imports name (`from pipeline.x import Name`, or
    `from pipeline.x import module` for `module.Name`)."""
    package_root = Path(__file__).resolve().parents[3]  # the folder holding pipeline/
    if isinstance(base, ast.Attribute) and isinstance(base.value, ast.Name):
        alias, class_name = base.value.id, base.attr
    elif isinstance(base, ast.Name):
        alias, class_name = None, base.id
    else:
        raise TypeError(f"{path}: cannot read the base class {ast.unparse(base)}")
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and alias is None and node.name == class_name:
            return path, class_name
        if not isinstance(node, ast.ImportFrom) or not node.module:
            continue
        for imported in node.names:
            if (imported.asname or imported.name) == (alias or class_name):
                module = node.module if alias is None else f"{node.module}.{imported.name}"
                return package_root / (module.replace(".", "/") + ".py"), class_name
    raise TypeError(f"{path}: cannot find where {ast.unparse(base)} comes from")


def check_model_name(name: str, key: str = "--model") -> str:
    if name in family_names():
        return name
    valid = ", ".join(family_names())
    if name in PLANNED:
        raise ConfigError(f"{key}: model {name!r} is not implemented yet; available: {valid}")
    raise ConfigError(f"{key}: unknown model {name!r}; valid models: {valid}")


def get_family(name: str) -> Family:
    """The registered family `name`, importing its file on first use."""
    check_model_name(name)
    family = ZOO.get(name)
    if family is None:
        raise ConfigError(f"{__name__}.{name} did not register a family named {name!r}")
    return family


def resolve_run(params: Mapping[str, Any], model: str):
    """The config `model` trains with (pipeline.config.resolve_run with its family's
    params), after checking that train.models maps every GAN to the file it reads."""
    from pipeline.config import check_labelled_slots
    from pipeline.config import resolve_run as resolve

    family = get_family(model)
    check_train_models(params)
    run = family.inputs.configure(resolve(params, model, family.params), params)
    if run.train.replay and run.train.replay_buffer < run.train.batch_size:
        raise ConfigError(
            f"train.replay_buffer ({run.train.replay_buffer}) must hold at least one batch "
            f"(train.batch_size {run.train.batch_size}) for {model}; raise it"
        )
    if family.label_plan is not None:
        check_labelled_slots(model, family.label_plan(run).per_batch, run.train.batch_size)
    return run


def check_train_models(params: Mapping[str, Any]) -> dict[str, str]:
    """train.models (name -> the data file train@<name> reads, which dvc.yaml tracks),
    each name a family and each file the one its input kind reads."""
    from pipeline.config import parse_data

    models = (params.get("train") or {}).get("models")
    if models is None:
        return {}
    if not isinstance(models, Mapping):
        raise ConfigError(
            "train.models must map each model to the data file it trains on, e.g. "
            f"{{gan: data/raw/dataset.npz, pix2pix: data/edges/pairs.npz}}; got {models!r}"
        )
    data = parse_data(params)
    for name, path in models.items():
        check_model_name(str(name), key="train.models")
        expected = get_family(str(name)).inputs.data_file(data)
        if path != expected:
            raise ConfigError(
                f"train.models.{name} must be {expected} (the file train@{name} reads, "
                f"which dvc.yaml tracks); got {path!r}"
            )
    return dict(models)


__all__ = [
    "ALL_LOSSES",
    "Family",
    "check_model_name",
    "check_train_models",
    "family_names",
    "get_family",
    "register",
    "resolve_run",
    "unregister",
]
