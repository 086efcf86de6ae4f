"""numba's disk cache for metflow kernels, invalidated when *any* kernel source changes.

numba stamps a cached kernel with the hash of the file that defines it only. A kernel that calls
a kernel of another file keeps that callee's machine code, so after the callee's file changes
(an edit, a `pip install -U` over the old files) the caller's cache would run the old callee:
a silent wrong result. Here every kernel defined under metflow's package directories, or
decorated with ``metflow.framework.jit.kernel`` (plugins), is stamped with its own file's hash
*and* a digest of every metflow source file that defines kernels: a change to any of them
recompiles all (about a minute), never runs stale code.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import threading

_PACKAGES = ("metflow", "metflow.framework", "metflow.edm", "metflow.algorithms", "metflow.jobs")
#: text that marks a source file as defining numba kernels
_MARKERS = (b"njit", b"@kernel")
_lock = threading.Lock()
_installed = False
#: files of kernels decorated by metflow.framework.jit.kernel outside metflow (plugins)
_extra_files: set[str] = set()


@functools.lru_cache(maxsize=1)
def package_roots() -> tuple[str, ...]:
    """The directories of metflow's packages (editable or installed layout)."""
    roots = []
    for name in _PACKAGES:
        spec = importlib.util.find_spec(name)
        for location in (spec.submodule_search_locations or []) if spec else []:
            roots.append(os.path.realpath(location))
    return tuple(sorted(set(roots)))


@functools.lru_cache(maxsize=1)
def kernel_sources_digest() -> str:
    """sha256 over every metflow source file that defines kernels (path and content); computed
    once per process."""
    digest = hashlib.sha256()
    for root in package_roots():
        for directory, subdirs, files in os.walk(root):
            subdirs[:] = sorted(d for d in subdirs if not d.startswith((".", "__pycache__")))
            for name in sorted(files):
                if not name.endswith(".py"):
                    continue
                path = os.path.join(directory, name)
                with open(path, "rb") as f:
                    text = f.read()
                if any(marker in text for marker in _MARKERS):
                    digest.update(os.path.relpath(path, root).encode() + b"\0" + text)
    return digest.hexdigest()


def _covered(py_file: str) -> bool:
    path = os.path.realpath(py_file)
    return path in _extra_files or any(path.startswith(root + os.sep) for root in package_roots())


def mark_kernel_file(py_file: str) -> None:
    """Stamp the kernels of a file outside metflow (a plugin's) with the metflow digest too."""
    _extra_files.add(os.path.realpath(py_file))


def install() -> None:
    """Put metflow's locators before numba's own (idempotent; imports numba): the same cache
    directories numba would choose, the stamp extended. If this numba's internals differ,
    numba's per-file stamps stay in use."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
        try:
            from numba.core import caching
        except ImportError:
            return
        impl = getattr(caching, "CacheImpl", None) or getattr(caching, "_CacheImpl", None)
        defaults = list(getattr(impl, "_locator_classes", ()))
        if defaults:   # numba >= 0.59 spells it _CacheImpl, newer ones CacheImpl
            impl._locator_classes = [*map(_stamped, defaults), *defaults]


def _stamped(base: type) -> type:
    """numba's locator ``base`` (same cache directory), for metflow kernels only, with the
    metflow kernel-sources digest added to each kernel's source stamp."""

    def get_source_stamp(self):
        return (base.get_source_stamp(self), kernel_sources_digest())

    def from_function(cls, py_func, py_file):
        if not _covered(py_file):
            return None
        return base.from_function.__func__(cls, py_func, py_file)

    return type(f"Metflow{base.__name__}", (base,), {
        "get_source_stamp": get_source_stamp, "from_function": classmethod(from_function),
        "__doc__": _stamped.__doc__, "__module__": __name__})
