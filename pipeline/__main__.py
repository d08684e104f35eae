"""`python -m pipeline`: the CLI, after checking that this python has the project's packages.

dvc.yaml's stages call `python`, whichever is first on PATH, so `.venv/bin/dvc repro` run
without the venv activated starts the stages with the system's python; without this
check that ends in a traceback about the first missing module."""

import importlib.util
import sys

# The direct dependencies the stages import (import names, not distribution names),
# looked up without importing them: TensorFlow takes seconds to import.
REQUIRED = ("numpy", "scipy", "yaml", "PIL", "cv2", "tqdm", "keras", "tensorflow", "mlflow")

missing = [name for name in REQUIRED if importlib.util.find_spec(name) is None]
if missing:
    sys.exit(
        f"error: {', '.join(missing)} not installed for {sys.executable}; run `make setup` "
        "and `source .venv/bin/activate` first (or `make repro`), so dvc's stages run the "
        "project's python"
    )

from pipeline.cli import main  # noqa: E402 (after the check, which must not import it)
from pipeline.native_logs import native_logs_hidden  # noqa: E402

if "--debug" in sys.argv[1:]:  # the CLI's option: show everything, tracebacks included
    sys.exit(main())
with native_logs_hidden():
    code = main()
sys.exit(code)
