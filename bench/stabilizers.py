"""The stabiliser table: DCGAN with each of seed 004's stabilisers, and ProGAN at equal time.

Trains the `dcgan` networks (params.yaml's settings; `--variant upsample|transposed`,
default params.yaml's `models.dcgan.generator`) for each seed in `--seeds`, all at one
budget (`--steps` in all, in whole epochs of at most one pass over the training split:
2500 steps of 32 train as 2 x 1250, the DCGAN's default; at `--batch-size`), once per
configuration:

    baseline                   every stabiliser off
    minibatch_std              train.minibatch_std = --group (Karras et al.'s group size)
    minibatch_discrimination   train.minibatch_discrimination = --kernels, of dimension
                               train.minibatch_kernel_dim = --kernel-dim (Salimans et al.)
    replay                     train.replay = --replay of each fake minibatch replayed
                               from a buffer of the last train.replay_buffer = --buffer fakes
    all                        the three together

Everything else comes from params.yaml (train.loss, lr, beta1, k_steps, dropout, ...);
models.dcgan's own overrides of these keys are dropped so the bench's settings win (as in
bench/loss_table.py, whose run set-up, scoring and result files this script reuses).

Then `progan` (params.yaml's models.progan: its lr, beta1, ema, batch_size, minibatch_std,
filters; seed 004's progressive growing 7 -> 14 -> 28 px) for each seed, at THE SAME
TRAINING WALL TIME as that seed's DCGAN baseline run. Its length is its phases'
(3 x stable_steps + 2 x fade_steps at 28 px), so the bench scales stable_steps and
fade_steps by one factor (keeping params.yaml's ratio) to fit the baseline's measured
training seconds. The cost of a step differs per resolution, so it is measured once by a
short timed pilot run of progan (`--pilot-steps` steps in each of its five phases): a
callback stamps the time after every step; a phase's seconds per step is the mean
interval between its steps, leaving out its first step (which also builds the grown
networks, traces the new train step and starts the data pipeline); whatever else the
pilot's wall time holds is fixed overhead (building, tracing, phase-end checkpoints).
Predicted wall time = overhead + sum over phases of steps x seconds per step; the factor
makes it equal the baseline's seconds (at least one step per phase). Not modelled: the
checkpoints the run writes every train.checkpoint_every steps (a fraction of a second
each) and changes in the machine's load between the pilot and the run. The table gives
every run's actual training seconds and, per seed, progan's beside the baseline's, so the
reader sees how close the match is. Matching is by wall time, not steps or images: ProGAN
runs at its own batch size and on small images for most of its steps.

progan is scored by its averaged generator (train.ema in params.yaml, with the trainer's
warm-up, so a short run's average is not stuck at its initial weights); `--progan-ema 0`
scores the raw generator instead.

Each generator is scored with the project's evaluator (models/evaluator/model.keras, a
Fashion-MNIST CNN): fid, kid, precision, recall of `--samples` generated images (latents
from evaluate.seed) against the 10000 real test images, as bench/loss_table.py does, and
"classes", a measure of mode coverage: the number of distinct classes the evaluator
predicts (the argmax of its softmax) for the first 1000 of those samples, counting a
class only if it gets at least 1% of them (10 of 1000). All 10 Fashion-MNIST classes is
full coverage; a generator that collapsed onto a few modes covers few classes. Read it
beside precision: unstructured images (an untrained ProGAN's) also spread over many
classes. The table
gives, per configuration, the mean over the seeds +- HALF THE RANGE over the seeds
((max - min) / 2), the steps, and the training wall seconds per run (scoring excluded).

A run that diverges (pipeline.errors.TrainingError) is recorded as diverged and left out
of its configuration's means. Per-run results go to `--out` (default
bench/results/stabilizers.json) as each run finishes, so a killed bench resumes: runs
stored with the same settings are skipped (a progan run's settings include the baseline
seconds it was matched to, and the pilot is stored too). The table goes to the same path
with .md, headed by the CPU, its AVX-512 flags, the date and the command.

    nice -n 10 .venv/bin/python bench/stabilizers.py [--steps 400] [--batch-size 64] \\
        [--seeds 0 1] [--samples 10000] [--variant upsample|transposed] [--group 4] \\
        [--kernels 16] [--kernel-dim 5] [--replay 0.5] [--buffer 1024] [--pilot-steps 20] \\
        [--progan-ema 0.999] [--out bench/results/stabilizers.json] [--params params.yaml]

Needs data/raw/dataset.npz and models/evaluator/model.keras (`dvc repro evaluator`).
"""

from __future__ import annotations

import argparse
import copy
import datetime
import gc
import math
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

# bench/ is sys.path[0] when this runs as a script
from loss_table import (
    METRICS,
    ROOT,
    _fmt,
    check_inputs,
    cpu_flags,
    cpu_name,
    eval_settings,
    load_results,
    mean_spread,
    pass_steps,
    print_record,
    run_params,
    scoring_setup,
    store_run,
    stored_run,
    train_and_score,
)

STABILIZERS = ("minibatch_std", "minibatch_discrimination", "replay")
CONFIGS = ("baseline", *STABILIZERS, "all")  # the DCGAN runs
PROGAN = "progan"
PILOT = "progan pilot"
LABELS = (*CONFIGS, PROGAN)  # the table's rows
# The train.* keys of the stabilisers (each set by every DCGAN run).
STABILIZER_KEYS = (
    "minibatch_std",
    "minibatch_discrimination",
    "minibatch_kernel_dim",
    "replay",
    "replay_buffer",
)
CLASS_SAMPLES = 1000  # generated images whose classes are counted ...
CLASS_SHARE = 0.01  # ... a class counting when it gets at least this share of them


# ---------------------------------------------------------------- the runs' settings


def stabilizer_settings(label: str, args) -> dict:
    """train.* of the stabilisers for one DCGAN configuration (the others off)."""
    chosen = {
        "minibatch_std": 0,
        "minibatch_discrimination": 0,
        "minibatch_kernel_dim": args.kernel_dim,
        "replay": 0.0,
        "replay_buffer": args.buffer,
    }
    on = {
        "minibatch_std": {"minibatch_std": args.group},
        "minibatch_discrimination": {"minibatch_discrimination": args.kernels},
        "replay": {"replay": args.replay},
    }
    for name in STABILIZERS if label == "all" else (label,) if label in on else ():
        chosen.update(on[name])
    return chosen


def dcgan_params(params: dict, label: str, seed: int, args) -> dict:
    """loss_table's DCGAN run (params.yaml's loss, the bench's steps, batch, seed, variant)
    with this configuration's stabilisers."""
    out = run_params(params, params["train"]["loss"], seed, args)
    out["train"]["r1_gamma"] = params["train"]["r1_gamma"]  # run_params zeroes it
    out["train"].update(stabilizer_settings(label, args))
    for key in STABILIZER_KEYS:
        out["models"]["dcgan"].pop(key, None)  # the bench's settings win
    return out


def progan_params(params: dict, seed: int, stable: int | None = None, fade: int | None = None):
    """params.yaml's progan (its own lr, beta1, ema, batch size, ...) with the run's seed,
    no in-training FID, and the given phase lengths (params.yaml's when None)."""
    out = copy.deepcopy(params)
    out["train"].update(seed=seed, fid_every=0)
    progan = out["models"][PROGAN]
    for key in ("seed", "fid_every"):
        progan.pop(key, None)
    if stable is not None:
        progan.update(stable_steps=stable, fade_steps=fade)
    return out


def settings(run, label: str, args, eval_cfg, **extra) -> dict:
    """What makes two runs the same (a stored run with equal settings is skipped): every
    resolved param of the run, the scoring settings, and `extra`."""
    return {
        "label": label,
        **run.flat_params(),
        "samples": args.samples,
        "class_samples": min(CLASS_SAMPLES, args.samples),
        "class_share": CLASS_SHARE,
        **{f"evaluate.{k}": v for k, v in eval_cfg.items()},
        **extra,
    }


# ---------------------------------------------------------------- mode coverage


def class_coverage(result, embedding) -> dict:
    """`classes`: how many classes the evaluator finds in the first CLASS_SAMPLES generated
    images, each with at least CLASS_SHARE of them (NaN for a rotation evaluator, whose
    probabilities are not classes); also the step seconds of the TrainResult."""
    import numpy as np

    record = {"step_seconds": float(result.seconds)}
    if not embedding.classes:
        return record | {"classes": float("nan")}
    probabilities = embedding.probabilities[:CLASS_SAMPLES]  # [n, K]
    predicted = np.argmax(probabilities, axis=1)  # as pipeline.scoring.metrics.labels does
    counts = np.bincount(predicted, minlength=probabilities.shape[1])
    floor = math.ceil(CLASS_SHARE * len(predicted) - 1e-9)
    return record | {
        "classes": int((counts >= floor).sum()),
        "class_counts": [int(c) for c in counts],
    }


def score_run(run, scoring, args, eval_cfg) -> dict:
    """loss_table's train_and_score, plus `classes` (NaN when the run diverged)."""
    images, embed, real_features = scoring
    record = train_and_score(
        run, images, real_features, embed, eval_cfg, args.samples, extra=class_coverage
    )
    record.setdefault("classes", float("nan"))
    return record


# ---------------------------------------------------------------- progan's budget


def pilot_run(run, images) -> dict:
    """Train `run` (a short progan) timing every step: each phase's mean seconds per step
    (its first step left out) and the fixed overhead of the rest of its wall time."""
    import keras

    from pipeline.gans.families import get_family
    from pipeline.training.loop import Callback, train
    from pipeline.training.phases import phase_plan

    stamps: dict[int, float] = {}

    class Clock(Callback):
        def on_step_end(self, step: int, values: dict[str, float]) -> None:
            stamps[step] = time.perf_counter()

    plan = phase_plan(get_family(run.model), run, 1, images.shape[1:])
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="stabilizers-") as checkpoints:
        train(run, images, checkpoint_dir=Path(checkpoints), progress=False, callbacks=[Clock()])
    wall = time.perf_counter() - started
    phases = []
    for index, phase in enumerate(plan.phases):
        first, end = plan.bounds(index)
        steady = [stamps[s] - stamps[s - 1] for s in range(first + 2, end + 1)]
        phases.append(
            {
                "phase": phase.name,
                "steps": end - first,
                "seconds_per_step": sum(steady) / len(steady),
            }
        )
    keras.backend.clear_session()
    gc.collect()
    overhead = wall - sum(p["steps"] * p["seconds_per_step"] for p in phases)
    return {"train_seconds": wall, "overhead_seconds": overhead, "phases": phases}


def phase_lengths(run, images) -> list[int]:
    """The steps of each of `run`'s phases."""
    from pipeline.gans.families import get_family
    from pipeline.training.phases import phase_plan

    plan = phase_plan(get_family(run.model), run, 1, images.shape[1:])
    return [phase.length(1) for phase in plan.phases]


def predicted_seconds(pilot: dict, lengths: list[int]) -> float:
    """The pilot's overhead plus phases of `lengths` steps at its seconds per step."""
    rates = [p["seconds_per_step"] for p in pilot["phases"]]
    return pilot["overhead_seconds"] + sum(n * r for n, r in zip(lengths, rates, strict=True))


def matched_steps(pilot: dict, lengths: list[int], stable: int, fade: int, target: float):
    """(stable_steps, fade_steps): params.yaml's `stable` and `fade` (whose phases are
    `lengths` steps long) scaled by one factor so that the predicted wall time is `target`
    seconds (at least one step per phase)."""
    per_unit = predicted_seconds(pilot, lengths) - pilot["overhead_seconds"]  # at factor 1
    factor = max(0.0, (target - pilot["overhead_seconds"]) / per_unit)
    return max(1, round(factor * stable)), max(1, round(factor * fade))


def progan_pilot(params: dict, images, args, eval_cfg, stored: list[dict], meta: dict):
    """The timed pilot of progan (`--pilot-steps` steps per phase, the first seed), stored
    with the runs so a resumed bench reuses it; returns it and the updated store."""
    from pipeline.gans.families import resolve_run

    steps = args.pilot_steps
    run = resolve_run(progan_params(params, args.seeds[0], steps, steps), PROGAN)
    key = settings(run, PILOT, args, eval_cfg)
    old = stored_run(stored, key)
    if old is not None:
        print(f"progan pilot ({steps} steps per phase): stored, reused", flush=True)
        return old, stored
    print(f"progan pilot ({steps} steps per phase): timing ...", flush=True)
    record = {"label": PILOT, "seed": args.seeds[0], "settings": key, **pilot_run(run, images)}
    rates = ", ".join(
        f"{p['phase']} {1000 * p['seconds_per_step']:.0f} ms" for p in record["phases"]
    )
    print(
        f"    {record['train_seconds']:.0f} s: per step {rates}; overhead "
        f"{record['overhead_seconds']:.1f} s",
        flush=True,
    )
    return record, store_run(args.out, stored, record, meta)


# ---------------------------------------------------------------- the table


def _config_name(label: str) -> str:
    return {"all": "all three", PROGAN: "progan (baseline's wall time)"}.get(label, label)


def build_table(runs: list[dict], args, flags: str, command: str, wall: float | None) -> str:
    now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    out = [
        f"Stabiliser table, {now}; CPU: {cpu_name()}, {os.cpu_count()} cores; "
        f"AVX-512 flags: {flags}",
        "",
        f"Command: `{command}`",
        "",
    ]
    header = (
        "| configuration | stabilisers | runs | fid | kid | precision | recall | classes "
        "| steps/run | s/run (train) |"
    )
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for label in (label for label in LABELS if label in args.configs):
        done = [r for r in runs if r["label"] == label]
        if not done:
            lines.append(
                f"| {_config_name(label)} | | 0/{len(args.seeds)} | not run yet |" + " |" * 6
            )
            continue
        stats = {m: mean_spread([r.get(m) for r in done]) for m in (*METRICS, "classes")}
        diverged = sum(bool(r["diverged"]) for r in done)
        count = f"{len(done)}/{len(args.seeds)}" + (f" ({diverged} diverged)" if diverged else "")
        steps = [r["steps"] for r in done if "steps" in r]
        secs = [r["train_seconds"] for r in done]
        lines.append(
            f"| {_config_name(label)} | {done[0].get('stabilizers', '')} | {count} "
            f"| {_fmt(*stats['fid'], 2)} | {_fmt(*stats['kid'], 4)} "
            f"| {_fmt(*stats['precision'], 3)} | {_fmt(*stats['recall'], 3)} "
            f"| {_fmt(*stats['classes'], 1)} "
            f"| {sum(steps) / len(steps) if steps else float('nan'):.0f} "
            f"| {sum(secs) / len(secs):.0f} |"
        )
    out += ["\n".join(lines), ""]

    seeds = " ".join(str(s) for s in args.seeds)
    n = min(CLASS_SAMPLES, args.samples)
    out.append(
        f"DCGAN ({args.variant}), {args.steps} steps at batch {args.batch_size}, seeds {seeds}, "
        f"everything else from params.yaml ({args.shared}); stabilisers: minibatch_std group "
        f"{args.group}, minibatch_discrimination {args.kernels} kernels of dimension "
        f"{args.kernel_dim}, replay {args.replay:g} of a {args.buffer}-fake buffer. Scores on "
        f"{args.samples} generated vs the 10000 real test images. Cells: mean over the seeds "
        "± half the range over the seeds ((max - min) / 2); diverged seeds are left out of "
        "the mean. s/run: training wall seconds per run (mean over seeds), scoring not "
        "included."
    )
    out.append(
        f"classes (mode coverage): the number of distinct classes the evaluator predicts "
        f"(argmax of its softmax) for the first {n} of the scored samples, counting a class "
        f"only if it gets at least {CLASS_SHARE:.0%} of them ({math.ceil(CLASS_SHARE * n)} of "
        f"{n}); 10 = every Fashion-MNIST class. Read it beside precision: unstructured images "
        "spread over many classes too."
    )
    progan = sorted((r for r in runs if r["label"] == PROGAN), key=lambda r: r["seed"])
    if progan:
        matches = "; ".join(
            f"seed {r['seed']}: {r.get('steps', '?')} steps (stable {r['stable_steps']}, fade "
            f"{r['fade_steps']}) trained in {r['train_seconds']:.0f} s against the baseline's "
            f"{r['target_seconds']:.0f} s ({r['train_seconds'] / r['target_seconds']:.2f}x; "
            f"pilot predicted {r['predicted_seconds']:.0f} s)"
            for r in progan
        )
        out.append(
            f"progan: params.yaml's models.progan ({args.progan}), with stable_steps and "
            "fade_steps scaled by one factor (their params.yaml ratio kept) so that its "
            "training wall time matches that seed's DCGAN baseline, predicted from a short "
            "timed pilot run (each phase's seconds per step plus the fixed overhead; "
            "bench/stabilizers.py's docstring). "
            f"{matches}."
        )
        ema = progan[0]["settings"].get("train.ema", 0.0)
        if ema:
            out.append(
                f"progan is scored by its averaged generator (train.ema {ema:g}, with the "
                "warm-up d = min(ema, (1 + t) / (10 + t)) of pipeline/training/ema.py)."
            )
    if wall is not None:
        out.append(f"\nTotal wall time {wall / 60:.1f} min.")
    return "\n".join(out)


def _command() -> str:
    python = Path(sys.executable)
    if python.is_relative_to(ROOT):
        python = python.relative_to(ROOT)
    words = [str(python), *sys.argv]
    niceness = os.nice(0)
    return shlex.join(["nice", "-n", str(niceness), *words] if niceness else words)


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--steps", type=int, default=400, help="DCGAN steps per run")
    parser.add_argument("--batch-size", type=int, default=64, help="DCGAN batch size")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument(
        "--configs",
        nargs="+",
        choices=LABELS,
        default=list(LABELS),
        help="the table's rows to run (progan needs baseline: it is timed against it)",
    )
    parser.add_argument("--samples", type=int, default=10000, help="generated images scored")
    parser.add_argument("--variant", choices=("upsample", "transposed"), default=None)
    parser.add_argument("--group", type=int, default=4, help="minibatch_std's group size")
    parser.add_argument("--kernels", type=int, default=16, help="minibatch_discrimination")
    parser.add_argument("--kernel-dim", type=int, default=5, help="minibatch_kernel_dim")
    parser.add_argument("--replay", type=float, default=0.5, help="replayed share of fakes")
    parser.add_argument("--buffer", type=int, default=1024, help="replay_buffer (fakes kept)")
    parser.add_argument(
        "--progan-ema",
        type=float,
        default=None,
        help="progan's train.ema (default: params.yaml's models.progan.ema)",
    )
    parser.add_argument(
        "--pilot-steps", type=int, default=20, help="steps per phase of progan's timed pilot"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("bench/results/stabilizers.json"),
        help="per-run results (the table goes next to it, .md)",
    )
    parser.add_argument("--params", type=Path, default=Path("params.yaml"), help="settings")
    args = parser.parse_args()
    if args.steps < 1 or args.batch_size < 1 or args.samples < 2:
        parser.error("--steps and --batch-size must be >= 1, --samples >= 2")
    if min(args.group, args.kernels, args.kernel_dim, args.buffer) < 1:
        parser.error("--group, --kernels, --kernel-dim and --buffer must be >= 1")
    if not 0 < args.replay <= 1:
        parser.error("--replay must be in (0, 1]")
    if args.progan_ema is not None and not 0 <= args.progan_ema < 1:
        parser.error("--progan-ema must be in [0, 1)")
    if PROGAN in args.configs and "baseline" not in args.configs:
        parser.error("--configs progan needs baseline too: progan trains for its wall time")
    if args.pilot_steps < 3:
        parser.error("--pilot-steps must be >= 3 (a phase's first step is not timed)")
    command = _command()

    os.chdir(ROOT)  # the pipeline's paths (models/, data/) are relative to the repo root
    check_inputs()

    import keras

    from pipeline.config import load_params
    from pipeline.gans.families import get_family, resolve_run

    wall_start = time.perf_counter()
    flags = cpu_flags()
    params = load_params(args.params)
    args.variant = args.variant or params["models"]["dcgan"].get("generator", "upsample")
    if args.progan_ema is not None:
        params["models"][PROGAN]["ema"] = args.progan_ema
    eval_cfg = eval_settings(params)
    args.pass_steps = pass_steps(params, args.batch_size)
    first = resolve_run(dcgan_params(params, "baseline", args.seeds[0], args), "dcgan")
    shared = ("loss", "lr", "beta1", "k_steps", "dropout", "r1_gamma", "ema", "update")
    args.shared = ", ".join(f"{k} {getattr(first.train, k)}" for k in shared)
    progan = resolve_run(progan_params(params, args.seeds[0]), PROGAN)
    args.progan = ", ".join(
        [f"{k} {getattr(progan.train, k)}" for k in ("loss", "lr", "beta1", "ema", "batch_size")]
        + [f"minibatch_std {progan.train.minibatch_std}"]
        + [f"{k} {getattr(progan.family, k)}" for k in ("filters", "min_filters")]
    )
    print(
        f"stabiliser table: dcgan ({args.variant}), {args.steps} steps x batch "
        f"{args.batch_size}, seeds {args.seeds}, {args.samples} samples; {args.shared}",
        flush=True,
    )
    print(f"CPU: {cpu_name()}; AVX-512 flags: {flags}", flush=True)
    scoring = scoring_setup(first)
    images = scoring[0]

    meta = {
        "description": "bench/stabilizers.py: DCGAN per stabiliser, and progan at equal time",
        "cpu_avx512": flags,
    }
    stored = load_results(args.out)
    runs: list[dict] = []
    # Each seed's progan right after its baseline (the machine's load drifts less between
    # the two), then the other configurations.
    plan = [(label, seed) for seed in args.seeds for label in ("baseline", PROGAN)]
    plan += [(label, seed) for label in CONFIGS[1:] for seed in args.seeds]
    plan = [(label, seed) for label, seed in plan if label in args.configs]
    pilot = None
    for index, (label, seed) in enumerate(plan, 1):
        where = f"[{index}/{len(plan)}] {label} seed {seed}"
        extra = {}
        if label == PROGAN:
            baseline = next(r for r in runs if r["label"] == "baseline" and r["seed"] == seed)
            target = float(baseline["train_seconds"])
            run = resolve_run(progan_params(params, seed), PROGAN)
            key = settings(run, label, args, eval_cfg, target_seconds=target)
            for name in ("stable_steps", "fade_steps"):
                del key[f"models.{PROGAN}.{name}"]  # set by the match below
        else:
            run = resolve_run(dcgan_params(params, label, seed, args), "dcgan")
            key = settings(run, label, args, eval_cfg)
        old = stored_run(stored, key)
        if old is not None:
            print(f"{where}: already done, skipped", flush=True)
            runs.append(old)
            continue
        if label == PROGAN:
            if pilot is None:
                pilot, stored = progan_pilot(params, images, args, eval_cfg, stored, meta)
            stable0, fade0 = run.family.stable_steps, run.family.fade_steps
            lengths = phase_lengths(run, images)
            stable, fade = matched_steps(pilot, lengths, stable0, fade0, target)
            run = resolve_run(progan_params(params, seed, stable, fade), PROGAN)
            predicted = predicted_seconds(pilot, phase_lengths(run, images))
            extra = {
                "target_seconds": target,
                "predicted_seconds": predicted,
                "stable_steps": stable,
                "fade_steps": fade,
            }
            print(
                f"{where}: stable_steps {stable}, fade_steps {fade} (params.yaml: {stable0}, "
                f"{fade0}) to match the baseline's {target:.0f} s (predicted {predicted:.0f} s)",
                flush=True,
            )
        print(f"{where}: training ...", flush=True)
        record = score_run(run, scoring, args, eval_cfg)
        record = {
            "label": label,
            "seed": seed,
            "settings": key,
            "stabilizers": get_family(run.model).stabilizers_of(run.train),
            **extra,
            **record,
        }
        stored = store_run(args.out, stored, record, meta)
        runs.append(record)
        print_record(record)
        if not record["diverged"]:
            print(f"    classes {record['classes']}: {record.get('class_counts')}", flush=True)
        del run
        keras.backend.clear_session()
        gc.collect()

    table = build_table(runs, args, flags, command, time.perf_counter() - wall_start)
    print()
    print(table, flush=True)
    md = args.out.with_suffix(".md")
    md.write_text(table + "\n")
    print(f"\nwrote {args.out} and {md}", flush=True)


if __name__ == "__main__":
    main()
