"""The model registry: evaluated generators become versions of `<dataset>-<model>`, the
alias `champion` moves only to a strictly lower FID, and `sample --model-uri` draws from a
registered version."""

import json

import keras
import numpy as np
import pytest
from PIL import Image

from pipeline.cli import main
from pipeline.tracking.registry import (
    CHAMPION,
    parse_model_uri,
    promote_if_better,
    register_scored_run,
    registered_name,
    registry_client,
)
from pipeline.tracking.runs import MlflowTracker
from tests.helpers import one_line_error

DATASET = "fashion_mnist"


@pytest.fixture
def store(own_store) -> str:
    return own_store


def _run_with_generator(uri: str) -> str:
    """A finished MLflow run that logged a small generator, as train does: its run id."""
    generator = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(28 * 28), keras.layers.Reshape((28, 28, 1))]
    )
    tracker = MlflowTracker(experiment=DATASET, run_name="gan", tags={"model": "gan"}, uri=uri)
    tracker.log_generator(generator)
    tracker.finish()
    return tracker.run_id


def _register(client, uri: str, fid: float, samples: int = 200):
    run_id = _run_with_generator(uri)
    return register_scored_run(client, DATASET, "gan", run_id, {"fid": fid}, samples, "e1")


def test_registered_name_is_the_experiment_then_the_model():
    assert registered_name("fashion_mnist", "dcgan") == "fashion_mnist-dcgan"
    assert registered_name("folder:/data/my shoes", "gan") == "folder-my shoes-gan"


def test_first_version_is_champion_and_only_a_strictly_lower_fid_promotes(store):
    client = registry_client(store)
    name = registered_name(DATASET, "gan")
    first = _register(client, store, 20.0)
    decision = promote_if_better(client, name, first.version)
    assert decision.promoted and "first champion" in str(decision)

    better = _register(client, store, 15.0)
    decision = promote_if_better(client, name, better.version)
    assert decision.promoted
    assert str(decision) == f"{name}: v2 FID 15 beats champion v1 (20); champion -> v2"
    assert str(client.get_model_version_by_alias(name, CHAMPION).version) == "2"

    worse = _register(client, store, 18.0)
    decision = promote_if_better(client, name, worse.version)
    assert not decision.promoted
    assert str(decision) == f"{name}: kept champion v2 (FID 15 <= 18 of v3)"

    equal = _register(client, store, 15.0)
    assert not promote_if_better(client, name, equal.version).promoted
    assert str(client.get_model_version_by_alias(name, CHAMPION).version) == "2"

    # judging the champion again changes nothing; every version is kept
    assert "already champion" in str(promote_if_better(client, name, better.version))
    versions = client.search_model_versions(f"name = '{name}'")
    assert sorted(int(v.version) for v in versions) == [1, 2, 3, 4]
    assert {v.tags["fid"] for v in versions} == {"20.0", "15.0", "18.0"}


def test_fids_at_different_sample_counts_are_not_compared(store):
    client = registry_client(store)
    name = registered_name(DATASET, "gan")
    promote_if_better(client, name, _register(client, store, 20.0, samples=10000).version)
    decision = promote_if_better(client, name, _register(client, store, 5.0, samples=200).version)
    assert not decision.promoted and "not comparable (samples 200 vs 10000)" in str(decision)
    assert str(client.get_model_version_by_alias(name, CHAMPION).version) == "1"


def test_a_version_without_fid_is_not_registered(store):
    client = registry_client(store)
    run_id = _run_with_generator(store)
    assert register_scored_run(client, DATASET, "gan", run_id, {"kid": 0.1}, 200, "e") is None
    assert (
        register_scored_run(client, DATASET, "gan", run_id, {"fid": float("nan")}, 200, "e") is None
    )


@pytest.mark.parametrize(
    "uri, parsed",
    [
        ("models:/fashion_mnist-dcgan@champion", ("fashion_mnist-dcgan", "champion", None)),
        ("models:/folder-a.b-gan/12", ("folder-a.b-gan", None, "12")),
    ],
)
def test_model_uris_parse(uri, parsed):
    assert parse_model_uri(uri) == parsed


@pytest.mark.slow
def test_evaluate_registers_once_and_sample_draws_from_the_champion(scored_repo, store, capsys):
    repo = scored_repo
    assert main(["--no-progress", "train", "--model", "gan"]) == 0
    run_id = json.loads((repo / "models/gan/run.json").read_text())["mlflow_run_id"]
    for _ in range(2):  # evaluating the same run again must not add a version
        assert main(["--no-progress", "evaluate", "--model", "gan"]) == 0
    assert "registered as folder-labelled-gan v1" in capsys.readouterr().out

    client = registry_client(store)
    name = "folder-labelled-gan"
    versions = client.search_model_versions(f"name = '{name}'")
    assert [(int(v.version), v.run_id) for v in versions] == [(1, run_id)]
    scores = json.loads((repo / "models/gan/metrics.json").read_text())
    tags = versions[0].tags
    assert float(tags["fid"]) == scores["fid"] and tags["model"] == "gan"
    assert tags["fid_samples"] == "200" and len(tags["evaluator"]) == 12
    assert versions[0].source.startswith("models:/m-")  # the LoggedModel, downloadable

    capsys.readouterr()
    champion = f"models:/{name}@{CHAMPION}"
    assert main(["sample", "--model-uri", champion, "--out", "x.png"]) == 2
    assert f"no version of {name} has the alias champion; run `python -m pipeline retrain`" in (
        one_line_error(capsys)
    )
    assert not (repo / "x.png").exists()

    promote_if_better(client, name, "1")
    grid = ["-n", "6", "--seed", "3", "--columns", "3", "--out"]
    assert main(["sample", "--model-uri", champion, *grid, str(repo / "registered.png")]) == 0
    assert main(["sample", "--model", "gan", *grid, str(repo / "local.png")]) == 0
    registered = np.asarray(Image.open(repo / "registered.png"))
    # the registered generator is the trained one: the same latents draw the same picture
    np.testing.assert_array_equal(registered, np.asarray(Image.open(repo / "local.png")))

    capsys.readouterr()
    assert main(["sample", "--model", "dcgan", "--model-uri", champion, "--out", "y.png"]) == 2
    assert "disagrees with" in one_line_error(capsys)
    assert main(["sample", "--model-uri", "models:/nothing@champion", "--out", "y.png"]) == 2
    assert "no registered model nothing (registered: folder-labelled-gan)" in (
        one_line_error(capsys)
    )


def test_sample_needs_a_model_or_a_model_uri(tiny_repo, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["sample", "--out", "x.png"])
    assert stopped.value.code == 2
    assert "--model NAME or --model-uri" in capsys.readouterr().err
    assert main(["sample", "--model-uri", "runs:/abc/generator", "--out", "x.png"]) == 2
    assert "must be models:/NAME@ALIAS or models:/NAME/VERSION" in one_line_error(capsys)


@pytest.mark.slow
def test_a_champion_measured_otherwise_is_measured_again_before_judging(scored_repo, store):
    from pipeline.config import load_params, parse_evaluate
    from pipeline.gans.inputs import task_for
    from pipeline.scoring.reference import Reference
    from pipeline.scoring.score import score_generator
    from pipeline.tracking.registry import registered_run, remeasure_champion
    from tests.helpers import set_params

    name, champion = "folder-labelled-gan", "models:/folder-labelled-gan@champion"
    client = registry_client(store)
    for command in (["train", "--model", "gan"], ["evaluate", "--model", "gan"]):
        assert main(["--no-progress", *command]) == 0
    promote_if_better(client, name, "1")  # v1's FID is at 200 samples
    set_params(scored_repo, "evaluate", n_samples=300)
    set_params(scored_repo, "train", seed=1)  # a new run, v2, scored at 300 samples
    for command in (["train", "--model", "gan"], ["evaluate", "--model", "gan"]):
        assert main(["--no-progress", *command]) == 0
    assert "not comparable" in str(promote_if_better(client, name, "2"))  # as it stands

    params = load_params()
    line = remeasure_champion(client, name, "2", params)
    assert line.startswith(f"{name}: re-measured champion v1") and "300 samples" in line
    run, generator = registered_run(params, None, champion)
    task = task_for(run, with_training_data=False)
    expected = score_generator(generator, task, Reference.load(), parse_evaluate(params))[2]
    v1 = client.get_model_version(name, "1")
    assert float(v1.tags["fid"]) == pytest.approx(expected["fid"], rel=1e-6)
    assert v1.tags["fid_samples"] == "300"
    assert remeasure_champion(client, name, "2", params) is None  # now they compare
    decision = promote_if_better(client, name, "2")
    v2_fid = float(client.get_model_version(name, "2").tags["fid"])
    assert "not comparable" not in str(decision)
    assert decision.promoted == (v2_fid < expected["fid"])
