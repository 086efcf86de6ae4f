"""The numba decorator of every kernel in algorithms/generation: one spelling, one place.

``kernel`` compiles in nopython mode, releases the GIL (blocks are generated on several
threads at once) and caches the machine code on disk beside the module. framework/jit.py has
no project-wide ``kernel`` decorator yet; when it has one, this module becomes an import of it.
"""

import numba

kernel = numba.njit(nogil=True, cache=True)
