"""Blocks shared by the families: layers, the DCGAN trunks, and the zoo's custom layers.

Importing this package registers every custom Keras layer a saved generator may hold
(ProGAN's and StyleGAN's equalized layers and fade-ins, StyleGAN's styles and noise,
SRGAN's pixel shuffle; all registered under the package `gan_zoo`), so
`import pipeline.gans.blocks` before `keras.saving.load_model` loads any generator of the
zoo. The other families' generators are built-in layers only.
"""

from pipeline.gans.blocks import equalized, progressive, resnet, stabilizers, style  # noqa: F401
