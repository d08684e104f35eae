"""`explore`: pictures of a trained latent generator's space (docs/explore.md).

    interpolate   --rows pairs of latents, --steps columns from one end to the other: a
                  block of rows linear in z, then the same pairs spherically in z (slerp),
                  or for StyleGAN linearly in w (the paper's w path)
    arithmetic    seed 003's vector arithmetic, A - B + C over class means: latents the
                  evaluator classes as A, B or C with confidence, averaged in w (z without
                  a mapping network); not for cgan, whose class is its label
    mixing        StyleGAN's style mixing: coarse styles from the rows' latents, fine
                  styles from the columns'
    truncation    --rows latents at each --psi: w_avg + psi (w - w_avg) (z scaled by psi
                  without a mapping network)

Any generator of noise (the input kinds LATENT, CONDITIONAL and CLASSIFIER of
pipeline.gans.inputs) walks through pipeline.gans.latent.LatentSpace. The functions that
make the pictures take a LatentSpace and latents and return tiles [rows, columns, H, W, C]
in [-1, 1]; `explore_command` draws the latents from --seed, writes the PNG and logs it
to the MLflow run that trained the generator (artifact folder explore/).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np

from pipeline.config import load_params
from pipeline.errors import ConfigError, DataError
from pipeline.gans.families import family_names, get_family, resolve_run
from pipeline.images import display_scale, grid, save_png
from pipeline.saved import check_output_file, load_generator, training_run_id

PICTURES = ("interpolate", "arithmetic", "mixing", "truncation")
DEFAULT_EXPR = "sneaker - ankle_boot + sandal"  # Fashion-MNIST's classes
NEIGHBOURS = 8  # arithmetic: samples near the result, two rows of four
NEIGHBOUR_SPREAD = 0.25  # ... at this many standard deviations of w, per dimension
BLANK = -1.0  # a tile left empty (black, like the grid's padding)


@dataclass(frozen=True)
class ExploreOptions:
    """The command line's options; None is "not given" (the picture's default, or not
    one of its options)."""

    seed: int = 0
    rows: int | None = None
    steps: int | None = None
    columns: int | None = None
    crossover: int | None = None
    psi: str | tuple[float, ...] | None = None
    expr: str | None = None
    pool: int | None = None
    confidence: float | None = None
    per_class: int | None = None
    label: str | None = None


# The options each picture takes (besides --seed and --out) and their defaults.
TAKES = {
    "interpolate": ("rows", "steps", "label"),
    "arithmetic": ("expr", "pool", "confidence", "per_class"),
    "mixing": ("rows", "columns", "crossover"),
    "truncation": ("rows", "psi", "label"),
}
DEFAULTS = {
    "rows": 4,
    "steps": 8,
    "columns": 4,
    "crossover": None,  # half the style layers, known once the generator is loaded
    "psi": "1,0.7,0.5,0",
    "expr": DEFAULT_EXPR,
    "pool": 2000,
    "confidence": 0.9,
    "per_class": 8,
    "label": None,
}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def check_explore_options(
    what: str, options: ExploreOptions, out: Path, model: str
) -> tuple[ExploreOptions, Path]:
    """The options with the picture's defaults filled in, and `--out`, checked before
    anything is loaded: an option of another picture is an error naming this one's."""
    if what not in PICTURES:
        raise ConfigError(f"--what must be one of {', '.join(PICTURES)}; got {what!r}")
    takes = TAKES[what]
    for field in fields(ExploreOptions):
        name = field.name
        if name != "seed" and name not in takes and getattr(options, name) is not None:
            flags = ", ".join(_flag(option) for option in takes)
            raise ConfigError(
                f"{_flag(name)} is not an option of --what {what} (it takes {flags}, --seed)"
            )
    options = replace(
        options,
        **{name: DEFAULTS[name] for name in takes if getattr(options, name) is None},
    )
    if options.seed < 0:  # numpy's generators take no negative seed
        raise ConfigError(f"--seed must be >= 0, got {options.seed}")
    minimum = {"rows": 1, "steps": 3, "columns": 1, "crossover": 0, "pool": 1, "per_class": 1}
    for name, least in minimum.items():
        value = getattr(options, name)
        if value is not None and value < least:
            raise ConfigError(f"{_flag(name)} must be >= {least}, got {value}")
    if options.confidence is not None and not 0 <= options.confidence <= 1:
        raise ConfigError(f"--confidence must be in [0, 1], got {options.confidence}")
    if options.psi is not None:
        options = replace(options, psi=parse_psi(options.psi))
    return options, check_output_file(out, "--out", f"{model}_{what}.png")


def parse_psi(text: str | tuple[float, ...]) -> tuple[float, ...]:
    """`1,0.7,0.5,0` -> (1.0, 0.7, 0.5, 0.0): one column each."""
    if not isinstance(text, str):
        return tuple(float(psi) for psi in text)
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        values = ()
    if not values or not all(math.isfinite(psi) for psi in values):
        raise ConfigError(
            f"--psi must be numbers separated by commas, e.g. 1,0.7,0.5,0; got {text!r}"
        )
    return values


def latent_models() -> tuple[str, ...]:
    """The models whose generator is fed noise: what `explore` takes."""
    from pipeline.gans.inputs import CLASSIFIER, CONDITIONAL, LATENT

    kinds = (LATENT, CONDITIONAL, CLASSIFIER)
    return tuple(name for name in family_names() if get_family(name).inputs in kinds)


def check_latent_model(model: str) -> None:
    """A one-line error unless `model`'s generator is fed noise (pix2pix's is fed edges)."""
    if model not in latent_models():
        kind = get_family(model).inputs.name
        raise ConfigError(
            f"explore needs a generator fed latents; {model}'s is fed {kind}; "
            f"latent models: {', '.join(latent_models())}"
        )


# --- the pictures: tiles [rows, columns, H, W, C] in [-1, 1] ------------------------------


def compose(tiles: np.ndarray) -> np.ndarray:
    """Tiles [rows, columns, H, W, C] -> one uint8 picture, laid out as they are."""
    rows, columns = tiles.shape[:2]
    return grid(tiles.reshape(rows * columns, *tiles.shape[2:]), columns=columns)


def _path(mix: Callable, start: np.ndarray, end: np.ndarray, steps: int) -> np.ndarray:
    """`mix` (lerp, slerp) from each row of start to end at `steps` evenly spaced t:
    [R, steps, D]."""
    rows, dim = start.shape
    t = np.tile(np.linspace(0.0, 1.0, steps, dtype=np.float32), rows)
    path = mix(np.repeat(start, steps, axis=0), np.repeat(end, steps, axis=0), t)
    return np.asarray(path, np.float32).reshape(rows, steps, dim)


def interpolation_paths(space, start: np.ndarray, end: np.ndarray, steps: int):
    """The two paths of each pair (rows of start [R, z] to end [R, z]): linear in z, and
    spherical in z or, with a mapping network, linear in w. Returns (z path [R, S, z],
    second path [R, S, w_dim], the second's name); without a mapping network w is z."""
    from pipeline.gans.latent import lerp, slerp

    first = _path(lerp, start, end, steps)
    if space.styled:
        w = space.to_w(np.concatenate([start, end]))
        return first, _path(lerp, w[: len(start)], w[len(start) :], steps), "linear in w"
    return first, _path(slerp, start, end, steps), "spherical in z (slerp)"


def interpolation(space, start, end, steps: int, labels=None) -> tuple[np.ndarray, str]:
    """Tiles [2R, steps, H, W, C]: rows 0..R-1 walk linearly in z from start to end, rows
    R..2R-1 walk the second path (interpolation_paths) between the same pairs. Columns 0
    and steps-1 are the endpoints' own images, the same in both blocks. `labels` [R]: the
    class of each pair, for a conditional generator."""
    rows = len(start)
    first, second, name = interpolation_paths(space, start, end, steps)
    inner = steps - 2

    def classes(per_row: int):
        return None if labels is None else np.repeat(np.asarray(labels), per_row)

    ends_w = np.concatenate([second[:, 0], second[:, -1]])  # w of start, then of end
    if not space.styled:  # slerp's ends are start and end up to rounding; these are exact
        ends_w = np.concatenate([start, end])
    ends = space.render(ends_w, labels=None if labels is None else np.tile(labels, 2))
    along_z = space.render_z(first[:, 1:-1].reshape(rows * inner, -1), labels=classes(inner))
    along_second = space.render(second[:, 1:-1].reshape(rows * inner, -1), labels=classes(inner))
    tiles = np.empty((2 * rows, steps, *ends.shape[1:]), np.float32)
    tiles[:, 0] = np.tile(ends[:rows], (2, 1, 1, 1))
    tiles[:, -1] = np.tile(ends[rows:], (2, 1, 1, 1))
    tiles[:rows, 1:-1] = along_z.reshape(rows, inner, *ends.shape[1:])
    tiles[rows:, 1:-1] = along_second.reshape(rows, inner, *ends.shape[1:])
    return tiles, name


def mixing(space, rows_z: np.ndarray, columns_z: np.ndarray, crossover: int) -> np.ndarray:
    """StyleGAN's style-mixing grid, tiles [R + 1, C + 1, H, W, C]: the top row holds the
    column latents' images, the left column the row latents', cell (i, j) the styles of
    layers < `crossover` (the coarse ones) from row latent i and the rest from column
    latent j; the top-left tile is blank. Crossover 0 gives the column's image, L the
    row's."""
    if not space.styled:
        raise ConfigError(
            "--what mixing needs a style-based generator (a mapping network and a style per "
            "layer, as stylegan's); this one has none"
        )
    layers = space.style_layers
    if not 0 <= crossover <= layers:
        raise ConfigError(f"--crossover must be in 0..{layers} (the style layers), got {crossover}")
    rows, columns = len(rows_z), len(columns_z)
    w = space.to_w(np.concatenate([rows_z, columns_z]))
    w_rows, w_columns = w[:rows], w[rows:]
    own = space.render(w)  # the row latents' images, then the column latents'
    coarse = (np.arange(layers) < crossover)[None, None, :, None]  # [1, 1, L, 1]
    styles = np.where(coarse, w_rows[:, None, None, :], w_columns[None, :, None, :])
    cells = space.render(styles.reshape(rows * columns, layers, space.w_dim))
    tiles = np.full((rows + 1, columns + 1, *own.shape[1:]), BLANK, np.float32)
    tiles[1:, 0] = own[:rows]
    tiles[0, 1:] = own[rows:]
    tiles[1:, 1:] = cells.reshape(rows, columns, *own.shape[1:])
    return tiles


def truncation(space, z: np.ndarray, psis: tuple[float, ...], labels=None) -> np.ndarray:
    """Tiles [R, len(psis)]: each latent (a row) at each psi (a column), w_avg + psi
    (w - w_avg); psi 0 is w_avg itself, the same image in every row (of one class)."""
    w = space.to_w(z)
    batch = np.concatenate([space.truncate(w, psi) for psi in psis])
    classes = None if labels is None else np.tile(np.asarray(labels), len(psis))
    images = space.render(batch, labels=classes)
    return np.swapaxes(images.reshape(len(psis), len(z), *images.shape[1:]), 0, 1)


# --- arithmetic: A - B + C over class means ------------------------------------------------


def parse_expression(expr: str, class_names: tuple[str, ...]) -> tuple[int, int, int]:
    """`A - B + C` -> the three classes' indices. Names as pipeline.data.labels.class_index
    reads them (case, spaces, `_` and `-` do not matter; a unique prefix is enough);
    ` - ` and ` + ` need spaces around them unless no name holds a `-`."""
    from pipeline.data.labels import class_index

    if not class_names:
        raise ConfigError("--what arithmetic needs a labelled dataset; this one has no classes")
    match = re.fullmatch(r"\s*(.+?)\s+-\s+(.+?)\s+\+\s+(.+?)\s*", expr) or re.fullmatch(
        r"\s*([^-+]+?)\s*-\s*([^-+]+?)\s*\+\s*([^-+]+?)\s*", expr
    )
    if match is None:
        raise ConfigError(
            f"--expr must be A - B + C with three class names, e.g. {DEFAULT_EXPR!r}; got {expr!r}"
        )
    indices = []
    for name in match.groups():
        try:
            indices.append(class_index(name, class_names))
        except ConfigError:
            valid = ", ".join(_snake(name) for name in class_names)
            raise ConfigError(f"--expr: {name!r} is not one class; valid: {valid}") from None
    return tuple(indices)


def _snake(name: str) -> str:
    """`Ankle boot` -> `ankle_boot`: a class name as one shell word."""
    return re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")


@dataclass(frozen=True)
class Arithmetic:
    tiles: np.ndarray  # [3, 4, H, W, C]: mean A | mean B | mean C | result; 8 near the result
    means: np.ndarray  # [3, w_dim]: the mean w of A's, B's and C's members
    result: np.ndarray  # [w_dim]: means[0] - means[1] + means[2]
    members: tuple[np.ndarray, ...]  # the pool indices averaged, per class
    shares: np.ndarray  # [K]: the evaluator's mean probabilities over the result's images


def arithmetic(
    space,
    classify: Callable[[np.ndarray], np.ndarray],
    classes: tuple[int, int, int],
    rng: np.random.Generator,
    pool: int,
    confidence: float,
    per_class: int,
    class_names: tuple[str, ...],
) -> Arithmetic:
    """Seed 003's vector arithmetic: `pool` latents drawn from `rng` are rendered and
    classified (`classify`: images -> class probabilities [N, K]); of each class of
    `classes` the first `per_class` latents whose top class it is with probability >=
    `confidence` are averaged in w; result = mean A - mean B + mean C. Then NEIGHBOURS
    samples near the result (NEIGHBOUR_SPREAD standard deviations of the pool's w, drawn
    from `rng`), and the evaluator's view of the result and its neighbours."""
    if space.conditional:
        raise ConfigError(
            "--what arithmetic: a conditional generator's class comes from its label, not "
            "its latent; use `sample --label`"
        )
    w = space.to_w(space.latents(rng, pool))
    probabilities = np.asarray(classify(space.render(w)))
    top, sure = probabilities.argmax(axis=1), probabilities.max(axis=1)
    members = []
    for index in classes:
        found = np.flatnonzero((top == index) & (sure >= confidence))[:per_class]
        if len(found) == 0:
            raise ConfigError(
                f"--what arithmetic: none of {pool} samples is {class_names[index]!r} with "
                f"probability >= {confidence:g}; raise --pool or lower --confidence"
            )
        members.append(found)
    means = np.stack([w[found].mean(axis=0) for found in members]).astype(np.float32)
    result = means[0] - means[1] + means[2]
    spread = NEIGHBOUR_SPREAD * w.std(axis=0)
    near = result + spread * rng.standard_normal((NEIGHBOURS, w.shape[1])).astype(np.float32)
    images = space.render(np.concatenate([means, result[None], near]))  # [4 + NEIGHBOURS]
    shares = np.asarray(classify(images[3:])).mean(axis=0)
    tiles = images.reshape(-1, 4, *images.shape[1:])  # 4 + NEIGHBOURS is a multiple of 4
    return Arithmetic(tiles, means, result, tuple(members), shares)


def describe_shares(shares: np.ndarray, class_names: tuple[str, ...], top: int = 3) -> str:
    """`Sandal 71%, Sneaker 20%, Bag 4%`: the `top` largest."""
    order = np.argsort(-shares, kind="stable")[:top]
    return ", ".join(f"{class_names[i]} {shares[i]:.0%}" for i in order)


def describe_arithmetic(found: Arithmetic, classes, class_names, options, styled: bool):
    """What the picture holds, and what the evaluator makes of the result: two lines."""
    a, b, c = (class_names[i] for i in classes)
    counts = ", ".join(
        f"{len(members)} {class_names[i]}"
        for i, members in zip(classes, found.members, strict=True)
    )
    shares = describe_shares(found.shares, class_names)
    return [
        f"means in {'w' if styled else 'z'} of {counts} of {options.pool} samples "
        f"(probability >= {options.confidence:g}); row 1: {a} | {b} | {c} | {a} - {b} + {c}; "
        f"rows 2-3: {NEIGHBOURS} samples near the result",
        f"{a} - {b} + {c}: {shares} (the evaluator's mean probabilities over the result's "
        f"{1 + NEIGHBOURS} images)",
    ]


# --- the command -------------------------------------------------------------------------


@dataclass(frozen=True)
class Explored:
    out: Path
    notes: tuple[str, ...]  # what the picture shows, and where it was logged


def row_labels(rows: int, label: int | None, num_classes: int) -> np.ndarray:
    """The class of each row: `label`, or row i gets class i % K."""
    if label is not None:
        return np.full(rows, label, np.int32)
    return (np.arange(rows) % num_classes).astype(np.int32)


def explore_command(
    params_path: Path, model: str, what: str, out: Path, options: ExploreOptions
) -> Explored:
    """Draw the picture `what` of `model`'s trained generator to `out` (see the module)."""
    import pipeline.gans.blocks  # noqa: F401  (the zoo's custom layers, to load a generator)
    from pipeline.gans.inputs import CONDITIONAL
    from pipeline.gans.latent import LatentSpace

    options, out = check_explore_options(what, options, out, model)
    check_latent_model(model)
    params = load_params(params_path)
    run = resolve_run(params, model)
    conditional = get_family(model).inputs is CONDITIONAL
    if what == "arithmetic" and conditional:
        raise ConfigError(
            f"--what arithmetic: {model}'s class comes from its label, not its latent; "
            f"use `sample --model {model} --label NAME`"
        )
    if options.label is not None and not conditional:
        raise ConfigError(
            f"--label needs a conditional model (cgan); {model}'s generator takes no label"
        )
    run_id = training_run_id(model)  # before the work: a damaged run.json fails fast
    labels, class_names, classify, notes = None, (), None, []
    if what == "arithmetic":
        from pipeline.config import parse_evaluate
        from pipeline.data.store import load_dataset

        class_names = load_dataset(run.data).class_names
        classes = parse_expression(options.expr, class_names)
        classify = _classifier(parse_evaluate(params).batch_size, len(class_names))
    elif conditional:
        from pipeline.data.labels import class_index
        from pipeline.gans.inputs import task_for

        class_names = task_for(run, with_training_data=False).class_names
        label = None if options.label is None else class_index(options.label, class_names)
        labels = row_labels(options.rows, label, len(class_names))
        named = ", ".join(class_names[i] for i in labels)
        notes.append(
            f"classes by row: {named}" + (" (in both blocks)" if what == "interpolate" else "")
        )
    space = LatentSpace(load_generator(model))
    rng = np.random.default_rng(options.seed)
    if what == "interpolate":
        start, end = space.latents(rng, options.rows), space.latents(rng, options.rows)
        tiles, second = interpolation(space, start, end, options.steps, labels)
        rows = options.rows
        notes.append(f"rows 1-{rows}: linear in z; rows {rows + 1}-{2 * rows}: {second}")
    elif what == "arithmetic":
        found = arithmetic(
            space,
            classify,
            classes,
            rng,
            options.pool,
            options.confidence,
            options.per_class,
            class_names,
        )
        tiles = found.tiles
        notes += describe_arithmetic(found, classes, class_names, options, space.styled)
    elif what == "mixing":
        crossover = space.style_layers // 2 if options.crossover is None else options.crossover
        rows_z, columns_z = space.latents(rng, options.rows), space.latents(rng, options.columns)
        tiles = mixing(space, rows_z, columns_z, crossover)
        layers = space.style_layers
        notes.append(
            f"the first {crossover} of {layers} style layers (coarse) from the left column's "
            f"latents, the other {layers - crossover} (fine) from the top row's"
        )
    else:
        z = space.latents(rng, options.rows)
        tiles = truncation(space, z, options.psi, labels)
        towards = "w_avg" if space.styled else "0 (z scaled by psi)"
        psis = ", ".join(f"{psi:g}" for psi in options.psi)
        notes.append(f"columns: psi {psis}, towards {towards}")
    picture = compose(tiles)
    save_png(picture, out, scale=display_scale(picture))
    notes.append(_log_picture(run, model, run_id, out))
    return Explored(out, tuple(notes))


def _classifier(batch_size: int, num_classes: int) -> Callable[[np.ndarray], np.ndarray]:
    """The evaluator's class probabilities [N, K] of images [N, H, W, C] in [-1, 1]."""
    from pipeline.saved import EVALUATOR
    from pipeline.scoring.evaluator import load_embedder

    embedder = load_embedder(batch_size)
    retrain = (
        f"retrain it: `python -m pipeline {EVALUATOR.command}` (or `dvc repro {EVALUATOR.stage}`)"
    )
    if not embedder.classes:
        raise DataError(
            f"the evaluator was trained on rotations, not the dataset's classes; {retrain}"
        )

    def classify(images: np.ndarray) -> np.ndarray:
        probabilities = embedder(images).probabilities
        if probabilities.shape[1] != num_classes:
            raise DataError(
                f"the evaluator tells {probabilities.shape[1]} classes, the dataset has "
                f"{num_classes}; {retrain}"
            )
        return probabilities

    return classify


def _log_picture(run, model: str, run_id: str | None, out: Path) -> str:
    """`out` as an artifact (explore/) of the MLflow run that trained `model`."""
    if not run_id:
        return f"not logged to MLflow: no run in models/{model}/run.json"
    from pipeline.tracking.runs import MlflowTracker, experiment_name, run_tags

    tracker = MlflowTracker(
        experiment=experiment_name(run.data.dataset),
        run_name=model,
        tags=run_tags(model),
        run_id=run_id,
    )
    tracker.log_artifact(out, artifact_path="explore")
    tracker.finish("FINISHED")
    if tracker.run_id != run_id:
        return (
            f"logged to a new MLflow run {tracker.run_id} as explore/{out.name} (run "
            f"{run_id} of models/{model}/run.json is not in the store)"
        )
    return f"logged to MLflow run {run_id} as explore/{out.name}"
