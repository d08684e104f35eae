"""Blocks shared by the families: layers, the DCGAN trunks, and the zoo's custom layers.

Importing this package registers every custom Keras layer a saved generator may hold
(ProGAN's and StyleGAN's equalized layers and fade-ins, StyleGAN's styles and noise,
SRGAN's pixel shuffle, StackGAN's discriminator's conditioned convolution; all registered
under the package `gan_zoo`), so `import pipeline.gans.blocks` before
`keras.saving.load_model` loads any network of the zoo. The other families' generators are
built-in layers only.
"""

from pipeline.gans.blocks import (  # noqa: F401
    conditioned,
    equalized,
    progressive,
    resnet,
    stabilizers,
    style,
)
