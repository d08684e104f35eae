"""Scores of generated images against the real test split, with the evaluator network,
through the registry of metrics (pipeline.scoring.metrics).

The reference (`models/reference/stats.npz`, pipeline/scoring/reference.py) holds the
evaluator's view of the real test split; the in-training FID is pipeline/scoring/probe.py.

Keys (all computed with the evaluator, never with Inception):
    fid                 Frechet distance of the feature Gaussians; lower is better, 0 at best
    kid, kid_std        kernel distance (unbiased MMD^2, cubic kernel), mean and std over
                        subsets; lower is better, about 0 at best
    classifier_score    exp E[KL(p(y|x) || p(y))]: confident and diverse classes; higher is
                        better, at most the number of classes (labelled datasets only)
    precision, recall   share of samples on the real manifold / of the real manifold covered
                        (k-NN balls); higher is better, 1 at best
    ppl, ppl_w          perceptual path length in z (and in w, StyleGAN): how much the
                        images change along latent paths; lower is smoother (latent
                        generators only)

Each comes from a registered metric (fid, kid, classifier_score, precision_recall, ppl:
the default `evaluate.metrics`), as do the families' own scores (Family.scores) and
fid_inception; `metric_names` says which run for a model.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.scoring.evaluator import Embedding, load_embedder
from pipeline.scoring.metrics import Context, check_metric_names, compute_metrics, get_metric
from pipeline.scoring.reference import Reference


def metric_names(cfg, model: str | None = None) -> tuple[str, ...]:
    """What `evaluate` computes for `model`: evaluate.metrics, then the family's own
    (Family.scores), then fid_inception when evaluate.inception_weights is set. Without a
    model: evaluate.metrics alone. An unknown name is a one-line ConfigError."""
    names = check_metric_names(cfg.metrics)
    if model is not None:
        from pipeline.gans.families import get_family

        names += check_metric_names(get_family(model).scores, key=f"{model}'s family scores")
    if cfg.inception_weights:
        names += ("fid_inception",)
    return check_metric_names(names)


def score(fake: Embedding, reference: Reference, cfg) -> dict[str, float]:
    """evaluate.metrics of `fake` against `reference` (the metrics that need no images
    and no model; `cfg` is an EvaluateConfig)."""
    return compute_metrics(check_metric_names(cfg.metrics), Context(None, fake, reference, cfg))


def floor(names, train: Context, test: Context) -> dict[str, float]:
    """The real-vs-real floor of every metric in `names` that has one (Metric.floor):
    `train` (real training images scored as a generator's are, against the test split)
    or `test` (the real test images' own value, e.g. the classifier score)."""
    contexts = {"train": train, "test": test}
    scores: dict[str, float] = {}
    for name in check_metric_names(names):
        side = get_metric(name).floor
        if side:
            scores |= compute_metrics([name], contexts[side])
    return scores


def score_generator(
    generator, task, reference, cfg, names=None, model_dir: Path | None = None
) -> tuple:
    """evaluate.n_samples images of `generator` (latents or test pairs seeded with
    evaluate.seed), their evaluator embedding, and the scores of the metrics `names`
    (default: evaluate.metrics) against `reference`: what `evaluate` writes (with the
    family's names, `metric_names`), and what `retrain` re-measures a champion with."""
    names = check_metric_names(cfg.metrics if names is None else names)
    images = task.images(generator, cfg.n_samples, seed=cfg.seed, batch_size=cfg.batch_size)
    embedder = load_embedder(cfg.batch_size)
    embedding = embedder(images)
    context = Context(images, embedding, reference, cfg, task, model_dir, generator, embedder)
    return images, embedding, compute_metrics(names, context)
