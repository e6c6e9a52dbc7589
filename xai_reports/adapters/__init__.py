"""Model adapters: ``wrap_model`` turns a raw model into a :class:`ModelAdapter`; ``load_model`` reads a file."""

from __future__ import annotations

from .base import ModelAdapter
from .io import load_model
from .wrap import wrap_model

__all__ = ["ModelAdapter", "wrap_model", "load_model"]
