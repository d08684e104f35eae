"""`lowres`: data/lowres/pairs.npz (every image of both splits shrunk by lowres.factor,
beside the original), data/lowres/preview.png (low | bicubic | original) and
data/lowres/stats.json (the plain upscalers scored on the test split: what srgan has to
beat)."""

from __future__ import annotations

from pathlib import Path

from pipeline.config import load_params, parse_data, parse_evaluate, parse_lowres


def baseline_stats(pairs, batch_size: int) -> dict[str, float | int]:
    """Flat figures for stats.json: sizes, and per upscaler of the test split's low
    images its psnr, ssim, l1 against the originals and its fid against the reference
    (not for a test split too small for an FID: no more images than features; a line on
    stderr says so)."""
    import sys

    from pipeline.data import lowres
    from pipeline.data.loader import to_unit_range
    from pipeline.scoring.evaluator import load_embedder
    from pipeline.scoring.metrics.upscaling import upscaler_scores
    from pipeline.scoring.reference import Reference

    embedder = load_embedder(batch_size)  # first: a missing evaluator names its stage
    reference = Reference.load()
    features = reference.mu.shape[0]
    if len(pairs.test_high) <= features:
        print(
            f"lowres: {len(pairs.test_high)} test images are too few for an FID ({features} "
            "features); stats.json has psnr, ssim and l1 only",
            file=sys.stderr,
        )
        embedder = None
    real = to_unit_range(pairs.test_high).numpy()
    stats: dict[str, float | int] = {
        "factor": pairs.factor,
        "low_side": int(pairs.test_low.shape[1]),
        "high_side": int(pairs.test_high.shape[1]),
        "train_pairs": len(pairs.train_high),
        "test_pairs": len(pairs.test_high),
    }
    for method in lowres.UPSCALERS:
        upscaled = to_unit_range(lowres.upscale(pairs.test_low, pairs.factor, method)).numpy()
        scores = upscaler_scores(upscaled, real, embedder, reference)
        stats |= {f"{method}_{key}": value for key, value in scores.items()}
    return stats


def lowres_command(params_path: Path) -> dict:
    """Make the pairs of the fetched dataset with lowres.*; returns the baselines' scores."""
    from pipeline.data import lowres
    from pipeline.data.store import load_dataset
    from pipeline.images import display_scale, save_png
    from pipeline.saved import write_json

    params = load_params(params_path)
    cfg = parse_lowres(params)
    dataset = load_dataset(parse_data(params))
    pairs = lowres.make_pairs(dataset, cfg)
    stats = baseline_stats(pairs, parse_evaluate(params).batch_size)
    lowres.save_pairs(pairs, lowres.PAIRS_FILE)
    picture = lowres.preview(pairs)
    save_png(picture, lowres.PREVIEW_FILE, scale=display_scale(picture))
    write_json(stats, lowres.STATS_FILE)
    return stats
