"""`reference`: the evaluator's statistics of the real test split (models/reference/stats.npz)
and the real-vs-real floor (models/reference/metrics.json)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.config import load_params, parse_data
from pipeline.errors import DataError
from pipeline.saved import REFERENCE_DIR, write_json


def reference_command(params_path: Path) -> dict:
    """The evaluator's statistics of the real test split, and the real-vs-real floor."""
    from pipeline.config import parse_evaluate
    from pipeline.data.store import load_dataset
    from pipeline.scoring.evaluator import load_embedder
    from pipeline.scoring.metrics import Context, check_metric_names
    from pipeline.scoring.reference import REFERENCE_FILE, Reference
    from pipeline.scoring.score import floor

    params = load_params(params_path)
    cfg = parse_evaluate(params)
    names = check_metric_names(cfg.metrics)
    dataset = load_dataset(parse_data(params))
    embedder = load_embedder(cfg.batch_size)
    test = embedder(dataset.x_test)
    inception = None
    if cfg.inception_weights:
        from pipeline.scoring.inception import InceptionEmbedder

        inception = InceptionEmbedder(cfg.inception_weights)(dataset.x_test)
    reference = Reference.of(test, inception)
    # The floor: as many training images as a GAN is scored with, against the test split.
    count = min(cfg.n_samples, len(dataset.x_train))
    if count <= test.features.shape[1]:
        raise DataError(
            f"{dataset.name} has {len(dataset.x_train)} training images; scoring needs more "
            f"than the evaluator's {test.features.shape[1]} features (a few thousand for "
            "stable scores)"
        )
    chosen = np.random.default_rng(cfg.seed).choice(len(dataset.x_train), count, replace=False)
    train = dataset.x_train[np.sort(chosen)]
    # ... except what is a property of one image set (the classifier score): the test split's.
    scores = floor(
        names,
        train=Context(train, embedder(train), reference, cfg),
        test=Context(dataset.x_test, test, reference, cfg),
    )
    reference.save(REFERENCE_FILE)
    write_json(scores, REFERENCE_DIR / "metrics.json")
    return scores
