"""A registry of named things declared one per file of a package folder: the GAN families
(pipeline.gans.families) and the metrics (pipeline.scoring.metrics).

Each file registers what it declares when it is imported, and a file is imported the
first time its name is looked up, so knowing the names costs no import (no TensorFlow).
Something defined elsewhere (a plugin, a test) registers itself the same way.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable
from typing import Any


class Registry:
    """Objects with a `.name`, found by the file names of `package` (its `__path__`)."""

    def __init__(self, package: str, path: Iterable[str], kind: str):
        self.package, self.path, self.kind = package, list(path), kind
        self._items: dict[str, Any] = {}

    def register(self, item):
        """Add `item` (a file calls this at import); a second item of one name is a bug."""
        if item.name in self._items and self._items[item.name] is not item:
            raise ValueError(f"a {self.kind} named {item.name!r} is registered already")
        self._items[item.name] = item
        return item

    def unregister(self, name: str) -> None:
        """Remove an item registered at run time (tests)."""
        self._items.pop(name, None)

    def files(self) -> tuple[str, ...]:
        """The module names of the folder, found without importing them."""
        return tuple(sorted(m.name for m in pkgutil.iter_modules(self.path) if not m.ispkg))

    def get(self, name: str):
        """The item `name`, importing its file on first use; None when there is none."""
        if name not in self._items and name in self.files():
            importlib.import_module(f"{self.package}.{name}")
        return self._items.get(name)

    def registered(self, load_all: bool = False) -> tuple[str, ...]:
        """The names registered so far; with `load_all`, after importing every file."""
        if load_all:
            for name in self.files():
                importlib.import_module(f"{self.package}.{name}")
        return tuple(sorted(self._items))
