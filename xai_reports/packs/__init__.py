"""Domain packs: declarative YAML under ``domains/`` (see README, 'Writing a pack')."""

from .loader import LoadedPack, load_pack, load_recorded_pack
from .schema import FeatureSpec, Pack, ReasonSpec

__all__ = ["load_pack", "load_recorded_pack", "LoadedPack", "Pack", "FeatureSpec", "ReasonSpec"]
