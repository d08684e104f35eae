"""`fetch`: the dataset named by data.dataset into data/raw/dataset.npz."""

from __future__ import annotations

from pathlib import Path

from pipeline.config import load_params, parse_data


def fetch_command(params_path: Path, progress: bool = True) -> Path:
    from pipeline.data.fetch import fetch

    return fetch(parse_data(load_params(params_path)), progress=progress)
