"""`sample`: a picture of a trained (or registered) generator's samples."""

from __future__ import annotations

import math
from pathlib import Path

from pipeline.config import load_params
from pipeline.errors import ConfigError
from pipeline.gans.families import resolve_run
from pipeline.images import display_scale, save_png
from pipeline.saved import check_output_file, load_generator


def check_sample_options(
    count: int, seed: int, columns: int | None, out: Path, model: str | None, truncation=1.0
) -> Path:
    """The command line's numbers and output file, checked before anything is loaded.

    `--out` must name a file: an existing folder is an error that suggests
    FOLDER/MODEL.png (a folder never gets a name chosen for it), and a missing parent
    folder is created, as `translate --out` does."""
    if count < 1:
        raise ConfigError(f"-n must be >= 1, got {count}")
    if columns is not None and columns < 1:
        raise ConfigError(f"--columns must be >= 1, got {columns} (leave it out for a square grid)")
    if seed < 0:  # numpy's generators take no negative seed
        raise ConfigError(f"--seed must be >= 0, got {seed}")
    if not math.isfinite(truncation):
        raise ConfigError(f"--truncation must be a number, got {truncation} (1 = off)")
    return check_output_file(out, "--out", f"{model or 'samples'}.png")


def sample_command(
    params_path: Path,
    model: str | None,
    count: int,
    seed: int,
    out: Path,
    columns: int | None,
    label: str | None = None,
    model_uri: str | None = None,
    truncation: float = 1.0,
    text: str | None = None,
) -> Path:
    """A grid of `count` samples (triptychs of test pairs for a translation model); of
    class `label` (a name or an index) for a conditional model, else a row per class.

    The generator is models/MODEL/generator.keras, or with `model_uri` a registered one
    (`models:/fashion_mnist-dcgan@champion`), whose family comes from its version's tag.
    `truncation` psi != 1 pulls each latent towards the mean (pipeline.gans.latent).
    `text` is the sentence a captioned model (stackgan) draws: a word outside its
    captions' vocabulary is a one-line ConfigError naming the nearest words."""
    import pipeline.gans.blocks  # noqa: F401  (the zoo's custom layers, to load a generator)
    from pipeline.data.labels import class_index
    from pipeline.gans.inputs import ConditionalTask, LatentTask, task_for

    out = check_sample_options(count, seed, columns, out, model, truncation)
    params = load_params(params_path)
    if model_uri is None:
        run, generator = resolve_run(params, model), None  # loaded once the options check
    else:
        from pipeline.tracking.registry import registered_run

        run, generator = registered_run(params, model, model_uri)
    task = task_for(run, with_training_data=False)
    options = {}
    if label is not None:
        if not isinstance(task, ConditionalTask):
            raise ConfigError(
                f"--label needs a conditional model (cgan); {run.model}'s generator takes no label"
            )
        options["label"] = class_index(label, task.class_names)
    if text is not None:
        if not hasattr(task, "encode_text"):
            raise ConfigError(
                f"--text needs a captioned model (stackgan); {run.model}'s generator takes "
                "no sentence"
            )
        if label is not None:
            raise ConfigError("give --text or --label, not both: the sentence names the class")
        task.encode_text(text)  # its words checked before the generator loads
        options["text"] = text
    if truncation != 1.0:
        if not isinstance(task, LatentTask):
            raise ConfigError(
                f"--truncation needs a generator of noise; {run.model} translates its input"
            )
        options["psi"] = truncation
    if generator is None:
        generator = load_generator(run.model)
    picture = task.picture(generator, count, seed, columns, **options)
    return save_png(picture, out, scale=display_scale(picture))
