"""The zoo's registry: every family file registers itself, declares the losses its
objective takes, and builds networks whose variables have stable names (checkpoints)."""

import keras
import numpy as np
import pytest

from pipeline.errors import ConfigError
from pipeline.gans.families import ALL_LOSSES, builtin_names, get_family, resolve_run
from pipeline.gans.objectives import LOSSES
from pipeline.training.build import build_gan, objective_name
from pipeline.training.state import model_variables

FAMILIES = (
    "catgan",
    "cgan",
    "dcgan",
    "gan",
    "pix2pix",
    "progan",
    "sgan",
    "srgan",
    "stackgan",
    "stylegan",
)


def test_the_families_are_found_by_file():
    assert builtin_names() == FAMILIES
    for name in FAMILIES:
        assert get_family(name).name == name


def test_the_loss_names_the_registry_reads_without_tensorflow_are_the_objectives():
    assert ALL_LOSSES == LOSSES
    for name in FAMILIES:
        assert set(get_family(name).losses) <= set(LOSSES), name


def test_a_planned_family_is_named_as_not_built_yet(monkeypatch):
    import pipeline.gans.families as families

    monkeypatch.setattr(families, "PLANNED", ("biggan",))
    with pytest.raises(ConfigError, match="'biggan' is not implemented yet; available: catgan"):
        get_family("biggan")


@pytest.mark.parametrize(
    ("model", "loss", "expected", "trained_with"),
    [
        ("dcgan", "wgan_gp", "wgan_gp", "wgan_gp"),
        ("pix2pix", "hinge", "hinge", "hinge"),
        ("sgan", "minimax", "minimax", "minimax"),
        ("sgan", "wgan_gp", "sgan (K+1 classes) (takes no train.loss=wgan_gp)", "nonsaturating"),
        ("catgan", "lsgan", "catgan (entropies) (takes no train.loss=lsgan)", "nonsaturating"),
    ],
)
def test_a_family_keeps_its_own_objective_for_a_loss_it_cannot_take(
    tiny_params, model, loss, expected, trained_with
):
    tiny_params["train"].update(loss=loss)
    run = resolve_run(tiny_params, model)
    assert objective_name(run) == expected
    shape = (32, 32, 2) if model == "pix2pix" else (28, 28, 1)
    gan = build_gan(run, shape, num_classes=10)
    assert gan.loss.name == trained_with


def test_r1_is_named_in_the_objective_only_where_it_applies(tiny_params):
    tiny_params["train"].update(loss="hinge", r1_gamma=0.5)
    assert objective_name(resolve_run(tiny_params, "gan")) == "hinge + r1(gamma=0.5)"
    catgan = resolve_run(tiny_params, "catgan")
    assert "r1" not in objective_name(catgan)
    assert build_gan(catgan, (28, 28, 1), 10).loss.has_penalty is False


@pytest.mark.parametrize("model", FAMILIES)
def test_variable_names_are_unique_and_the_same_in_every_build(tiny_params, model):
    """Checkpoints hold variables by these names: two builds in one process (a test, a
    tuning study) must name them alike, though Keras numbers its RNG states globally."""
    run = resolve_run(tiny_params, model)
    family = get_family(model)
    shapes = {"pix2pix": (32, 32, 2), "srgan": (28, 28, 2)}  # stacked pairs
    shape = shapes.get(model, (28, 28, 1))
    builds = []
    for _ in range(2):
        generator = family.build_generator(run, shape, 10)
        discriminator = family.build_discriminator(run, shape, 10)
        builds.append(
            [
                *model_variables("generator", generator),
                *model_variables("discriminator", discriminator),
            ]
        )
    assert builds[0] == builds[1]
    assert len(set(builds[0])) == len(builds[0])


def _random_inputs(generator, count: int = 4):
    """A batch for any family's generator: Gaussian latents (and images), token ids 1-2
    for integer inputs (StackGAN's captions), unknown lengths 3."""
    rng = np.random.default_rng(0)
    inputs = [
        rng.integers(1, 3, [count, *[s or 3 for s in x.shape[1:]]]).astype(x.dtype)
        if x.dtype.startswith("int")
        else rng.standard_normal([count, *[s or 3 for s in x.shape[1:]]]).astype(x.dtype)
        for x in generator.inputs
    ]
    return inputs if len(inputs) > 1 else inputs[0]


@pytest.mark.parametrize("model", FAMILIES)
def test_images_and_critic_logits_stay_float32_under_mixed_bfloat16(tiny_params, model):
    """`train.precision: auto` picks mixed_bfloat16 on CPUs with AVX512_BF16 or AMX. The
    hidden layers then compute in bfloat16, but G's image (which D judges beside the float32
    real batch) and D's real/fake logit (the loss) must stay float32 in every family."""
    import tensorflow as tf

    from pipeline.training.distribute import precision_policy

    tiny_params["train"]["precision"] = "mixed_bfloat16"
    run = resolve_run(tiny_params, model)
    family = get_family(model)
    shape = {"pix2pix": (32, 32, 2), "srgan": (28, 28, 2)}.get(model, (28, 28, 1))
    with precision_policy("mixed_bfloat16"):
        generator = family.build_generator(run, shape, 10)
        discriminator = family.build_discriminator(run, shape, 10)
    assert any(layer.compute_dtype == "bfloat16" for layer in generator.layers)
    image = generator(_random_inputs(generator))
    assert image.dtype == tf.float32
    assert discriminator.outputs[0].dtype == "float32"


@pytest.mark.parametrize("model", ["dcgan", "stylegan", "stackgan"])
def test_a_generator_trained_in_mixed_precision_is_scored_in_float32(tiny_params, model):
    """evaluate, sample and explore load generators with `load_generator`, which rebuilds
    a mixed-precision one in float32 with its weights: it then draws exactly what the same
    weights draw in a float32 build (nested parts too: StyleGAN's mapping and synthesis,
    StackGAN's stages), where bfloat16 rounding made the perceptual path length 50-1000x
    too high. A float32 generator comes back as it is."""
    import tensorflow as tf

    from pipeline.saved import in_float32
    from pipeline.training.distribute import precision_policy

    run = resolve_run(tiny_params, model)
    family = get_family(model)
    float32 = family.build_generator(run, (28, 28, 1), 10)
    assert in_float32(float32) is float32
    with precision_policy("mixed_bfloat16"):
        mixed = family.build_generator(run, (28, 28, 1), 10)
    mixed.set_weights(float32.get_weights())
    rebuilt = in_float32(mixed)

    def policies(network):
        names = set()
        for layer in network.layers:
            names |= policies(layer) if isinstance(layer, keras.Model) else set()
            names.add(layer.dtype_policy.name)
        return names

    assert "mixed_bfloat16" in policies(mixed) and policies(rebuilt) == {"float32"}
    inputs = _random_inputs(float32)
    np.testing.assert_array_equal(rebuilt(inputs), float32(inputs))
    assert not np.array_equal(mixed(inputs), float32(inputs))
    assert rebuilt(inputs).dtype == tf.float32
