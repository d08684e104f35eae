"""The report: one self-contained HTML page (reports/index.html) of every GAN in
train.models, the data and the tuning, written by `python -m pipeline report`.

    inputs.py       what the report reads of each GAN, and the checksum file that makes
                    DVC order the report after every evaluate@ without naming the models
    collect.py      everything the page shows, gathered into typed dataclasses
    provenance.py   the MLflow side: run, git commit, registry version, champion
    studies.py      the Optuna studies (best trial, its `dvc exp run -S` line, importances)
    experiments.py  the DVC experiments, read from git refs (not `dvc exp show`)
    leaderboard.py  the columns, each metric's direction, the best value of each
    charts.py       inline SVG line charts
    page.py         the HTML
(dvc_plots.py is not the page's: it writes the CSVs `dvc plots show` draws.)

The page never asks which family a model is: what it shows comes from the family's
declaration (its input kind, its scores) and from the files the model's stages wrote.
"""
