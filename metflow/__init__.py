"""metflow: Athena-like event processing and ATLAS dynamic MET."""
import os as _os

# Arrow's default allocator (mimalloc) hands freed pages back to the OS after 10 ms and faults
# them in again for the next row group: with two threads decoding that kernel work came to
# 0.1-0.4 s per 8192 events. Keeping freed pages (memory stays at its peak, which the bounded
# row-group cache sets) removes it. Set before pyarrow is loaded; an explicit setting wins.
_os.environ.setdefault("MIMALLOC_PURGE_DELAY", "-1")

__version__ = "0.1.0"
