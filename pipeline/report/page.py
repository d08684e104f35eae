"""The report as one HTML page: the leaderboard, a card per GAN, the data, the tuning and
the experiments. Self-contained: pictures are data: URIs, charts inline SVG, styles inline,
and the only script sorts the leaderboard (the page reads the same without it). Every
text from a file or params.yaml is escaped.

Anchors tests and links rely on: the leaderboard is `table#leaderboard`, a model's row
`tr#row-NAME` (data-model="NAME"), its card `section#model-NAME`; the best value of a
column is a `td.best`.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterable, Mapping
from html import escape
from typing import Any

from pipeline.report.charts import line_chart
from pipeline.report.collect import ModelEntry, Picture, Report
from pipeline.report.experiments import Experiments
from pipeline.report.leaderboard import COMMON, DIRECTIONS, LOWER, SPREAD, best, columns
from pipeline.report.provenance import NOT_RECORDED
from pipeline.report.studies import Studies

STYLE = """
:root { --fg: #1b1f24; --muted: #5b6470; --line: #d7dce2; --best: #e3f4e8; --accent: #0072b2; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg);
       margin: 0 auto; padding: 16px 24px 48px; max-width: 1280px; background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 28px 0 8px;
  border-bottom: 1px solid var(--line); padding-bottom: 4px; } h3 { font-size: 16px; margin: 0; }
.meta, .note, figcaption, .muted { color: var(--muted); font-size: 12px; }
.warning { background: #fff4e0; border: 1px solid #f0c36d; padding: 6px 10px; margin: 8px 0; }
table { border-collapse: collapse; margin: 6px 0; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 7px; text-align: left;
         vertical-align: top; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
table.sortable th { cursor: pointer; user-select: none; white-space: nowrap; }
td.best { background: var(--best); font-weight: 600; }
td.best::after { content: " \\2605"; color: #2e7d32; font-weight: 400; }
tr.pending td { color: var(--muted); font-style: italic; }
tfoot td { color: var(--muted); border-top: 2px solid var(--line); }
.pm { color: var(--muted); font-size: 11px; }
.scroll { overflow-x: auto; }
td.num, td:first-child { white-space: nowrap; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 12px 14px; margin: 0 0 16px; }
.visuals, .details { display: flex; flex-wrap: wrap; gap: 8px 24px; align-items: flex-start; }
.visuals img.pixels { width: 280px; }
.details > div { min-width: 320px; }
.card header { display: flex; gap: 8px; align-items: baseline; flex-wrap: wrap; }
.tag { font-size: 11px; border: 1px solid var(--line); border-radius: 10px; padding: 0 7px; }
.tag.champion { background: #fff3c4; border-color: #e0b000; }
.status { color: #a04000; font-weight: 600; }
img.pixels { image-rendering: pixelated; max-width: 100%; height: auto;
             border: 1px solid var(--line); }
figure { margin: 8px 0; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 8px 0; }
dl.facts dt { color: var(--muted); } dl.facts dd { margin: 0; overflow-wrap: anywhere; }
code, pre { font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
pre { background: #f5f7f9; padding: 6px 8px; overflow-x: auto; white-space: pre-wrap;
      word-break: break-all; margin: 4px 0; }
svg.chart { max-width: 100%; height: auto; display: block; margin: 4px 0; }
svg .axis { stroke: #444; } svg .tick { stroke: #444; } svg .grid { stroke: #eceff2; }
svg .marker { stroke: #999; stroke-dasharray: 3 3; }
svg text { font: 10px system-ui, sans-serif; fill: #333; }
svg .chart-title { font-size: 12px; font-weight: 600; } svg .empty { fill: #999; }
svg .marker-label { fill: #777; font-size: 9px; }
.bar { display: inline-block; height: 10px; background: var(--accent); vertical-align: middle; }
"""

# Sorts a table by the clicked column: numbers by their data-value, text by its text;
# cells without a value sort last either way. The rows' first order (by fid) needs no JS.
SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("thead th").forEach(function (th, index) {
    th.addEventListener("click", function () {
      var up = th.getAttribute("data-order") !== "asc";
      table.querySelectorAll("thead th").forEach(function (h) { h.removeAttribute("data-order"); });
      th.setAttribute("data-order", up ? "asc" : "desc");
      var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      function key(row) {
        var cell = row.cells[index];
        if (!cell || row.classList.contains("pending") && index > 1) return null;
        var v = cell.getAttribute("data-value");
        if (v !== null) return parseFloat(v);
        return th.classList.contains("num") ? null : cell.textContent.trim().toLowerCase();
      }
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (x === null || y === null) return (x === null) - (y === null);
        var c = x < y ? -1 : x > y ? 1 : 0;
        return up ? c : -c;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""


def data_uri(picture: Picture) -> str:
    return "data:image/png;base64," + base64.b64encode(picture.data).decode("ascii")


def number(value: Any) -> str:
    """A score as the page shows it: 4 significant digits."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return escape(str(value))
    if isinstance(value, int):
        return f"{value:,}"
    if not math.isfinite(value):
        return str(value)
    return f"{value:.4g}"


def plain(value: Any) -> str:
    """A param value as params.yaml would write it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(plain(v) for v in value) + "]"
    return str(value)


def duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return NOT_RECORDED
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"


def time_split(parts: Any, shown: int = 3) -> str:
    """train.json's `seconds_by_part` as its largest shares: "step 71% · fid_probe 12% ·
    setup 9%" (pipeline.training.timing names the parts)."""
    if not isinstance(parts, dict) or not isinstance(parts.get("total"), int | float):
        return NOT_RECORDED
    total = float(parts["total"])
    shares = sorted(
        ((v / total, k) for k, v in parts.items() if k != "total" and total > 0 and v > 0),
        reverse=True,
    )
    return " · ".join(f"{escape(k)} {share:.0%}" for share, k in shares[:shown]) or NOT_RECORDED


def _facts(rows: Iterable[tuple[str, str]]) -> str:
    """A <dl> of (label, html) pairs; labels are escaped, values are html already."""
    body = "".join(f"<dt>{escape(k)}</dt><dd>{v}</dd>" for k, v in rows)
    return f'<dl class="facts">{body}</dl>'


# --- the leaderboard ---------------------------------------------------------------------


def _header(key: str) -> str:
    direction = DIRECTIONS.get(key)
    arrow = "" if direction is None else (" \u2193" if direction == LOWER else " \u2191")
    hint = (
        "direction unknown: not marked"
        if direction is None
        else f"{direction} is better; click to sort"
    )
    return f'<th class="num" title="{hint}">{escape(key)}{arrow}</th>'


def _score_cell(scores: Mapping[str, float], key: str, is_best: bool) -> str:
    value = scores.get(key)
    if not isinstance(value, int | float):
        return '<td class="num muted">\u2014</td>'
    spread = scores.get(key + SPREAD)
    extra = f' <span class="pm">\u00b1 {number(spread)}</span>' if spread is not None else ""
    css = "num best" if is_best else "num"
    title = ' title="best"' if is_best else ""
    return f'<td class="{css}" data-value="{value!r}"{title}>{number(value)}{extra}</td>'


def leaderboard(report: Report) -> str:
    scored = [m for m in report.models if m.scores is not None]
    keys = columns(m.scores for m in scored)
    winners = {k: best({m.name: m.scores.get(k) for m in scored}, k) for k in keys}
    head = "<th>model</th><th>task</th>" + "".join(_header(k) for k in keys)

    def order(m: ModelEntry):  # by fid, the unscored last, then by name
        fid = (m.scores or {}).get("fid")
        ok = isinstance(fid, int | float) and math.isfinite(fid)
        return (not ok, fid if ok else 0.0, m.name)

    rows = []
    for m in sorted(report.models, key=order):
        name = escape(m.name)
        pending = ' class="pending"' if m.scores is None else ""
        start = (
            f'<tr id="row-{name}" data-model="{name}"{pending}>'
            f'<td><a href="#model-{name}">{name}</a></td><td>{escape(m.task)}</td>'
        )
        if m.scores is None:
            rows.append(f'{start}<td colspan="{len(keys)}">{escape(m.status)}</td></tr>')
        else:
            cells = "".join(_score_cell(m.scores, k, m.name in winners[k]) for k in keys)
            rows.append(f"{start}{cells}</tr>")
    foot = ""
    if report.floor is not None:
        cells = "".join(_score_cell(report.floor, k, False) for k in keys)
        foot = (
            '<tfoot><tr id="row-floor"><td title="models/reference/metrics.json: training '
            'images scored against the test split">real vs real (floor)</td><td>real</td>'
            f"{cells}</tr></tfoot>"
        )
    evaluator = report.data.evaluator or {}
    accuracy = evaluator.get("accuracy")
    ceiling = (
        f"The evaluator (whose features give every score) has test accuracy "
        f"<b>{number(accuracy)}</b>: the ceiling of conditional_accuracy. "
        if accuracy is not None
        else "The evaluator has not been trained yet (<code>dvc repro evaluator</code>). "
    )
    return (
        '<div class="scroll"><table id="leaderboard" class="sortable">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody>{foot}</table></div>"
        f'<p class="note">{ceiling}\u2193 lower is better, \u2191 higher is better; '
        "\u2605 marks the best model in each column (the floor row is not ranked). "
        "Click a column to sort.</p>"
    )


# --- a card per model ------------------------------------------------------------------


def _provenance_rows(m: ModelEntry) -> list[tuple[str, str]]:
    p = m.provenance

    def code(value: str | None) -> str:
        return f"<code>{escape(value)}</code>" if value else NOT_RECORDED

    if p.registered and p.version:
        registry = f"{escape(p.registered)} v{escape(p.version)}"
        if p.champion:
            registry += ' <span class="tag champion">champion</span>'
        elif p.champion_version:
            registry += f" (champion: v{escape(p.champion_version)})"
        else:
            registry += " (no champion yet: <code>python -m pipeline retrain</code>)"
    else:
        registry = NOT_RECORDED
    rows = [
        ("git commit", code(p.commit)),
        ("MLflow run", code(p.run_id)),
        ("registry", registry),
    ]
    if p.dvc_experiment:
        rows.append(("DVC experiment", code(p.dvc_experiment)))
    if p.note:
        rows.append(("note", f'<span class="muted">{escape(p.note)}</span>'))
    return rows


def _params_table(m: ModelEntry) -> str:
    if not m.params:
        return '<p class="muted">no params of its own: it trains with train.* as is</p>'
    rows = []
    for p in m.params:
        if p.overrides:
            where = f"overrides train.{escape(p.key.rsplit('.', 1)[1])} = {escape(plain(p.shared))}"
        else:
            where = "family param" + ("" if p.written else " (default)")
        rows.append(
            f"<tr><td><code>{escape(p.key)}</code></td><td>{escape(plain(p.value))}</td>"
            f'<td class="muted">{where}</td></tr>'
        )
    return (
        "<table><thead><tr><th>param</th><th>value</th><th></th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _other_scores(m: ModelEntry) -> str:
    """The scores the leaderboard does not show: per-class accuracies and spreads."""
    if not m.scores:
        return ""
    rest = {k: v for k, v in m.scores.items() if "/" in k}
    if not rest:
        return ""
    cells = "".join(
        f'<tr><td>{escape(k)}</td><td class="num">{number(v)}</td></tr>' for k, v in rest.items()
    )
    return f"<details><summary>per-class scores</summary><table>{cells}</table></details>"


def card(m: ModelEntry) -> str:
    name = escape(m.name)
    champion = ' <span class="tag champion">champion</span>' if m.provenance.champion else ""
    status = f'<p class="status">{escape(m.status)}</p>' if m.status else ""
    if m.samples is not None:
        samples = (
            f'<figure><img class="pixels" src="{data_uri(m.samples)}" width="{m.samples.width}"'
            f' height="{m.samples.height}" alt="samples of {name}">'
            f"<figcaption>models/{name}/samples.png (fixed latents)</figcaption></figure>"
        )
    else:
        samples = '<p class="muted">no samples.png yet</p>'
    charts = (
        "".join(line_chart(chart) for chart in (m.losses, m.fid) if chart is not None)
        or '<p class="muted">no history.csv or fid.csv yet</p>'
    )
    t = m.trained
    facts = [
        ("steps", number(t["steps"]) if "steps" in t else NOT_RECORDED),
        ("images/s", number(t["images_per_sec"]) if "images_per_sec" in t else NOT_RECORDED),
        ("training time", duration(m.training_seconds)),
        ("where it went", time_split(t.get("seconds_by_part"))),
        *_provenance_rows(m),
    ]
    return (
        f'<section class="card" id="model-{name}" data-model="{name}">'
        f'<header><h3>{name}</h3><span class="tag">{escape(m.task)}</span>{champion}</header>'
        f'<p class="muted">{escape(m.summary)}</p>{status}'
        f'<div class="visuals">{samples}{charts}</div>'
        f'<div class="details"><div>{_facts(facts)}{_other_scores(m)}</div>'
        f"<div><h4>Its own params</h4>{_params_table(m)}</div></div>"
        f"<h4>Reproduce</h4><pre>{escape(m.reproduce)}</pre></section>"
    )


# --- data, tuning, experiments -----------------------------------------------------------


def data_section(report: Report) -> str:
    d = report.data
    parts = [f"<p>Dataset: <code>{escape(d.dataset)}</code>.</p>"]
    if d.evaluator:
        parts.append(
            "<p>Evaluator (models/evaluator/metrics.json): "
            + ", ".join(f"{escape(k)} {number(v)}" for k, v in d.evaluator.items())
            + "</p>"
        )
    for derived in d.derived:
        path = f"data/{derived.stage}"
        if derived.preview is not None:
            parts.append(
                f'<figure><img class="pixels" src="{data_uri(derived.preview)}" '
                f'width="{derived.preview.width}" height="{derived.preview.height}" '
                f'alt="{escape(derived.caption)}"><figcaption>{path}/preview.png: '
                f"{escape(derived.caption)}</figcaption></figure>"
            )
        if derived.stats:
            parts.append(
                f"<p>{path}/stats.json:</p>"
                + _facts((k, number(v)) for k, v in derived.stats.items())
            )
        if derived.preview is None and not derived.stats:
            parts.append(
                f'<p class="muted">no {path}/ yet (<code>dvc repro {derived.stage}</code>)</p>'
            )
    return "".join(parts)


def studies_section(studies: Studies) -> str:
    if not studies.studies:
        return f'<p class="muted">{escape(studies.note or "no study of these models yet")}</p>'
    parts = [f'<p class="meta">storage: <code>{escape(studies.storage)}</code></p>']
    for s in studies.studies:
        counts = ", ".join(f"{n} {state}" for state, n in s.counts.items() if n)
        parts.append(f'<h3 id="study-{escape(s.model)}">{escape(s.name)}</h3>')
        parts.append(f'<p class="meta">{escape(counts) or "no trials"}</p>')
        if s.best_params is None:
            parts.append(f'<p class="muted">{escape(s.importance_note)}</p>')
            continue
        params = ", ".join(f"{escape(k)}={escape(plain(v))}" for k, v in s.best_params.items())
        parts.append(
            f"<p>best: trial {s.best_number}, {escape(s.metric)} {number(s.best_value)} "
            f"({params})</p><p>apply it (retrains {escape(s.model)} only):</p>"
            f"<pre>{escape(s.command)}</pre>"
        )
        if s.importances:
            rows = "".join(
                f"<tr><td>{escape(k)}</td><td class=num>{v:.3f}</td>"
                f'<td><span class="bar" style="width:{max(1, round(v * 200))}px"></span></td></tr>'
                for k, v in s.importances.items()
            )
            parts.append(
                "<table><thead><tr><th>param</th><th class=num>importance</th><th></th>"
                f"</tr></thead><tbody>{rows}</tbody></table>"
            )
        else:
            parts.append(f'<p class="muted">{escape(s.importance_note)}</p>')
    return "".join(parts)


def experiments_section(experiments: Experiments, models: list[str]) -> str:
    if not experiments.experiments:
        return f'<p class="muted">{escape(experiments.note)}</p>'
    head = "<th>experiment</th><th>created</th><th>changed params (workspace \u2192 it)</th>"
    head += "".join(f'<th class="num">{escape(m)} fid</th>' for m in models)
    rows = []
    for e in experiments.experiments:
        changed = (
            "<br>".join(
                f"<code>{escape(k)}</code>: {escape(plain(a))} \u2192 {escape(plain(b))}"
                for k, a, b in e.changed
            )
            or '<span class="muted">none</span>'
        )
        scores = "".join(
            f'<td class="num" data-value="{e.scores[m]!r}">{number(e.scores[m])}</td>'
            if m in e.scores
            else '<td class="num muted">\u2014</td>'
            for m in models
        )
        rows.append(
            f'<tr id="exp-{escape(e.name)}"><td><code>{escape(e.name)}</code>'
            f'<br><span class="muted">{escape(e.commit[:7])}, from {escape(e.baseline[:7])}'
            f"</span></td><td>{escape(e.created[:16])}</td><td>{changed}</td>{scores}</tr>"
        )
    note = f'<p class="note">{escape(experiments.note)}</p>' if experiments.note else ""
    return (
        f'<div class="scroll"><table id="experiments" class="sortable"><thead><tr>{head}</tr>'
        f"</thead><tbody>{''.join(rows)}</tbody></table></div>{note}"
        '<p class="note">Read from git (refs/exps), not <code>dvc exp show</code>, which '
        "would wait for the lock <code>dvc repro</code> holds while this stage runs; scores "
        "from each experiment's commit, else from its MLflow runs. Apply one with "
        "<code>dvc exp apply NAME</code>.</p>"
    )


# --- the page --------------------------------------------------------------------------


def render(report: Report) -> str:
    names = [m.name for m in report.models]
    warnings = "".join(f'<p class="warning">{escape(w)}</p>' for w in report.warnings)
    commit = f"commit <code>{escape(report.commit[:12])}</code>, " if report.commit else ""
    store = escape(report.store) if report.store else NOT_RECORDED
    cards = "".join(card(m) for m in report.models)
    common = ", ".join(COMMON)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>gan-zoo report</title><style>{STYLE}</style></head><body>"
        "<h1>gan-zoo report</h1>"
        f'<p class="meta">{len(names)} GANs of train.models; generated {escape(report.generated)}'
        f" from {commit}MLflow store: {store}. Regenerate with "
        "<code>dvc repro report</code> (or <code>python -m pipeline report</code>).</p>"
        f"{warnings}"
        f'<h2 id="leaderboard-title">Leaderboard</h2>'
        f'<p class="note">Scores of each GAN\'s generator against the real test split '
        f"({escape(common)} and each family's own), with the evaluator's features.</p>"
        f"{leaderboard(report)}"
        f'<h2>The GANs</h2><div class="cards">{cards}</div>'
        f'<h2 id="data">The data</h2>{data_section(report)}'
        f'<h2 id="tuning">Tuning (Optuna)</h2>{studies_section(report.studies)}'
        f'<h2 id="experiments-title">DVC experiments</h2>'
        f"{experiments_section(report.experiments, names)}"
        f"<script>{SCRIPT}</script></body></html>\n"
    )
