"""The evaluator, the reference statistics and the evaluate stage, on tiny data."""

import json

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from pipeline.cli import main
from pipeline.errors import DataError
from pipeline.scoring.evaluator import Embedder, build_evaluator, rotated
from pipeline.scoring.probe import FidProbe, fid_key
from pipeline.scoring.reference import Reference
from tests.helpers import one_line_error, set_params, write_image_folder, write_labelled_folder


@pytest.fixture
def embedder():
    return Embedder(build_evaluator((28, 28, 1), num_classes=3), batch_size=7)


def test_embedding_shapes_and_input_ranges_agree(embedder):
    """uint8 data and the same images in [-1, 1] (the generators' range) embed alike."""
    images = np.random.default_rng(0).integers(0, 256, (20, 28, 28, 1), dtype=np.uint8)
    as_uint8 = embedder(images)
    as_unit = embedder(images.astype(np.float32) / 127.5 - 1.0)
    assert as_uint8.features.shape == (20, 128) and as_uint8.probabilities.shape == (20, 3)
    np.testing.assert_allclose(as_uint8.probabilities.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(as_uint8.features, as_unit.features, rtol=1e-5, atol=1e-5)


def test_embedder_rejects_images_of_another_shape(embedder):
    with pytest.raises(DataError, match=r"shape \(28, 28, 1\), got \(32, 32, 3\)"):
        embedder(np.zeros((2, 32, 32, 3), np.float32))


def test_reference_round_trip_and_clear_errors(tmp_path, embedder):
    images = np.random.default_rng(1).integers(0, 256, (300, 28, 28, 1), dtype=np.uint8)
    reference = Reference.of(embedder(images))
    reference.save(tmp_path / "stats.npz")
    loaded = Reference.load(tmp_path / "stats.npz")
    np.testing.assert_array_equal(loaded.sigma, reference.sigma)
    assert loaded.mu.dtype == np.float64

    with pytest.raises(DataError, match="dvc repro reference"):
        Reference.load(tmp_path / "missing.npz")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match=r"delete it and re-run .*dvc repro reference"):
        Reference.load(tmp_path / "bad.npz")


def _generator(make_images):
    import keras

    z = keras.Input((4,))
    return keras.Model(z, keras.layers.Lambda(make_images)(z))


def test_fid_probe_ranks_a_collapsed_generator_below_a_faithful_one(embedder):
    import keras

    real = np.random.default_rng(2).uniform(-1, 1, (400, 28, 28, 1)).astype(np.float32)
    reference = Reference.of(embedder(real))
    ones = keras.ops.ones((1, 28, 28, 1))
    faithful = _generator(  # the real distribution: uniform noise
        lambda z: keras.random.uniform((keras.ops.shape(z)[0], 28, 28, 1), -1.0, 1.0, seed=1)
    )
    collapsed = _generator(lambda z: (0.0 * z[:, :1, None, None] + 0.9) * ones)  # one image
    probe = FidProbe(embedder, reference, count=200)
    assert probe.key == "fid200" and fid_key(2000) == "fid2k"
    assert 0.0 <= probe(faithful) < probe(collapsed) / 10


@pytest.fixture
def labelled_repo(tiny_repo):
    """tiny_repo with a labelled two-class folder dataset fetched instead."""
    write_labelled_folder(tiny_repo / "labelled")
    set_params(tiny_repo, "data", dataset=f"folder:{tiny_repo / 'labelled'}")
    assert main(["--no-progress", "fetch"]) == 0
    return tiny_repo


def test_evaluator_reference_train_with_fid_then_evaluate(labelled_repo, mlflow_store, capsys):
    repo = labelled_repo
    assert main(["--no-progress", "evaluator"]) == 0
    report = json.loads((repo / "models/evaluator/metrics.json").read_text())
    assert 0.0 <= report["accuracy"] <= 1.0
    assert (repo / "models/evaluator/model.keras").is_file()

    assert main(["--no-progress", "reference"]) == 0
    floor = json.loads((repo / "models/reference/metrics.json").read_text())
    assert {"fid", "kid", "kid_std", "classifier_score", "precision", "recall"} <= set(floor)
    assert all(np.isfinite(v) for v in floor.values())

    set_params(repo, "train", fid_every=1, fid_samples=200)
    assert main(["--no-progress", "train", "--model", "gan"]) == 0
    out = repo / "models/gan"
    fid_rows = (out / "fid.csv").read_text().splitlines()
    assert fid_rows[0] == "epoch,step,fid200" and len(fid_rows) == 1 + 2  # two epochs
    summary = json.loads((out / "train.json").read_text())
    assert "fid200" in summary and summary["seconds_by_part"]["fid_probe"] > 0
    run_id = json.loads((out / "run.json").read_text())["mlflow_run_id"]

    assert main(["--no-progress", "evaluate", "--model", "gan"]) == 0
    scores = json.loads((out / "metrics.json").read_text())
    expected = {"fid", "kid", "kid_std", "classifier_score", "precision", "recall"}
    assert expected <= set(scores) and all(np.isfinite(v) for v in scores.values())
    assert 1.0 <= scores["classifier_score"] <= 2.0 + 1e-6  # two classes
    run = MlflowClient(mlflow_store).get_run(run_id)  # the scores join the training run
    assert run.info.status == "FINISHED"
    assert run.data.metrics["fid"] == pytest.approx(scores["fid"])
    assert "fid200" in run.data.metrics and run.data.params["evaluate.n_samples"] == "200"


def test_missing_evaluator_is_a_one_line_error_naming_the_stage(tiny_repo, capsys):
    assert main(["--no-progress", "reference"]) == 3
    assert "dvc repro evaluator" in capsys.readouterr().err
    set_params(tiny_repo, "train", fid_every=1)
    assert main(["--no-progress", "train", "--model", "gan"]) == 3
    assert "dvc repro evaluator" in capsys.readouterr().err


def test_rotation_task_labels_the_turn_of_each_image():
    images = np.random.default_rng(0).integers(0, 256, (50, 6, 6, 1), dtype=np.uint8)
    turned, turns = rotated(images, seed=3)
    assert set(turns) == {0, 1, 2, 3}
    for image, back, k in zip(images, turned, turns, strict=True):
        np.testing.assert_array_equal(np.rot90(back, -k, axes=(0, 1)), image)
    np.testing.assert_array_equal(rotated(images, seed=3)[1], turns)  # seeded


def test_unlabelled_folder_gets_a_rotation_evaluator_and_no_classifier_score(tiny_repo):
    """A user's own unlabelled images still run the whole pipeline: the evaluator learns
    rotations instead of classes, and there is no classifier score to report."""
    write_image_folder(tiny_repo / "unlabelled", count=200)
    set_params(tiny_repo, "data", dataset=f"folder:{tiny_repo / 'unlabelled'}")
    assert main(["--no-progress", "fetch"]) == 0
    assert main(["--no-progress", "evaluator"]) == 0
    report = json.loads((tiny_repo / "models/evaluator/metrics.json").read_text())
    assert set(report) == {"rotation_accuracy", "loss"}
    assert main(["--no-progress", "reference"]) == 0
    floor = json.loads((tiny_repo / "models/reference/metrics.json").read_text())
    assert "classifier_score" not in floor and np.isfinite(floor["fid"])
    assert main(["--no-progress", "train", "--model", "gan"]) == 0
    assert main(["--no-progress", "evaluate", "--model", "gan"]) == 0
    scores = json.loads((tiny_repo / "models/gan/metrics.json").read_text())
    # the rotation evaluator's features still measure path lengths; no classes to score
    assert set(scores) == {"fid", "kid", "kid_std", "precision", "recall", "ppl"}


def test_too_few_training_images_for_the_floor_is_a_clear_error(tiny_repo, capsys):
    assert main(["--no-progress", "evaluator"]) == 0  # 36 unlabelled images: rotation task
    capsys.readouterr()
    assert main(["--no-progress", "reference"]) == 3
    assert "has 36 training images; scoring needs more than" in one_line_error(capsys)
    assert not (tiny_repo / "models/reference/stats.npz").exists()  # nothing half-written
