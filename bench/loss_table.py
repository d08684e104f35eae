"""The loss table: DCGAN trained once per GAN loss, scored, beside Lucic et al. 2018.

Trains the `dcgan` networks (params.yaml's settings; `--variant upsample|transposed`,
default params.yaml's `models.dcgan.generator`) once per `train.loss` in nonsaturating,
minimax, wgan, wgan_gp, hinge, lsgan, dragan, plus "nonsaturating + r1" (`train.r1_gamma =
--r1-gamma`; every other run has r1_gamma 0), for each seed in `--seeds`. Every run has
the same number of steps (`--steps`, in whole epochs of at most one pass) and
batch size (`--batch-size`); everything else comes from params.yaml (lr 2e-4, beta1 0.5,
k_steps 1, ...). The losses are therefore compared at these SHARED hyperparameters, not
each at its own tuned best: a loss that needs, say, k_steps 5 or a lower lr is at a
disadvantage here.

Each generator is scored with the project's evaluator (models/evaluator/model.keras, a
Fashion-MNIST CNN; 128-d features): fid, kid, precision, recall of `--samples` generated
images (latents from evaluate.seed) against the 10000 real test images, embedded once.
The table gives, per loss, the mean over the seeds +- the spread, where the spread is HALF
THE RANGE over the seeds ((max - min) / 2), and the training wall seconds per run. Beside
it: the Fashion-MNIST FIDs of Lucic et al. 2018 ("Are GANs Created Equal?"; Inception FID,
best of a large hyperparameter search) and each set's rank ordering. The feature networks
differ (our evaluator vs Inception), so only the orderings are comparable: the script
prints the Spearman rank correlation over the six losses both have (BEGAN is not
implemented here; hinge and r1 are not in the paper), with its exact permutation p-value.

A run that diverges (pipeline.errors.TrainingError) is recorded as diverged (NaN) and left
out of its loss's mean; a loss with every seed diverged ranks last. Per-run results go to
`--out` (default bench/results/loss_table.json) as each run finishes, so a killed run
resumes: runs already there with the same settings are skipped. The table goes to the
same path with .md.

    nice -n 10 .venv/bin/python bench/loss_table.py [--steps 400] [--batch-size 64] \
        [--seeds 0 1] [--samples 10000] [--variant upsample|transposed] [--r1-gamma 1.0] \
        [--out bench/results/loss_table.json] [--params params.yaml]

Needs data/raw/dataset.npz and models/evaluator/model.keras (`dvc repro evaluator`).
"""

from __future__ import annotations

import argparse
import copy
import gc
import itertools
import json
import math
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOSSES = ("nonsaturating", "minimax", "wgan", "wgan_gp", "hinge", "lsgan", "dragan")
R1_LABEL = "nonsaturating + r1"
# Lucic et al. 2018, Fashion-MNIST, Inception FID, best over a large hyperparameter search.
LUCIC = {
    "minimax": ("MM", 29.6),
    "nonsaturating": ("NS", 26.5),
    "lsgan": ("LSGAN", 30.7),
    "wgan": ("WGAN", 21.5),
    "wgan_gp": ("WGAN-GP", 24.5),
    "dragan": ("DRAGAN", 27.7),
    "began": ("BEGAN", 22.9),  # not implemented here
}
SHARED = ("minimax", "nonsaturating", "lsgan", "wgan", "wgan_gp", "dragan")
METRICS = ("fid", "kid", "precision", "recall")


def cpu_flags() -> str:
    """The CPU's AVX-512 flags, or "AVX2 only"."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return f"unknown ({platform.processor() or platform.machine()})"
    flags = sorted(
        {
            f
            for line in text.splitlines()
            if line.startswith("flags")
            for f in line.split()
            if f.startswith("avx512")
        }
    )
    return " ".join(flags) if flags else "AVX2 only"


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def run_labels() -> list[str]:
    return [*LOSSES, R1_LABEL]


def whole_epochs(steps: int, pass_steps: int) -> tuple[int, int]:
    """(epochs, steps_per_epoch) making exactly `steps` steps with no epoch longer than one
    pass over the training split, `pass_steps` batches: the loader caps an epoch at one
    pass, so 2500 steps of 32 asked as one epoch of Fashion-MNIST's 60000 images would
    train 1875. The fewest epochs that divide the steps: 2500 -> 2 x 1250, the DCGAN's
    default."""
    epochs = max(1, math.ceil(steps / max(1, pass_steps)))
    while steps % epochs:
        epochs += 1  # ends at epochs == steps at the latest
    return epochs, steps // epochs


def pass_steps(params: dict, batch_size: int) -> int:
    """Batches in one pass over the DCGAN's training split (what an epoch can hold)."""
    from pipeline.data.store import load_dataset
    from pipeline.gans.families import resolve_run

    return len(load_dataset(resolve_run(params, "dcgan").data).x_train) // batch_size


def run_params(params: dict, label: str, seed: int, args) -> dict:
    """params.yaml's settings with the run's loss, seed, length (`args.steps`, in whole
    epochs of at most `args.pass_steps`), batch size and variant."""
    params = copy.deepcopy(params)
    loss, r1 = ("nonsaturating", args.r1_gamma) if label == R1_LABEL else (label, 0.0)
    epochs, per_epoch = whole_epochs(args.steps, args.pass_steps)
    params["train"].update(
        loss=loss,
        seed=seed,
        epochs=epochs,
        steps_per_epoch=per_epoch,
        batch_size=args.batch_size,
        fid_every=0,
        r1_gamma=r1,
    )
    dcgan = params["models"]["dcgan"]
    for key in ("epochs", "steps_per_epoch", "batch_size", "loss", "seed", "r1_gamma"):
        dcgan.pop(key, None)  # the shared settings above win over any per-model override
    dcgan["generator"] = args.variant
    return params


def settings(run, label: str, args, eval_cfg) -> dict:
    """What makes two runs the same (a stored run with equal settings is skipped)."""
    t = run.train
    return {
        "model": run.model,
        "variant": run.family.generator,
        "label": label,
        "loss": t.loss,
        "r1_gamma": t.r1_gamma,
        "seed": t.seed,
        "steps": args.steps,
        "batch_size": t.batch_size,
        "lr": t.lr,
        "beta1": t.beta1,
        "k_steps": t.k_steps,
        "dropout": t.dropout,
        "latent_dim": t.latent_dim,
        "gp_weight": t.gp_weight,
        "clip": t.clip,
        "ema": t.ema,
        "update": t.update,
        "precision": t.precision,
        "dataset": run.data.dataset,
        "samples": args.samples,
        "eval_seed": eval_cfg["seed"],
        "kid_subsets": eval_cfg["kid_subsets"],
        "kid_subset_size": eval_cfg["kid_subset_size"],
        "pr_k": eval_cfg["pr_k"],
    }


def load_results(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    try:
        return json.loads(path.read_text()).get("runs", [])
    except (json.JSONDecodeError, AttributeError):
        print(f"{path} is unreadable; starting afresh", flush=True)
        return []


def save_results(path: Path, runs: list[dict], meta: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({**meta, "runs": runs}, indent=2, allow_nan=True) + "\n")
    os.replace(tmp, path)


def stored_run(stored: list[dict], key: dict) -> dict | None:
    """The stored run with these settings, if any."""
    return next((r for r in stored if r.get("settings") == key), None)


def store_run(path: Path, stored: list[dict], record: dict, meta: dict) -> list[dict]:
    """`stored` with `record` in place of any run of the same settings, saved to `path`."""
    stored = [r for r in stored if r.get("settings") != record["settings"]] + [record]
    save_results(path, stored, meta)
    return stored


def print_record(record: dict) -> None:
    """The line a finished run prints."""
    if record["diverged"]:
        print(f"    DIVERGED after {record['train_seconds']:.0f}s: {record['error']}", flush=True)
    else:
        print(
            f"    fid {record['fid']:.2f}  kid {record['kid']:.4f}  precision "
            f"{record['precision']:.3f}  recall {record['recall']:.3f}  train "
            f"{record['train_seconds']:.0f}s ({record['images_per_sec']:.0f} img/s), "
            f"score {record['score_seconds']:.0f}s",
            flush=True,
        )


def train_and_score(run, images, real_features, embed, eval_cfg, samples: int, extra=None) -> dict:
    """One training run and its scores; a diverged run gets NaN scores. `extra(result,
    embedding)` (optional) returns more values for the record from the TrainResult and the
    evaluator's Embedding of the `samples` generated images (not called for a diverged run)."""
    import keras

    from pipeline import metrics
    from pipeline.errors import TrainingError
    from pipeline.gans.inputs import generate
    from pipeline.training.loop import train

    record: dict = {}
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="loss_table-") as checkpoints:
            result = train(run, images, checkpoint_dir=Path(checkpoints), progress=False)
    except TrainingError as error:
        record.update(
            diverged=True,
            error=str(error).splitlines()[0],
            train_seconds=time.perf_counter() - started,
            **dict.fromkeys(METRICS, float("nan")),
            kid_std=float("nan"),
        )
        keras.backend.clear_session()
        gc.collect()
        return record
    record["train_seconds"] = time.perf_counter() - started
    record["steps"] = int(result.steps)
    record["images_per_sec"] = float(result.images_per_sec)
    last = result.history[-1] if result.history else {}
    record["final"] = {k: float(v) for k, v in last.items() if isinstance(v, int | float)}

    started = time.perf_counter()
    fake = generate(result.generator, samples, seed=eval_cfg["seed"], batch_size=500)
    embedding = embed(fake)
    fake_features = embedding.features
    kid, kid_std = metrics.kernel_inception_distance(
        real_features,
        fake_features,
        subsets=eval_cfg["kid_subsets"],
        subset_size=eval_cfg["kid_subset_size"],
        seed=eval_cfg["seed"],
    )
    precision, recall = metrics.precision_recall(real_features, fake_features, k=eval_cfg["pr_k"])
    record.update(
        diverged=False,
        fid=float(metrics.fid_from_features(real_features, fake_features)),
        kid=float(kid),
        kid_std=float(kid_std),
        precision=float(precision),
        recall=float(recall),
        score_seconds=time.perf_counter() - started,
    )
    if extra is not None:
        record.update(extra(result, embedding))
    del result, fake, fake_features, embedding
    keras.backend.clear_session()
    gc.collect()
    return record


# ---------------------------------------------------------------- the table


def _finite(values) -> list[float]:
    return [v for v in values if v is not None and math.isfinite(v)]


def mean_spread(values) -> tuple[float, float]:
    """Mean and half the range of the finite values (NaN, NaN when there are none)."""
    vals = _finite(values)
    if not vals:
        return float("nan"), float("nan")
    return sum(vals) / len(vals), (max(vals) - min(vals)) / 2


def _fmt(mean: float, spread: float, digits: int) -> str:
    if not math.isfinite(mean):
        return "diverged"
    return f"{mean:.{digits}f} ± {spread:.{digits}f}"


def ranks(values: dict[str, float]) -> dict[str, float]:
    """1 = lowest value; ties share the average rank; NaN/inf rank last."""
    keyed = sorted(values, key=lambda k: (not math.isfinite(values[k]), values[k]))
    out: dict[str, float] = {}
    i = 0
    while i < len(keyed):
        j = i
        v = values[keyed[i]]
        while j + 1 < len(keyed) and (
            values[keyed[j + 1]] == v
            or (not math.isfinite(v) and not math.isfinite(values[keyed[j + 1]]))
        ):
            j += 1
        for k in keyed[i : j + 1]:
            out[k] = (i + j) / 2 + 1
        i = j + 1
    return out


def spearman(a: dict[str, float], b: dict[str, float]) -> tuple[float, float]:
    """Spearman's rho of two score sets over their keys, and the exact one-sided p-value
    (the share of the n! orderings with a rho at least as large)."""
    keys = sorted(a)
    ra, rb = ranks(a), ranks(b)

    def rho(x: list[float], y: list[float]) -> float:
        mx, my = sum(x) / len(x), sum(y) / len(y)
        cov = sum((p - mx) * (q - my) for p, q in zip(x, y, strict=True))
        vx = sum((p - mx) ** 2 for p in x)
        vy = sum((q - my) ** 2 for q in y)
        return cov / math.sqrt(vx * vy) if vx and vy else float("nan")

    x = [ra[k] for k in keys]
    y = [rb[k] for k in keys]
    observed = rho(x, y)
    perms = list(itertools.permutations(y))
    at_least = sum(rho(x, list(p)) >= observed - 1e-12 for p in perms)
    return observed, at_least / len(perms)


def name_of(label: str) -> str:
    return LUCIC[label][0] if label in LUCIC else label


def build_table(runs: list[dict], args, flags: str, wall: float | None) -> str:
    by_label = {label: [r for r in runs if r["label"] == label] for label in run_labels()}
    fid_means: dict[str, float] = {}
    lines = []
    header = (
        "| loss | runs | fid | kid | precision | recall | s/run (train) "
        "| Lucic FID | Lucic rank (of 6) | our rank (of 6) |"
    )
    lines += [header, "|" + "---|" * (header.count("|") - 1)]
    rows = []
    for label in run_labels():
        done = by_label[label]
        if not done:
            rows.append((label, None))
            continue
        stats = {m: mean_spread([r[m] for r in done]) for m in METRICS}
        fid_means[label] = stats["fid"][0]
        rows.append((label, (done, stats)))

    ours_shared = {
        k: (fid_means[k] if math.isfinite(fid_means.get(k, float("nan"))) else math.inf)
        for k in SHARED
        if k in fid_means
    }
    complete = len(ours_shared) == len(SHARED)
    our_rank = ranks(ours_shared) if complete else {}
    lucic_shared = {k: LUCIC[k][1] for k in SHARED}
    lucic_rank = ranks(lucic_shared)

    for label, data in rows:
        paper = f"{LUCIC[label][1]:.1f} | {lucic_rank[label]:g}" if label in LUCIC else "– | –"
        ours_r = f"{our_rank[label]:g}" if label in our_rank else "–"
        if data is None:
            lines.append(f"| {label} | 0/{len(args.seeds)} | not run yet | | | | | {paper} | – |")
            continue
        done, stats = data
        diverged = sum(bool(r["diverged"]) for r in done)
        count = f"{len(done)}/{len(args.seeds)}" + (f" ({diverged} diverged)" if diverged else "")
        secs = [r["train_seconds"] for r in done]
        lines.append(
            f"| {label} | {count} | {_fmt(*stats['fid'], 2)} | {_fmt(*stats['kid'], 4)} "
            f"| {_fmt(*stats['precision'], 3)} | {_fmt(*stats['recall'], 3)} "
            f"| {sum(secs) / len(secs):.0f} | {paper} | {ours_r} |"
        )
    lines.append("| BEGAN | not implemented here | | | | | | 22.9 | – | – |")

    out = ["\n".join(lines), ""]
    seeds = " ".join(str(s) for s in args.seeds)
    out.append(
        f"DCGAN ({args.variant}), {args.steps} steps at batch {args.batch_size}, seeds {seeds}; "
        f"scores on {args.samples} generated vs the 10000 real test images. Cells: mean over "
        "the seeds ± half the range over the seeds ((max - min) / 2); diverged seeds are left "
        "out of the mean. s/run: training wall seconds per run (mean over seeds), scoring not "
        "included."
    )
    out.append(
        "All losses at the same shared hyperparameters (params.yaml: lr "
        f"{args.shared['lr']:g}, beta1 {args.shared['beta1']:g}, k_steps "
        f"{args.shared['k_steps']}, dropout {args.shared['dropout']:g}, gp_weight "
        f"{args.shared['gp_weight']:g}, clip {args.shared['clip']:g}; r1 run: r1_gamma "
        f"{args.r1_gamma:g}), not each at its tuned best."
    )
    out.append(
        'Lucic et al. 2018 ("Are GANs Created Equal?"): Fashion-MNIST, Inception FID, best '
        "of a large hyperparameter search per loss. Ranks: 1 = lowest FID among the six "
        "losses both tables have."
    )
    order = sorted(SHARED, key=lambda k: lucic_shared[k])
    out.append("")
    out.append("Lucic ordering (best first): " + " < ".join(name_of(k) for k in order))
    if complete:
        order = sorted(SHARED, key=lambda k: (our_rank[k], k))
        out.append("Our ordering (best first):   " + " < ".join(name_of(k) for k in order))
    out.append(
        "The feature networks differ (our Fashion-MNIST evaluator CNN vs Inception-v3), so "
        "the FID values are not comparable; only the orderings are."
    )
    if complete:
        rho, p = spearman(ours_shared, lucic_shared)
        same = all(our_rank[k] == lucic_rank[k] for k in SHARED)
        verdict = (
            "yes, the same ordering"
            if same
            else "yes, a significantly similar ordering (one-sided p < 0.05)"
            if p < 0.05
            else "no"
        )
        out.append(
            f"Spearman rank correlation (6 shared losses): rho = {rho:+.3f}, exact one-sided "
            f"p = {p:.3f} (720 orderings). Reproduces the paper's ordering: {verdict}."
        )
    else:
        missing = [k for k in SHARED if k not in ours_shared]
        out.append("Spearman rank correlation: not yet (missing runs: " + ", ".join(missing) + ")")
    out.append("")
    timing = f"CPU: {cpu_name()}, {os.cpu_count()} cores; AVX-512 flags: {flags}"
    if wall is not None:
        timing += f"; total wall time {wall / 60:.1f} min"
    out.append(timing)
    return "\n".join(out)


# ---------------------------------------------------------------- main


def check_inputs() -> None:
    """Exit 3 with one line when the dataset or the evaluator is missing."""
    for path, stage in (
        (Path("models/evaluator/model.keras"), "dvc repro evaluator"),
        (Path("data/raw/dataset.npz"), "dvc repro fetch"),
    ):
        if not path.is_file():
            print(f"error: {path} not found; run `{stage}` first", file=sys.stderr)
            sys.exit(3)


def eval_settings(params: dict) -> dict:
    """The evaluate.* settings the scores use."""
    return {
        "seed": int(params["evaluate"]["seed"]),
        "kid_subsets": int(params["evaluate"]["kid_subsets"]),
        "kid_subset_size": int(params["evaluate"]["kid_subset_size"]),
        "pr_k": int(params["evaluate"]["pr_k"]),
    }


def scoring_setup(run):
    """The training images of `run`, the evaluator (an Embedder) and the features of the
    real test images, embedded once."""
    from pipeline.data.store import load_dataset
    from pipeline.gans.inputs import task_for
    from pipeline.scoring.evaluator import load_embedder

    images = task_for(run).train_images  # the same data for every run
    embed = load_embedder(500)
    started = time.perf_counter()
    real_features = embed(load_dataset(run.data).x_test).features
    print(
        f"embedded {len(real_features)} real test images in {time.perf_counter() - started:.1f}s",
        flush=True,
    )
    return images, embed, real_features


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--samples", type=int, default=10000)
    parser.add_argument("--variant", choices=("upsample", "transposed"), default=None)
    parser.add_argument("--r1-gamma", type=float, default=1.0)
    parser.add_argument("--out", type=Path, default=Path("bench/results/loss_table.json"))
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args()
    if args.steps < 1 or args.batch_size < 1 or args.samples < 2:
        parser.error("--steps and --batch-size must be >= 1, --samples >= 2")

    os.chdir(ROOT)  # the pipeline's paths (models/, data/) are relative to the repo root
    check_inputs()

    import keras

    from pipeline.config import load_params
    from pipeline.gans.families import resolve_run

    wall_start = time.perf_counter()
    flags = cpu_flags()
    params = load_params(args.params)
    args.variant = args.variant or params["models"]["dcgan"].get("generator", "upsample")
    eval_cfg = eval_settings(params)
    args.pass_steps = pass_steps(params, args.batch_size)
    first = resolve_run(run_params(params, LOSSES[0], args.seeds[0], args), "dcgan")
    args.shared = {
        k: getattr(first.train, k)
        for k in ("lr", "beta1", "k_steps", "dropout", "gp_weight", "clip")
    }
    print(
        f"loss table: dcgan ({args.variant}), {args.steps} steps x batch {args.batch_size}, "
        f"seeds {args.seeds}, {args.samples} samples; shared hyperparameters {args.shared} "
        "(not each loss at its tuned best)",
        flush=True,
    )
    print(f"CPU: {cpu_name()}; AVX-512 flags: {flags}", flush=True)

    images, embed, real_features = scoring_setup(first)

    meta = {
        "description": "bench/loss_table.py: DCGAN per GAN loss at shared hyperparameters",
        "cpu_avx512": flags,
    }
    stored = load_results(args.out)
    runs: list[dict] = []
    plan = [(label, seed) for label in run_labels() for seed in args.seeds]
    for index, (label, seed) in enumerate(plan, 1):
        run = resolve_run(run_params(params, label, seed, args), "dcgan")
        key = settings(run, label, args, eval_cfg)
        old = stored_run(stored, key)
        if old is not None:
            print(f"[{index}/{len(plan)}] {label} seed {seed}: already done, skipped", flush=True)
            runs.append(old)
            continue
        print(f"[{index}/{len(plan)}] {label} seed {seed}: training ...", flush=True)
        record = train_and_score(run, images, real_features, embed, eval_cfg, args.samples)
        record = {"label": label, "seed": seed, "settings": key, **record}
        stored = store_run(args.out, stored, record, meta)
        runs.append(record)
        print_record(record)
        del run
        keras.backend.clear_session()
        gc.collect()

    table = build_table(runs, args, flags, time.perf_counter() - wall_start)
    print()
    print(table, flush=True)
    md = args.out.with_suffix(".md")
    md.write_text(table + "\n")
    print(f"\nwrote {args.out} and {md}", flush=True)


if __name__ == "__main__":
    main()
