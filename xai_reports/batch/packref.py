"""A loaded pack that travels to worker processes by reference, not by value.

A renderer sent to a pool worker or a Dask worker carries the pack's reference
(a shipped pack's name, or the path of the user's pack file) and its SHA-256;
the worker loads the pack from its own installation once and refuses to work
with a pack that differs from the driver's, since the documents would differ.
"""

from __future__ import annotations

from functools import lru_cache

from ..errors import PackError
from ..packs.loader import load_pack, pack_ref


@lru_cache(maxsize=8)
def pack_in_worker(ref: str, sha256: str):
    """The pack ``ref`` loaded here, checked against the driver's ``sha256`` (cached per process).

    Raises:
        PackError: the pack here differs from the driver's.
    """
    from ..io.storage import is_remote, scrub

    pack = load_pack(ref)
    if pack.sha256 != sha256 and is_remote(ref):  # a stale copy of a bucket's pack (this worker outlived it)
        from ..io.remote import forget_trees

        forget_trees()
        pack = load_pack(ref)
    if pack.sha256 != sha256:
        raise PackError(f"pack '{scrub(ref)}' on this worker differs from the driver's (sha256 {pack.sha256[:12]} "
                        f"!= {sha256[:12]}); install the same pack on every worker")
    return pack


class PackHandle:
    """Holds a loaded pack; pickles as ``(reference, sha256)`` and reloads (checked) where it lands.

    Examples::

        >>> h = PackHandle(load_pack("healthcare"))
        >>> pickle.loads(pickle.dumps(h)).pack.sha256 == h.pack.sha256
        True
    """

    def __init__(self, pack):
        self._pack = pack
        # a pack on object storage travels as its URL (each worker copies the prefix once)
        self.ref = pack.__dict__.get("source_url") or pack_ref(pack)
        self.sha256 = pack.sha256

    def __getstate__(self):
        return {"ref": self.ref, "sha256": self.sha256}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._pack = None

    @property
    def pack(self):
        if self._pack is None:
            self._pack = pack_in_worker(self.ref, self.sha256)
        return self._pack


__all__ = ["PackHandle", "pack_ref", "pack_in_worker"]
