"""FID's square-root trace, ours against pytorch-fid's scipy.linalg.sqrtm; KID and P/R timings.

What it measures: two feature sets [samples, dim] (standard normal rows times a random
mixing matrix; the fake set has a perturbed mixing matrix and a shift), their
`feature_statistics`, then on the SAME statistics `pipeline.metrics.frechet_distance`
(Cholesky + symmetric eigenvalues) and pytorch-fid's formula (sqrtm of sigma1 @ sigma2,
real part). Each is timed as the best of `--repeats` runs (`--sqrtm-repeats` lowers it for
sqrtm alone, which takes 12 s or more per run at d = 2048 on a 2-core VM; best-of-fewer can
only overstate its time); every run of each is printed too. Then one timed run each of
`kernel_inception_distance` (defaults: 100 subsets of 1000) on all samples and
`precision_recall` (k = 3) on the first `--pr-samples`.

Output lines: `ours <fid> <s>s`, `sqrtm <fid> <s>s`, `relative_difference <float>`
(|ours - sqrtm| / |sqrtm|), `speed_ratio <float>` (sqrtm seconds / ours seconds), then
`kid`, `precision_recall` and `feature_statistics` lines with their seconds, and the
evaluator's feature-extraction rate when `models/evaluator/model.keras` exists.

    .venv/bin/python bench/metrics_speed.py [--dim 2048] [--samples 10000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import scipy.linalg

from pipeline.metrics import (
    feature_statistics,
    frechet_distance,
    kernel_inception_distance,
    precision_recall,
)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--samples", type=int, default=10000)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each (best)")
    parser.add_argument("--sqrtm-repeats", type=int, help="timed runs of sqrtm (--repeats)")
    parser.add_argument("--pr-samples", type=int, default=5000, help="rows for precision_recall")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def pytorch_fid(mu1, sigma1, mu2, sigma2, eps=1e-6) -> float:
    """The formula of pytorch-fid's calculate_frechet_distance (sqrtm of the product)."""
    diff = mu1 - mu2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # scipy >= 1.16 deprecates disp
        covmean, _ = scipy.linalg.sqrtm(sigma1.dot(sigma2), disp=False)
        if not np.isfinite(covmean).all():
            offset = np.eye(sigma1.shape[0]) * eps
            covmean, _ = scipy.linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset), disp=False)
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"Imaginary component {np.max(np.abs(covmean.imag))}")
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def timed(function, *args, repeats: int = 1):
    """(result, best seconds, every run's seconds)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = function(*args)
        times.append(time.perf_counter() - start)
    return result, min(times), times


def make_features(rng, samples: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    mixing = rng.standard_normal((dim, dim)) / np.sqrt(dim)
    other = mixing + 0.3 * rng.standard_normal((dim, dim)) / np.sqrt(dim)
    real = rng.standard_normal((samples, dim)) @ mixing
    fake = rng.standard_normal((samples, dim)) @ other + 0.1
    return real, fake


def main(argv=None) -> None:
    args = parse_args(argv)
    rng = np.random.default_rng(args.seed)
    real, fake = make_features(rng, args.samples, args.dim)
    (first, second), stats_seconds, _ = timed(
        lambda: (feature_statistics(real), feature_statistics(fake))
    )
    ours, ours_seconds, ours_times = timed(frechet_distance, *first, *second, repeats=args.repeats)
    sqrtm_repeats = args.sqrtm_repeats or args.repeats
    theirs, theirs_seconds, theirs_times = timed(
        pytorch_fid, *first, *second, repeats=sqrtm_repeats
    )
    print(f"ours {ours!r} {ours_seconds:.3f}s")
    print(f"sqrtm {theirs!r} {theirs_seconds:.3f}s")
    print(f"relative_difference {abs(ours - theirs) / abs(theirs):.3e}")
    print(f"speed_ratio {theirs_seconds / ours_seconds:.2f}")
    print("ours_each_run " + " ".join(f"{t:.3f}s" for t in ours_times))
    print("sqrtm_each_run " + " ".join(f"{t:.3f}s" for t in theirs_times))
    (mean, std), kid_seconds, _ = timed(kernel_inception_distance, real, fake)
    m = min(1000, args.samples)
    print(f"kid {mean:.6g} {std:.3g} {kid_seconds:.3f}s (n={args.samples}, 100 subsets of {m})")
    n = min(args.samples, args.pr_samples)
    (precision, recall), pr_seconds, _ = timed(precision_recall, real[:n], fake[:n])
    print(f"precision_recall {precision:.4f} {recall:.4f} {pr_seconds:.3f}s (n={n}, k=3)")
    print(f"feature_statistics {stats_seconds:.3f}s (both sets, n={args.samples}, d={args.dim})")
    feature_extraction(args.samples)


def feature_extraction(samples: int) -> None:
    """Images per second through the trained evaluator (models/evaluator/model.keras)."""
    from pathlib import Path

    if not Path("models/evaluator/model.keras").is_file():
        print("feature_extraction skipped: no models/evaluator/model.keras (dvc repro evaluator)")
        return
    from pipeline.scoring.evaluator import load_embedder

    embedder = load_embedder(batch_size=500)
    images = np.random.default_rng(0).uniform(-1, 1, (samples, *embedder.image_shape))
    embedder(images[:500].astype(np.float32))  # trace once
    _, seconds, _ = timed(embedder, images.astype(np.float32))
    print(f"feature_extraction_images_per_sec {samples / seconds:.1f} (evaluator, batch 500)")


if __name__ == "__main__":
    main()
