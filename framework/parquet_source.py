"""ParquetSource: blocks of events read from Parquet files, one column per key.

A Parquet source turns each column back into an object with the job's `decode(key, array)`
callable; the framework does not know what the objects are.
"""

from __future__ import annotations

import bisect
import os
import queue
import stat
import threading
from collections.abc import Callable, Sequence
from typing import Any

from .dataset import MANIFEST, Part, digest_mismatch, read_manifest, sha256_of
from .errors import SourceError
from .io import Source
from .page_checksums import column_chunks, open_verified
from .paths import check_distinct_inputs
from .store import freeze


def _identity_decode(key: str, array: Any) -> Any:
    return array


class ParquetSource(Source):
    """Reads blocks of events (rows) from Parquet files; one column per key.

    Each row group is read once per run into a cache shared by all threads. Columns whose
    decoded object has ``slice(start, stop)`` and ``n_events`` (a generic protocol of columnar
    containers) are decoded once for the whole row group and each block gets a slice; other
    columns, and columns whose whole-row-group decode fails, are decoded from the block's own
    rows, so errors (and ``on_error="skip"``) concern exactly the block that holds the bad event.

    Parallel reading, on the job's own threads: a row group is read column by column (largest
    first), and every thread that needs it takes the next unread column, so T threads decode
    one row group about T times faster. A thread with no column left to take reads a column of
    the next row group while it waits, and a job thread with no task reads the row group after
    the one being served (`work`: e.g. while tiny blocks run one chain at a time, the chain
    thread then finds it decoded); neither reads past the run's last event (`select_events`).
    So `--threads T` uses T cores, and one thread uses one. With blocks of one event, the
    decoding thread also takes the first one-event slice of each column it decoded whole, so
    that a container's one-time preparation for such slices runs there.
    ``read_ahead`` > 0 starts that many background threads reading the next row groups ahead of
    the first request (more cores than job threads); ``arrow_threads=True`` lets Arrow decode
    each column on its own thread pool (likewise).
    """

    #: row groups kept at most (more only while being read)
    CACHED_ROW_GROUPS = 4
    #: input files a thread keeps open at most (each holds a file descriptor; a file closed
    #: too early is opened again): a run over thousands of files stays under `ulimit -n`
    OPEN_FILES_PER_THREAD = 4
    #: default number of row groups read ahead by background threads
    DEFAULT_READ_AHEAD = 0

    def __init__(self, paths: str | Sequence[str],
                 decode: Callable[[str, Any], Any] = _identity_decode, *,
                 read_ahead: int | None = None, arrow_threads: bool = False,
                 verify_checksums: bool = True, event_id_column: str | None = None,
                 event_id_fields: Sequence[str] = ()):
        """`read_ahead`: row groups read ahead by background threads (0: only the job's threads
        read). `arrow_threads`: let Arrow decode a column on its own thread pool.
        `verify_checksums`: check Parquet page checksums (CRC32, where the writer stored them)
        on the bytes Arrow then decodes, before it decodes them (`page_checksums`), and, for a
        distributed output directory, each part's sha256 against its manifest.
        `event_id_column`/`event_id_fields`: a struct column whose fields name an event in error
        messages (read only then)."""
        import pyarrow.parquet as pq

        given = [os.fspath(p) for p in ([paths] if isinstance(paths, (str, os.PathLike)) else paths)]
        self.verify_checksums = bool(verify_checksums)
        self.paths = []
        self._manifests: list[str] = []
        parts: dict[int, Part] = {}     # file index -> part whose sha256 is still to check
        for path in given:
            if os.path.isdir(path):
                for part in read_manifest(path, verify_checksums=False):
                    parts[len(self.paths)] = part
                    self.paths.append(part.path)
                self._manifests.append(os.path.join(path, MANIFEST))
            else:
                self.paths.append(path)
        if not self.paths:
            raise SourceError("ParquetSource: no input files given")
        check_distinct_inputs(self.paths)
        self.decode = decode
        self.event_id_column = event_id_column
        self.event_id_fields = tuple(event_id_fields)
        self.read_ahead = self.DEFAULT_READ_AHEAD if read_ahead is None else read_ahead
        if not isinstance(self.read_ahead, int) or self.read_ahead < 0:
            raise SourceError(f"ParquetSource: read_ahead must be an integer >= 0, got {read_ahead!r}")
        self.arrow_threads = bool(arrow_threads)
        self.name = ", ".join(self.paths)
        self._starts: list[int] = [0]
        self._columns: list[str] | None = None
        self._selected: list[str] | None = None
        self._rg_starts: list[list[int]] = []
        self._column_bytes: dict[str, int] = {}
        self._metadata: list[Any] = []   # each file's footer, read once
        self._chunks: dict[int, Any] = {}   # each file's column chunks (page checksums), once
        for path in self.paths:
            try:
                mode = os.stat(path).st_mode
            except FileNotFoundError:
                raise SourceError(f"input file {path!r} does not exist") from None
            except OSError as exc:
                raise SourceError(f"input file {path!r} cannot be read: {exc.strerror}") from None
            if not stat.S_ISREG(mode):
                raise SourceError(f"input {path!r} is not a regular file (nor a metflow output "
                                  f"directory)")
            try:
                meta = pq.ParquetFile(path).metadata
            except Exception as exc:  # pyarrow raises ArrowInvalid/OSError for corrupt files
                raise SourceError(f"input file {path!r} is not a readable Parquet file: {exc}") from exc
            columns = [meta.schema.column(i).path.split(".")[0] for i in range(meta.num_columns)]
            if self._columns is None:
                self._columns = list(dict.fromkeys(columns))
                if meta.num_row_groups:
                    rg0 = meta.row_group(0)
                    for i, top in enumerate(columns):
                        self._column_bytes[top] = (self._column_bytes.get(top, 0)
                                                   + rg0.column(i).total_uncompressed_size)
            elif list(dict.fromkeys(columns)) != self._columns:
                missing = sorted(set(self._columns) - set(columns))
                raise SourceError(f"input file {path!r} has different columns from "
                                  f"{self.paths[0]!r} (missing {missing})")
            self._metadata.append(meta)
            rg = [0]
            for i in range(meta.num_row_groups):
                rg.append(rg[-1] + meta.row_group(i).num_rows)
            self._rg_starts.append(rg)
            self._starts.append(self._starts[-1] + meta.num_rows)
        self._local = threading.local()
        self._cache_lock = threading.Lock()
        self._cache: dict[tuple[int, int], _RowGroup] = {}
        self._served_out: set[tuple[int, int]] = set()   # row groups whose rows were all handed out
        #: the row group an idle job thread may read ahead (`work`), and the run's end event
        self._ahead: tuple[int, int] | None = None
        self._stop = self._starts[-1]
        self._block_events = 0   # events of the last block read (1: prepare one-event slices)
        self._ahead_queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._ahead_threads: list[threading.Thread] = []
        # parts of distributed outputs are hashed in file order on a background thread (hashlib
        # releases the GIL), overlapping the decoding; no block of a part is handed out before
        # the part's sha256 matches its manifest
        self._parts = parts if self.verify_checksums else {}
        self._verified = set(range(len(self.paths))) - set(self._parts)
        self._digests: dict[int, Any] = {}
        self._digest_pool: Any = None
        if self._parts:
            from concurrent.futures import ThreadPoolExecutor

            self._digest_pool = ThreadPoolExecutor(1, thread_name_prefix="part-sha256")
            self._digests = {fi: self._digest_pool.submit(sha256_of, part.path)
                             for fi, part in sorted(self._parts.items())}

    def keys(self) -> list[str]:
        return list(self._columns or [])

    def n_events(self) -> int:
        return self._starts[-1]

    def input_paths(self) -> list[str]:
        return [*self.paths, *self._manifests]

    def _locate(self, event: int) -> tuple[int, int, int]:
        """(file index, row group index, row within the row group) of an event."""
        fi = bisect.bisect_right(self._starts, event) - 1
        local = event - self._starts[fi]
        rgs = self._rg_starts[fi]
        ri = bisect.bisect_right(rgs, local) - 1
        return fi, ri, local - rgs[ri]

    def _row_group_events(self, file_index: int, rg_index: int) -> str:
        first = self._starts[file_index] + self._rg_starts[file_index][rg_index]
        last = self._starts[file_index] + self._rg_starts[file_index][rg_index + 1]
        return f"[{first}, {last})"

    def event_id(self, index: int) -> str:
        if not self.event_id_column or not 0 <= index < self.n_events():
            return ""
        import pyarrow.parquet as pq

        fi, ri, row = self._locate(index)
        try:
            table = pq.ParquetFile(self.paths[fi]).read_row_group(ri, columns=[self.event_id_column])
            value = table.column(0)[row].as_py()
        except Exception:   # noqa: BLE001 - only describes another error; never raises its own
            return ""
        if not isinstance(value, dict):
            return ""
        return ", ".join(f"{f} {value[f]}" for f in self.event_id_fields if f in value)

    def select(self, keys: Sequence[str]) -> None:
        self._selected = [k for k in self.keys() if k in set(keys)]

    def select_events(self, first: int, stop: int) -> None:
        self._stop = min(stop, self._starts[-1])

    def work(self) -> bool:
        """Read one column of the row group after the last one served from, if the run reads
        it and the cache has room: a job thread with no task (e.g. while the blocks run one
        chain at a time) so reads the next row group before a block needs it. False when there
        is nothing to read ahead."""
        with self._cache_lock:
            key = self._ahead
            if key is None:
                return False
            entry = None if key in self._served_out else self._entry_ahead(key)
            if entry is None or not entry.pending:
                self._ahead = None
                return False
        self._work(key, entry, limit=1)
        return True

    def work_ready(self) -> bool:
        return self._ahead is not None

    def _entry_ahead(self, key: tuple[int, int]) -> "_RowGroup | None":
        """Row group `key`'s cache entry for reading it ahead of need, made if the cache has room
        and the run reads its events; None otherwise (caller holds the lock)."""
        entry = self._cache.get(key)
        if entry is None and len(self._cache) < self.CACHED_ROW_GROUPS:
            file_index, rg_index = key
            if self._starts[file_index] + self._rg_starts[file_index][rg_index] < self._stop:
                entry = self._new_entry(key)
        return entry

    # -- the shared row-group cache ------------------------------------------------------------
    def _next_key(self, key: tuple[int, int]) -> tuple[int, int] | None:
        file_index, rg_index = key
        if rg_index + 1 < len(self._rg_starts[file_index]) - 1:
            return file_index, rg_index + 1
        if file_index + 1 < len(self.paths):
            return file_index + 1, 0
        return None

    def _new_entry(self, key: tuple[int, int]) -> "_RowGroup":
        """A cache entry with every selected column still to read, largest first (caller holds
        the lock)."""
        columns = list(self.keys() if self._selected is None else self._selected)
        columns.sort(key=lambda c: -self._column_bytes.get(c, 0))
        file_index, rg_index = key
        rgs = self._rg_starts[file_index]
        entry = self._cache[key] = _RowGroup(columns, rgs[rg_index + 1] - rgs[rg_index])
        self._evict()
        return entry

    def _row_group(self, file_index: int, rg_index: int) -> "_RowGroup":
        """The decoded row group, shared by all threads: read once per run and dropped once all
        its rows have been handed out (or when more than `CACHED_ROW_GROUPS` are held)."""
        key = (file_index, rg_index)
        with self._cache_lock:
            entry = self._cache.get(key)
            if entry is None:
                entry = self._new_entry(key)
                if self.read_ahead:
                    self._queue_ahead(key)
        if entry.pending:   # re-checked under the lock by _work
            self._work(key, entry)
        if not entry.ready.is_set():
            self._help(key, entry)
            entry.ready.wait()
        if entry.error is not None:
            raise entry.error
        return entry

    def _work(self, key: tuple[int, int], entry: "_RowGroup", limit: int | None = None) -> None:
        """Read columns of row group `key` that no thread has taken yet (at most `limit`)."""
        done = 0
        while limit is None or done < limit:
            with self._cache_lock:
                if not entry.pending:
                    return
                column = entry.pending.pop(0)
            self._load_column(key, entry, column)
            done += 1

    def _help(self, key: tuple[int, int], entry: "_RowGroup") -> None:
        """While other threads finish row group `key`: read, one column at a time, columns of the
        first row groups after it (if the cache has room), so that the waiting thread does
        useful work yet gets back to its own block soon."""
        while not entry.ready.is_set():
            with self._cache_lock:
                nxt, target = self._next_key(key), None
                while nxt is not None:
                    target = self._cache.get(nxt)
                    if target is None and nxt in self._served_out:   # another thread was ahead
                        nxt = self._next_key(nxt)
                        continue
                    if target is None:
                        target = self._entry_ahead(nxt)
                        if target is None:
                            return
                    if target.pending:
                        break
                    nxt = self._next_key(nxt)
                if nxt is None or target is None:
                    return
            self._work(nxt, target, limit=1)

    def _queue_ahead(self, key: tuple[int, int]) -> None:
        """Queue the `read_ahead` row groups after `key` that nobody reads yet for the background
        threads, starting threads on demand (caller holds the lock)."""
        nxt = key
        for _ in range(self.read_ahead):
            nxt = self._next_key(nxt)
            if nxt is None:
                return
            if nxt in self._cache or nxt in self._served_out:
                continue
            entry = self._new_entry(nxt)
            self._ahead_queue.put((nxt, entry))
            if len(self._ahead_threads) < self.read_ahead:
                # not a daemon: the interpreter must not exit while Arrow is decoding for it
                thread = threading.Thread(target=self._read_ahead_loop, name="parquet-read-ahead")
                self._ahead_threads.append(thread)
                thread.start()

    def _read_ahead_loop(self) -> None:
        """A background thread: reads queued row groups; exits after a second without work or
        when told to (None) and nothing is queued."""
        while True:
            try:
                item = self._ahead_queue.get(timeout=1.0)
            except queue.Empty:
                item = None
            if item is None:
                with self._cache_lock:
                    if self._ahead_queue.empty():
                        me = threading.current_thread()
                        if me in self._ahead_threads:
                            self._ahead_threads.remove(me)
                        return
                continue
            self._work(*item)

    def _load_column(self, key: tuple[int, int], entry: "_RowGroup", column: str) -> None:
        """Read one column of row group `key` into `entry`, decode it whole if it can be sliced;
        the last column to finish wakes the waiters. A read error becomes the entry's error."""
        file_index, rg_index = key
        path = self.paths[file_index]
        files = getattr(self._local, "files", None)
        if files is None:
            files = self._local.files = {}
        array = decoded = error = None
        try:
            pf = files.get(file_index)
            if pf is None:   # one per thread, memory-mapped (`mapped_parquet`)
                while len(files) >= self.OPEN_FILES_PER_THREAD:   # the first opened: done with
                    del files[next(iter(files))]
                meta = self._metadata[file_index]
                pages = self._chunks.get(file_index)
                if pages is None:   # threads may both compute it: equal lists
                    pages = self._chunks[file_index] = column_chunks(meta)
                if self.verify_checksums:
                    pf = files[file_index] = open_verified(path, meta, pages)
                else:   # read the same way, the checksums left unverified
                    from .mapped_parquet import open_mapped
                    pf = files[file_index] = open_mapped(path, meta, pages, verify=False)
            table = pf.read_row_group(rg_index, columns=[column], use_threads=self.arrow_threads)
            chunks = table.column(0)
            array = chunks.combine_chunks() if chunks.num_chunks != 1 else chunks.chunk(0)
        except Exception as exc:
            hint = " (the file is corrupt)" if "checksum" in str(exc).lower() else ""
            error = SourceError(f"{path}: cannot read key {column!r}, row group {rg_index} (events "
                                f"{self._row_group_events(file_index, rg_index)}){hint}: {exc}")
            error.__cause__ = exc
        if error is None:
            decoded = self._decode_whole(column, array)
        with self._cache_lock:
            if error is not None:
                if entry.error is None:
                    entry.error = error
                entry.loading -= len(entry.pending)   # never read now
                entry.pending.clear()
                if self._cache.get(key) is entry:
                    del self._cache[key]
            else:
                entry.arrays[column] = array
                if decoded is not None:
                    entry.decoded[column] = decoded
            entry.loading -= 1
            finished = entry.loading == 0 and not entry.pending
            if finished and entry.error is not None:
                entry.ready.set()
        if finished and entry.error is None:   # the hook runs before any block is sliced
            try:
                first = self._starts[file_index] + self._rg_starts[file_index][rg_index]
                entry.note = self.row_group_decoded(
                    first, entry.decoded, [k for k in entry.arrays if k not in entry.decoded])
            finally:
                entry.ready.set()

    def row_group_decoded(self, first: int, decoded: dict[str, Any], per_block: list[str]) -> Any:
        """Hook for subclasses, called once per row group when it is decoded, before any block
        is sliced from it: ``first`` its first event (absolute), ``decoded`` the columns decoded
        whole, ``per_block`` those decoded from each block's rows. The result is handed back by
        :meth:`read_noted` with every block served as slices of this row group alone."""
        return None

    def _decode_whole(self, key: str, array: Any) -> Any:
        """The column decoded once for the whole row group, if the result can be sliced (None:
        it is decoded per block, and so are its errors)."""
        try:
            obj = self.decode(key, array)
        except Exception:   # noqa: BLE001 - redone per block, which reports it precisely
            return None
        if callable(getattr(obj, "slice", None)) and getattr(obj, "n_events", None) == len(array):
            # read-only once, as the store would make each block: slices of it inherit that
            obj = freeze(obj)
            if self._block_events == 1 and len(array):
                # blocks of one event: a container may prepare such slices once per row group
                # (e.g. cut its columns at every event); made here, on the decoding thread, it
                # is made in parallel with the other columns and off the thread running blocks
                try:
                    obj.slice(0, 1)
                except Exception:   # noqa: BLE001 - fails again for its block, which names it
                    pass
            return obj
        return None

    def _evict(self) -> None:
        """Drop the oldest finished row groups beyond the cache size (caller holds the lock)."""
        excess = len(self._cache) - self.CACHED_ROW_GROUPS
        for key in [k for k, e in self._cache.items() if e.ready.is_set()][:max(excess, 0)]:
            del self._cache[key]

    def _take_ready(self, file_index: int, rg_index: int, rows: int) -> "_RowGroup | None":
        """The row group if it is cached and read, with `rows` counted as served (one lock for
        both: the common case of every block after a row group's first)."""
        key = (file_index, rg_index)
        with self._cache_lock:
            entry = self._cache.get(key)
            if entry is None or not entry.ready.is_set() or entry.error is not None:
                return None
            self._count_served(key, entry, rows)
        return entry

    def _served(self, file_index: int, rg_index: int, entry: "_RowGroup", rows: int) -> None:
        with self._cache_lock:
            self._count_served((file_index, rg_index), entry, rows)

    def _count_served(self, key: tuple[int, int], entry: "_RowGroup", rows: int) -> None:
        """Count rows handed out; drop the row group once all are (caller holds the lock). The
        first rows served make the next row group the one to read ahead (`work`)."""
        if not entry.served:
            self._ahead = self._next_key(key)
        entry.served += rows
        if entry.served >= entry.rows and self._cache.get(key) is entry:
            del self._cache[key]
            self._served_out.add(key)   # never read again ahead of need (`_help`, read-ahead)

    # -- reading -------------------------------------------------------------------------------
    def read(self, first: int, n: int) -> dict[str, Any]:
        return self.read_noted(first, n)[0]

    def read_noted(self, first: int, n: int) -> tuple[dict[str, Any], Any]:
        """The block, and the result of :meth:`row_group_decoded` for its row group when the
        block lies in one row group (else None)."""
        self._block_events = n
        if first < 0 or first + n > self._starts[-1]:
            raise SourceError(f"{self.name}: events [{first}, {first + n}) out of range "
                              f"(0..{self.n_events()})")
        pieces = []
        event = first
        while event < first + n:
            fi, ri, offset = self._locate(event)
            if fi not in self._verified:
                self._check_digest(fi)
            take = min(first + n - event, self._rg_starts[fi][ri + 1] - self._rg_starts[fi][ri]
                       - offset)
            entry = self._take_ready(fi, ri, take)
            if entry is None:   # not read yet (or being read): read it, then count the rows
                entry = self._row_group(fi, ri)
                self._served(fi, ri, entry, take)
            pieces.append((entry, offset, take))
            event += take
        if len(pieces) == 1:
            entry, offset, take = pieces[0]
            decoded, note = entry.decoded, entry.note
            whole = offset == 0 and take == entry.rows
        else:   # a block across row groups: decoded from its own rows
            decoded, whole, note = {}, False, None
        data = {}
        for key in (self.keys() if self._selected is None else self._selected):
            obj = decoded.get(key)
            if obj is not None:
                data[key] = obj if whole else obj.slice(offset, offset + take)
                continue
            if len(pieces) == 1:
                array = entry.arrays[key] if whole else entry.arrays[key].slice(offset, take)
            else:
                import pyarrow as pa

                array = pa.concat_arrays([e.arrays[key].slice(o, t) for e, o, t in pieces])
            try:
                data[key] = self.decode(key, array)
            except Exception as exc:
                raise self._decode_error(key, first, n, exc) from exc
        return data, note

    def _check_digest(self, file_index: int) -> None:
        """Wait for the part's sha256 (hashed in the background) and compare it with the
        manifest's; a mismatch is an error naming the part and its events."""
        part = self._parts[file_index]
        try:
            digest = self._digests[file_index].result()
        except OSError as exc:
            raise SourceError(f"part {part.path}: cannot be read for its sha256: {exc}") from exc
        if digest != part.sha256:
            raise digest_mismatch(part, digest)
        self._verified.add(file_index)

    def _decode_error(self, key: str, first: int, n: int, exc: Exception) -> SourceError:
        """A decode failure of events [first, first + n): an error naming an event of the block
        (attribute `event`, relative to the array decoded) is made to name it absolutely, and
        the message names the file holding that event."""
        event = getattr(exc, "event", None)
        if isinstance(event, int) and 0 <= event < n:
            relocate = getattr(exc, "with_context", None)
            if callable(relocate):
                relocate(event_offset=first)
            event += first
            path = self.paths[self._locate(event)[0]]
        else:
            event = None
            path = self.paths[self._locate(first)[0]]
        error = SourceError(f"{path}: cannot decode key {key!r} for events [{first}, "
                            f"{first + n}): {exc}")
        error.event = event
        return error

    def close(self) -> None:
        """Drop the cached row groups; wait for read-aheads and hashing in progress."""
        if self._digest_pool is not None:
            self._digest_pool.shutdown(wait=True, cancel_futures=True)
        with self._cache_lock:
            self._cache.clear()
            threads = list(self._ahead_threads)
            for _ in threads:
                self._ahead_queue.put(None)
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join()


class _RowGroup:
    """A row group being read (`ready` not set) or read: its columns (Arrow arrays), those
    decoded for the whole row group, or its read error. `pending`: columns no thread has taken
    yet; `loading`: columns not finished; `note`: what `row_group_decoded` returned."""

    __slots__ = ("ready", "pending", "loading", "rows", "arrays", "decoded", "error", "served",
                 "note")

    def __init__(self, columns: list[str], rows: int) -> None:
        self.ready = threading.Event()
        self.pending = columns
        self.loading = len(columns)
        self.rows = rows
        self.arrays: dict[str, Any] = {}
        self.decoded: dict[str, Any] = {}
        self.error: BaseException | None = None
        self.served = 0
        self.note: Any = None
        if not columns:
            self.ready.set()
