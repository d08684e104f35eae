"""Damaged files the pipeline reads back, and bad output options: one line, no traceback.

Every file a stage writes and a later command reads (the dataset, the edge pairs, the
evaluator, the reference statistics, a trained generator, its run.json) is truncated or
gets one flipped bit; the command that reads it must exit 3 with one `error:` line that
names the file, says it is corrupt, and says what to run, and must leave every file of
the repository as it was. The artifacts are built once for the module; each test works
on a copy.
"""

import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml

from pipeline.cli import main
from tests.helpers import (
    REPO,
    flip_bit,
    member_middle,
    one_line_error,
    tiny_params_dict,
    tree_state,
    truncate,
    write_labelled_folder,
)

DATASET = "data/raw/dataset.npz"
PAIRS = "data/edges/pairs.npz"
EVALUATOR = "models/evaluator/model.keras"
REFERENCE = "models/reference/stats.npz"
GENERATOR = "models/gan/generator.keras"
RUN_FILE = "models/gan/run.json"


@pytest.fixture(scope="module")
def built_repo(tmp_path_factory, mlflow_store) -> Path:
    """A tiny labelled folder dataset (2 classes x 100 images) fetched, its edge pairs, an
    evaluator, the reference statistics and a trained `gan`. Never changed: copy it."""
    from pipeline.config import load_params, parse_data
    from pipeline.data.store import load_dataset
    from pipeline.saved import EVALUATOR_DIR, save_keras
    from pipeline.scoring.evaluator import build_evaluator

    root = tmp_path_factory.mktemp("built") / "repo"
    write_labelled_folder(root / "images")
    params = tiny_params_dict()
    params["data"].update(dataset=f"folder:{root / 'images'}", image_size=28, mirrors=[])
    params["data"]["cache_dir"] = str(root / "cache")
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        patch.setenv("MLFLOW_TRACKING_URI", mlflow_store)  # built before the autouse fixture
        for command in (["fetch"], ["edges"]):
            assert main(["--no-progress", *command]) == 0
        # An untrained evaluator is a file like any other, without the 15 s of the stage
        dataset = load_dataset(parse_data(load_params(Path("params.yaml"))))
        evaluator = build_evaluator(dataset.image_shape, dataset.num_classes)
        save_keras(evaluator, EVALUATOR_DIR / "model.keras")
        for command in (["reference"], ["train", "--model", "gan"]):
            assert main(["--no-progress", *command]) == 0
    return root


@pytest.fixture
def repo(built_repo, tmp_path, monkeypatch) -> Path:
    """A fresh copy of the built repository, as the working directory."""
    copy = tmp_path / "repo"
    shutil.copytree(built_repo, copy)
    monkeypatch.chdir(copy)
    return copy


# --- a damaged input: one line naming it, exit 3, nothing written -------------------------


@dataclass(frozen=True)
class Reader:
    """A file, a command that reads it, and what the error must tell a user to run."""

    path: str
    command: tuple[str, ...]
    stage: str  # dvc repro STAGE
    remake: str  # python -m pipeline REMAKE
    member: str | None = None  # flip inside this zip member (what the command reads)

    def __str__(self) -> str:
        return f"{Path(self.path).name}-{'-'.join(self.command)}"


READERS = [
    Reader(DATASET, ("edges",), "fetch", "fetch"),
    Reader(DATASET, ("evaluator",), "fetch", "fetch"),
    Reader(DATASET, ("train", "--model", "gan"), "fetch", "fetch"),
    Reader(PAIRS, ("train", "--model", "pix2pix"), "edges", "edges"),
    # sample reads the test pairs only: a flip in the training split cannot change its
    # picture (and `train` finds it), so flip a byte of what it does read
    Reader(PAIRS, ("sample", "--model", "pix2pix", "--out", "x.png"), "edges", "edges", "test.npy"),
    Reader(EVALUATOR, ("reference",), "evaluator", "evaluator"),
    Reader(EVALUATOR, ("evaluate", "--model", "gan"), "evaluator", "evaluator"),
    Reader(REFERENCE, ("evaluate", "--model", "gan"), "reference", "reference"),
    Reader(GENERATOR, ("evaluate", "--model", "gan"), "train@gan", "train --model gan"),
    Reader(
        GENERATOR, ("sample", "--model", "gan", "--out", "x.png"), "train@gan", "train --model gan"
    ),
]


def _damage(path: Path, fault: str, member: str | None) -> None:
    if fault == "truncate":
        truncate(path)
    else:
        flip_bit(path, member_middle(path, member) if member else None)


@pytest.mark.parametrize("fault", ["truncate", "flip"])
@pytest.mark.parametrize("reader", READERS, ids=str)
def test_a_damaged_input_is_one_line_naming_it_and_the_fix(repo, reader, fault, capsys):
    _damage(repo / reader.path, fault, reader.member)
    before = tree_state(repo)
    capsys.readouterr()
    assert main(["--no-progress", *reader.command]) == 3
    line = one_line_error(capsys)
    assert f"error: {reader.path} is corrupt or unreadable (" in line
    assert f"delete it and re-run `python -m pipeline {reader.remake}`" in line
    assert f"(or `dvc repro {reader.stage}`)" in line
    assert tree_state(repo) == before  # nothing written, not even a temp file


@pytest.mark.parametrize("fault", ["truncate", "flip"])
def test_a_damaged_run_json_is_one_line_before_any_score_is_written(repo, fault, capsys):
    path = repo / RUN_FILE
    if fault == "truncate":
        truncate(path)
    else:  # JSON has no checksum: a flip inside a string keeps it valid JSON; `{` -> `z` not
        flip_bit(path, offset=0)
    before = tree_state(repo)
    assert main(["--no-progress", "evaluate", "--model", "gan"]) == 3
    line = one_line_error(capsys)
    assert f"{RUN_FILE} is corrupt or unreadable" in line and "dvc repro train@gan" in line
    assert tree_state(repo) == before  # no metrics.json


@pytest.mark.parametrize(
    ("path", "command"),
    [(DATASET, "fetch"), (PAIRS, "edges"), (REFERENCE, "reference")],
)
def test_the_fix_the_line_names_repairs_the_file(repo, built_repo, path, command, capsys):
    flip_bit(repo / path)
    (repo / path).unlink()  # "delete it and re-run ..."
    assert main(["--no-progress", command]) == 0
    # the same inputs give the same bytes (fixed zip times), so DVC sees no change either
    assert (repo / path).read_bytes() == (built_repo / path).read_bytes()


# --- sample and translate: bad options are one line, exit 2 --------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--columns", "0"], "--columns must be >= 1, got 0"),
        (["--columns", "-2"], "--columns must be >= 1, got -2"),
        (["-n", "0"], "-n must be >= 1, got 0"),
        (["-n", "-5"], "-n must be >= 1, got -5"),
        (["--seed", "-1"], "--seed must be >= 0, got -1"),
        (["--truncation", "nan"], "--truncation must be a number, got nan (1 = off)"),
    ],
)
def test_sample_rejects_numbers_out_of_range(repo, options, message, capsys):
    before = tree_state(repo)
    assert main(["sample", "--model", "gan", "--out", "x.png", *options]) == 2
    assert message in one_line_error(capsys)
    assert tree_state(repo) == before


def test_sample_out_an_existing_folder_is_one_line_suggesting_a_file(repo, capsys):
    (repo / "pictures").mkdir()
    before = tree_state(repo)
    assert main(["sample", "--model", "gan", "--out", "pictures"]) == 2
    line = one_line_error(capsys)
    assert "--out pictures is a folder" in line and "--out pictures/gan.png" in line
    assert tree_state(repo) == before


def test_sample_out_under_a_file_is_one_line(repo, capsys):
    (repo / "notes.txt").write_text("a file, not a folder")
    assert main(["sample", "--model", "gan", "--out", "notes.txt/x.png"]) == 2
    assert "notes.txt is a file, not a folder" in one_line_error(capsys)


def test_sample_out_in_a_missing_folder_creates_it(repo, capsys):
    assert main(["sample", "--model", "gan", "-n", "4", "--out", "new/sub/grid.png"]) == 0
    assert (repo / "new" / "sub" / "grid.png").is_file()
    assert [p.name for p in (repo / "new" / "sub").iterdir()] == ["grid.png"]


def test_translate_out_an_existing_folder_is_one_line_suggesting_a_file(repo, capsys):
    (repo / "results").mkdir()
    before = tree_state(repo)
    assert main(["translate", "--input", "drawing.png", "--out", "results"]) == 2
    assert "--out results/drawing.png" in one_line_error(capsys)
    assert tree_state(repo) == before


# --- writers: nothing half-written under a final name --------------------------------------


def _writers():
    """Every kind of writer the stages use, each writing `content` (0 or 1) to a path."""
    from pipeline.data.files import write_npz
    from pipeline.images import save_loss_curves, save_png
    from pipeline.saved import save_keras, write_csv, write_json, write_text

    def keras_model(content, path):
        import keras

        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        model.layers[0].set_weights([np.full((2, 1), content, "f4"), np.zeros(1, "f4")])
        save_keras(model, path)

    history = [
        {"step": s, "d_loss": 1.0, "g_loss": 1.0, "d_real": 0.5, "d_fake": 0.5} for s in (1, 2)
    ]
    return {
        "metrics.json": lambda content, path: write_json({"fid": content}, path),
        "best_params.yaml": lambda content, path: write_text(f"lr: {content}\n", path),
        "history.csv": lambda content, path: write_csv([{"step": content}], ["step"], path),
        "samples.png": lambda content, path: save_png(np.full((4, 4), content, np.uint8), path),
        "loss_curves.png": lambda content, path: save_loss_curves(history, path, str(content)),
        "stats.npz": lambda content, path: write_npz(path, {"mu": np.full(3, content)}),
        "generator.keras": keras_model,
    }


@pytest.mark.parametrize("name", list(_writers()))
def test_a_write_stopped_before_its_rename_leaves_the_old_file(tmp_path, monkeypatch, name):
    write = _writers()[name]
    target = tmp_path / name
    write(0, target)
    old = target.read_bytes()

    def killed(*args):
        raise KeyboardInterrupt  # as a Ctrl-C would, after the data, before the rename

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        write(1, target)
    assert target.read_bytes() == old
    assert [p.name for p in tmp_path.iterdir()] == [name]  # the temp file is gone too


def test_a_killed_writer_leaves_only_a_hidden_temp_file(tmp_path):
    """SIGKILL runs no cleanup: the final name still holds the old bytes, and what is left
    is a hidden `.<name>.*.part` file that no stage reads."""
    target = tmp_path / "metrics.json"
    target.write_text('{"fid": 0}\n')
    script = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from pipeline.saved import atomic_file\n"
        "with atomic_file(Path(sys.argv[1])) as tmp:\n"
        "    tmp.write_text('{\"fi')\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(target)], cwd=REPO)
    assert done.returncode == -signal.SIGKILL
    assert target.read_text() == '{"fid": 0}\n'
    left = sorted(p.name for p in tmp_path.iterdir() if p != target)
    assert len(left) == 1 and left[0].startswith(".metrics.json.") and left[0].endswith(".part")
