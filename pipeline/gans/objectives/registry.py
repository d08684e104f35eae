"""Loss name (params.yaml's `loss`) -> its `Loss`."""

from __future__ import annotations

from pipeline.errors import ConfigError
from pipeline.gans.objectives.base import DEFAULT_SETTINGS, Loss, LossSettings
from pipeline.gans.objectives.dragan import DRAGAN
from pipeline.gans.objectives.hinge import Hinge
from pipeline.gans.objectives.lsgan import LSGAN
from pipeline.gans.objectives.minimax import Minimax
from pipeline.gans.objectives.nonsaturating import NonSaturating
from pipeline.gans.objectives.wgan import WGAN
from pipeline.gans.objectives.wgan_gp import WGANGP

_CLASSES: tuple[type[Loss], ...] = (NonSaturating, Minimax, WGAN, WGANGP, Hinge, LSGAN, DRAGAN)
LOSSES = tuple(cls.name for cls in _CLASSES)
_BY_NAME = dict(zip(LOSSES, _CLASSES, strict=True))


def get_loss(name: str, settings: LossSettings = DEFAULT_SETTINGS) -> Loss:
    """A fresh `Loss` for `name`; an unknown name is a ConfigError listing the valid ones."""
    try:
        cls = _BY_NAME[name]
    except (KeyError, TypeError):  # TypeError: an unhashable value from a bad params file
        raise ConfigError(f"loss must be one of {', '.join(LOSSES)}; got {name!r}") from None
    return cls(settings)
