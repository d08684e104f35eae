"""gan-zoo: a declarative pipeline that trains, scores and tracks a zoo of Keras GANs.

Importing `pipeline` is all `keras.saving.load_model` needs to load a saved generator.
"""

import os

# albumentations calls home at import; tensorflow's C++ INFO lines drown the progress bars.
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
