"""Experience replay (pipeline.gans.replay): the ring buffer, what D sees in a train step,
the checkpoint's variables, two devices against one, and the buffer-size check."""

import copy

import numpy as np
import pytest
import tensorflow as tf

from pipeline.errors import ConfigError
from pipeline.gans.families import resolve_run
from pipeline.gans.replay import ReplayBuffer
from pipeline.training.build import build_compiled_gan
from pipeline.training.distribute import make_strategy
from pipeline.training.loop import train
from pipeline.training.state import gan_state
from tests.helpers import assert_weights_alike

SHAPE = (2, 2, 1)


def _images(first: int, count: int = 4) -> tf.Tensor:
    """`count` constant images [count, 2, 2, 1] whose pixels are first, first + 1, ..."""
    values = np.arange(first, first + count, dtype=np.float32)
    return tf.constant(np.broadcast_to(values[:, None, None, None], (count, *SHAPE)).copy())


def _ids(images) -> list[float]:
    """Which of `_images`' constants each image is."""
    return [float(v) for v in np.asarray(images)[:, 0, 0, 0]]


# --- the buffer on its own --------------------------------------------------------------


def _spy_on_discriminator(gan) -> list:
    """Every batch D is called on from now on, in order (as numpy arrays)."""
    seen = []
    discriminate = gan._discriminate

    def spy(images, labels):
        seen.append(np.asarray(images))
        return discriminate(images, labels)

    gan._discriminate = spy
    return seen


def test_mix_leaves_the_fakes_alone_while_the_buffer_is_empty():
    """An empty buffer's zeros must not replace fakes (the first step of every run)."""
    buffer = ReplayBuffer(1.0, 8, SHAPE)
    fakes = _images(100)
    mixed = buffer.mix(fakes, tf.constant([0.0, 0.3, 0.6, 0.99]))
    np.testing.assert_array_equal(mixed.numpy(), fakes.numpy())


def test_mix_picks_slot_floor_of_draw_over_share_times_filled():
    """Draw u < share swaps in slot floor(u / share * filled); u >= share keeps the fresh
    fake. Catches a slot drawn over the whole buffer (including unwritten zeros), over the
    wrong range, or a swap decided the wrong way round."""
    buffer = ReplayBuffer(0.5, 8, SHAPE)
    buffer.store(_images(10))  # slots 0-3 hold 10, 11, 12, 13; 4 of 8 filled
    fakes = _images(100)
    # u / 0.5 * 4: 0.0 -> 0, 0.2 -> 1.6 -> 1, 0.49 -> 3.92 -> 3; 0.5 and up: fresh
    mixed = buffer.mix(fakes, tf.constant([0.0, 0.2, 0.49, 0.5]))
    assert _ids(mixed) == [10.0, 11.0, 13.0, 103.0]
    mixed = buffer.mix(fakes, tf.constant([0.13, 0.7, 0.99, 0.37]))
    assert _ids(mixed) == [11.0, 101.0, 102.0, 12.0]  # 1.04 -> 1, 2.96 -> 2


def test_store_is_a_ring_and_written_counts_every_fake():
    """After more fakes than slots the oldest are overwritten in order; `written` keeps
    counting (it decides both the next slot and how many slots are filled)."""
    buffer = ReplayBuffer(1.0, 6, SHAPE)
    buffer.store(_images(0))  # slots 0-3
    assert int(buffer.written.numpy()) == 4
    np.testing.assert_array_equal(buffer.images.numpy()[4:], 0.0)
    buffer.store(_images(10))  # 10, 11 -> slots 4, 5; 12, 13 wrap to slots 0, 1
    assert int(buffer.written.numpy()) == 8
    assert _ids(buffer.images.numpy()) == [12.0, 13.0, 2.0, 3.0, 10.0, 11.0]
    # full: slot floor(u * 6) of the whole ring
    mixed = buffer.mix(_images(100), tf.constant([0.0, 0.34, 0.5, 0.99]))
    assert _ids(mixed) == [12.0, 2.0, 3.0, 11.0]


def test_the_data_pipeline_draws_replay_per_example_apart_from_the_other_draws():
    """The "replay" draw is [B, k] U(0, 1), a pure function of (seed, step) like the
    penalties' draws (a resumed run swaps the same examples), on a stream apart from
    theirs (a swap must not follow a gradient penalty's interpolation weight)."""
    from pipeline.data.loader import penalty_draws

    shape = (8, 2, 28, 28, 1)
    draws = penalty_draws(("alpha", "replay"), 3, tf.constant(5), shape)
    replay = draws["replay"].numpy()
    assert replay.shape == (8, 2) and replay.dtype == np.float32
    assert replay.min() >= 0.0 and replay.max() < 1.0
    again = penalty_draws(("alpha", "replay"), 3, tf.constant(5), shape)
    np.testing.assert_array_equal(again["replay"].numpy(), replay)
    np.testing.assert_array_equal(again["alpha"].numpy(), draws["alpha"].numpy())
    assert not np.array_equal(draws["alpha"].numpy(), replay)
    other_step = penalty_draws(("alpha", "replay"), 3, tf.constant(6), shape)["replay"]
    assert not np.array_equal(other_step.numpy(), replay)


# --- through a train step ---------------------------------------------------------------


def _gan(params, model="gan", num_classes=0, **train_values):
    params = copy.deepcopy(params)
    params["train"].update(train_values)
    run = resolve_run(params, model)
    strategy = tf.distribute.get_strategy()
    return run, build_compiled_gan(run, (28, 28, 1), strategy, num_classes)


def _step_data(run, rng, replay: np.ndarray, batch: int = 8) -> dict[str, tf.Tensor]:
    k = run.train.k_steps
    return {
        "real": tf.constant(rng.uniform(-1, 1, (batch, k, 28, 28, 1)).astype(np.float32)),
        "noise": tf.constant(
            rng.standard_normal((batch, k + 1, run.train.latent_dim)).astype(np.float32)
        ),
        "replay": tf.constant(replay.reshape(batch, k).astype(np.float32)),
    }


def test_a_train_step_stores_its_fakes_and_the_next_step_shows_them_to_d(tiny_params):
    """Step 1 (empty buffer): D judges the fresh fakes G(z1), made by G before its update,
    and the buffer then holds exactly them. Step 2 (share 1.0): every fake D judges in its
    update is a past one, slot floor(u * 8), while G's loss still comes from a second D
    pass over its fresh fakes. Catches a buffer written with the wrong batch (G after its
    update, the swapped inputs, nothing), replay that never reaches D, or a G loss on
    replayed fakes (whose D output has no gradient to G)."""
    run, gan = _gan(tiny_params, "gan", replay=1.0, replay_buffer=16, batch_size=8)
    assert run.train.update == "simultaneous" and run.train.k_steps == 1
    assert gan.draws == ("replay",)
    seen = _spy_on_discriminator(gan)
    rng = np.random.default_rng(0)
    slots = np.array([7, 6, 5, 4, 3, 2, 1, 0])
    draws = (slots + 0.5) / 8  # u with floor(u * 8) = slot

    first = _step_data(run, rng, draws)
    fresh1 = gan.generator(first["noise"][:, 0], training=True).numpy()  # G before step 1
    gan.train_step(first)
    assert len(seen) == 2  # D on [real; fake], then D on G's fresh fakes
    np.testing.assert_array_equal(seen[0][:8], first["real"][:, 0].numpy())
    np.testing.assert_allclose(seen[0][8:], fresh1, atol=1e-6)  # nothing to replay yet
    assert int(gan.replay.written.numpy()) == 8
    np.testing.assert_allclose(gan.replay.images.numpy()[:8], fresh1, atol=1e-6)
    np.testing.assert_array_equal(gan.replay.images.numpy()[8:], 0.0)

    seen.clear()
    second = _step_data(run, rng, draws)
    fresh2 = gan.generator(second["noise"][:, 0], training=True).numpy()  # G after step 1
    assert np.abs(fresh2 - fresh1).max() > 1e-4  # G moved: the two batches are told apart
    gan.train_step(second)
    assert len(seen) == 2
    np.testing.assert_array_equal(seen[0][:8], second["real"][:, 0].numpy())
    np.testing.assert_allclose(seen[0][8:], fresh1[slots], atol=1e-6)  # only past fakes
    np.testing.assert_allclose(seen[1], fresh2, atol=1e-6)  # G's loss: its fresh fakes
    assert int(gan.replay.written.numpy()) == 16
    np.testing.assert_allclose(gan.replay.images.numpy()[:8], fresh1, atol=1e-6)
    np.testing.assert_allclose(gan.replay.images.numpy()[8:], fresh2, atol=1e-6)


def test_alternating_updates_replay_in_d_updates_only(tiny_params):
    """With update: alternating and k_steps 2, each D update mixes by its own column of the
    draws and stores its own fakes; the G update judges only its fresh fakes."""
    run, gan = _gan(
        tiny_params,
        "gan",
        replay=1.0,
        replay_buffer=16,
        batch_size=8,
        k_steps=2,
        update="alternating",
    )
    seen = _spy_on_discriminator(gan)
    rng = np.random.default_rng(1)
    draws = np.stack([np.full(8, 0.99), (np.arange(8) + 0.5) / 8], axis=1)  # [8, 2]
    data = _step_data(run, rng, draws)
    # G does not move before its own update, the last of the step
    fresh, fresh_b, fresh_g = (
        gan.generator(data["noise"][:, i], training=True).numpy() for i in range(3)
    )
    gan.train_step(data)
    assert [s.shape[0] for s in seen] == [16, 16, 8]
    np.testing.assert_allclose(seen[0][8:], fresh, atol=1e-6)  # buffer empty
    np.testing.assert_allclose(seen[1][8:], fresh, atol=1e-6)  # slot floor(u * 8) = i
    np.testing.assert_allclose(seen[2], fresh_g, atol=1e-6)  # G's update: no replay
    assert int(gan.replay.written.numpy()) == 16
    np.testing.assert_allclose(gan.replay.images.numpy()[:8], fresh, atol=1e-6)
    np.testing.assert_allclose(gan.replay.images.numpy()[8:], fresh_b, atol=1e-6)


def test_replay_off_makes_no_buffer_and_no_checkpoint_variables(tiny_params):
    """Off, nothing changes: no draw is asked of the data and the checkpoint keeps its
    keys (an old checkpoint still restores); on, the buffer is in the checkpoint, so a
    resumed run replays the same past fakes."""
    _, off = _gan(tiny_params, "gan")
    assert off.replay is None and off.draws == ()
    assert not [key for key in gan_state(off) if key.startswith("replay")]
    _, on = _gan(tiny_params, "gan", replay=0.5, replay_buffer=16)
    state = gan_state(on)
    assert {key for key in state if key.startswith("replay")} == {
        "replay/images",
        "replay/written",
    }
    assert tuple(state["replay/images"].shape) == (16, 28, 28, 1)


def test_a_family_without_replay_gets_no_buffer(tiny_params):
    """cgan's D judges a fake with the current labels, so it takes no replay."""
    _, gan = _gan(tiny_params, "cgan", num_classes=10, replay=0.5, replay_buffer=16)
    assert gan.replay is None and "replay" not in gan.draws


def test_a_buffer_smaller_than_a_batch_is_a_config_error(tiny_params):
    """A store of more fakes than slots would scatter several to one slot."""
    params = copy.deepcopy(tiny_params)
    params["train"].update(replay=0.5, replay_buffer=4, batch_size=8)
    with pytest.raises(ConfigError, match=r"train\.replay_buffer"):
        resolve_run(params, "gan")
    params["train"]["replay"] = 0.0  # off: the size is not read
    resolve_run(params, "gan")


class _Crash(Exception):
    pass


class _CrashAfterCheckpoint:
    """A callback that stops the run right after its checkpoint at `step`."""

    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, step, values): ...

    def on_epoch_end(self, epoch, values): ...

    def on_checkpoint(self, step):
        if step == self.step:
            raise _Crash


def test_a_resumed_run_replays_the_same_past_fakes(tiny_params, tiny_images, tmp_path):
    """The buffer is part of the checkpoint: stopped after step 2 (buffer full) and
    resumed, step 3 swaps in the same past fakes as a run never stopped, so the weights
    end the same. A buffer missing from the checkpoint restarts empty and step 3 differs."""
    params = copy.deepcopy(tiny_params)
    params["train"].update(
        dropout=0.0, epochs=1, steps_per_epoch=3, batch_size=8, checkpoint_every=2
    )
    params["train"].update(replay=1.0, replay_buffer=16)
    run = resolve_run(params, "gan")

    def weights(result):
        gan = result.gan
        return [v.numpy() for v in gan.generator.weights + gan.discriminator.weights]

    straight = train(run, tiny_images, checkpoint_dir=tmp_path / "straight", progress=False)
    with pytest.raises(_Crash):
        train(
            run,
            tiny_images,
            checkpoint_dir=tmp_path / "stopped",
            progress=False,
            callbacks=[_CrashAfterCheckpoint(2)],
        )
    resumed = train(run, tiny_images, checkpoint_dir=tmp_path / "stopped", progress=False)
    assert resumed.resumed_from == 2
    assert int(resumed.gan.replay.written.numpy()) == 24
    np.testing.assert_array_equal(
        resumed.gan.replay.images.numpy(), straight.gan.replay.images.numpy()
    )
    for a, b in zip(weights(straight), weights(resumed), strict=True):
        np.testing.assert_array_equal(a, b)


# --- two devices train like one -----------------------------------------------------------


def _train(params, model, images, tmp_path, strategy):
    run = resolve_run(params, model)
    result = train(run, images, checkpoint_dir=tmp_path, strategy=strategy, progress=False)
    gan = result.gan
    weights = [v.numpy() for v in gan.generator.weights + gan.discriminator.weights]
    losses = [[row[k] for k in ("d_loss", "g_loss", "d_real", "d_fake")] for row in result.history]
    return weights, np.array(losses), gan.replay


@pytest.mark.parametrize("model", ["gan", "dcgan"])
def test_mirrored_replay_on_two_devices_matches_one_device(
    tiny_params, tiny_images, tmp_path, model
):
    """Each replica swaps its own examples by its own draws from one buffer that takes the
    all-gathered global fakes in global order; so the buffer, the losses and the weights
    are those of one device. A buffer written per replica (each its own half) or read
    from the wrong copy breaks it. The 16-slot buffer wraps around in the third step."""
    assert len(tf.config.list_logical_devices("CPU")) == 2
    params = copy.deepcopy(tiny_params)
    params["models"]["dcgan"]["generator"] = "transposed"  # no BatchNorm: fast and exact
    params["train"].update(
        dropout=0.0, epochs=1, steps_per_epoch=3, batch_size=8, replay=0.5, replay_buffer=16
    )
    params["train"]["lr"] = 2e-4  # test_distribute.py's tolerances
    one, one_losses, one_buffer = _train(
        params, model, tiny_images, tmp_path / "one", tf.distribute.get_strategy()
    )
    two, two_losses, two_buffer = _train(
        params, model, tiny_images, tmp_path / "two", make_strategy("mirrored")
    )
    assert int(one_buffer.written.numpy()) == int(two_buffer.written.numpy()) == 24
    copies = [v.numpy() for v in two_buffer.images.values]  # one per replica
    assert len(copies) == 2
    np.testing.assert_array_equal(copies[0], copies[1])
    np.testing.assert_allclose(one_buffer.images.numpy(), copies[0], atol=1e-4)
    # The tolerances of tests/test_distribute.py (see there).
    np.testing.assert_allclose(one_losses, two_losses, rtol=1e-4, atol=1e-6)
    assert len(one) == len(two)
    assert_weights_alike(one, two, bound=3 * 2 * resolve_run(params, model).train.lr)
