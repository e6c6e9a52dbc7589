"""A per-call check that a ``torch.nn.Module`` is unchanged since it was last looked at.

The torch adapter and the image methods need a few facts about a module on every call
(any submodule in training mode? every tensor on the device? a hook registered anywhere?
the last ``Conv2d``? a cached ``channels_last`` copy still valid?). Walking
``named_modules()`` for each of them costs more than the whole Grad-CAM of a small CNN, so
:func:`module_state` keeps, per module, a :class:`ModuleState`: a flat snapshot of the
module tree taken in one walk, with the facts derived from it, and checks it in one pass
over flat lists (no recursion, no generators) before each use:

* every submodule's attributes by **identity** (``m.__dict__`` values, and the names and
  values of its ``_parameters``, ``_buffers`` and ``_modules`` dicts): a new or removed
  submodule, parameter or buffer, a replaced tensor, a changed flag (``training``, BatchNorm
  ``eps``, a conv's ``padding``) all change an identity;
* every parameter and buffer's in-place ``_version`` and ``data_ptr`` (an in-place write bumps
  ``_version``; ``.to``, ``.half()``, ``.data =`` give the tensor another storage; the snapshot
  holds the storages it saw, so no new storage can reuse one of their addresses);
* that no forward/backward hook is registered on any submodule (hook dicts are mutated in
  place, so their contents are looked at, not their identity).

Identity is conservative: re-setting an attribute to an equal but new object (``bn.eps =
bn.eps * 2 / 2``) counts as a change, which costs a rebuild, never a stale answer.
"""

from __future__ import annotations

import itertools
import operator
import weakref

_STATES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _flat(mods) -> tuple:
    """``(objects, sizes)``: every submodule's attribute values and its parameter, buffer and submodule
    dicts' names and values (compared by identity), and per submodule the size of each of those dicts
    and whether a hook is registered (compared by value: the sizes delimit the objects, so nothing can
    move from one dict to another unseen; hook dicts change in place, so their contents are looked at)."""
    out, sizes = [], []
    ext, size = out.extend, sizes.append
    for m in mods:
        d = m.__dict__
        p, b, s = m._parameters, m._buffers, m._modules     # (properties on traced TorchScript modules)
        size((len(d), len(p), len(b), len(s), bool(
            d.get("_forward_hooks") or d.get("_forward_pre_hooks") or d.get("_backward_hooks")
            or d.get("_backward_pre_hooks"))))
        ext(d.values())
        ext(p.keys())
        ext(p.values())
        ext(b.keys())
        ext(b.values())
        ext(s.keys())
        ext(s.values())
    return out, sizes


def _storage(t):
    try:
        return t.untyped_storage()
    except (RuntimeError, NotImplementedError):     # sparse, meta: no storage to hold
        return None


def _marks(tensors) -> list:
    return [(t._version, t.data_ptr()) for t in tensors]


_HOOKS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")
_INNER = ("_parameters", "_buffers", "_modules")
_values = dict.values
_keys = dict.keys
_version = operator.attrgetter("_version")
_data_ptr = operator.methodcaller("data_ptr")
_chain = itertools.chain.from_iterable


def _plain_dicts(mods) -> bool:
    """Whether every module keeps its parameter, buffer and submodule dicts as plain dicts in its ``__dict__``
    (a TorchScript module serves them through properties: the per-module walk of :func:`_flat` is used)."""
    for m in mods:
        d = vars(m)
        if not all(isinstance(d.get(k), dict) for k in _INNER):
            return False
    return True


class ModuleState:
    """A snapshot of a module tree and facts derived from it (valid while :meth:`current`).

    It holds the submodules and every attribute value strongly (so an identity cannot be
    reused by a new object), but not the root module itself: the cache is keyed weakly by
    the root, which is passed to :meth:`current`.

    The check runs as a few C-level passes over flat lists (``map``, ``itertools.chain``), with no
    Python loop per submodule: every module's ``__dict__`` is the same object, each of those dicts
    and of their parameter/buffer/submodule dicts has the same size, all the ``__dict__`` values and
    the inner dicts' names and values are the same objects, no hook dict gained or lost its
    entries, and every tensor has the same ``_version`` and ``data_ptr``. Modules whose dicts are
    served by properties (TorchScript) take the per-module walk of :func:`_flat` instead.
    """

    __slots__ = ("names", "subs", "flat", "sizes", "tensors", "marks", "storages", "hooked", "training", "facts",
                 "dicts", "subdicts", "inner", "full", "lens", "hookd", "attrs", "inner_keys", "inner_values",
                 "hook_flags", "versions", "ptrs")

    def __init__(self, module):
        pairs = list(module.named_modules())
        self.names = [n for n, _ in pairs]
        self.subs = [m for _, m in pairs[1:]]
        mods = [module, *self.subs]
        self.tensors = [t for m in mods for src in (m._parameters, m._buffers) for t in src.values() if t is not None]
        self.storages = [_storage(t) for t in self.tensors]     # their addresses stay taken
        self.dicts = None
        if _plain_dicts(mods):
            self.dicts = [vars(m) for m in mods]
            self.subdicts = self.dicts[1:]
            self.inner = [d[k] for d in self.dicts for k in _INNER]
            self.lens = [*map(len, self.dicts), *map(len, self.inner)]
            self.full = [d for d in self.inner if d]    # (an empty one that gains an entry shows in ``lens``)
            self.attrs = [*_chain(map(_values, self.dicts))]
            self.inner_keys = [*_chain(map(_keys, self.full))]
            self.inner_values = [*_chain(map(_values, self.full))]
            self.hookd = [d[k] for d in self.dicts for k in _HOOKS if k in d]
            #: a forward or backward hook is registered on some submodule
            self.hook_flags = [*map(bool, self.hookd)]
            self.hooked = any(self.hook_flags)
            self.versions = [*map(_version, self.tensors)]
            self.ptrs = [*map(_data_ptr, self.tensors)]
        else:
            self.flat, self.sizes = _flat(mods)
            self.hooked = any(z[4] for z in self.sizes)
            self.marks = _marks(self.tensors)
        #: some submodule is in training mode
        self.training = any(m.training for m in mods)
        #: derived facts, dropped with the snapshot (e.g. the cached image copy)
        self.facts: dict = {}

    def current(self, module) -> bool:
        """Whether ``module``'s tree is as it was when the snapshot was taken."""
        dicts = self.dicts
        if dicts is None:
            now, sizes = _flat([module, *self.subs])
            return (sizes == self.sizes and len(now) == len(self.flat) and all(map(operator.is_, now, self.flat))
                    and _marks(self.tensors) == self.marks)
        is_, full = operator.is_, self.full
        # each ``map`` stops at its shorter sequence: the sizes are compared first, so neither is shorter
        return (vars(module) is dicts[0] and all(map(is_, map(vars, self.subs), self.subdicts))
                and [*map(len, dicts), *map(len, self.inner)] == self.lens
                and all(map(is_, _chain(map(_values, dicts)), self.attrs))
                and all(map(is_, _chain(map(_keys, full)), self.inner_keys))
                and all(map(is_, _chain(map(_values, full)), self.inner_values))
                and [*map(bool, self.hookd)] == self.hook_flags
                and [*map(_version, self.tensors)] == self.versions
                and [*map(_data_ptr, self.tensors)] == self.ptrs)

    def modules(self, module) -> list:
        """``(name, submodule)`` of every submodule, ``named_modules()`` order (root first)."""
        return list(zip(self.names, (module, *self.subs)))

    def on(self, device) -> bool:
        """Whether every parameter and buffer is on ``device`` (a ``torch.device``)."""
        key = ("on", str(device))
        if key not in self.facts:
            self.facts[key] = all(t.device == device for t in self.tensors)
        return self.facts[key]


def module_state(module) -> ModuleState:
    """The module's current :class:`ModuleState` (the cached one when nothing changed, else a new one)."""
    st = _STATES.get(module)
    if st is None or not st.current(module):
        st = ModuleState(module)
        _STATES[module] = st
    return st


__all__ = ["ModuleState", "module_state"]
