"""A fake repository for the report's tests: what train@, evaluate@, edges, lowres,
evaluator and reference leave on disk, made in a second without training anything."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

from tests.helpers import tiny_params_dict

# Crafted scores: dcgan has the lowest fid, gan the highest recall, cgan the best precision.
SCORES = {
    "gan": {"fid": 40.0, "kid": 0.05, "precision": 0.6, "recall": 0.45, "classifier_score": 6.0},
    "dcgan": {"fid": 12.5, "kid": 0.01, "precision": 0.7, "recall": 0.30, "classifier_score": 7.5},
    "cgan": {
        "fid": 20.0,
        "kid": 0.02,
        "precision": 0.8,
        "recall": 0.2,
        "classifier_score": 7.0,
        "conditional_accuracy": 0.87,
        "class_accuracy/t-shirt_top": 0.9,
    },
    "sgan": {
        "fid": 50.0,
        "kid": 0.06,
        "precision": 0.5,
        "recall": 0.1,
        "classifier_score": 5.0,
        "accuracy": 0.7,
        "clustering_accuracy": 0.6,
    },
    "catgan": {
        "fid": 60.0,
        "kid": 0.07,
        "precision": 0.4,
        "recall": 0.05,
        "classifier_score": 4.0,
        "clustering_accuracy": 0.55,
    },
    "pix2pix": {
        "fid": 30.0,
        "kid": 0.03,
        "precision": 0.65,
        "recall": 0.25,
        "classifier_score": 6.5,
        "l1": 0.2,
        "psnr": 18.0,
        "ssim": 0.7,
    },
    "srgan": {
        "fid": 22.0,
        "kid": 0.025,
        "precision": 0.65,
        "recall": 0.25,
        "classifier_score": 6.8,
        "l1": 0.21,
        "psnr": 17.5,
        "ssim": 0.45,
        "bicubic_l1": 0.21,
        "bicubic_psnr": 15.9,
        "bicubic_ssim": 0.42,
        "bicubic_fid": 46.9,
    },
    "progan": {
        "fid": 36.4,
        "kid": 0.42,
        "kid_std": 0.013,
        "precision": 0.77,
        "recall": 0.0038,
        "classifier_score": 2.2,
        "classifier_score_std": 0.05,
    },
    "stylegan": {
        "fid": 28.1,
        "kid": 0.26,
        "kid_std": 0.012,
        "precision": 0.47,
        "recall": 0.048,
        "classifier_score": 3.1,
        "classifier_score_std": 0.04,
        "ppl": 2153.0,
        "ppl_w": 530.6,
    },
    "stackgan": {
        "fid": 24.0,
        "kid": 0.03,
        "precision": 0.6,
        "recall": 0.2,
        "classifier_score": 6.0,
        "conditional_accuracy": 0.85,
        "class_accuracy/t-shirt_top": 0.8,
        "stage1_fid": 45.0,
        "stage1_precision": 0.5,
        "stage1_recall": 0.1,
        "stage1_conditional_accuracy": 0.8,
    },
}
FLOOR = {"fid": 0.135, "kid": -0.0001, "precision": 0.85, "recall": 0.83, "classifier_score": 8.6}


def noise_png(path: Path, side: int, seed: int = 0) -> None:
    """A grey noise picture: PNG's worst case, so sizes measured on it are upper bounds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (side, side), dtype=np.uint8)
    Image.fromarray(pixels, mode="L").save(path, format="PNG")


def write_model(root: Path, name: str, scores: dict | None, seed: int = 0) -> None:
    """models/NAME/ as train@NAME (and, with `scores`, evaluate@NAME) leave it."""
    folder = root / "models" / name
    folder.mkdir(parents=True, exist_ok=True)
    # an 8x8 grid of 28 px with 2 px padding, zoomed x2: what a real samples.png measures
    noise_png(folder / "samples.png", 484, seed)
    (folder / "train.json").write_text(
        json.dumps(
            {
                "d_loss": 0.9,
                "g_loss": 1.4,
                "steps": 938,
                "images_per_sec": 812.3,
                "seconds_by_part": {"setup": 10.0, "step": 70.0, "fid_probe": 15.0, "total": 100.0},
            }
        )
    )
    (folder / "run.json").write_text(
        json.dumps({"mlflow_run_id": f"fake{seed:028d}", "tracking_uri": "sqlite:///none"})
    )
    lines = ["step,epoch,phase,d_loss,g_loss,alpha"]
    for i in range(1, 95):
        phase = "7px" if i < 40 else "fade-14px" if i < 60 else "14px"
        lines.append(f"{i * 10},{1 + i // 47},{phase},{1.0 / i:.4f},{1.0 + i / 100:.4f},0.0")
    (folder / "history.csv").write_text("\n".join(lines) + "\n")
    (folder / "fid.csv").write_text("epoch,step,phase,fid2k\n1,470,14px,80.5\n2,940,14px,55.2\n")
    if scores is not None:
        (folder / "metrics.json").write_text(json.dumps(scores))


def fake_repo(root: Path, models: dict | None = None, evaluated: bool = True) -> dict:
    """params.yaml (the tiny params, train.models = the eight GANs) and every output the
    report reads; returns the params."""
    params = tiny_params_dict()
    params["tune"]["storage"] = ""
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    for seed, name in enumerate(models or params["train"]["models"]):
        write_model(root, name, SCORES.get(name) if evaluated else None, seed)
    for folder, payload in (
        ("evaluator", {"accuracy": 0.9326, "loss": 0.19}),
        ("reference", FLOOR),
    ):
        (root / "models" / folder).mkdir(parents=True, exist_ok=True)
        (root / "models" / folder / "metrics.json").write_text(json.dumps(payload))
    noise_png(root / "data" / "edges" / "preview.png", 256, 99)
    (root / "data" / "edges" / "stats.json").write_text(json.dumps({"edge_share": 0.12}))
    noise_png(root / "data" / "lowres" / "preview.png", 128, 98)
    (root / "data" / "lowres" / "stats.json").write_text(json.dumps({"bicubic_psnr": 15.9}))
    return params
