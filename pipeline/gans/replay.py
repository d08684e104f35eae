"""Experience replay (seed 004): show the discriminator some of the generator's past fakes.

A generator that oscillates between modes can win by returning to one the discriminator
has forgotten; replaying old fakes keeps D answering for them. With `train.replay` = s,
each example of a fake minibatch is, with probability s, swapped for a fake drawn from a
ring buffer of the last `train.replay_buffer` generated D inputs; after each D update the
buffer takes that update's fresh fakes (the whole global batch).

Exactness and devices. Which examples are swapped and which slot each gets come from a
per-example U(0, 1) draw `replay` of the data pipeline, keyed on (seed, step) like the
penalties' draws, so a resumed run swaps the same ones. The buffer is two variables of the
checkpoint (`replay/images`, `replay/written`). Under MirroredStrategy each replica swaps
its own examples (its share of the global minibatch, by its own draws) from the same
buffer, and writes the all-gathered global fakes in global order, so every replica holds
the same buffer and two devices train like one (tests/test_replay.py).

The generator's loss is always on its fresh fakes: a swapped example's D output does not
depend on G, so where the two updates share a pass (train.update: simultaneous), G gets
one more D pass over the fresh fakes.
"""

from __future__ import annotations

import tensorflow as tf

DRAW = "replay"  # the data pipeline's per-example U(0, 1) draw, [b, k]


class ReplayBuffer:
    """A ring buffer of past D inputs for fakes, and how a minibatch mixes them in."""

    draws = (DRAW,)

    def __init__(self, share: float, size: int, sample_shape: tuple[int, ...]):
        self.share, self.size = float(share), int(size)
        # Every replica writes the same (all-gathered) value: keep the first replica's.
        options = {
            "trainable": False,
            "synchronization": tf.VariableSynchronization.ON_WRITE,
            "aggregation": tf.VariableAggregation.ONLY_FIRST_REPLICA,
        }
        shape = (self.size, *sample_shape)
        self.images = tf.Variable(tf.zeros(shape), name="replay_images", **options)
        self.written = tf.Variable(tf.constant(0, tf.int64), name="replay_written", **options)

    def named_variables(self) -> dict[str, tf.Variable]:
        return {"replay/images": self.images, "replay/written": self.written}

    def mix(self, fakes: tf.Tensor, draw: tf.Tensor) -> tf.Tensor:
        """[b, ...] fresh fakes -> the same with each example whose draw u < share swapped
        for buffer slot floor(u / share * filled); unchanged while the buffer is empty."""
        filled = tf.minimum(self.written, self.size)
        draw = tf.cast(draw, tf.float32)
        swap = (draw < self.share) & (filled > 0)  # [b]
        position = draw / self.share * tf.cast(filled, tf.float32)
        slot = tf.clip_by_value(tf.cast(position, tf.int64), 0, tf.maximum(filled - 1, 0))
        past = tf.gather(self.images, slot)  # [b, ...]
        swap = tf.reshape(swap, [-1] + [1] * (len(fakes.shape) - 1))
        return tf.where(swap, tf.cast(past, fakes.dtype), fakes)

    def store(self, fakes: tf.Tensor) -> None:
        """Write this update's fakes, gathered over replicas in global order, after the
        last written slot (wrapping around)."""
        context = tf.distribute.get_replica_context()
        fresh = tf.stop_gradient(tf.cast(fakes, tf.float32))
        everything = context.all_gather(fresh, axis=0) if context else fresh  # [B, ...]
        count = tf.shape(everything, out_type=tf.int64)[0]
        positions = (self.written + tf.range(count, dtype=tf.int64)) % self.size
        self.images.assign(tf.tensor_scatter_nd_update(self.images, positions[:, None], everything))
        self.written.assign_add(count)
