"""The label-aware GANs through the commands: train, evaluate and sample, on a labelled
two-class folder (circles and squares), with MLflow."""

import json
from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from PIL import Image

from pipeline.cli import main
from tests.helpers import one_line_error


def _train_and_evaluate(repo, model) -> tuple[dict, dict]:
    assert main(["--no-progress", "train", "--model", model]) == 0
    assert main(["--no-progress", "evaluate", "--model", model]) == 0
    out = repo / "models" / model
    assert (out / "discriminator.keras").is_file()
    return (
        json.loads((out / "train.json").read_text()),
        json.loads((out / "metrics.json").read_text()),
    )


def test_cgan_scores_conditional_accuracy_and_samples_a_class(scored_repo, capsys):
    repo = scored_repo
    _, scores = _train_and_evaluate(repo, "cgan")
    expected = {"fid", "conditional_accuracy", "class_accuracy/circle", "class_accuracy/square"}
    assert expected <= set(scores) and 0.0 <= scores["conditional_accuracy"] <= 1.0
    # samples.png: one row per class (2), train.sample_grid (2) columns, 2 px padding
    rows, columns = np.asarray(Image.open(repo / "models/cgan/samples.png")).shape[:2]
    assert (rows, columns) == ((2 * 30 + 2) * 8, (2 * 30 + 2) * 8)  # 62 px, shown 8x

    out = repo / "square.png"
    assert (
        main(["sample", "--model", "cgan", "--label", "square", "-n", "3", "--out", str(out)]) == 0
    )
    assert np.asarray(Image.open(out)).shape[:2] == (62 * 8, 62 * 8)  # 3 in a 2x2 grid
    capsys.readouterr()
    assert main(["sample", "--model", "cgan", "--label", "cat", "--out", str(out)]) == 2
    assert "valid: 0=circle, 1=square" in one_line_error(capsys)
    assert main(["sample", "--model", "dcgan", "--label", "1", "--out", str(out)]) == 2
    assert "--label needs a conditional model (cgan)" in one_line_error(capsys)


def test_sgan_reports_its_accuracy_beside_the_baseline_and_logs_its_labels(
    scored_repo, mlflow_store
):
    repo = scored_repo
    train, scores = _train_and_evaluate(repo, "sgan")
    assert 0.0 <= train["baseline_accuracy"] <= 1.0
    assert {"accuracy", "clustering_accuracy", "baseline_accuracy", "fid"} <= set(scores)
    assert scores["baseline_accuracy"] == train["baseline_accuracy"]
    assert scores["clustering_accuracy"] >= scores["accuracy"]  # identity is one matching

    run_id = json.loads((repo / "models/sgan/run.json").read_text())["mlflow_run_id"]
    client = MlflowClient(mlflow_store)
    run = client.get_run(run_id)
    assert run.data.params["labels.labelled"] == "4"  # 2 per class, 2 classes
    assert run.data.metrics["baseline_accuracy"] == pytest.approx(train["baseline_accuracy"])
    assert run.data.metrics["accuracy"] == pytest.approx(scores["accuracy"])
    local = client.download_artifacts(run_id, "labelled_subset.json", str(repo))
    subset = json.loads(Path(local).read_text())
    assert subset["seed"] == 0 and len(subset["indices"]) == 4
    assert sorted(subset["labels"]) == [0, 0, 1, 1]


def test_catgan_unsupervised_reports_clustering_accuracy_only(scored_repo):
    _, scores = _train_and_evaluate(scored_repo, "catgan")
    assert 0.5 <= scores["clustering_accuracy"] <= 1.0  # two clusters: never below chance
    assert "accuracy" not in scores and "baseline_accuracy" not in scores


def test_label_gans_need_labels(tiny_repo, capsys):
    # tiny_repo's folder has no class sub-folders
    assert main(["--no-progress", "train", "--model", "sgan"]) == 3
    assert "sgan needs class labels" in one_line_error(capsys)
