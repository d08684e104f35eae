"""params.yaml validation: every bad value names its key."""

import copy

import pytest

from pipeline.config import load_params
from pipeline.errors import ConfigError
from pipeline.gans.families import resolve_run


@pytest.fixture
def params(tiny_params):
    return copy.deepcopy(tiny_params)


def test_repository_params_resolve_for_every_default_model(params):
    for model in params["train"]["models"]:
        run = resolve_run(params, model)
        assert run.model == model


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("lr", 0, "train.lr must be > 0"),
        ("lr", "fast", "train.lr must be a number"),
        ("beta1", 1.0, "train.beta1 must be in [0, 1)"),
        ("lr_decay", 1.5, "train.lr_decay must be in [0, 1]"),
        ("k_steps", 1.5, "train.k_steps must be an integer"),
        ("batch_size", 0, "train.batch_size must be >= 1"),
        ("loss", "hinges", "train.loss must be one of 'nonsaturating', 'minimax', 'wgan'"),
        ("jit_compile", "yes", "train.jit_compile must be true or false"),
        ("steps_per_epoch", 0, "train.steps_per_epoch must be >= 1"),
    ],
)
def test_bad_train_values_name_the_key(params, key, value, message):
    params["train"][key] = value
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace(")", r"\)")):
        resolve_run(params, "dcgan")


def test_unknown_key_is_named_with_the_valid_ones(params):
    params["train"]["learning_rate"] = 0.1
    with pytest.raises(
        ConfigError, match=r"train\.learning_rate is not a known param; valid keys: .*lr"
    ):
        resolve_run(params, "gan")


def test_unknown_model_lists_the_valid_ones(params):
    params["train"]["models"]["biggan"] = "data/raw/dataset.npz"
    with pytest.raises(
        ConfigError,
        match=r"unknown model 'biggan'; valid models: catgan, cgan, dcgan, gan, pix2pix, progan, "
        r"sgan",
    ):
        resolve_run(params, "gan")


def test_train_models_maps_each_model_to_the_file_it_reads(params):
    params["train"]["models"] = ["gan", "dcgan"]
    with pytest.raises(ConfigError, match=r"train\.models must map each model to the data file"):
        resolve_run(params, "gan")
    params["train"]["models"] = {"gan": "data/raw/dataset.npz", "pix2pix": "data/raw/dataset.npz"}
    with pytest.raises(
        ConfigError, match=r"train\.models\.pix2pix must be data/edges/pairs\.npz .*got"
    ):
        resolve_run(params, "gan")
    params["train"]["models"] = {"gan": "data/raw/dataset.npz"}
    assert resolve_run(params, "gan").train.models == ("gan",)


def test_edges_thresholds_are_checked(params):
    from pipeline.config import parse_edges

    params["edges"].update(low_threshold=200, high_threshold=100)
    with pytest.raises(ConfigError, match=r"edges\.low_threshold .* must not exceed"):
        parse_edges(params)
    params["edges"].update(low_threshold=50, blur=4)
    with pytest.raises(ConfigError, match=r"edges\.blur must be 0 or odd, got 4"):
        parse_edges(params)


def test_per_model_override_applies_to_that_model_only(params):
    params["train"]["lr"] = 1e-3
    params["models"]["gan"]["lr"] = 5e-4
    gan, dcgan = resolve_run(params, "gan"), resolve_run(params, "dcgan")
    assert gan.train.lr == 5e-4 and dcgan.train.lr == 1e-3
    flat = gan.flat_params()
    assert flat["train.lr"] == 5e-4 and flat["models.gan.lr"] == 5e-4
    assert flat["models.gan.arch"] == params["models"]["gan"]["arch"]


def test_a_smoke_runs_steps_per_epoch_caps_a_models_own_too(params):
    """`dvc exp run -S train.steps_per_epoch=5` trains every GAN for a few steps, pix2pix
    (whose default budget is its own steps_per_epoch) included; a larger train-level cap
    leaves the model's own, and without one the model's own stands."""
    params["models"]["pix2pix"]["steps_per_epoch"] = 1000  # the repository's default
    params["train"]["steps_per_epoch"] = None
    assert resolve_run(params, "pix2pix").train.steps_per_epoch == 1000
    params["train"]["steps_per_epoch"] = 5
    assert resolve_run(params, "pix2pix").train.steps_per_epoch == 5
    assert resolve_run(params, "dcgan").train.steps_per_epoch == 5
    params["train"]["steps_per_epoch"] = 5000
    assert resolve_run(params, "pix2pix").train.steps_per_epoch == 1000


def test_bad_override_names_the_model_key(params):
    params["models"]["dcgan"]["dropout"] = 1.5
    with pytest.raises(ConfigError, match=r"models\.dcgan\.dropout must be in \[0, 1\)"):
        resolve_run(params, "dcgan")


def test_bad_variant_names_the_key(params):
    params["models"]["dcgan"]["generator"] = "resnet"
    with pytest.raises(
        ConfigError, match=r"models\.dcgan\.generator must be one of 'upsample', 'transposed'"
    ):
        resolve_run(params, "dcgan")


def test_fingerprint_changes_with_weights_affecting_params_only(params):
    base = resolve_run(params, "dcgan").fingerprint()
    params["train"]["log_every"] = 99
    assert resolve_run(params, "dcgan").fingerprint() == base
    params["train"]["lr"] = 1e-3
    assert resolve_run(params, "dcgan").fingerprint() != base


def test_missing_params_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_params(tmp_path / "params.yaml")


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("evaluate", "n_samples", 100, "evaluate.n_samples must be >= 200"),
        ("evaluate", "pr_k", "3", "evaluate.pr_k must be an integer"),
        ("evaluate", "fid", 1, "evaluate.fid is not a known param"),
        ("evaluator", "lr", -1, "evaluator.lr must be > 0"),
        ("evaluator", "epochs", 0, "evaluator.epochs must be >= 1"),
        ("train", "fid_every", -1, "train.fid_every must be >= 0"),
    ],
)
def test_bad_scoring_values_name_the_key(params, section, key, value, message):
    from pipeline.config import parse_evaluate, parse_evaluator

    params[section][key] = value
    parse = {"evaluate": parse_evaluate, "evaluator": parse_evaluator}.get(section)
    with pytest.raises(ConfigError, match=message):
        parse(params) if parse else resolve_run(params, "gan")


def test_in_training_fid_settings_do_not_invalidate_checkpoints(params):
    before = resolve_run(params, "gan").fingerprint()
    params["train"].update(fid_every=3, fid_samples=5000)
    assert resolve_run(params, "gan").fingerprint() == before


@pytest.mark.parametrize(
    ("onednn", "variable"), [(True, "1"), (False, "0"), (None, None)]
)  # fmt: skip
def test_onednn_sets_tensorflows_variable_before_it_starts(params, onednn, variable):
    from pipeline.config import runtime_environment

    params["train"]["onednn"] = onednn
    assert runtime_environment(params).get("TF_ENABLE_ONEDNN_OPTS") == variable


def test_onednn_changes_rounding_only_so_a_checkpoint_carries_over(params):
    params["train"]["onednn"] = True
    before = resolve_run(params, "dcgan").fingerprint()
    params["train"]["onednn"] = False
    assert resolve_run(params, "dcgan").fingerprint() == before


def test_onednn_must_be_a_boolean(params):
    from pipeline.config import runtime_environment

    params["train"]["onednn"] = "yes"
    with pytest.raises(ConfigError, match=r"train\.onednn must be true or false"):
        runtime_environment(params)


def test_the_repository_turns_onednn_on():
    from pipeline.config import runtime_environment

    assert runtime_environment(load_params("params.yaml"))["TF_ENABLE_ONEDNN_OPTS"] == "1"
