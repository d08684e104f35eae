"""pix2pix through the commands: edges, train, evaluate, sample and translate."""

import json

import keras
import numpy as np
import pytest
import yaml
from mlflow.tracking import MlflowClient
from PIL import Image

from pipeline.cli import main
from tests.helpers import one_line_error, set_params, write_labelled_folder

TINY_PIX2PIX = {"filters": 4, "d_filters": 4, "batch_size": 8, "patch": 16}


def _set_model(repo, model, **values):
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["models"][model].update(values)
    (repo / "params.yaml").write_text(yaml.safe_dump(params))


@pytest.fixture
def pairs_repo(tiny_repo):
    """tiny_repo (40 images, 28x28) with a tiny pix2pix and its pairs made."""
    _set_model(tiny_repo, "pix2pix", **TINY_PIX2PIX)
    assert main(["--no-progress", "edges"]) == 0
    return tiny_repo


def _drawing(height=60, width=100) -> np.ndarray:
    """A hand-made edge drawing: a black outline of a shirt-like shape on white."""
    picture = np.full((height, width), 255, np.uint8)
    picture[10:50, 30:33] = 0
    picture[10:50, 67:70] = 0
    picture[10:13, 30:70] = 0
    picture[47:50, 30:70] = 0
    return picture


def test_edges_stage_writes_deterministic_pairs_preview_and_stats(pairs_repo):
    from pipeline.data.edges import load_pairs

    edges = pairs_repo / "data" / "edges"
    pairs = load_pairs(edges / "pairs.npz")
    assert pairs.train.shape[1:] == (32, 32, 2) and pairs.pad == 2
    assert len(pairs.train) + len(pairs.test) == 40
    assert set(np.unique(pairs.train[..., 0])) <= {0, 255}
    assert Image.open(edges / "preview.png").size[0] > 0
    stats = json.loads((edges / "stats.json").read_text())
    assert 0.0 < stats["edge_density"] < 1.0
    first = (edges / "pairs.npz").read_bytes()
    assert main(["--no-progress", "edges"]) == 0
    assert (edges / "pairs.npz").read_bytes() == first  # same data, same bytes: DVC sees no change


def test_pix2pix_trains_then_translates_a_hand_made_drawing(pairs_repo, mlflow_store, capsys):
    assert main(["--no-progress", "train", "--model", "pix2pix"]) == 0
    out = pairs_repo / "models" / "pix2pix"
    generator = keras.saving.load_model(out / "generator.keras")
    assert generator.input_shape == (None, 32, 32, 1)
    assert generator.output_shape == (None, 32, 32, 1)
    header = (out / "history.csv").read_text().splitlines()[0].split(",")
    assert {"d_loss", "g_loss", "g_gan", "g_l1"} <= set(header)
    # samples.png: sample_grid 2 -> 2 triptychs (edges | generated | real) in one column
    width, height = Image.open(out / "samples.png").size
    assert width / height == pytest.approx((3 * 32 + 4) / (2 * 34 + 2), rel=0.02)
    run_id = json.loads((out / "run.json").read_text())["mlflow_run_id"]
    run = MlflowClient(mlflow_store).get_run(run_id)
    assert run.data.params["models.pix2pix.loss"] == "l1+cgan"
    assert "g_l1" in run.data.metrics

    drawing = pairs_repo / "drawing.png"
    Image.fromarray(_drawing()).save(drawing)
    result = pairs_repo / "result.png"
    assert main(["translate", "--input", str(drawing), "--out", str(result)]) == 0
    assert Image.open(result).size == (100, 60)  # the input's size
    # white lines on black are the same drawing
    inverse = pairs_repo / "inverse.png"
    Image.fromarray(255 - _drawing()).save(inverse)
    again = pairs_repo / "again.png"
    assert main(["translate", "--input", str(inverse), "--out", str(again)]) == 0
    np.testing.assert_array_equal(np.asarray(Image.open(result)), np.asarray(Image.open(again)))

    grid = pairs_repo / "grid.png"
    assert main(["sample", "--model", "pix2pix", "-n", "3", "--out", str(grid)]) == 0
    assert grid.is_file()


def test_translate_rejects_an_unreadable_file(pairs_repo, capsys):
    bad = pairs_repo / "notes.png"
    bad.write_text("not an image")
    assert main(["translate", "--input", str(bad), "--out", "x.png"]) == 3
    assert "notes.png" in one_line_error(capsys)
    assert not (pairs_repo / "x.png").exists()


def test_translate_needs_a_translation_model_and_a_trained_one(pairs_repo, capsys):
    drawing = pairs_repo / "drawing.png"
    Image.fromarray(_drawing()).save(drawing)
    assert main(["translate", "--model", "dcgan", "--input", str(drawing), "--out", "x.png"]) == 2
    assert "use `python -m pipeline sample --model dcgan`" in one_line_error(capsys)
    assert main(["translate", "--input", str(drawing), "--out", "x.png"]) == 3
    assert "dvc repro train@pix2pix" in one_line_error(capsys)
    assert not (pairs_repo / "x.png").exists()


def test_train_before_edges_names_the_stage(tiny_repo, capsys):
    _set_model(tiny_repo, "pix2pix", **TINY_PIX2PIX)
    assert main(["--no-progress", "train", "--model", "pix2pix"]) == 3
    assert "dvc repro edges" in one_line_error(capsys)


@pytest.fixture
def labelled_pairs_repo(tiny_repo):
    """A labelled folder big enough for FID on the test pairs (140 > 128 features)."""
    write_labelled_folder(tiny_repo / "labelled", count=700)
    set_params(tiny_repo, "data", dataset=f"folder:{tiny_repo / 'labelled'}")
    _set_model(tiny_repo, "pix2pix", **TINY_PIX2PIX)
    for command in ("fetch", "edges", "evaluator", "reference"):
        assert main(["--no-progress", command]) == 0
    return tiny_repo


def test_evaluate_scores_pix2pix_on_the_test_pairs(labelled_pairs_repo, mlflow_store):
    repo = labelled_pairs_repo
    set_params(repo, "train", fid_every=1, fid_samples=200)
    assert main(["--no-progress", "train", "--model", "pix2pix"]) == 0
    fid_header = (repo / "models/pix2pix/fid.csv").read_text().splitlines()[0]
    assert fid_header == "epoch,step,fid140"  # capped at the 140 test pairs, and says so
    assert main(["--no-progress", "evaluate", "--model", "pix2pix"]) == 0
    scores = json.loads((repo / "models/pix2pix/metrics.json").read_text())
    assert {"l1", "psnr", "ssim", "fid", "kid", "precision", "recall"} <= set(scores)
    assert all(np.isfinite(v) for v in scores.values())
    assert 0.0 <= scores["l1"] <= 2.0 and -1.0 <= scores["ssim"] <= 1.0
    run_id = json.loads((repo / "models/pix2pix/run.json").read_text())["mlflow_run_id"]
    logged = MlflowClient(mlflow_store).get_run(run_id).data.metrics
    assert logged["psnr"] == pytest.approx(scores["psnr"])


def test_a_64px_rgb_folder_trains_without_padding(tiny_repo, capsys):
    """folder: datasets at 64 px (a power of two) need no padding; RGB gives 1 + 3 channels."""
    folder = tiny_repo / "rgb"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(20):
        pixels = rng.integers(0, 60, (64, 64, 3), dtype=np.uint8)
        pixels[16:48, 16:48] = rng.integers(150, 255, 3, dtype=np.uint8)  # a coloured square
        Image.fromarray(pixels, mode="RGB").save(folder / f"img_{i:02d}.png")
    set_params(tiny_repo, "data", dataset=f"folder:{folder}", image_size=64)
    set_params(tiny_repo, "edges", pad_to=None)
    _set_model(tiny_repo, "pix2pix", **TINY_PIX2PIX)
    for command in ("fetch", "edges"):
        assert main(["--no-progress", command]) == 0
    assert main(["--no-progress", "train", "--model", "pix2pix"]) == 0
    generator = keras.saving.load_model(tiny_repo / "models/pix2pix/generator.keras")
    assert generator.input_shape == (None, 64, 64, 1)
    assert generator.output_shape == (None, 64, 64, 3)
    drawing = tiny_repo / "drawing.png"
    Image.fromarray(_drawing(90, 90)).save(drawing)
    assert main(["translate", "--input", str(drawing), "--out", "out.png"]) == 0
    assert Image.open(tiny_repo / "out.png").mode == "RGB"
    assert Image.open(tiny_repo / "out.png").size == (90, 90)


def test_a_side_the_unet_cannot_halve_is_a_clear_error(tiny_repo, capsys):
    set_params(tiny_repo, "edges", pad_to=None)  # 28 px: not a power of two
    assert main(["--no-progress", "edges"]) == 2
    assert "set edges.pad_to (e.g. 32)" in one_line_error(capsys)
    assert not (tiny_repo / "data" / "edges" / "pairs.npz").exists()
