"""StyleGAN's ablation: style mixing and noise inputs on and off at one budget, against the
DCGAN at its default budget: fid, recall and the perceptual path length, per seed.

Runs, each for every seed in `--seeds`:

    dcgan          params.yaml's models.dcgan (the default: batch 32, 1 epoch)
    stylegan       params.yaml's models.stylegan (mixing_prob 0.9, noise on)
    no_mixing      the same with mixing_prob 0
    no_noise       the same with noise false
    neither        both off

Every StyleGAN run has params.yaml's stylegan budget (its batch size and epochs), so the
four differ by the switch alone; the DCGAN runs at its own default, and the table gives
each run's training seconds so "at the DCGAN's default wall time" can be read off it.
Each generator (the averaged one where train.ema is on, as the pipeline keeps it) is
scored with the project's evaluator: fid, kid, precision, recall of `--samples` images
(bench/loss_table.py's scoring), and `ppl` (in z, slerp) and for StyleGAN `ppl_w` (in w,
lerp), the registered metric with evaluate.ppl_samples paths and evaluate.ppl_epsilon
(pipeline/scoring/metrics/ppl.py). The table gives the mean over the seeds +- half their
range. Per-run results go to `--out` (default bench/results/stylegan_ablation.json) as
each finishes, so a killed bench resumes (runs stored with the same settings are skipped);
the table goes to the same path with .md, headed by the CPU, its AVX-512 flags and the date.

    nice -n 10 .venv/bin/python bench/stylegan_ablation.py [--seeds 0 1] [--samples 10000] \
        [--runs dcgan stylegan no_mixing no_noise neither] [--out bench/results/...json]

Needs data/raw/dataset.npz and models/evaluator/model.keras (`dvc repro evaluator`).
Time-based: run it alone on the machine.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from loss_table import (  # noqa: E402
    cpu_flags,
    cpu_name,
    eval_settings,
    load_results,
    mean_spread,
    scoring_setup,
    store_run,
    stored_run,
    train_and_score,
)

# run -> (model, models.<model> changes)
RUNS = {
    "dcgan": ("dcgan", {}),
    "stylegan": ("stylegan", {}),
    "no_mixing": ("stylegan", {"mixing_prob": 0.0}),
    "no_noise": ("stylegan", {"noise": False}),
    "neither": ("stylegan", {"mixing_prob": 0.0, "noise": False}),
}
COLUMNS = ("fid", "recall", "precision", "ppl", "ppl_w", "train_seconds", "steps")


def run_params(params: dict, name: str, seed: int) -> tuple[str, dict]:
    model, changes = RUNS[name]
    params = copy.deepcopy(params)
    params["train"].update(seed=seed, fid_every=0)
    params["models"][model].pop("seed", None)
    params["models"][model].update(changes)
    return model, params


def path_lengths(run, params: dict, embed):
    """`extra` for train_and_score: the ppl metric of the trained generator."""
    from pipeline.config import parse_evaluate
    from pipeline.gans.inputs import LatentTask
    from pipeline.scoring.metrics import Context, compute_metrics

    cfg = parse_evaluate(params)

    def extra(result, embedding) -> dict:
        context = Context(None, None, None, cfg, LatentTask(run), None, result.generator, embed)
        return compute_metrics(["ppl"], context)

    return extra


def table(runs: list[dict], names: list[str]) -> str:
    lines = [
        "| run | seeds | fid | recall | precision | ppl (z) | ppl_w | train s | steps |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in names:
        done = [r for r in runs if r["name"] == name]
        if not done:
            continue
        cells = []
        for column, digits in zip(COLUMNS, (2, 3, 3, 1, 1, 0, 0), strict=True):
            values = [r.get(column) for r in done if r.get(column) is not None]
            if not values:
                cells.append("–")
                continue
            mean, spread = mean_spread(values)
            cells.append(
                f"{mean:.{digits}f} ± {spread:.{digits}f}"
                if len(values) > 1
                else f"{mean:.{digits}f}"
            )
        seeds = ", ".join(str(r["seed"]) for r in done)
        lines.append(f"| `{name}` | {seeds} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--samples", type=int, default=10000)
    default_order = ["stylegan", "no_mixing", "no_noise", "neither", "dcgan"]
    parser.add_argument("--runs", nargs="+", default=default_order, choices=list(RUNS))
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/stylegan_ablation.json")
    parser.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    args = parser.parse_args()

    from pipeline.config import load_params
    from pipeline.gans.families import resolve_run

    params = load_params(args.params)
    eval_cfg = eval_settings(params)
    flags = cpu_flags()
    meta = {"cpu": cpu_name(), "avx512": flags, "command": " ".join(sys.argv)}
    stored = load_results(args.out)
    setup = None
    for name in args.runs:  # every seed of one run, then the next (a cut-short bench has pairs)
        for seed in args.seeds:
            model, run_cfg = run_params(params, name, seed)
            run = resolve_run(run_cfg, model)
            # what makes two runs the same: the weights' params (the fingerprint), the scoring
            key = {"name": name, "seed": seed, "samples": args.samples, **eval_cfg}
            key["fingerprint"] = run.fingerprint()
            key["ppl"] = [
                params["evaluate"].get("ppl_samples"),
                params["evaluate"].get("ppl_epsilon"),
            ]
            if stored_run(stored, key) is not None:
                print(f"{name} seed {seed}: stored, skipped", flush=True)
                continue
            if setup is None:
                setup = scoring_setup(run)
            images, embed, real = setup
            print(f"{name} seed {seed}: training {model}", flush=True)
            started = time.perf_counter()
            record = train_and_score(
                run, images, real, embed, eval_cfg, args.samples, path_lengths(run, run_cfg, embed)
            )
            record |= {"name": name, "seed": seed, "settings": key}
            nan = float("nan")
            print(
                f"    fid {record.get('fid', nan):.2f} recall {record.get('recall', nan):.3f} "
                f"ppl {record.get('ppl', nan):.1f} ppl_w {record.get('ppl_w', nan):.1f} train "
                f"{record['train_seconds']:.0f}s (all {time.perf_counter() - started:.0f}s)",
                flush=True,
            )
            stored = store_run(args.out, stored, record, meta)
    body = table(stored, list(RUNS))
    header = (
        f"# StyleGAN ablation\n\n{meta['cpu']}, AVX-512: {flags}; "
        f"{datetime.date.today().isoformat()}; `{meta['command']}`\n\n"
    )
    args.out.with_suffix(".md").write_text(header + body + "\n")
    print(body)


if __name__ == "__main__":
    main()
