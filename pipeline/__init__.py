"""gan-zoo: a declarative pipeline that trains, scores and tracks a zoo of Keras GANs.

A saved generator is made of built-in Keras layers (`keras.saving.load_model` needs nothing
of this package), but ProGAN's, StyleGAN's and SRGAN's: `import pipeline.gans.blocks`
before loading one (it registers the zoo's custom layers).
"""

import os

# albumentations calls home at import; tensorflow's C++ INFO lines drown the progress bars.
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
