"""SRGAN's trade-off (Ledig et al. 2017): SRResNet on the pixel MSE alone against SRGAN at
the same number of steps, on the lowres pairs' test split.

Runs, each for every seed in `--seeds`, all with params.yaml's models.srgan otherwise:

    srresnet           pretrain_steps + gan_steps of the pixel MSE alone (gan_steps 0)
    srgan              params.yaml's: pretrain_steps of MSE, then gan_steps adversarial
    srgan_features     the same with content: features (the evaluator's conv block as VGG)

Each is scored as `evaluate@srgan` scores (pipeline.scoring.score.score_generator, with
evaluate.n_samples test images): psnr, ssim, l1 against the originals, fid, precision and
recall against the reference, and `sharpness`: the mean squared Laplacian of the upscaled
images over the originals' (bench/pix2pix_ablation.py's; 1 is as sharp as the real images,
and MSE-trained upscalers are known to blur, so below 1). Bicubic upscaling of the same
images is the first row. Per-run results go to `--out` (default
bench/results/srgan_tradeoff.json) as each finishes (a killed bench resumes; stored runs
are skipped); the table goes to the same path with .md, and a picture of the runs trained
in this call (low | bicubic | each run | original, first seed) to .png.

    nice -n 10 .venv/bin/python bench/srgan_tradeoff.py [--seeds 0] [--runs srresnet srgan]

Needs data/lowres/pairs.npz, models/evaluator/model.keras and models/reference/stats.npz
(`dvc repro lowres`). Time-based columns: run it alone on the machine.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import gc
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from loss_table import cpu_flags, cpu_name, load_results, store_run, stored_run  # noqa: E402
from pix2pix_ablation import sharpness  # noqa: E402

RUNS = {
    "srresnet": {"content": "mse"},  # gan_steps folded into pretraining (run_params)
    "srgan": {"content": "mse"},
    "srgan_features": {"content": "features"},
}
METRICS = ["fid", "precision_recall", "paired"]
COLUMNS = ("psnr", "ssim", "fid", "recall", "sharpness", "train_seconds", "steps")
DIGITS = (2, 3, 2, 3, 2, 0, 0)


def run_params(params: dict, name: str, seed: int) -> dict:
    params = copy.deepcopy(params)
    params["train"].update(seed=seed, fid_every=0)
    own = params["models"]["srgan"]
    own.update(RUNS[name])
    if name == "srresnet":  # the same steps, all of them on the pixel MSE
        own.update(pretrain_steps=own["pretrain_steps"] + own["gan_steps"], gan_steps=0)
    return params


def score(generator, task, reference, cfg) -> dict:
    from pipeline.scoring.score import score_generator

    images, _, scores = score_generator(generator, task, reference, cfg, METRICS)
    real = task.real_images(len(images))
    return {**scores, "sharpness": sharpness(images) / sharpness(real)}


def train_and_score(run, task, reference, cfg) -> tuple[dict, object]:
    import keras

    from pipeline.training.loop import train

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="srgan_tradeoff-") as checkpoints:
        result = train(run, task.train_images, checkpoint_dir=Path(checkpoints), progress=False)
    record = {"train_seconds": time.perf_counter() - started, "steps": int(result.steps)}
    record |= score(result.generator, task, reference, cfg)
    generator = result.generator
    del result
    keras.backend.clear_session()
    gc.collect()
    return record, generator


def bicubic_record(task, reference, cfg) -> dict:
    """The first row: bicubic upscaling of the same test images, scored alike."""
    from pipeline.scoring.evaluator import load_embedder
    from pipeline.scoring.metrics.precision_recall import precision_recall
    from pipeline.scoring.metrics.upscaling import upscaler_scores

    embed = load_embedder(cfg.batch_size)
    upscaled = task.baseline_images(cfg.n_samples)
    real = task.real_images(cfg.n_samples)
    scores = upscaler_scores(upscaled, real, embed, reference)
    _, recall = precision_recall(reference.features, embed(upscaled).features, k=cfg.pr_k)
    sharp = sharpness(upscaled) / sharpness(real)
    return {**scores, "recall": recall, "sharpness": sharp, "name": "bicubic", "seed": "–"}


def table(runs: list[dict]) -> str:
    lines = [
        "| run | seed | psnr (dB) | ssim | fid | recall | sharpness | train s | steps |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for record in runs:
        cells = []
        for column, digits in zip(COLUMNS, DIGITS, strict=True):
            value = record.get(column)
            cells.append("–" if value is None else f"{value:.{digits}f}")
        lines.append(f"| `{record['name']}` | {record['seed']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def picture(task, generators: dict, path: Path, count: int = 8) -> None:
    """low | bicubic | each generator | original, one row per test image."""
    from pipeline.data.lowres import strips, upscale
    from pipeline.images import grid, save_png, to_uint8

    low, high = task.pairs.test_low[:count], task.pairs.test_high[:count]
    tiles = [upscale(low, task.pairs.factor, "bicubic")]
    tiles += [to_uint8(task.upscale(g, low)).reshape(high.shape) for g in generators.values()]
    save_png(grid(strips(low, tiles, high, task.pairs.factor), columns=2), path, scale=3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--runs", nargs="+", default=list(RUNS), choices=list(RUNS))
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/srgan_tradeoff.json")
    parser.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    args = parser.parse_args()

    from pipeline.config import load_params, parse_evaluate
    from pipeline.gans.families import resolve_run
    from pipeline.gans.inputs import task_for
    from pipeline.scoring.reference import Reference

    params = load_params(args.params)
    cfg = parse_evaluate(params)
    flags = cpu_flags()
    meta = {"cpu": cpu_name(), "avx512": flags, "command": " ".join(sys.argv)}
    reference = Reference.load()
    task = task_for(resolve_run(params, "srgan"))
    stored = load_results(args.out)
    generators = {}
    for name in args.runs:
        for seed in args.seeds:
            run = resolve_run(run_params(params, name, seed), "srgan")
            key = {"name": name, "seed": seed, "fingerprint": run.fingerprint(), "n": cfg.n_samples}
            if stored_run(stored, key) is not None:
                print(f"{name} seed {seed}: stored, skipped", flush=True)
                continue
            print(f"{name} seed {seed}: training", flush=True)
            record, generator = train_and_score(run, task, reference, cfg)
            generators.setdefault(name, generator)  # the picture shows the first seed's
            record |= {"name": name, "seed": seed, "settings": key}
            print(
                f"    psnr {record['psnr']:.2f} ssim {record['ssim']:.3f} fid {record['fid']:.2f} "
                f"sharpness {record['sharpness']:.2f} train {record['train_seconds']:.0f}s",
                flush=True,
            )
            stored = store_run(args.out, stored, record, meta)
    body = table([bicubic_record(task, reference, cfg), *stored])
    header = (
        f"# SRGAN's trade-off\n\n{meta['cpu']}, AVX-512: {flags}; "
        f"{datetime.date.today().isoformat()}; `{meta['command']}`\n\n"
    )
    args.out.with_suffix(".md").write_text(header + body + "\n")
    if generators:
        picture(task, generators, args.out.with_suffix(".png"))
    print(body)


if __name__ == "__main__":
    main()
