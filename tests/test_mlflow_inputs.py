"""What the MLflow UI shows of a run besides its params and metrics: the experiment marked
as model training, the training data as the run's dataset input (the run table's Dataset
column), and the generator logged with a signature and an input example that pyfunc can
predict from."""

import hashlib
import json

import numpy as np
import pytest

from pipeline.cli import main
from pipeline.tracking.runs import EXPERIMENT_KIND_TAG, MODEL_TRAINING, MlflowTracker

GAN = ["--no-progress", "train", "--model", "gan"]


@pytest.fixture
def store(own_store) -> str:
    return own_store


def _tracker(experiment: str = "fashion_mnist", **kwargs) -> MlflowTracker:
    return MlflowTracker(experiment=experiment, run_name="gan", tags={"model": "gan"}, **kwargs)


# --- the experiment kind --------------------------------------------------------------------


def test_a_new_experiment_is_marked_as_model_training(store):
    tracker = _tracker()
    experiment = tracker.client.get_experiment(tracker.experiment_id)
    assert experiment.name == "fashion_mnist"
    assert experiment.tags[EXPERIMENT_KIND_TAG] == MODEL_TRAINING == "custom_model_development"


def test_an_experiment_made_before_the_tag_gets_it_and_a_kind_set_by_hand_stays(store):
    from mlflow import MlflowClient

    client = MlflowClient(store)  # as the pipeline made experiments before: no tags
    old = client.create_experiment("fashion_mnist")
    chosen = client.create_experiment("mnist", tags={EXPERIMENT_KIND_TAG: "genai_development"})
    assert EXPERIMENT_KIND_TAG not in client.get_experiment(old).tags

    assert _tracker("fashion_mnist").experiment_id == old
    assert client.get_experiment(old).tags[EXPERIMENT_KIND_TAG] == MODEL_TRAINING
    assert _tracker("mnist").experiment_id == chosen
    assert client.get_experiment(chosen).tags[EXPERIMENT_KIND_TAG] == "genai_development"


# --- the training data as the run's input ------------------------------------------------------


def test_a_trained_run_has_its_data_file_as_one_input_and_a_resume_adds_none(
    tiny_repo, store, monkeypatch, capsys
):
    from mlflow import MlflowClient

    def interrupted(self, generator):  # Ctrl-C after training, before the generator is logged
        raise KeyboardInterrupt

    log_generator = MlflowTracker.log_generator
    monkeypatch.setattr(MlflowTracker, "log_generator", interrupted)
    assert main(GAN) == 130  # interrupted: the checkpoints and the MLflow run stay
    monkeypatch.setattr(MlflowTracker, "log_generator", log_generator)
    assert main(GAN) == 0
    assert "train@gan: resuming from step 6" in capsys.readouterr().out

    client = MlflowClient(store)
    (run,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert run.data.tags["resumed_from"] == "6" and run.info.status == "FINISHED"
    (logged,) = run.inputs.dataset_inputs  # one input though the run was opened twice
    data_file = tiny_repo / "data" / "raw" / "dataset.npz"
    with np.load(data_file) as arrays:
        splits = {"train": len(arrays["x_train"]), "test": len(arrays["x_test"])}
        row = "x".join(map(str, arrays["x_train"].shape[1:]))
    dataset = logged.dataset
    assert dataset.name == "folder-images"  # the dataset's name, as the experiment's
    assert dataset.digest == hashlib.sha256(data_file.read_bytes()).hexdigest()[:12]
    assert dataset.source_type == "local"
    assert json.loads(dataset.source) == {"uri": str(data_file.resolve())}
    assert splits == {"train": 36, "test": 4}  # tiny_repo's 40 images, every tenth held out
    assert json.loads(dataset.profile) == {**splits, "shape": row}
    features = json.loads(dataset.schema)["mlflow_tensorspec"]["features"]
    assert json.loads(features) == [
        {"type": "tensor", "tensor-spec": {"dtype": "uint8", "shape": [-1, 28, 28, 1]}}
    ]
    assert {t.key: t.value for t in logged.tags} == {"mlflow.data.context": "training"}


def test_the_edge_pairs_input_is_named_after_its_stage_and_counts_the_pairs(tiny_repo):
    from pipeline.config import load_params
    from pipeline.data.edges import PAIRS_FILE, load_pairs
    from pipeline.gans.families import get_family, resolve_run
    from pipeline.tracking.runs import training_data

    assert main(["--no-progress", "edges"]) == 0
    run = resolve_run(load_params(tiny_repo / "params.yaml"), "pix2pix")
    data = training_data(run.data, get_family("pix2pix").inputs.data_file(run.data))
    pairs = load_pairs(PAIRS_FILE)
    assert data.name == "folder-images-edges" and data.path == PAIRS_FILE
    assert data.splits == {"train": len(pairs.train), "test": len(pairs.test)}
    assert data.shape == pairs.train.shape[1:] == (32, 32, 2) and data.dtype == "uint8"
    assert data.digest == hashlib.sha256(PAIRS_FILE.read_bytes()).hexdigest()[:12]


# --- the generator's signature and input example --------------------------------------------


def _generator(model: str):
    """A narrow generator of `model` as train builds it: noise (gan), noise and a class
    (cgan: two inputs), an edge map (pix2pix)."""
    from pipeline.gans.families import get_family, resolve_run
    from tests.helpers import repo_params

    params = repo_params()
    params["models"]["pix2pix"].update(filters=4, d_filters=4)
    run = resolve_run(params, model)
    image_shape = (32, 32, 2) if model == "pix2pix" else (28, 28, 1)
    return get_family(model).build_generator(run, image_shape, 10 if model == "cgan" else 0)


@pytest.mark.parametrize("model", ["gan", "cgan", "pix2pix"])
def test_the_logged_generator_has_its_signature_and_an_example_pyfunc_predicts(store, model):
    import mlflow
    from mlflow.models import Model

    generator = _generator(model)
    tracker = _tracker()
    tracker.log_generator(generator)
    (logged,) = tracker.client.search_logged_models([tracker.experiment_id])
    uri = f"models:/{logged.model_id}"

    signature = Model.load(uri).signature
    inputs = signature.inputs.inputs
    assert [tuple(spec.shape) for spec in inputs] == [(-1, *t.shape[1:]) for t in generator.inputs]
    assert [str(spec.type) for spec in inputs] == [t.dtype for t in generator.inputs]
    (output,) = signature.outputs.inputs
    assert tuple(output.shape) == (-1, *generator.outputs[0].shape[1:])
    assert str(output.type) == "float32"

    example = Model.load(uri).load_input_example()
    assert example is not None
    if len(generator.inputs) > 1:  # several inputs: a dict by the model's input names
        assert [s.name for s in inputs] == list(example) == [t.name for t in generator.inputs]
        assert example["label"].dtype == np.int32 and not example["label"].any()
        fed = [example[t.name] for t in generator.inputs]
    else:
        fed = example
    assert all(len(part) == 2 for part in (example.values() if len(inputs) > 1 else [example]))

    images = np.asarray(mlflow.pyfunc.load_model(uri).predict(example))
    assert images.shape == (2, *generator.outputs[0].shape[1:])
    assert np.abs(images).max() <= 1.0  # tanh: the pipeline's image range
    direct = np.asarray(generator(fed, training=False))
    np.testing.assert_allclose(images, direct, atol=1e-5)  # the model logged is this one


def test_train_logs_the_generator_with_a_signature_and_example(tiny_repo, store):
    import mlflow
    from mlflow import MlflowClient
    from mlflow.models import Model

    assert main(GAN) == 0
    client = MlflowClient(store)
    (model,) = client.search_logged_models([e.experiment_id for e in client.search_experiments()])
    loaded = Model.load(f"models:/{model.model_id}")
    latent_dim = 64  # models.gan.latent_dim in params.yaml
    assert [tuple(s.shape) for s in loaded.signature.inputs.inputs] == [(-1, latent_dim)]
    assert [tuple(s.shape) for s in loaded.signature.outputs.inputs] == [(-1, 28, 28, 1)]
    example = loaded.load_input_example()
    assert example.shape == (2, latent_dim)
    images = mlflow.pyfunc.load_model(f"models:/{model.model_id}").predict(example)
    assert np.asarray(images).shape == (2, 28, 28, 1)
