"""`edges`: data/edges/pairs.npz (Canny edge map | image, every image of both splits),
data/edges/preview.png (image | edges) and data/edges/stats.json."""

from __future__ import annotations

from pathlib import Path

from pipeline.config import load_params, parse_data, parse_edges


def edges_command(params_path: Path) -> dict:
    """Make the pairs of the fetched dataset with edges.*; returns the edge statistics."""
    from pipeline.data import edges
    from pipeline.data.store import load_dataset
    from pipeline.images import display_scale, save_png
    from pipeline.saved import write_json

    params = load_params(params_path)
    cfg = parse_edges(params)
    dataset = load_dataset(parse_data(params))
    pairs = edges.make_pairs(dataset, cfg)
    stats = edges.edge_stats(pairs)
    edges.save_pairs(pairs, edges.PAIRS_FILE)
    picture = edges.preview(pairs)
    save_png(picture, edges.PREVIEW_FILE, scale=display_scale(picture))
    write_json(stats, edges.STATS_FILE)
    return stats
