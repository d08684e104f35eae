"""FID with InceptionV3 features, when the user supplies the weights.

    fid_inception   FID of 2048-d InceptionV3 pool features of the images resized to
                    299x299 (grayscale repeated to RGB); lower is better. Closer to the
                    literature than `fid` but not the published TF-FID network.

Registers the metric `fid_inception`, which `evaluate` adds when
evaluate.inception_weights is set (pipeline.scoring.inception; TensorFlow is imported when
it is computed, not with this module).
"""

from __future__ import annotations

import numpy as np

from pipeline.errors import ConfigError, DataError
from pipeline.scoring.metrics import Context, Metric, register
from pipeline.scoring.metrics.fid import fid_against_statistics


def fid_inception(images: np.ndarray, reference, cfg) -> float:
    """FID with InceptionV3 features (evaluate.inception_weights) of `images` against the
    reference's InceptionV3 statistics."""
    from pipeline.scoring.inception import InceptionEmbedder

    if reference.inception_mu is None:
        raise DataError(
            "the reference has no InceptionV3 statistics (evaluate.inception_weights was unset "
            "when it was computed); recompute it: `dvc repro reference`"
        )
    features = InceptionEmbedder(cfg.inception_weights)(images)
    return fid_against_statistics(features, reference.inception_mu, reference.inception_sigma)


def _fid_inception(context: Context) -> dict[str, float]:
    if not context.cfg.inception_weights:
        raise ConfigError(
            "metric 'fid_inception' needs evaluate.inception_weights (a local InceptionV3 "
            "no-top weights file)"
        )
    return {"fid_inception": fid_inception(context.images, context.reference, context.cfg)}


register(Metric("fid_inception", _fid_inception, floor="", summary="FID with InceptionV3 features"))
