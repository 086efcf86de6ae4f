"""Numba compilation as a run sees it: announced when it starts, timed, kept out of throughput.

Kernels compile on their first call (or at import, for explicit signatures) unless numba's disk
cache holds them; a fresh installation compiles for a minute or more. `CompileMonitor` listens
to numba's "numba:compile" events (fired on cache misses only), prints one line
"compiling kernels (first run only, cached in DIR)" at the first compilation, and adds up the
wall time during which some kernel was compiling, so the runner can report the throughput
without it.
"""

from __future__ import annotations

import importlib.util
import os
import threading
import time
from typing import Any, TextIO


def _cache_dir(dispatcher: Any) -> str | None:
    """Where numba caches this kernel (its locator's choice), None when it is not cached."""
    cache = getattr(dispatcher, "_cache", None)
    path = getattr(cache, "cache_path", None) or getattr(cache, "_cache_path", None)
    return str(path) if path else None


class CompileMonitor:
    """Counts numba compile wall time (nested and concurrent compilations counted once)."""

    def __init__(self, stream: TextIO | None = None, prefix: str = "metflow: "):
        self.stream = stream
        self.prefix = prefix
        self.announced = False
        self._lock = threading.Lock()
        self._depth = 0
        self._since = 0
        self._total_ns = 0
        self._listener: Any = None

    def seconds(self) -> float:
        """Compile wall time so far (including a compilation in progress)."""
        with self._lock:
            total = self._total_ns
            if self._depth:
                total += time.perf_counter_ns() - self._since
        return total / 1e9

    def _started(self, dispatcher: Any) -> None:
        with self._lock:
            if self._depth == 0:
                self._since = time.perf_counter_ns()
            self._depth += 1
            announce = not self.announced
            self.announced = True
        if announce and self.stream is not None:
            where = _cache_dir(dispatcher)
            if where and os.environ.get("NUMBA_CACHE_DIR"):
                cached = f"cached in {os.environ['NUMBA_CACHE_DIR']}"
            elif where:
                cached = f"cached in {where} and beside the other kernel modules"
            else:
                cached = "this kernel is not cached"
            self.stream.write(f"{self.prefix}compiling kernels (first run only, {cached}); "
                              f"this can take a minute or two...\n")
            self.stream.flush()

    def _ended(self) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth == 0:
                self._total_ns += time.perf_counter_ns() - self._since

    def install(self) -> "CompileMonitor":
        """Start listening (no-op without numba; numba is not imported here if absent)."""
        if self._listener is not None or importlib.util.find_spec("numba") is None:
            return self
        from numba.core import event

        monitor = self

        class _Listener(event.Listener):
            def on_start(self, ev: Any) -> None:
                monitor._started((ev.data or {}).get("dispatcher"))

            def on_end(self, ev: Any) -> None:
                monitor._ended()

        self._listener = _Listener()
        event.register("numba:compile", self._listener)
        return self

    def uninstall(self) -> None:
        if self._listener is not None:
            from numba.core import event

            event.unregister("numba:compile", self._listener)
            self._listener = None

    def __enter__(self) -> "CompileMonitor":
        return self.install()

    def __exit__(self, *exc: object) -> None:
        self.uninstall()


def kernel(fn: Any = None, *, inline: str | None = None) -> Any:
    """The project's numba decorator, one spelling for every kernel: nopython mode, the GIL
    released (blocks run on several threads at once), machine code cached on disk beside the
    module and recompiled when any metflow kernel source changes (``metflow._kernel_cache``).
    ``@kernel`` or ``@kernel(inline="always")``: a helper inlined into the kernels that call it
    (numba's IR inlining; a call between kernels reference-counts every array it passes and
    returns). numba is imported on first use."""
    import numba

    from metflow import _kernel_cache

    _kernel_cache.install()
    options: dict[str, Any] = {"nogil": True, "cache": True}
    if inline is not None:
        options["inline"] = inline
    njit = numba.njit(**options)

    def decorator(function: Any) -> Any:
        # a plugin's kernel may call metflow's: its cache follows metflow's sources too
        _kernel_cache.mark_kernel_file(function.__code__.co_filename)
        return njit(function)
    return decorator if fn is None else decorator(fn)
