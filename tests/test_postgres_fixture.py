"""Two Optuna workers, two processes, one study on a real PostgreSQL server.

The `postgres_url` fixture (tests/postgres.py) starts a throw-away server; the study is
created once here (which also creates Optuna's tables), then two separate Python
processes join it with `create_study(load_if_exists=True)` and run 5 trials each. The
study must end with exactly 10 COMPLETE trials numbered 0..9, 5 from each worker: the
storage and the psycopg2 driver serve several workers without losing or repeating a trial.
"""

import subprocess
import sys
from collections import Counter

import optuna

from tests.postgres import postgres_url  # noqa: F401  (the fixture)

STUDY = "two-workers"
TRIALS_EACH = 5
TIMEOUT = 120.0  # seconds for both workers; about 5 s on 2 cores

WORKER = """
import sys
import optuna

url, study_name, worker, n_trials = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
optuna.logging.set_verbosity(optuna.logging.WARNING)
study = optuna.create_study(study_name=study_name, storage=url, load_if_exists=True)

def objective(trial):
    trial.set_user_attr("worker", worker)
    return trial.suggest_float("x", -1.0, 1.0) ** 2

study.optimize(objective, n_trials=n_trials)
"""


def test_two_processes_share_one_study_on_postgres(postgres_url):  # noqa: F811
    storage = optuna.storages.RDBStorage(postgres_url)
    try:
        optuna.create_study(study_name=STUDY, storage=storage)
        workers = [
            subprocess.Popen(
                [sys.executable, "-c", WORKER, postgres_url, STUDY, str(i), str(TRIALS_EACH)],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for i in range(2)
        ]
        outputs = []
        try:
            for worker in workers:
                outputs.append(worker.communicate(timeout=TIMEOUT)[0])
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.kill()
                    worker.wait()
        for worker, output in zip(workers, outputs, strict=True):
            assert worker.returncode == 0, output

        trials = optuna.load_study(study_name=STUDY, storage=storage).get_trials(deepcopy=False)
        assert len(trials) == 2 * TRIALS_EACH
        assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
        assert sorted(t.number for t in trials) == list(range(2 * TRIALS_EACH))
        assert Counter(t.user_attrs["worker"] for t in trials) == {"0": 5, "1": 5}
    finally:
        storage.engine.dispose()  # close the pooled connections before the server stops
