"""The trainer runs a family's phases and schedules, the averaged generator and named
checkpoints without knowing the family (the two-phase toy of tests/phased_family.py)."""

import copy

import numpy as np
import pytest

from pipeline.gans.families import get_family, resolve_run, unregister
from pipeline.training.loop import train
from pipeline.training.phases import Phase, PhasePlan, phase_plan
from tests.phased_family import family


@pytest.fixture
def phased_params(tiny_params):
    """The phased family registered for the test only: a test after it in the same
    process (under xdist, any test) sees the zoo without it."""
    family()
    params = copy.deepcopy(tiny_params)
    params["train"].update(epochs=2, steps_per_epoch=4, log_every=1, checkpoint_every=100)
    yield params
    unregister("phased")


def test_a_schedule_ramps_over_its_phase_and_holds_after_it():
    plan = PhasePlan(
        (Phase("fade", 1, schedules={"alpha": lambda t: t}), Phase("stable", 1)), steps_per_epoch=4
    )
    assert plan.total_steps == 8
    assert [plan.index_at(s) for s in range(8)] == [0, 0, 0, 0, 1, 1, 1, 1]
    assert [plan.values_at(s)["alpha"] for s in range(8)] == [0, 0.25, 0.5, 0.75, 1, 1, 1, 1]


def test_phases_change_the_networks_and_log_the_schedule(phased_params, tiny_images, tmp_path):
    run = resolve_run(phased_params, "phased")
    result = train(run, tiny_images, checkpoint_dir=tmp_path, progress=False)
    assert result.steps == 8
    # the second phase grew the generator by a block
    assert "p_refine" in [layer.name for layer in result.gan.generator.layers]
    alphas = [row["alpha"] for row in result.history]
    assert alphas == [0, 0.25, 0.5, 0.75, 1, 1, 1, 1]


def test_a_checkpoint_holds_every_variable_by_name(phased_params, tiny_images, tmp_path):
    from pipeline.training.checkpoints import CheckpointStore

    phased_params["train"].update(ema=0.5)
    run = resolve_run(phased_params, "phased")
    store_dir = tmp_path / "ckpt"

    train(run, tiny_images, checkpoint_dir=store_dir, progress=False)
    saved = CheckpointStore(store_dir, run.fingerprint()).latest().load_state()
    for name in (
        "generator/p_refine/kernel",
        "generator/p_hidden/kernel",
        "discriminator/p_logit/bias",
        "ema/p_refine/kernel",
        "schedule/alpha",
        "g_optimizer/iteration",
    ):
        assert name in saved, name
    assert float(saved["schedule/alpha"]) == 1.0


def test_the_averaged_generator_follows_the_weights_by_its_decay(
    tiny_params, tiny_images, tmp_path
):
    """One step: averaged = d * initial + (1 - d) * trained per trainable weight, with the
    warm-up's d = min(train.ema, 1 / 10) at the first update; batch-norm statistics are
    copied, not averaged."""
    from pipeline.training.build import build_compiled_gan
    from pipeline.training.distribute import make_strategy

    params = copy.deepcopy(tiny_params)
    params["train"].update(epochs=1, steps_per_epoch=1, ema=0.75)
    run = resolve_run(params, "dcgan")
    strategy = make_strategy("default")
    initial = build_compiled_gan(run, tiny_images.shape[1:], strategy).generator
    result = train(run, tiny_images, checkpoint_dir=tmp_path, progress=False)
    assert result.generator is not result.gan.generator
    trainable = {id(v) for v in result.gan.generator.trainable_variables}
    for start, now, averaged in zip(
        initial.variables, result.gan.generator.variables, result.generator.variables, strict=True
    ):
        if id(now) in trainable:
            expected = 0.1 * start.numpy() + 0.9 * now.numpy()  # min(0.75, 1 / 10)
            np.testing.assert_allclose(averaged.numpy(), expected, rtol=1e-5, atol=1e-7)
        else:
            np.testing.assert_array_equal(averaged.numpy(), now.numpy())
    moved = [v for v in result.gan.generator.trainable_variables if v.numpy().any()]
    assert moved


def test_a_checkpoint_of_another_network_is_a_clear_error(phased_params, tiny_images, tmp_path):
    from pipeline.errors import DataError
    from pipeline.training.state import restore

    run = resolve_run(phased_params, "phased")
    result = train(run, tiny_images, checkpoint_dir=tmp_path, progress=False)
    named = {"generator/p_hidden/kernel": result.gan.generator.get_layer("p_hidden").kernel}
    with pytest.raises(DataError, match="lacks generator/p_hidden/kernel"):
        restore(named, {}, "checkpoint x")
    bad = {"generator/p_hidden/kernel": np.zeros((1, 1), np.float32)}
    with pytest.raises(DataError, match="has shape"):
        restore(named, bad, "checkpoint x")


def test_a_smoke_run_caps_every_phase_of_fixed_steps(tiny_params):
    """`-S train.steps_per_epoch=S` makes every GAN short, the phased ones too: a phase of
    fixed steps takes at most train.epochs x S; a model's own steps_per_epoch (a tuning
    trial's) caps its epochs, not its phases; phases counted in epochs are left alone."""

    def lengths(params, model="progan"):
        run = resolve_run(params, model)
        plan = phase_plan(get_family(model), run, 3, (28, 28, 1))
        return [p.length(plan.steps_per_epoch) for p in plan.phases]

    params = copy.deepcopy(tiny_params)
    params["models"]["progan"].update(stable_steps=7, fade_steps=20)
    params["train"].update(epochs=2, steps_per_epoch=5)
    assert lengths(params) == [7, 10, 7, 10, 7]
    params["train"]["steps_per_epoch"] = None
    params["models"]["progan"]["steps_per_epoch"] = 5
    assert lengths(params) == [7, 20, 7, 20, 7]
    params["models"]["stackgan"].update(stage1_steps=50, stage2_steps=4)
    params["train"]["steps_per_epoch"] = 3
    assert lengths(params, "stackgan") == [6, 4]


def test_the_smoke_cap_is_part_of_the_checkpoint_fingerprint(tiny_params):
    """A phased GAN with its own epochs: train.epochs changes its phases' cap, not its
    merged train config, so the fingerprint must see the cap (a checkpoint of a longer
    plan must not be resumed into a shorter one); with no cap the hash is as before."""
    params = copy.deepcopy(tiny_params)
    params["models"]["progan"].update(stable_steps=50, fade_steps=50, epochs=3)
    params["train"].update(epochs=2, steps_per_epoch=5)
    short = resolve_run(params, "progan")
    params["train"]["epochs"] = 4
    longer = resolve_run(params, "progan")
    assert short.train == longer.train and short.phase_cap == 10 and longer.phase_cap == 20
    assert short.fingerprint() != longer.fingerprint()
    params["train"]["steps_per_epoch"] = None
    uncapped = resolve_run(params, "progan")
    assert uncapped.phase_cap is None and "phase_cap" not in uncapped.flat_params()
