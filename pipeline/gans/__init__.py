"""The model zoo: name -> GAN family module.

A family module defines `Config` (its models.<name>.* params), `build_generator(run,
image_shape)` and `build_discriminator(run, image_shape)`, and may name the adversarial
model class it trains with (`GAN_CLASS`, default `AdversarialGAN`) and that class's own
constructor arguments (`gan_options(run) -> dict`, default none).

A label-aware family (cgan, sgan, catgan) also defines `label_plan(run)` (which labels it
sees, pipeline.data.labels) and its builders take the class count as a third argument;
`CONDITIONAL = True` marks a generator fed a label, `CLASSIFIER = True` a discriminator
that classifies.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from pipeline.errors import ConfigError

FAMILIES = {
    "gan": "pipeline.gans.gan",
    "dcgan": "pipeline.gans.dcgan",
    "pix2pix": "pipeline.gans.pix2pix",
    "cgan": "pipeline.gans.cgan",
    "sgan": "pipeline.gans.sgan",
    "catgan": "pipeline.gans.catgan",
}
# Names reserved by DESIGN.md for families that are not built yet.
PLANNED = ("progan", "stylegan", "srgan", "stackgan")


def check_model_name(name: str, key: str = "--model") -> str:
    if name in FAMILIES:
        return name
    valid = ", ".join(sorted(FAMILIES))
    if name in PLANNED:
        raise ConfigError(f"{key}: model {name!r} is not implemented yet; available: {valid}")
    raise ConfigError(f"{key}: unknown model {name!r}; valid models: {valid}")


def family_of(name: str) -> ModuleType:
    return importlib.import_module(FAMILIES[check_model_name(name)])


def is_translation(name: str) -> bool:
    """Whether `name` translates edge maps (`INPUT = "edges"`, pix2pix) instead of drawing
    from noise: it trains on data/edges/pairs.npz and is fed edges, not latents."""
    return getattr(family_of(name), "INPUT", "latent") == "edges"


def label_plan(name: str, run):
    """What `name`'s training sees of the labels (a LabelPlan), or None: no labels."""
    plan = getattr(family_of(name), "label_plan", None)
    return plan(run) if plan else None


def is_conditional(name: str) -> bool:
    """Whether `name`'s generator takes a class label: generator([z, labels])."""
    return getattr(family_of(name), "CONDITIONAL", False)


def is_classifier(name: str) -> bool:
    """Whether `name`'s discriminator is a K-way classifier (sgan, catgan)."""
    return getattr(family_of(name), "CLASSIFIER", False)


def build_gan(run, image_shape: tuple[int, int, int], num_classes: int = 0):
    """Generator, discriminator and the adversarial wrapper for one resolved run config;
    `num_classes` sizes a label-aware family's networks.

    Call inside the training strategy's scope so the variables are placed (and batch
    statistics synchronised) for it.
    """
    from pipeline.gans.base import AdversarialGAN

    family = family_of(run.model)
    gan_class = getattr(family, "GAN_CLASS", AdversarialGAN)
    options = getattr(family, "gan_options", None)
    sizes = (num_classes,) if label_plan(run.model, run) is not None else ()
    return gan_class(
        family.build_generator(run, image_shape, *sizes),
        family.build_discriminator(run, image_shape, *sizes),
        global_batch_size=run.train.batch_size,
        k_steps=run.train.k_steps,
        loss=run.train.loss,
        update=run.train.update,
        name=run.model,
        **(options(run) if options else {}),
    )
