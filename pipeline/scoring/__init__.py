"""Scoring with the project's evaluator network (DESIGN.md, "Scoring without a hub").

    evaluator.py   the evaluator CNN and its embedding of images (TensorFlow)
    reference.py   the evaluator's view of the real test split (models/reference/stats.npz)
    metrics/       the registry of metrics, one module per metric with its math (numpy)
    score.py       which metrics run for a model, and scoring a generator through them
    probe.py       the in-training FID (train.fid_every)
    inception.py   optional InceptionV3 features (evaluate.inception_weights)

This package's __init__ imports nothing, so `pipeline.metrics` (the public math) stays
free of TensorFlow.
"""
