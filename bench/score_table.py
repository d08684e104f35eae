"""The quality table: every trained GAN's scores beside an untrained generator's and the floor.

Reads models/<name>/metrics.json (written by `dvc repro`), models/reference/metrics.json
(real training images against the real test split: the best a GAN could score), and
scores, for each GAN family, a freshly initialised generator of the same architecture
(the worst reasonable case) with the same evaluator and sample count.

    .venv/bin/python bench/score_table.py [--params params.yaml]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

KEYS = ("fid", "kid", "classifier_score", "precision", "recall")


def untrained_scores(params: dict, model: str) -> dict[str, float]:
    import tensorflow as tf

    from pipeline.config import parse_evaluate
    from pipeline.gans.families import resolve_run
    from pipeline.gans.inputs import task_for
    from pipeline.scoring.evaluator import load_embedder
    from pipeline.scoring.reference import Reference
    from pipeline.scoring.score import score
    from pipeline.training.build import build_compiled_gan

    run = resolve_run(params, model)
    cfg = parse_evaluate(params)
    task = task_for(run)
    shape = task.train_images.shape[1:]
    classes = task.train_labels.num_classes if task.train_labels else 0  # cgan, sgan, catgan
    gan = build_compiled_gan(run, shape, tf.distribute.get_strategy(), classes)
    images = task.images(gan.generator, cfg.n_samples, seed=cfg.seed, batch_size=cfg.batch_size)
    return score(load_embedder(cfg.batch_size)(images), Reference.load(), cfg)


def main() -> None:
    from pipeline.config import load_params, parse_train

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args()
    params = load_params(args.params)

    rows = [
        ("real train split (floor)", json.loads(Path("models/reference/metrics.json").read_text()))
    ]
    for model in parse_train(params).models:
        path = Path("models") / model / "metrics.json"
        if not path.is_file():
            print(f"{path} missing; run `dvc repro evaluate@{model}` first")
            continue
        rows.append((f"{model} (trained)", json.loads(path.read_text())))
        rows.append((f"{model} (untrained)", untrained_scores(params, model)))

    print(f"{'generator':<28}" + "".join(f"{key:>18}" for key in KEYS))
    for name, scores in rows:
        print(f"{name:<28}" + "".join(f"{scores[key]:>18.4f}" for key in KEYS))


if __name__ == "__main__":
    main()
