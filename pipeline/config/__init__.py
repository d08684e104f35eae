"""params.yaml to typed, validated config objects.

Every knob lives in params.yaml; stages read it through `load_params` and the
`parse_*`/`resolve_run` functions here and nothing else reads the file. A wrong type,
an out-of-range value or an unknown key raises `ConfigError` naming the key, e.g.
``train.lr must be > 0``.

Per-model overrides: any hyperparameter of `train.*` listed in `OVERRIDABLE` may be set
again under `models.<name>.*`; the resolved `TrainConfig` of a run has them applied.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from pipeline.config.validate import (
    AT_LEAST_ONE,
    POSITIVE,
    UNIT_INTERVAL,
    UNIT_INTERVAL_OPEN,
    build_dataclass,
    check,
    check_keys,
    check_mapping,
    did_you_mean,
)
from pipeline.errors import ConfigError

# Re-exported: a family declares its typed params with these (pipeline.gans.families).
__all__ = ["AT_LEAST_ONE", "POSITIVE", "UNIT_INTERVAL_OPEN", "build_dataclass", "check"]

PARAMS_FILE = "params.yaml"


# --- the config objects -------------------------------------------------------------------


@dataclass(frozen=True)
class DataConfig:
    """`data.*`: which dataset, where to look for it, where to write it."""

    dataset: str = "fashion_mnist"
    # Local folders searched (after the cache) before any download.
    mirrors: tuple[str, ...] = ("/usr/share/datasets/fashion-mnist",)
    # Side of the square images; null keeps a built-in dataset's native size.
    image_size: int | None = field(default=None, metadata=AT_LEAST_ONE)
    # Where verified downloads are kept between runs; "" means ~/.cache/gan-zoo.
    cache_dir: str = ""
    raw_dir: str = "data/raw"
    download_timeout: float = field(default=30.0, metadata=POSITIVE)


@dataclass(frozen=True)
class EdgesConfig:
    """`edges.*`: the Canny edge maps pix2pix translates from (seed 003), and their pairs."""

    # Gaussian blur before Canny: kernel side (odd; 0 = no blur) and sigma (0: from the side).
    blur: int = field(default=3, metadata=check(lambda v: v == 0 or v % 2 == 1, "0 or odd"))
    blur_sigma: float = field(default=0.0, metadata=check(lambda v: v >= 0, ">= 0"))
    # Canny's hysteresis thresholds on the 0-255 gradient magnitude.
    low_threshold: float = field(default=50.0, metadata=check(lambda v: v >= 0, ">= 0"))
    high_threshold: float = field(default=150.0, metadata=POSITIVE)
    # Pairs are centred on a black square of this side (28 -> 32 for Fashion-MNIST, so the
    # U-Net can halve it down to 1x1); null keeps the image size, which must then be a
    # power of two.
    pad_to: int | None = field(default=32, metadata=AT_LEAST_ONE)


@dataclass(frozen=True)
class LowresConfig:
    """`lowres.*`: the (low, high) resolution pairs srgan learns to upscale (seed 000)."""

    # Each side shrinks by this factor (28 -> 7 at 4); it must divide the image side.
    factor: int = field(default=4, metadata=check(lambda v: v >= 2, ">= 2"))
    # PIL's resampling filter; PIL widens a filter's support by the factor when it shrinks,
    # so every one but nearest is antialiased.
    filter: Literal["bicubic", "bilinear", "box", "lanczos", "nearest"] = "bicubic"


@dataclass(frozen=True)
class TrainConfig:
    """`train.*`: what every GAN trains with (see OVERRIDABLE for per-model overrides)."""

    # The GANs `dvc repro` trains. params.yaml maps each name to the data file it trains
    # on (dvc.yaml's foreach makes that file a dependency of train@<name>); here only the
    # names are kept, after `parse_train` checked each file against the model.
    models: tuple[str, ...] = ("gan", "dcgan")
    strategy: Literal["auto", "default", "mirrored", "multi_worker"] = "auto"
    # auto: mixed_bfloat16 where the hardware computes in bf16, float32 elsewhere
    # (pipeline.training.distribute.resolve_precision; the run logs what it chose)
    precision: Literal["auto", "float32", "mixed_bfloat16", "mixed_float16"] = "float32"
    jit_compile: bool = False
    # Ops TensorFlow runs at once (TF_NUM_INTEROP_THREADS, set by the CLI before TensorFlow
    # starts, for every command). 1: a step's independent ops (the real and the fake
    # discriminator passes) do not share the cores' pool at once, which is what made the
    # convolutional GANs differ between two processes on the CPU; with 1 a run repeats bit
    # for bit (docs/training.md, Determinism). null: TensorFlow's default (one per core).
    inter_op_threads: int | None = field(default=1, metadata=AT_LEAST_ONE)
    # oneDNN's kernels for TensorFlow's CPU ops (TF_ENABLE_ONEDNN_OPTS, set by the CLI
    # likewise). TensorFlow turns them on by itself only on CPUs with AVX512_VNNI,
    # AVX512_BF16 or AMX; on a 2-core AVX2 CPU its Eigen kernels made the GANs 1.6x (dcgan)
    # to 2.8x (pix2pix) slower (docs/operations.md, Threads and kernels). false: off;
    # null: TensorFlow's own choice for the CPU.
    onednn: bool | None = True
    lr: float = field(default=4e-4, metadata=POSITIVE)
    # The last share of the run's steps over which both learning rates fall linearly
    # toward 0 (the pix2pix paper's schedule is 0.5); 0: constant (docs/training.md,
    # Learning-rate decay).
    lr_decay: float = field(default=0.0, metadata=UNIT_INTERVAL)
    beta1: float = field(default=0.5, metadata=UNIT_INTERVAL_OPEN)
    k_steps: int = field(default=1, metadata=AT_LEAST_ONE)
    dropout: float = field(default=0.25, metadata=UNIT_INTERVAL_OPEN)
    batch_size: int = field(default=128, metadata=AT_LEAST_ONE)
    latent_dim: int = field(default=100, metadata=AT_LEAST_ONE)
    seed: int = 0
    epochs: int = field(default=1, metadata=AT_LEAST_ONE)
    steps_per_epoch: int | None = field(default=None, metadata=AT_LEAST_ONE)
    # The adversarial objective of both networks (pipeline.gans.objectives;
    # docs/training.md, Losses); a family whose own objective cannot take it keeps its own.
    loss: Literal["nonsaturating", "minimax", "wgan", "wgan_gp", "hinge", "lsgan", "dragan"] = (
        "nonsaturating"
    )
    gp_weight: float = field(default=10.0, metadata=check(lambda v: v >= 0, ">= 0"))
    clip: float = field(default=0.01, metadata=POSITIVE)  # wgan's weight clipping bound
    r1_gamma: float = field(default=0.0, metadata=check(lambda v: v >= 0, ">= 0"))
    # ProGAN's drift term, drift * D(x)^2 on the reals, added to any loss (0: off).
    drift: float = field(default=0.0, metadata=check(lambda v: v >= 0, ">= 0"))
    # Seed 004's stabilisers (docs/training.md, Stabilisers), each 0 = off, for the families whose
    # discriminator they fit: the minibatch std layer's group size; minibatch
    # discrimination's kernels and their dimension; the share of each fake minibatch
    # replayed from a buffer of past fakes, and that buffer's size.
    minibatch_std: int = field(default=0, metadata=check(lambda v: v >= 0, ">= 0"))
    minibatch_discrimination: int = field(default=0, metadata=check(lambda v: v >= 0, ">= 0"))
    minibatch_kernel_dim: int = field(default=5, metadata=AT_LEAST_ONE)
    replay: float = field(default=0.0, metadata=UNIT_INTERVAL)
    replay_buffer: int = field(default=1024, metadata=AT_LEAST_ONE)
    # Exponential moving average of G's weights (0: off): the averaged G is then the one
    # kept, scored and drawn.
    ema: float = field(default=0.0, metadata=UNIT_INTERVAL_OPEN)
    # simultaneous: one generator forward pass serves the last discriminator update and
    # the generator update. alternating: the generator step draws new fakes and sees the
    # discriminator after its update (the textbook loop of seed 004).
    update: Literal["simultaneous", "alternating"] = "simultaneous"
    # How D sees a step's real and fake minibatches. joint: in one pass over both, so a
    # BatchNorm in D normalises them with the mixed batch's statistics. separate: a pass
    # each, as seed 000's two train_on_batch calls (each kind normalised by its own).
    discriminator_passes: Literal["joint", "separate"] = "joint"
    log_every: int = field(default=10, metadata=AT_LEAST_ONE)
    checkpoint_every: int = field(default=100, metadata=AT_LEAST_ONE)
    sample_grid: int = field(default=8, metadata=AT_LEAST_ONE)
    # A cheap FID (train.fid_samples generated images against the reference) every
    # fid_every epochs, logged as `fid<N>` (e.g. fid2k): the curve the tuner prunes on.
    # 0 turns it off.
    fid_every: int = field(default=1, metadata=check(lambda v: v >= 0, ">= 0"))
    fid_samples: int = field(default=2000, metadata=check(lambda v: v >= 200, ">= 200"))


@dataclass(frozen=True)
class EvaluatorConfig:
    """`evaluator.*`: the classifier whose features every score uses (DESIGN.md, Scoring)."""

    epochs: int = field(default=5, metadata=AT_LEAST_ONE)
    batch_size: int = field(default=128, metadata=AT_LEAST_ONE)
    lr: float = field(default=3e-3, metadata=POSITIVE)
    seed: int = 0


@dataclass(frozen=True)
class EvaluateConfig:
    """`evaluate.*`: how a trained generator is scored against the real test split."""

    # Generated images per score. FID depends on the count: compare only equal counts.
    n_samples: int = field(default=10000, metadata=check(lambda v: v >= 200, ">= 200"))
    batch_size: int = field(default=500, metadata=AT_LEAST_ONE)
    seed: int = 0  # latents of the scored samples, KID's subsets
    kid_subsets: int = field(default=100, metadata=AT_LEAST_ONE)
    kid_subset_size: int = field(default=1000, metadata=check(lambda v: v >= 2, ">= 2"))
    pr_k: int = field(default=3, metadata=AT_LEAST_ONE)  # neighbours for precision/recall
    score_splits: int = field(default=10, metadata=AT_LEAST_ONE)  # classifier score splits
    # A local InceptionV3 no-top weights file adds `fid_inception` (pipeline/inception.py).
    inception_weights: str = ""
    # The shared metrics every model gets (pipeline.scoring.metrics; a family adds its own,
    # Family.scores). Names are checked against the registry when scoring starts.
    metrics: tuple[str, ...] = ("fid", "kid", "classifier_score", "precision_recall", "ppl")
    # The perceptual path length (ppl): paths per score, and the step along each.
    ppl_samples: int = field(default=5000, metadata=check(lambda v: v >= 100, ">= 100"))
    ppl_epsilon: float = field(default=1e-4, metadata=check(lambda v: 0 < v < 0.1, "in (0, 0.1)"))


@dataclass(frozen=True)
class TuneConfig:
    """`tune.*`: the Optuna study of `python -m pipeline tune` (docs/tuning.md).

    Each trial trains the model for a short budget (epochs x steps_per_epoch) with the
    in-training FID every epoch; that FID is what weak trials are pruned on and its last
    value is the objective. The four ranges are what the study searches (DESIGN.md: GAN
    hyperparameters are sensitive); every other param is params.yaml's.
    """

    trials: int = field(default=20, metadata=AT_LEAST_ONE)  # per worker (--trials)
    # "": SQLite at <repo>/models/tune/optuna.db (one worker at a time); a URL such as
    # postgresql+psycopg2://user@host/db lets several workers share one study.
    storage: str = ""
    seed: int = 0  # TPE's seed; worker N of a shared study uses seed + N
    epochs: int = field(default=3, metadata=AT_LEAST_ONE)
    steps_per_epoch: int | None = field(default=200, metadata=AT_LEAST_ONE)
    pruner: Literal["median", "none"] = "median"
    startup_trials: int = field(default=3, metadata=check(lambda v: v >= 0, ">= 0"))
    warmup_epochs: int = field(default=1, metadata=check(lambda v: v >= 0, ">= 0"))
    lr: tuple[float, ...] = (1e-5, 1e-3)  # log scale
    beta1: tuple[float, ...] = (0.0, 0.9)
    k_steps: tuple[int, ...] = (1, 3)
    dropout: tuple[float, ...] = (0.0, 0.5)

    SEARCHED = ("lr", "beta1", "k_steps", "dropout")


# Hyperparameters a model may override under models.<name>.*
OVERRIDABLE = (
    "lr",
    "beta1",
    "k_steps",
    "dropout",
    "batch_size",
    "latent_dim",
    "seed",
    "epochs",
    "steps_per_epoch",
    "loss",
    "gp_weight",
    "clip",
    "r1_gamma",
    "drift",
    "minibatch_std",
    "minibatch_discrimination",
    "minibatch_kernel_dim",
    "replay",
    "replay_buffer",
    "ema",
    "update",
    "discriminator_passes",
    "precision",
    "lr_decay",
)


@dataclass(frozen=True)
class RunConfig:
    """Everything one training run of one GAN reads: resolved and validated."""

    model: str
    data: DataConfig
    train: TrainConfig
    family: Any  # the family module's own Config dataclass (models.<name>.*)
    overrides: tuple[str, ...] = ()  # which train.* keys models.<name> overrode
    # lowres.*, for a family that trains on the lowres pairs (srgan: its upscaling factor);
    # None for the others (their input kind sets it: pipeline.gans.inputs)
    lowres: LowresConfig | None = None
    # a smoke run's whole length, train.epochs x train.steps_per_epoch of the train section
    # itself (None when its steps_per_epoch is unset): the most steps a phase of fixed
    # steps may take (pipeline.training.phases.phase_plan); a model's own does not cap it
    phase_cap: int | None = None

    def flat_params(self) -> dict[str, Any]:
        """Every resolved param under its params.yaml key (what MLflow logs)."""
        flat: dict[str, Any] = {}
        sections = [("data", self.data), ("train", self.train)]
        sections += [("lowres", self.lowres)] if self.lowres is not None else []
        for prefix, obj in sections:
            for name, value in dataclasses.asdict(obj).items():
                flat[f"{prefix}.{name}"] = value
        for name, value in dataclasses.asdict(self.family).items():
            flat[f"models.{self.model}.{name}"] = value
        for name in self.overrides:
            flat[f"models.{self.model}.{name}"] = getattr(self.train, name)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in flat.items()}

    def fingerprint(self, ignore: tuple[str, ...] = ()) -> str:
        """Hash of everything that changes the trained weights (checkpoint compatibility),
        but the `ignore`d keys (what a tuning study varies)."""
        params = self.flat_params()
        for volatile in (
            *ignore,
            "train.models",
            "train.inter_op_threads",  # same numbers up to rounding: a checkpoint carries over
            "train.onednn",  # likewise
            "train.log_every",
            "train.checkpoint_every",
            "train.fid_every",
            "train.fid_samples",
        ):
            params.pop(volatile, None)
        if self.phase_cap is not None:  # a smoke run's cap shortens phases of fixed steps
            params["phase_cap"] = self.phase_cap  # (absent otherwise: older hashes stay)
        text = json.dumps(params, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


# The top-level sections of params.yaml, each read by its parse_* function below.
SECTIONS = ("data", "edges", "lowres", "train", "evaluator", "evaluate", "tune", "models")


def load_params(path: str | Path = PARAMS_FILE) -> dict[str, Any]:
    """Read params.yaml; a missing or malformed file is a ConfigError (a syntax error says
    where: `params.yaml:12:5: ...`, line and column counted from 1 as editors do)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path} not found; run from the repository root or pass --params")
    try:
        params = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ConfigError(_yaml_error(path, error)) from None
    except UnicodeDecodeError as error:
        reason = f"{error.reason} at byte {error.start}"
        raise ConfigError(f"{path} is not UTF-8 text ({reason})") from None
    if not isinstance(params, dict):
        raise ConfigError(f"{path} must hold a mapping of sections ({', '.join(SECTIONS)})")
    return params


def _yaml_error(path: Path, error: yaml.YAMLError) -> str:
    """One line: file:line:column, what PyYAML found, and what it was parsing."""
    mark = getattr(error, "problem_mark", None)
    where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    context, start = getattr(error, "context", None), getattr(error, "context_mark", None)
    if context and start is not None and (mark is None or start.line != mark.line):
        context += f" that starts at {start.line + 1}:{start.column + 1}"
    detail = f"{problem} ({context})" if context else problem
    return f"{where}: not valid YAML: {detail}"


def runtime_environment(params: Mapping[str, Any]) -> dict[str, str]:
    """The environment variables TensorFlow reads when it starts, from train.*: what the
    CLI sets (unless already set) before any stage imports TensorFlow."""
    train = parse_train(params)
    environment = {}
    if train.inter_op_threads is not None:
        environment["TF_NUM_INTEROP_THREADS"] = str(train.inter_op_threads)
    if train.onednn is not None:
        environment["TF_ENABLE_ONEDNN_OPTS"] = "1" if train.onednn else "0"
    return environment


def check_params(params: Mapping[str, Any], families: Mapping[str, frozenset[str]]) -> None:
    """Every key of params.yaml at every level checked against what is known, without
    importing TensorFlow (the CLI runs this first): the sections, every section's keys and
    values, the model names under `models` and `train.models`, and each model's keys,
    which are its family's own (`families`: model name -> its param names) or train.*
    overrides. A family's own values are typed when its run resolves (resolve_run)."""
    unknown = sorted(str(k) for k in set(params) - set(SECTIONS))
    if unknown:
        raise ConfigError(
            f"params: unknown section `{unknown[0]}`{did_you_mean(unknown[0], SECTIONS)}; "
            f"sections: {', '.join(SECTIONS)}"
        )
    parse_data(params)
    parse_edges(params)
    parse_lowres(params)
    parse_train(params)
    parse_evaluator(params)
    parse_evaluate(params)
    parse_tune(params)
    for name in (params.get("train") or {}).get("models") or {}:
        _check_model_name("train.models", str(name), families)
    models = check_mapping("models", params.get("models"))
    for name, values in models.items():
        _check_model_name("models", str(name), families)
        overrides, _ = split_model_params(str(name), values, families[str(name)])
        train_with(params, str(name), overrides)


def _check_model_name(where: str, name: str, families: Mapping[str, frozenset[str]]) -> None:
    if name not in families:
        raise ConfigError(
            f"{where}.{name} is not a model{did_you_mean(name, families)}; "
            f"models: {', '.join(sorted(families))}"
        )


def parse_data(params: Mapping[str, Any]) -> DataConfig:
    return build_dataclass(DataConfig, params.get("data"), "data")


def parse_edges(params: Mapping[str, Any]) -> EdgesConfig:
    edges = build_dataclass(EdgesConfig, params.get("edges"), "edges")
    if edges.low_threshold > edges.high_threshold:
        raise ConfigError(
            f"edges.low_threshold ({edges.low_threshold}) must not exceed edges.high_threshold "
            f"({edges.high_threshold})"
        )
    return edges


def parse_lowres(params: Mapping[str, Any]) -> LowresConfig:
    return build_dataclass(LowresConfig, params.get("lowres"), "lowres")


def parse_evaluator(params: Mapping[str, Any]) -> EvaluatorConfig:
    return build_dataclass(EvaluatorConfig, params.get("evaluator"), "evaluator")


def parse_evaluate(params: Mapping[str, Any]) -> EvaluateConfig:
    return build_dataclass(EvaluateConfig, params.get("evaluate"), "evaluate")


def parse_tune(params: Mapping[str, Any]) -> TuneConfig:
    tune = build_dataclass(TuneConfig, params.get("tune"), "tune")
    # Each searched range is [low, high] inside what train.* accepts for the key.
    allowed = {
        "lr": (lambda v: v > 0, "> 0"),
        "beta1": (lambda v: 0 <= v < 1, "in [0, 1)"),
        "k_steps": (lambda v: v >= 1, ">= 1"),
        "dropout": (lambda v: 0 <= v < 1, "in [0, 1)"),
    }
    for name in TuneConfig.SEARCHED:
        low_high = getattr(tune, name)
        if len(low_high) != 2 or not low_high[0] < low_high[1]:
            raise ConfigError(
                f"tune.{name} must be [low, high] with low < high, got {list(low_high)}"
            )
        rule, text = allowed[name]
        if not (rule(low_high[0]) and rule(low_high[1])):
            raise ConfigError(f"tune.{name} must lie {text}, got {list(low_high)}")
    return tune


def _model_names(train: Mapping[str, Any]) -> dict[str, Any]:
    """train.* with `models` (name -> data file) reduced to the names. Which names are
    GANs and which file each reads is the families' to check
    (pipeline.gans.families.check_train_models): this layer knows no family."""
    train = check_mapping("train", train)
    models = train.get("models")
    if models is None:
        return train
    if not isinstance(models, Mapping):
        raise ConfigError(
            "train.models must map each model to the data file it trains on, e.g. "
            f"{{gan: data/raw/dataset.npz, pix2pix: data/edges/pairs.npz}}; got {models!r}"
        )
    return {**train, "models": [str(name) for name in models]}


def parse_train(params: Mapping[str, Any]) -> TrainConfig:
    values = _model_names(params.get("train"))
    return build_dataclass(TrainConfig, values, "train")


def resolve_run(params: Mapping[str, Any], model: str, family_params: type) -> RunConfig:
    """The config one GAN trains with: train.* with models.<model>.* applied on top, and
    the rest of models.<model>.* read into its family's `family_params` dataclass.

    Call pipeline.gans.families.resolve_run, which knows the family."""
    data = parse_data(params)
    models = check_mapping("models", params.get("models"))
    own = frozenset(f.name for f in dataclasses.fields(family_params))
    overrides, model_params = split_model_params(model, models.get(model), own)
    train = train_with(params, model, overrides)
    family_config = build_dataclass(family_params, model_params, f"models.{model}")
    return RunConfig(
        model=model,
        data=data,
        train=train,
        family=family_config,
        overrides=tuple(sorted(overrides)),
        phase_cap=_smoke_steps(parse_train(params)),
    )


def _smoke_steps(train: TrainConfig) -> int | None:
    """train.epochs x train.steps_per_epoch when the train section caps its epochs."""
    return None if train.steps_per_epoch is None else train.epochs * train.steps_per_epoch


def split_model_params(
    model: str, values: Any, own: frozenset[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """models.<model>.* as (its train.* overrides, its family's own params); a key that is
    neither is a ConfigError listing both kinds. A family param of the same name as a
    train.* one is the family's own (pix2pix's `loss: l1 | cgan | l1+cgan` is not
    train.loss), so it is not an override."""
    prefix = f"models.{model}"
    values = check_mapping(prefix, values)
    overridable = [name for name in OVERRIDABLE if name not in own]
    what = (
        f"{model}'s own {', '.join(sorted(own)) or '(none)'}; "
        f"the train.* overrides {', '.join(overridable)}"
    )
    check_keys(prefix, values, own | set(overridable), what)
    overrides = {k: v for k, v in values.items() if k in overridable}
    return overrides, {k: v for k, v in values.items() if k not in overrides}


def train_with(params: Mapping[str, Any], model: str, overrides: Mapping[str, Any]) -> TrainConfig:
    """train.* with a model's overrides applied; a bad override names its own key."""
    train = parse_train(params)  # train.*'s own errors first, under their own keys
    if not overrides:
        return train
    merged = {**_model_names(params.get("train")), **overrides}
    # Both are caps: a smoke run's `-S train.steps_per_epoch=5` shortens a model whose
    # default budget is its own steps_per_epoch too (pix2pix), not only the others.
    smoke, own = train.steps_per_epoch, overrides.get("steps_per_epoch")
    if smoke is not None and isinstance(own, int) and not isinstance(own, bool):
        merged["steps_per_epoch"] = min(smoke, own)
    try:
        return build_dataclass(TrainConfig, merged, "train")
    except ConfigError as error:
        raise ConfigError(str(error).replace("train.", f"models.{model}.", 1)) from None


def check_labelled_slots(model: str, per_batch: int, batch_size: int) -> None:
    """A semi-supervised minibatch keeps room for unlabelled images (checked when params
    are read, before any data loads)."""
    if per_batch >= batch_size:
        raise ConfigError(
            f"models.{model}.labelled_per_batch ({per_batch}) must be below the batch size "
            f"({batch_size}): the other slots carry the unlabelled images"
        )
