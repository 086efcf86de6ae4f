"""First run: numba compilation is announced ("compiling kernels (first run only, cached in
...)") and kept out of the throughput line; a second run finds the cache and says nothing."""

from __future__ import annotations

import re
import textwrap

from reliability_helpers import metflow


def test_first_run_announces_compilation_and_excludes_it(tmp_path):
    (tmp_path / "fresh_kernels.py").write_text(textwrap.dedent("""
        import numba
        import numpy as np

        @numba.njit(nogil=True, cache=True)
        def triple(values):
            out = np.empty_like(values)
            for i in range(values.size):
                out[i] = 3 * values[i]
            return out
    """))
    (tmp_path / "jit_job.py").write_text(textwrap.dedent("""
        import numpy as np
        from metflow.framework import Algorithm, Job, ReadHandleKey, Source, WriteHandleKey
        from fresh_kernels import triple

        class Numbers(Source):
            name = "numbers"
            def keys(self):
                return ["N"]
            def n_events(self):
                return 64
            def read(self, first, n):
                return {"N": np.arange(first, first + n, dtype=np.float64)}

        class Triple(Algorithm):
            values = ReadHandleKey("N")
            out = WriteHandleKey("T")
            def compute(self, values):
                return triple(values)

        def configure(flags):
            return Job(source=Numbers(), algorithms=[Triple()])
    """))
    cache = tmp_path / "numba-cache"
    env = {"NUMBA_CACHE_DIR": str(cache)}
    first = metflow("run", str(tmp_path / "jit_job.py"), "--batch-size", "16", cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stderr
    assert f"compiling kernels (first run only, cached in {cache}" in first.stderr
    line = next(x for x in first.stdout.splitlines() if x.startswith("events:"))
    compiled = re.search(r"\(([\d.]+) s compiling kernels, first run only\)", line)
    assert compiled and float(compiled.group(1)) > 0
    wall = float(re.search(r"wall: ([\d.]+) s", line).group(1))
    rate = float(re.search(r"throughput: ([\d.]+) events/s without compilation", line).group(1))
    assert rate > 64 / wall   # the compile time is not in the rate
    second = metflow("run", str(tmp_path / "jit_job.py"), "--batch-size", "16", cwd=tmp_path,
                     env=env)
    assert second.returncode == 0, second.stderr
    assert "compiling kernels" not in second.stderr
    assert "compiling kernels" not in second.stdout
