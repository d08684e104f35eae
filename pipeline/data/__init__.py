"""Datasets: the registry of built-ins, fetching and verifying them, and the stored result.

`pipeline.data.fetch.fetch(cfg)` writes `data/raw/dataset.npz`;
`pipeline.data.store.load_dataset(cfg)` reads it back as a `Dataset`.
Submodules are imported where used, so importing `pipeline.data` stays cheap.
"""
