"""Small data and params the tests make for themselves."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def repo_params(**train) -> dict:
    """The repository's params.yaml with `train` applied to every model.

    Per-model training lengths (models.<name>.epochs) are dropped, so that train.epochs
    here decides how long every GAN trains.
    """
    from pipeline.config import load_params

    params = load_params(REPO / "params.yaml")
    for model_params in params["models"].values():
        model_params.pop("epochs", None)
    params["train"].update(train)
    return params


def write_image_folder(folder, count: int = 40, size: int = 28, seed: int = 3) -> None:
    """`count` small grayscale PNGs with some structure (a bright square on noise)."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        pixels = rng.integers(0, 60, (size, size), dtype=np.uint8)
        top, left = rng.integers(0, size // 2, 2)
        pixels[top : top + size // 2, left : left + size // 2] = 220
        Image.fromarray(pixels, mode="L").save(folder / f"img_{i:03d}.png")


def write_labelled_folder(folder, classes=("circle", "square"), count: int = 100) -> None:
    """One sub-folder of `count` images per class: a labelled `folder:` dataset."""
    for seed, name in enumerate(classes):
        write_image_folder(folder / name, count=count, seed=seed)


def one_line_error(capsys) -> str:
    """The CLI's stderr, asserted to be one `error: ...` line, and that line."""
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


CLASS_NAMES = tuple(f"class{i}" for i in range(10))
# Small labelled subsets for the tiny runs: 2 per class, 2 slots of each minibatch.
TINY_LABELS = {"labels_per_class": 2, "labelled_per_batch": 2}


def tiny_labels(run, count: int):
    """What a label-aware family trains on for `count` images of balanced classes 0-9
    (image i has class i % 10); None for a family without labels."""
    import numpy as np

    from pipeline.data.labels import training_labels
    from pipeline.gans import label_plan

    plan = label_plan(run.model, run)
    if plan is None:
        return None
    classes = np.arange(count, dtype=np.int64) % len(CLASS_NAMES)
    return training_labels(plan, classes, CLASS_NAMES, run.train.seed, run.model)


def set_params(repo, section: str, **values) -> None:
    """Update one section of `repo`/params.yaml (created if missing) with `values`."""
    import yaml

    params = yaml.safe_load((repo / "params.yaml").read_text())
    params.setdefault(section, {}).update(values)
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
