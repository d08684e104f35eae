"""Training: the loop over strategy.run, phases and schedules, the averaged generator,
named checkpoints, tf.distribute strategies and precision."""
