"""Where each GAN's training time goes: seconds per part of a short run of the train stage.

For each model (default: every one in params.yaml's train.models) it runs the real stage,
`python -m pipeline train --model NAME`, in a fresh process inside a scratch workspace
(params.yaml with the short budget below, `data/` and `models/{evaluator,reference}` linked
from this checkout, an MLflow store of its own), then reads `seconds_by_part` from the
run's train.json (pipeline.training.timing names the parts). Nothing in this checkout is
written. The short budget: `--epochs` epochs of `--steps` steps (train.epochs and
train.steps_per_epoch, also set under models.NAME; a family whose length is its phases',
progan, srgan, stackgan: `--steps` steps per phase), with params.yaml's checkpoint, logging
and FID settings.

It prints, per model, the short run's seconds per part with its share of the stage's wall
time, and the cost of each unit of work (a step, a checkpoint, an FID probe, a per-epoch
picture) projected onto the model's DEFAULT budget (params.yaml unchanged): steps x the
seconds per step, checkpoints x seconds per checkpoint, and so on, plus the fixed parts
(setup, tracing, outputs) as measured. `process` is the process's wall time including
Python and TensorFlow imports, which no part covers. Run from the repository root after
the evaluator and reference stages have run (`dvc repro reference`):

    .venv/bin/python bench/profile_train.py [--models gan dcgan] [--steps 50] [--epochs 2]

Output goes to stdout and, as markdown, to `--out` (bench/results/profile_train.md).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loss_table import cpu_flags, cpu_name

REPO = Path(__file__).resolve().parent.parent
SHOWN = ("setup", "input", "trace", "step", "tracking", "preview", "checkpoint", "fid_probe")
SHOWN += ("baseline", "outputs", "other")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", help="default: params.yaml's train.models")
    parser.add_argument("--steps", type=int, default=50, help="steps per epoch of the short run")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--out", default="bench/results/profile_train.md")
    return parser.parse_args(argv)


def short_params(params: dict, model: str, steps: int, epochs: int) -> dict:
    """params.yaml with the short budget for `model` (its own epochs overridden too)."""
    short = json.loads(json.dumps(params))
    short["train"]["epochs"], short["train"]["steps_per_epoch"] = epochs, steps
    own = short.setdefault("models", {}).setdefault(model, {}) or {}
    own.update(epochs=epochs, steps_per_epoch=steps)
    # a family whose length is its phases' (progan's fade/stable, srgan's pretrain/gan,
    # stackgan's stage1/stage2 steps): each phase gets the short run's steps
    defaults = (params.get("models") or {}).get(model) or {}
    own.update({key: steps for key in defaults if key.endswith("_steps")})
    short["models"][model] = own
    return short


def workspace(root: Path) -> None:
    """A scratch checkout: the data and the scoring network linked, nothing else."""
    (root / "models").mkdir(parents=True)
    (root / "data").symlink_to(REPO / "data")
    for name in ("evaluator", "reference"):
        (root / "models" / name).symlink_to(REPO / "models" / name)


def run_stage(root: Path, params: dict, model: str) -> tuple[dict, float]:
    """Run the train stage for `model` in `root`; its train.json and the process's seconds."""
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = os.environ | {
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
        "PYTHONPATH": str(REPO),
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pipeline", "train", "--model", model],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = time.monotonic() - started
    if done.returncode:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise SystemExit(f"train@{model} failed (exit {done.returncode}):\n{tail}")
    return json.loads((root / "models" / model / "train.json").read_text()), seconds


def default_counts(params: dict, model: str) -> dict[str, float]:
    """How often each unit of work happens in `model`'s default run (params.yaml as is)."""
    from pipeline.data.loader import StepPlan
    from pipeline.gans.families import get_family, resolve_run
    from pipeline.gans.inputs import task_for
    from pipeline.training.phases import phase_plan

    run = resolve_run(json.loads(json.dumps(params)), model)
    cfg = run.train
    images = task_for(run).train_images
    plan = StepPlan(len(images), cfg.batch_size, cfg.k_steps, cfg.steps_per_epoch)
    phases = phase_plan(get_family(model), run, plan.steps_per_epoch, images.shape[1:])
    steps = phases.total_steps
    epochs = math.ceil(steps / plan.steps_per_epoch)
    extra_phases = len(phases.phases) - 1 if len(phases.phases) > 1 else 0
    probes = (epochs // cfg.fid_every if cfg.fid_every else 0) + extra_phases
    return {
        "step": steps,
        "input": steps,
        "checkpoint": steps // cfg.checkpoint_every + epochs + extra_phases,
        "fid_probe": probes,
        "preview": epochs + extra_phases,
        # a metrics point per log_every steps, the FIDs, the per-epoch pictures, the params
        "tracking": steps // cfg.log_every + epochs + probes + epochs + extra_phases + 1,
    }


def projected(measured: dict, short_counts: dict, counts: dict) -> dict[str, float]:
    """Seconds per part at the default budget: per-unit costs of the short run x the
    default's counts; parts without a count (setup, trace, outputs, ...) as measured."""
    out = {}
    for part in SHOWN:
        seconds = measured.get(part, 0.0)
        if part in counts and short_counts.get(part):
            seconds = seconds / short_counts[part] * counts[part]
        out[part] = seconds
    return out


def table(rows: list[tuple[str, dict, float]], title: str) -> str:
    head = "| model | " + " | ".join(SHOWN) + " | total | process |"
    lines = [f"**{title}**", "", head, "|" + "---|" * (len(SHOWN) + 3)]
    for model, parts, process in rows:
        total = sum(parts.get(p, 0.0) for p in SHOWN)
        cells = [
            f"{parts.get(p, 0.0):.1f} ({100 * parts.get(p, 0.0) / total:.0f}%)"
            if parts.get(p)
            else "-"
            for p in SHOWN
        ]
        proc = f"{process:.0f}" if process else ""
        lines.append(f"| {model} | " + " | ".join(cells) + f" | {total:.0f} | {proc} |")
    return "\n".join(lines)


def main() -> None:
    args = parse_args()
    os.chdir(REPO)
    params = yaml.safe_load(Path(args.params).read_text())
    models = args.models or list(params["train"]["models"])
    measured_rows, projected_rows = [], []
    for model in models:
        short = short_params(params, model, args.steps, args.epochs)
        with tempfile.TemporaryDirectory(prefix=f"profile-{model}-") as scratch:
            root = Path(scratch)
            workspace(root)
            summary, process = run_stage(root, short, model)
        parts = summary["seconds_by_part"]
        short_counts = default_counts(short, model)
        counts = default_counts(params, model)
        measured_rows.append((model, parts, process))
        projected_rows.append((model, projected(parts, short_counts, counts), 0.0))
        unit = {
            p: parts.get(p, 0.0) / short_counts[p]
            for p in ("step", "checkpoint", "fid_probe", "preview")
            if short_counts.get(p)
        }
        print(
            f"{model}: short run {summary['steps']} steps in {process:.0f} s; per unit: "
            + ", ".join(f"{p} {s:.3f} s" for p, s in unit.items())
            + f"; default budget: {counts['step']} steps",
            flush=True,
        )
    flags = cpu_flags()
    header = (
        f"# Training profile, {date.today()}\n\n"
        f"CPU: {cpu_name()}, {os.cpu_count()} logical CPUs; AVX-512 flags: {flags or 'none'}.\n"
        f"Command: `{' '.join(['.venv/bin/python', *sys.argv])}`\n"
    )
    short_title = f"Short run: {args.epochs} epochs of {args.steps} steps, seconds (share)"
    text = "\n\n".join(
        [
            header,
            table(measured_rows, short_title),
            table(projected_rows, "Projected onto the default budget, seconds (share)"),
        ]
    )
    print(text)
    Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
