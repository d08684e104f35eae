"""pix2pix's loss ablation: L1 alone against L1 + cGAN on the same budget (Isola et al. 2017).

The paper's finding (its Figure 4 and Table 1): L1 alone gives plausible but blurry
images, the cGAN term makes them sharp and realistic at some cost in per-pixel distance.
This bench trains one pix2pix per loss in `--losses` with everything else equal (params,
seed, steps) and scores each on the test pairs:

    l1, psnr, ssim   distance to the real target (paired; L1 alone should win these)
    fid              evaluator FID of the translations against the real test split
    sharpness        mean squared Laplacian of the translations over the real images'
                     (1.0 = as sharp as the real images; blur pulls it towards 0)

It needs the pairs, the evaluator and the reference (`dvc repro edges reference`) and
writes bench/pix2pix_ablation.png: one row per test pair, edges | each loss | real.

    .venv/bin/python bench/pix2pix_ablation.py --epochs 1 --steps-per-epoch 300
"""

from __future__ import annotations

import argparse
import copy
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--losses", nargs="+", default=["l1", "l1+cgan"])
    parser.add_argument("--epochs", type=int, default=None, help="default: params.yaml's")
    parser.add_argument("--steps-per-epoch", type=int, default=None)
    parser.add_argument("--samples", type=int, default=None, help="default: evaluate.n_samples")
    parser.add_argument("--rows", type=int, default=8, help="test pairs in the picture")
    parser.add_argument("--out", type=Path, default=Path("bench/pix2pix_ablation.png"))
    return parser.parse_args(argv)


def sharpness(images: np.ndarray) -> float:
    """Mean squared 4-neighbour Laplacian of float images [N, H, W, C]."""
    laplacian = (
        images[:, :-2, 1:-1] + images[:, 2:, 1:-1] + images[:, 1:-1, :-2] + images[:, 1:-1, 2:]
    ) - 4 * images[:, 1:-1, 1:-1]
    return float(np.mean(laplacian**2))


def run_for(params: dict, loss: str, args: argparse.Namespace):
    from pipeline.gans.families import resolve_run

    params = copy.deepcopy(params)
    section = params.setdefault("models", {}).setdefault("pix2pix", {})
    section["loss"] = loss
    if args.epochs is not None:
        section["epochs"] = args.epochs
    if args.steps_per_epoch is not None:
        section["steps_per_epoch"] = args.steps_per_epoch
    return resolve_run(params, "pix2pix")


def main() -> None:
    from pipeline.config import load_params, parse_evaluate
    from pipeline.gans.inputs import task_for
    from pipeline.images import grid, save_png
    from pipeline.scoring.evaluator import load_embedder
    from pipeline.scoring.metrics.paired import paired_scores
    from pipeline.scoring.probe import fid
    from pipeline.scoring.reference import Reference
    from pipeline.training.loop import train

    args = parse_args()
    params = load_params(args.params)
    cfg = parse_evaluate(params)
    count = args.samples or cfg.n_samples
    embedder, reference = load_embedder(cfg.batch_size), Reference.load()

    rows, columns, task = {}, [], None
    for loss in args.losses:
        run = run_for(params, loss, args)
        task = task_for(run)
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as checkpoints:
            result = train(run, task.train_images, checkpoint_dir=Path(checkpoints))
        seconds = time.perf_counter() - started
        images = task.images(result.gan.generator, count, seed=0)
        real = task.real_images(len(images))
        scores = paired_scores(images, real)
        scores["fid"] = fid(embedder(images).features, reference)
        scores["sharpness"] = sharpness(images) / sharpness(real)
        scores["steps"], scores["minutes"] = result.steps, seconds / 60
        rows[loss] = scores
        columns.append(task.triptychs(result.gan.generator, np.arange(args.rows)))
        print(f"{loss}: " + ", ".join(f"{k}={v:.4g}" for k, v in scores.items()), flush=True)

    # edges | one column per loss | real, for the same test pairs
    width = columns[0].shape[2] // 3
    picture = np.concatenate(
        [columns[0][:, :, :width]]
        + [c[:, :, width : 2 * width] for c in columns]
        + [columns[0][:, :, 2 * width :]],
        axis=2,
    )
    save_png(grid(picture, columns=1), args.out, scale=4)

    keys = ("l1", "psnr", "ssim", "fid", "sharpness", "steps", "minutes")
    print(f"\n{'loss':<10}" + "".join(f"{k:>11}" for k in keys))
    for loss, scores in rows.items():
        print(f"{loss:<10}" + "".join(f"{scores[k]:>11.4g}" for k in keys))
    print(f"wrote {args.out} (edges | {' | '.join(args.losses)} | real)")


if __name__ == "__main__":
    main()
