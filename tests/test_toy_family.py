"""A family is one registered object: a toy family defined here, in the test file, runs
through `train`, `evaluate` and `sample` without a change to any pipeline module."""

import json
from dataclasses import dataclass, field

import keras
import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from pipeline.cli import main
from pipeline.config import AT_LEAST_ONE
from pipeline.gans.families import Family, check_model_name, register, unregister
from pipeline.gans.inputs import LATENT
from tests.helpers import set_params


@dataclass(frozen=True)
class ToyParams:
    """models.toy.*"""

    hidden: int = field(default=8, metadata=AT_LEAST_ONE)


def _generator(run, image_shape, num_classes=0):
    z = keras.Input((run.train.latent_dim,), name="z")  # [B, latent]
    x = keras.layers.Dense(run.family.hidden, activation="relu", name="toy_hidden")(z)
    x = keras.layers.Dense(int(np.prod(image_shape)), activation="tanh", name="toy_pixels")(x)
    image = keras.layers.Reshape(image_shape, name="toy_image")(x)  # [B, H, W, C]
    return keras.Model(z, image, name="generator")


def _discriminator(run, image_shape, num_classes=0):
    image = keras.Input(image_shape, name="image")  # [B, H, W, C]
    x = keras.layers.Flatten(name="toy_flatten")(image)
    x = keras.layers.Dense(run.family.hidden, activation="relu", name="toy_d_hidden")(x)
    return keras.Model(image, keras.layers.Dense(1, name="toy_logit")(x), name="discriminator")


TOY = Family(
    name="toy",
    params=ToyParams,
    inputs=LATENT,
    build_generator=_generator,
    build_discriminator=_discriminator,
    summary="a tiny MLP defined in a test",
)


@pytest.fixture
def toy_family():
    register(TOY)
    yield TOY
    unregister("toy")


def test_an_unregistered_name_is_a_one_line_error_naming_the_zoo():
    from pipeline.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown model 'toy'; valid models: catgan, cgan"):
        check_model_name("toy")


@pytest.mark.slow
def test_a_toy_family_trains_scores_and_samples_through_the_commands(
    toy_family, scored_repo, mlflow_store
):
    repo = scored_repo
    set_params(repo, "models", toy={"hidden": 6, "epochs": 1})
    set_params(repo, "train", models={"toy": "data/raw/dataset.npz"}, loss="hinge")

    assert main(["--no-progress", "train", "--model", "toy"]) == 0
    assert main(["--no-progress", "evaluate", "--model", "toy"]) == 0
    out = repo / "models" / "toy"
    scores = json.loads((out / "metrics.json").read_text())
    assert {"fid", "kid", "precision", "recall"} <= set(scores)
    trained = json.loads((out / "train.json").read_text())
    assert trained["steps"] == 3  # 1 epoch (its own override) of 3 steps

    generator = keras.saving.load_model(out / "generator.keras")
    assert generator.get_layer("toy_hidden").units == 6  # models.toy.hidden reached it
    assert main(["sample", "--model", "toy", "-n", "4", "--out", str(repo / "toy.png")]) == 0
    assert (repo / "toy.png").is_file()

    run_id = json.loads((out / "run.json").read_text())["mlflow_run_id"]
    logged = MlflowClient(mlflow_store).get_run(run_id).data.params
    assert logged["objective"] == "hinge"
    assert logged["models.toy.hidden"] == "6" and logged["train.loss"] == "hinge"


def test_a_wrong_data_file_for_the_toy_names_the_right_one(toy_family, tiny_params):
    from pipeline.errors import ConfigError
    from pipeline.gans.families import resolve_run

    tiny_params["train"]["models"] = {"toy": "data/edges/pairs.npz"}
    with pytest.raises(ConfigError, match=r"train.models.toy must be data/raw/dataset.npz"):
        resolve_run(tiny_params, "toy")
