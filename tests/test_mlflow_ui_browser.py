"""The MLflow UI as a user's browser renders it: `mlflow ui` (the README's command) over a
store with two runs logged by the pipeline's tracker, opened in headless Chromium, and the
DOM checked after the JavaScript app ran (the raw HTML is an empty shell).

- the run-comparison page shows both runs' names, their params and a logged metric;
- the experiment page, opened in the "Model training" view, is the run table with both
  runs and their training data in the Dataset column.

MLflow 3.17's UI opens an experiment on the view of its sidebar switch "GenAI | Model
training", which a browser remembers and which a URL sets with `?workflowType=`; a fresh
browser (as here) starts in GenAI and shows its Overview. README, MLflow, says so.
"""

import json
import re
from urllib.parse import quote

import numpy as np
import pytest

from pipeline.browser import dump_dom, find_chromium
from tests.helpers import mlflow_server

# Two runs as train logs them: params under their params.yaml keys, per-step metrics, the
# training data as an input. The last d_loss of each is what the comparison shows.
RUNS = {
    "gan": {"train.lr": 0.0002, "d_loss": 0.625},
    "dcgan": {"train.lr": 0.0003, "d_loss": 0.375},
}


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    """(URL of `mlflow ui`, experiment id, {run name: run id}, the dataset input's label)."""
    import mlflow

    from pipeline.data.described import describe_data_file
    from pipeline.data.files import write_npz
    from pipeline.tracking.runs import MlflowTracker

    if find_chromium() is None:
        pytest.skip(
            "chromium not installed: apt-get install chromium (make test installs it as root)"
        )
    root = tmp_path_factory.mktemp("mlflow_ui")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    data_file = root / "dataset.npz"
    images = {
        split: np.zeros((n, 28, 28, 1), np.uint8) for split, n in (("train", 12), ("test", 3))
    }
    write_npz(data_file, {"x_train": images["train"], "x_test": images["test"]})
    data = describe_data_file("fashion_mnist", data_file)
    run_ids = {}
    for name, logged in RUNS.items():
        tracker = MlflowTracker("fashion_mnist", run_name=name, tags={"model": name}, uri=uri)
        tracker.log_params({"train.lr": logged["train.lr"], "train.batch_size": 8})
        tracker.log_input(data)
        for step in (1, 2, 3):
            tracker.log_metrics({"d_loss": logged["d_loss"] + 0.1 * (3 - step)}, step)
        tracker.finish()
        run_ids[name] = tracker.run_id
    mlflow.set_tracking_uri(None)  # the tracker pointed MLflow (and its env var) here
    with mlflow_server(uri, root, command="ui") as url:
        yield url, tracker.experiment_id, run_ids, f"fashion_mnist ({data.digest})"


def _texts(url: str, *expected: str) -> list[str]:
    """The text nodes of `url` as rendered; a second, longer look when the first one did not
    hold every `expected` text yet (a loaded machine renders slower)."""
    for wait_ms in (10_000, 30_000):
        html = dump_dom(url, wait_ms=wait_ms)
        body = re.sub(r"<(script|style|svg)\b.*?</\1>", "", html, flags=re.S)
        texts = [t.strip() for t in re.findall(r">([^<]+)<", body) if t.strip()]
        if set(expected) <= set(texts):
            break
    return texts


def test_the_comparison_page_shows_both_runs_their_params_and_a_metric(ui):
    url, experiment_id, run_ids, _ = ui
    runs, experiments = (
        quote(json.dumps(list(run_ids.values()))),
        quote(json.dumps([experiment_id])),
    )
    page = f"{url}/#/compare-runs?runs={runs}&experiments={experiments}"
    texts = _texts(page, *RUNS, "d_loss")

    assert "Comparing 2 Runs from 1 Experiment" in texts
    assert set(RUNS) <= set(texts) and set(run_ids.values()) <= set(texts)  # names and ids
    assert "train.lr" in texts and {"0.0002", "0.0003"} <= set(texts)
    assert "d_loss" in texts
    # the metric grid renders the first run's column at this window size: its last d_loss
    # (0.625: the UI rounds longer values)
    assert str(RUNS["gan"]["d_loss"]) in texts


def test_the_experiment_opens_on_the_run_table_with_the_dataset_column(ui):
    url, experiment_id, _, dataset = ui
    page = f"{url}/#/experiments/{experiment_id}?workflowType=machine_learning"
    texts = _texts(page, *RUNS, dataset)

    assert {"Run Name", "Dataset"} <= set(texts)  # the run table, not the GenAI overview
    assert set(RUNS) <= set(texts)
    assert texts.count(dataset) == len(RUNS)  # each run's training data: name (digest)
    assert "Overview" not in texts
