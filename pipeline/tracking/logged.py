"""What an MLflow run records of its data and its generator (MlflowTracker logs them):
- the data file it trained on, as the run's dataset input (the run table's Dataset column):
  `dataset_entity` makes the MLflow dataset of what pipeline.tracking.runs.training_data
  describes;
- the generator as a Keras model with a signature read off the model itself and a two-row
  input example (`generator_signature`, `generator_example`), so that
  `mlflow.pyfunc.load_model(uri).predict(example)` works without this package.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from pipeline.data.described import DataInput


def dataset_entity(data: DataInput, source: Path):
    """`data` as an MLflow dataset: the local file `source` (its path in the real repository,
    not in a DVC temp copy), its digest, a tensor schema of one row and the split sizes."""
    import json

    from mlflow.data.schema import TensorDatasetSchema
    from mlflow.entities import Dataset
    from mlflow.types import Schema, TensorSpec

    rows = Schema([TensorSpec(np.dtype(data.dtype), (-1, *data.shape))])
    return Dataset(
        name=data.name,
        digest=data.digest,
        source_type="local",
        source=json.dumps({"uri": str(source)}),
        schema=json.dumps(TensorDatasetSchema(features=rows).to_dict()),
        profile=json.dumps({**data.splits, "shape": "x".join(map(str, data.shape))}),
    )


def generator_signature(generator):
    """The signature of a Keras generator, read off its own inputs and outputs: one input
    is an unnamed tensor (a latent [-1, latent_dim], an edge map [-1, S, S, 1]); several
    are named after the model's inputs (cgan: `z` [-1, latent_dim], `label` int32 [-1]),
    and pyfunc's predict then takes a dict of them."""
    from mlflow.models import ModelSignature
    from mlflow.types import Schema, TensorSpec

    def specs(tensors) -> Schema:
        named = len(tensors) > 1
        return Schema(
            [
                TensorSpec(_numpy_dtype(t.dtype), _shape(t, -1), t.name if named else None)
                for t in tensors
            ]
        )

    return ModelSignature(specs(generator.inputs), specs(generator.outputs))


EXAMPLE_SIDE = 8  # the side of an example picture for a generator that takes any size


def generator_example(generator, rows: int = 2):
    """A small deterministic input for `generator`: standard-normal latents for a vector
    input, uniform [-1, 1] (the pipeline's image range) for an image input, class 0 for an
    integer input. An array for one input, a dict by input name for several."""
    rng = np.random.default_rng(0)
    examples = {}
    for tensor in generator.inputs:
        shape, dtype = _shape(tensor, rows, EXAMPLE_SIDE), _numpy_dtype(tensor.dtype)
        if np.issubdtype(dtype, np.integer):
            examples[tensor.name] = np.zeros(shape, dtype)
        elif len(shape) == 2:
            examples[tensor.name] = rng.standard_normal(shape).astype(dtype)
        else:
            examples[tensor.name] = rng.uniform(-1.0, 1.0, shape).astype(dtype)
    return next(iter(examples.values())) if len(examples) == 1 else examples


def _shape(tensor, rows: int, free: int = -1) -> tuple[int, ...]:
    """A Keras tensor's shape with `rows` rows and `free` for any other free dimension
    (srgan's generator takes pictures of any size: -1 in a signature)."""
    return (rows, *(free if d is None else d for d in tensor.shape[1:]))


def _numpy_dtype(dtype) -> np.dtype:
    """A Keras tensor's dtype for numpy; one numpy cannot name (bfloat16) is fed as float32."""
    try:
        return np.dtype(dtype)
    except TypeError:
        return np.dtype("float32")


class KerasFlavor:
    """mlflow.keras for Model.log, with the folder made before saving: MLflow 3.17's
    mlflow.keras.save_model writes the input example before it creates the model folder and
    fails (mlflow issue 16183, open). A version that creates it first saves directly."""

    @staticmethod
    def save_model(path, mlflow_model, **kwargs) -> None:
        import mlflow

        kwargs.pop("validate_serving_input", None)  # Model.log's option, not the flavor's
        try:
            mlflow.keras.save_model(path=path, mlflow_model=mlflow_model, **kwargs)
        except FileNotFoundError:
            if os.path.exists(path):
                raise  # not the missing folder
            os.makedirs(path)
            mlflow.keras.save_model(path=path, mlflow_model=mlflow_model, **kwargs)
