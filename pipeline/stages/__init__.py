"""The commands dvc.yaml runs, one thin module each: read params, call the library, write
the declared outputs (cli.py dispatches to them)."""
