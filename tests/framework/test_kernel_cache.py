"""A cached kernel that calls a kernel of another file is recompiled when that file changes.

numba alone stamps a cached kernel with its own file only, so after the callee's file changes
the caller's cache runs the old callee (the control case below shows it does). metflow's
locators (metflow._kernel_cache) add a digest of every kernel source under metflow's package
directories; here a temporary directory stands in for them.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("numba")

CALLER = """
from {decorator_import}
import callee

@{decorator}
def caller():
    return callee.value() + 100
"""
CALLEE = """
from {decorator_import}

@{decorator}
def value():
    return {value}
"""
RUN = """
import sys
sys.path.insert(0, {root!r})
if {metflow_locator}:
    from metflow import _kernel_cache
    _kernel_cache.package_roots.cache_clear()
    _kernel_cache.package_roots = lambda: ({root!r},)
    _kernel_cache.install()
import caller
print(caller.caller())
"""


def _write(root, value, metflow_locator):
    decorator_import = "metflow.framework.jit import kernel" if metflow_locator \
        else "numba import njit"
    decorator = "kernel" if metflow_locator else "njit(cache=True)"
    (root / "caller.py").write_text(CALLER.format(decorator_import=decorator_import,
                                                  decorator=decorator))
    (root / "callee.py").write_text(CALLEE.format(decorator_import=decorator_import,
                                                  decorator=decorator, value=value))


def _call(root, metflow_locator) -> int:
    code = textwrap.dedent(RUN.format(root=str(root), metflow_locator=metflow_locator))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return int(out.stdout.split()[-1])


@pytest.mark.parametrize("metflow_locator", [False, True], ids=["numba alone", "metflow"])
def test_caller_follows_a_changed_callee_file(tmp_path, metflow_locator):
    _write(tmp_path, 1, metflow_locator)
    assert _call(tmp_path, metflow_locator) == 101          # compiled and cached
    _write(tmp_path, 2, metflow_locator)                     # only callee.py's content changes
    (tmp_path / "caller.py").touch()
    result = _call(tmp_path, metflow_locator)
    if metflow_locator:
        assert result == 102
    else:
        assert result == 101, "numba alone recompiled: the stale-cache case this guards is gone"
