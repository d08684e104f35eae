"""Quality per minute: each GAN's fid2k against the wall-clock minutes of its training.

For `--model` (any latent or label-aware family) and each `--variant`, it trains through the
project's own loop (pipeline.training.loop.train: the same step, input pipeline and
checkpoints as `dvc repro`) for `--minutes` of training time, and every `--probe-images`
real images (that many divided by the variant's batch size x k_steps, in steps) scores the
generator the run keeps (the averaged one with train.ema): fid2k, the FID of 2000 samples
against the test split's features on the project's evaluator (the in-training probe,
`train.fid_samples`), precision and recall of the same samples against the first as many
test images (`precision2k`, `recall2k`: k-NN manifolds of 2000 points are wider than
`evaluate`'s of 10000, so compare these only with each other), for a conditional family
its `conditional_accuracy` on the same samples, and for a classifying one (sgan, catgan) its
discriminator's `accuracy` (when it saw labels) and `clustering_accuracy` on the real test
split, as `evaluate` scores them. The probes are the bench's own work and are
not counted: the minutes are those of setup, tracing, steps, input and checkpoints
(pipeline.training.timing), what a run of that length costs in `dvc repro` bar its per-epoch
pictures and final outputs. Probing works by making each epoch that many steps long
(train.steps_per_epoch): each such epoch draws a fresh random permutation of the training
split, which is statistically what a full epoch's slice of it is.

A variant is `NAME:KEY=VALUE,KEY=VALUE` over params.yaml (`default` or `NAME:` alone is
params.yaml as it is). For each it prints the curve and where it flattens: the first probe
whose fid2k is within `--flat` (default 5%) of the best fid2k the whole curve reaches, i.e.
the budget beyond which more minutes buy less than that, and with `--goal` (e.g.
`conditional_accuracy>=0.85`, `accuracy>=0.7`) the first probe that meets the family's own
goal. Results go to `--out` (JSON, appended per variant, so runs of different variants and
benches running side by side accumulate; each probe updates the record, `complete: false`
until the variant's minutes are spent, so a killed run keeps its curve so far) and, beside
it, a picture of the model's stored curves per machine kind, a CPU's name and instruction
set (quality_per_minute_MODEL.png for AMD EPYC with AVX-512 + BF16, _avx512.png, _avx2.png
for the other EPYCs, _<cpu-and-isa>.png for any other CPU): minutes of different kinds are
not comparable.

    .venv/bin/python bench/quality_per_minute.py --model dcgan --minutes 8 \
        --variant default --variant batch64:train.batch_size=64 \
        --variant bf16:train.precision=mixed_bfloat16

Needs data/raw/dataset.npz and models/evaluator, models/reference (`dvc repro reference`).
The times are this machine's: the output names its CPU and AVX-512 flags.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loss_table import cpu_flags, cpu_name

REPO = Path(__file__).resolve().parent.parent
NOT_COUNTED = ("fid_probe", "preview", "tracking")  # the bench's probes and pictures


class BudgetSpent(Exception):
    """Raised by the probe once the variant's minutes are used up."""


def parse_variant(text: str) -> tuple[str, dict[str, object]]:
    name, _, body = text.partition(":")
    overrides = {}
    for item in filter(None, body.split(",")):
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--variant {text!r}: {item!r} is not KEY=VALUE")
        overrides[key.strip()] = yaml.safe_load(value)
    return name, overrides


def variant_params(params: dict, model: str, overrides: dict, probe_images: int) -> dict:
    """params.yaml with the overrides, a long run of epochs of `probe_images` real images,
    no probe of its own (the bench probes)."""
    from pipeline.gans.families import resolve_run

    out = json.loads(json.dumps(params))
    for key, value in overrides.items():
        *path, last = key.split(".")
        node = out
        for part in path:
            node = node.setdefault(part, {})
        node[last] = value
    own = out.setdefault("models", {}).setdefault(model, {}) or {}
    out["models"][model] = own
    # a models.<name> value would win over train.*: the variant's train.* keys go there too
    for key, value in overrides.items():
        if key.startswith("train."):
            own[key.split(".", 1)[1]] = value
    cfg = resolve_run(json.loads(json.dumps(out)), model).train
    probe_steps = max(probe_images // (cfg.batch_size * cfg.k_steps), 1)
    own.update(epochs=100000, steps_per_epoch=probe_steps)
    out["train"]["fid_every"] = 1  # the bench's probe runs at each (short) epoch's end
    return out


class CurveProbe:
    """Called by the loop at each epoch's end: scores the generator and stamps the time."""

    key = "fid2k"

    def __init__(self, run, task, timings, minutes: float, samples: int, pr_k: int, on_point):
        from pipeline.scoring.evaluator import load_embedder
        from pipeline.scoring.reference import Reference

        self.run, self.task, self.timings, self.on_point = run, task, timings, on_point
        self.embedder, self.reference = load_embedder(500), Reference.load()
        self.minutes, self.samples, self.pr_k = minutes, samples, pr_k
        self.points: list[dict] = []
        self.probe_steps = iter(probe_steps(run, task))

    def train_minutes(self) -> float:
        counted = sum(s for p, s in self.timings.seconds.items() if p not in NOT_COUNTED)
        return counted / 60

    def __call__(self, generator, discriminator) -> float:
        from pipeline.scoring.metrics.classifier_accuracy import classifier_scores
        from pipeline.scoring.metrics.labels import conditional_scores
        from pipeline.scoring.metrics.precision_recall import precision_recall
        from pipeline.scoring.probe import fid

        minutes = self.train_minutes()
        self.steps = next(self.probe_steps)
        images = self.task.images(generator, self.samples, seed=0)
        embedding = self.embedder(images)
        point = {
            "step": self.steps,
            "minutes": round(minutes, 3),
            "fid2k": float(fid(embedding.features, self.reference)),
        }
        reals = self.reference.features[: len(images)]  # as many reals as samples
        precision, recall = precision_recall(reals, embedding.features, k=self.pr_k)
        point["precision2k"], point["recall2k"] = round(precision, 4), round(recall, 4)
        if hasattr(self.task, "requested_labels") and embedding.classes:
            requested = self.task.requested_labels(len(images))
            scores = conditional_scores(embedding.probabilities, requested, self.task.class_names)
            point["conditional_accuracy"] = round(float(scores["conditional_accuracy"]), 4)
        if hasattr(self.task, "classify"):  # sgan, catgan: the discriminator is the product
            scores = classifier_scores(self.task, discriminator)
            point |= {name: round(float(value), 4) for name, value in scores.items()}
        self.points.append(point)
        self.on_point(self.points)
        extra = "".join(
            f"  {name} {point[name]:.3f}"
            for name in ("conditional_accuracy", "accuracy", "clustering_accuracy")
            if name in point
        )
        print(
            f"  step {self.steps:6d}  {minutes:6.2f} min  fid2k {point['fid2k']:7.2f}  "
            f"precision2k {precision:.3f}  recall2k {recall:.3f}{extra}",
            flush=True,
        )
        if minutes >= self.minutes:
            raise BudgetSpent
        return point["fid2k"]


def probe_steps(run, task) -> list[int]:
    """The steps the loop probes at: each epoch's end and each phase's (a phase of a
    family with several may end inside an epoch, as StackGAN's and ProGAN's do)."""
    from pipeline.gans.families import get_family
    from pipeline.training.phases import phase_plan

    spe = run.train.steps_per_epoch
    plan = phase_plan(get_family(run.model), run, spe, task.train_images.shape[1:])
    ends = {plan.bounds(i)[1] for i in range(len(plan.phases))} if len(plan.phases) > 1 else set()
    return sorted(ends | set(range(spe, plan.total_steps + 1, spe)) | {plan.total_steps})


def run_variant(params: dict, model: str, minutes: float, samples: int, on_point) -> list[dict]:
    """The variant's curve; `on_point(points)` gets it after every probe."""
    from pipeline.config import parse_evaluate
    from pipeline.gans.families import resolve_run
    from pipeline.gans.inputs import task_for
    from pipeline.training.loop import train
    from pipeline.training.timing import Timings

    run = resolve_run(params, model)
    task = task_for(run)
    timings = Timings()
    pr_k = parse_evaluate(params).pr_k
    probe = CurveProbe(run, task, timings, minutes, samples, pr_k, on_point)
    with (
        tempfile.TemporaryDirectory(prefix="qpm-") as checkpoints,
        contextlib.suppress(BudgetSpent),
    ):
        train(
            run,
            task.train_images,
            checkpoint_dir=Path(checkpoints),
            progress=False,
            fid_probe=probe,
            labels=task.train_labels,
            timings=timings,
        )
    return probe.points


def flat_point(points: list[dict], flat: float) -> dict:
    """The first point within `flat` (a share) of the curve's best fid2k."""
    best = min(p["fid2k"] for p in points)
    return next(p for p in points if p["fid2k"] <= best * (1 + flat))


def goal_point(points: list[dict], goal: str | None) -> dict | None:
    """The first point meeting `goal` ("conditional_accuracy>=0.85"), or None."""
    if not goal:
        return None
    key, _, bound = goal.partition(">=")
    return next((p for p in points if p.get(key.strip(), float("-inf")) >= float(bound)), None)


def machine_kind(record: dict) -> str:
    """The machine kind a record's minutes belong to: curves of different kinds never share
    a picture. The instruction set alone does not say it (an AVX2 minute buys about half of
    an AVX-512 one, and a 2 GHz Xeon with AVX512_BF16 trained the DCGAN at 0.4x the AVX-512
    EPYC's rate), so the CPU's name is part of it."""
    flags = record["cpu_flags"]
    if "avx512f" not in flags:
        isa = "AVX2"
    else:
        isa = "AVX-512 + BF16" if "avx512_bf16" in flags else "AVX-512"
    return f"{record.get('cpu', 'unknown CPU')}, {isa}"


PICTURE_SUFFIX = {"AVX-512 + BF16": "", "AVX-512": "_avx512", "AVX2": "_avx2"}


def picture_suffix(kind: str) -> str:
    """AMD EPYC's pictures keep their first names; another CPU's carry a slug of it."""
    cpu, isa = kind.rsplit(", ", 1)
    if cpu == "AMD EPYC":
        return PICTURE_SUFFIX[isa]
    slug = "-".join("".join(c if c.isalnum() else " " for c in kind.lower()).split())
    return f"_{slug}"


def draw_all(records: list[dict], model: str, out: Path) -> None:
    """One picture per machine kind among `model`'s records, beside `out`."""
    kinds = {machine_kind(r) for r in records}
    for kind in sorted(kinds):
        mine = [r for r in records if machine_kind(r) == kind]
        draw(mine, f"{model}: quality per minute, 2-core CPU ({kind})", out.with_name(
            f"quality_per_minute_{model}{picture_suffix(kind)}.png"
        ))  # fmt: skip


def draw(records: list[dict], title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
    for record in records:
        xs = [p["minutes"] for p in record["points"]]
        ys = [p["fid2k"] for p in record["points"]]
        ax.plot(xs, ys, marker=".", label=record["variant"])
    ax.set_xlabel("training minutes (probes not counted)")
    ax.set_ylabel("fid2k (lower is better)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--variant", action="append", default=[], help="NAME:KEY=VALUE,...")
    parser.add_argument("--minutes", type=float, default=8.0)
    parser.add_argument("--probe-images", type=int, default=12800)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--flat", type=float, default=0.05)
    parser.add_argument("--goal", help="the family's own goal, e.g. conditional_accuracy>=0.85")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--out", default="bench/results/quality_per_minute.json")
    args = parser.parse_args()
    os.chdir(REPO)
    params = yaml.safe_load(Path(args.params).read_text())
    from pipeline.config import runtime_environment

    for key, value in runtime_environment(params).items():  # as the CLI does, before TF starts
        os.environ.setdefault(key, value)
    out = Path(args.out)
    for text in args.variant or ["default"]:
        name, overrides = parse_variant(text)
        print(f"{args.model} / {name} {overrides or ''}: {args.minutes} min", flush=True)
        started = time.monotonic()
        points = run_variant(
            variant_params(params, args.model, overrides, args.probe_images),
            args.model,
            args.minutes,
            args.samples,
            on_point=lambda so_far, name=name, overrides=overrides: store_record(
                out, make_record(args, name, overrides, so_far, complete=False)
            ),
        )
        flat = flat_point(points, args.flat)
        print(
            f"{args.model} / {name}: best fid2k {min(p['fid2k'] for p in points):.2f}; within "
            f"{args.flat:.0%} of it from {flat['minutes']:.1f} min (step {flat['step']}); "
            f"wall {(time.monotonic() - started) / 60:.1f} min with probes",
            flush=True,
        )
        met = goal_point(points, args.goal)
        if args.goal:
            print(
                f"{args.model} / {name}: {args.goal} "
                + (f"met at {met['minutes']:.1f} min (step {met['step']})" if met else "not met"),
                flush=True,
            )
        stored = store_record(out, make_record(args, name, overrides, points, complete=True))
    draw_all([r for r in stored if r["model"] == args.model], args.model, out)


def make_record(args, name: str, overrides: dict, points: list[dict], complete: bool) -> dict:
    """The JSON record of one variant's curve so far."""
    return {
        "model": args.model,
        "variant": name,
        "overrides": overrides,
        "minutes": args.minutes,
        "probe_images": args.probe_images,
        "samples": args.samples,
        "date": str(date.today()),
        "cpu": cpu_name(),
        "cpu_flags": cpu_flags(),
        "points": points,
        "flat_from": flat_point(points, args.flat),
        "goal": args.goal,
        "goal_met_at": goal_point(points, args.goal),
        "complete": complete,  # false: the run has not (or never) reached its minutes
    }


def store_record(out: Path, record: dict) -> list[dict]:
    """Add `record` to the JSON at `out` (replacing the same model and variant's) and return
    all records. The file is read and written under a lock, so benches running side by side
    (as they often do on 2 cores) keep each other's records."""
    import fcntl

    with open(out.with_name(out.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        stored = json.loads(out.read_text()) if out.is_file() else []
        key = (record["model"], record["variant"])
        stored = [r for r in stored if (r["model"], r["variant"]) != key] + [record]
        temporary = out.with_name(out.name + ".tmp")
        temporary.write_text(json.dumps(stored, indent=2) + "\n")
        temporary.replace(out)  # never a half-written file
    return stored


if __name__ == "__main__":
    main()
