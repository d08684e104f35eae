"""The command line: outputs of train and sample, and one-line errors for bad input."""

import json

import keras
import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from PIL import Image

from pipeline.cli import main
from tests.helpers import TRAIN_OUTPUTS, one_line_error, set_params


def _runs(mlflow_store, name):
    client = MlflowClient(mlflow_store)
    experiments = client.search_experiments()
    runs = client.search_runs([e.experiment_id for e in experiments], order_by=["start_time DESC"])
    return client, [r for r in runs if r.info.run_name == name]


def test_train_writes_outputs_and_one_mlflow_run(tiny_repo, mlflow_store, capsys):
    set_params(tiny_repo, "train", lr=3e-4)
    assert main(["--no-progress", "train", "--model", "dcgan"]) == 0
    out = tiny_repo / "models" / "dcgan"
    assert {p.name for p in out.iterdir()} == set(TRAIN_OUTPUTS)  # no checkpoints left
    generator = keras.saving.load_model(out / "generator.keras")
    assert generator(np.zeros((2, 100), np.float32)).shape == (2, 28, 28, 1)
    discriminator = keras.saving.load_model(out / "discriminator.keras")
    assert discriminator(np.zeros((2, 28, 28, 1), np.float32)).shape == (2, 1)
    summary = json.loads((out / "train.json").read_text())
    assert summary["steps"] == 6 and np.isfinite(summary["d_loss"])
    parts = summary["seconds_by_part"]  # where the stage's time went (no FID probe: off)
    assert {"setup", "trace", "step", "input", "checkpoint", "outputs", "total"} <= set(parts)
    assert "fid_probe" not in parts and min(parts.values()) >= 0
    total = parts.pop("total")
    assert sum(parts.values()) == pytest.approx(total, abs=0.01 * len(parts))
    # an 2x2 grid of 28px tiles with 2px padding, scaled up for viewing
    assert Image.open(out / "samples.png").size[0] % 62 == 0

    client, runs = _runs(mlflow_store, "dcgan")
    run = runs[0]
    assert run.info.status == "FINISHED"
    assert run.data.params["train.lr"] == "0.0003"
    assert run.data.params["models.dcgan.generator"] == "upsample"
    assert run.data.params["train.precision_used"] == "float32"  # what train.precision chose
    assert run.data.tags["model"] == "dcgan"
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "d_loss")]
    assert steps == sorted(steps) and len(steps) >= 6
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"samples.png", "loss_curves.png", "history.csv", "samples"} <= artifacts
    assert client.search_logged_models(
        [run.info.experiment_id], filter_string=f"source_run_id='{run.info.run_id}'"
    )


def test_sample_command_draws_n_images(tiny_repo, capsys):
    assert main(["--no-progress", "train", "--model", "gan"]) == 0
    target = tiny_repo / "grid.png"
    assert (
        main(
            [
                "sample",
                "--model",
                "gan",
                "-n",
                "6",
                "--seed",
                "0",
                "--columns",
                "3",
                "--out",
                str(target),
            ]
        )
        == 0
    )
    first = np.asarray(Image.open(target))
    # 3 columns x 2 rows of 28px tiles, 2px padding, scaled to ~512px
    scale = first.shape[1] // (3 * 30 + 2)
    assert first.shape[:2] == ((2 * 30 + 2) * scale, (3 * 30 + 2) * scale)
    assert (
        main(
            [
                "sample",
                "--model",
                "gan",
                "-n",
                "6",
                "--seed",
                "0",
                "--columns",
                "3",
                "--out",
                str(target),
            ]
        )
        == 0
    )
    np.testing.assert_array_equal(first, np.asarray(Image.open(target)))  # same seed, same picture

    # truncation 0 draws every sample at the mean latent: six equal tiles
    assert main(["sample", "--model", "gan", "-n", "6", "--columns", "3", "--truncation", "0",
                 "--out", str(target)]) == 0  # fmt: skip
    tiles = np.asarray(Image.open(target))[::scale, ::scale]  # back to 1 px per pixel
    tile = [
        tiles[2 + r * 30 : 30 + r * 30, 2 + c * 30 : 30 + c * 30] for r in (0, 1) for c in (0, 1, 2)
    ]
    assert all(np.array_equal(tile[0], other) for other in tile[1:])
    assert not np.array_equal(tile[0], first[::scale, ::scale][2:30, 2:30])


def test_unknown_model_is_one_line_listing_valid_models(tiny_repo, capsys):
    assert main(["train", "--model", "biggan"]) == 2
    assert (
        "unknown model 'biggan'; valid models: catgan, cgan, dcgan, gan, pix2pix, progan, sgan, "
        "srgan, stackgan, stylegan" in one_line_error(capsys)
    )


def test_wrong_param_type_names_the_key(tiny_repo, capsys):
    set_params(tiny_repo, "train", lr="fast")
    assert main(["train", "--model", "gan"]) == 2
    assert "train.lr must be a number, got 'fast'" in one_line_error(capsys)


def test_missing_data_names_the_stage_to_run(tiny_repo, capsys):
    (tiny_repo / "data" / "raw" / "dataset.npz").unlink()
    assert main(["train", "--model", "gan"]) == 3
    assert "dvc repro fetch" in one_line_error(capsys)
    assert not (tiny_repo / "models" / "gan").exists()


def test_sample_before_training_names_the_stage_to_run(tiny_repo, capsys):
    assert main(["sample", "--model", "dcgan", "--out", "x.png"]) == 3
    assert "dvc repro train@dcgan" in one_line_error(capsys)
    assert not (tiny_repo / "x.png").exists()


def test_divergence_stops_with_a_clear_error_and_keeps_the_last_good_checkpoint(
    tiny_repo, mlflow_store, capsys
):
    # An absurd learning rate: step 1 is finite, then the weights overflow.
    set_params(tiny_repo, "train", lr=1e30, checkpoint_every=1)
    assert main(["--no-progress", "train", "--model", "gan"]) == 4
    line = one_line_error(capsys)
    assert "became nan" in line or "became inf" in line
    assert "last good checkpoint (step 1)" in line
    checkpoints = tiny_repo / "models" / "gan" / "checkpoints"
    assert [p.name for p in checkpoints.iterdir()] == ["ckpt-000000001"]
    assert not (tiny_repo / "models" / "gan" / "generator.keras").exists()
    _, runs = _runs(mlflow_store, "gan")
    assert runs[0].info.status == "FAILED"


def test_debug_shows_the_traceback(tiny_repo):
    with pytest.raises(Exception, match="unknown model"):
        main(["--debug", "train", "--model", "biggan"])


def test_a_python_without_the_projects_packages_gets_one_line_naming_the_fix(tmp_path):
    """dvc's stages call `python`: run outside the venv it is the system's, which lacks
    the packages. PIL stands in for any of them (hidden from this interpreter)."""
    import subprocess
    import sys

    from tests.helpers import REPO

    hide_pil = (
        "import runpy, sys; sys.modules['PIL'] = None; sys.argv = ['pipeline', 'fetch'];"
        " runpy.run_module('pipeline', run_name='__main__', alter_sys=True)"
    )
    done = subprocess.run(
        [sys.executable, "-c", hide_pil],
        cwd=tmp_path,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    err = done.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: PIL not installed for"), err
    assert "source .venv/bin/activate" in err[0]
    assert not any(tmp_path.iterdir())  # it stopped before the stage wrote anything
