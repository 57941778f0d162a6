"""The replay buffer's durable log on disk: segment files, their compaction and checks, and the directory lock.

Disk (``<run_dir>/replay/``). Every `add` writes its accepted positions to one new
segment file before it returns, so an acknowledged position survives a crash of any
process. A segment is ``NNNNNNNNN.npz`` (a monotonic file number), written with
``allow_pickle=False`` to a temporary file in the same directory, flushed and fsynced,
renamed into place, then the directory is fsynced. It holds:

- ``meta``: a 0-d numpy unicode array with JSON: ``format``, ``version``, ``number``,
  ``first_seq`` and ``end_seq`` (the segment holds exactly the positions with global
  index in ``[first_seq, end_seq)``), ``tasks`` (``{"<task_id>": {"family", "kind",
  "count"}}``), ``counters`` (the buffer's counters when it was written) and
  ``written_at`` (Unix time);
- per task id ``t`` in it: ``t<t>.tokens`` int64 [n, L], ``t<t>.legal`` bool [n, A],
  ``t<t>.policy`` float32 [n, A], ``t<t>.value`` float32 [n], ``t<t>.seq`` int64 [n],
  ``t<t>.success`` bool [n], ``t<t>.weights_version`` int64 [n], ``t<t>.difficulty``
  float32 [n], ``t<t>.outcome`` float32 [n] (per-episode values repeated per position).

Small per-add segments are compacted: a run of consecutive small segments holding up to
``segment_positions`` positions is rewritten as one segment (without its evicted
positions) and the originals deleted; segments whose positions are all evicted are
deleted. The disk therefore holds the live positions plus at most the evicted part of
its oldest segment. A restarted buffer (same ``run_dir``) reads the segments in index
order, keeps the newest ``capacity`` positions and the newest segment's counters; a
segment that cannot be read is skipped with a warning naming it and renamed to
``<name>.corrupt``; leftover temporary files (a crash mid-write) are deleted with a
warning; segments duplicated by an interrupted compaction are recognised by their index
ranges and deleted.

One buffer at a time owns a replay directory: it holds an exclusive lock on
``<run_dir>/replay/.lock`` (released by `SegmentLog.close` or by the kernel when its
process dies), and a second buffer on the same directory fails instead of overwriting segments.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import json
import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from actors.replay.trajectory import POSITION_FIELDS, concat_rows, rows_from
from common.storage import TEMP_PREFIX, atomic_write, fsync_dir

log = logging.getLogger(__name__)

SEGMENT_FORMAT = "selfplay-replay-segment"
SEGMENT_VERSION = 1
REPLAY_SUBDIR = "replay"
LOCK_FILE = ".lock"
LOCK_WAIT_S = 10.0  # how long a new buffer waits for the directory's lock before giving up
_SEGMENT_NAME = re.compile(r"^(\d{9,})\.npz$")
_CORRUPT_NAME = re.compile(r"^(\d{9,})\.npz\.corrupt$")
_TEMP_PREFIX = TEMP_PREFIX  # leftovers of interrupted writes, removed on load

# What a segment holds: its meta, and rows (`POSITION_FIELDS` arrays) per task id.
SegmentContents = tuple[dict[str, Any], dict[int, dict[str, np.ndarray]]]


@dataclass
class SegmentRecord:
    """One segment file: its positions have global indices ``[first_seq, end_seq)``."""

    number: int
    path: Path
    first_seq: int
    end_seq: int
    nbytes: int
    sealed: bool  # not to be merged again: a compaction's output, or big enough on its own

    @property
    def positions(self) -> int:
        return self.end_seq - self.first_seq


class CorruptSegmentError(ValueError):
    """A segment file that cannot be read or does not hold what its metadata says."""


class SegmentLog:
    """The segment files of one replay directory, in global-index order."""

    def __init__(self, directory: Path, segment_positions: int):
        self.directory = directory
        self.segment_positions = segment_positions
        self.records: list[SegmentRecord] = []
        self.next_number = 0
        fresh = not directory.exists()
        directory.mkdir(parents=True, exist_ok=True)
        if fresh:
            fsync_dir(directory.parent)  # the new directory entry itself must survive a crash
        self._lock = _lock_directory(directory)

    def close(self) -> None:
        """Release the directory (the segments stay); the log must not be written afterwards."""
        self._lock.close()

    # ----- writing -----

    def append(
        self,
        groups: dict[int, dict[str, np.ndarray]],
        names: dict[int, tuple[str, str]],
        first_seq: int,
        end_seq: int,
        counters: dict[str, int],
    ) -> int:
        """Write one new segment (durably) and return its file number."""
        number = self.next_number
        record = self._write(number, groups, names, first_seq, end_seq, counters)
        record.sealed = record.positions >= self.segment_positions
        self.records.append(record)
        self.next_number += 1
        return number

    def _write(
        self,
        number: int,
        groups: dict[int, dict[str, np.ndarray]],
        names: dict[int, tuple[str, str]],
        first_seq: int,
        end_seq: int,
        counters: dict[str, int],
    ) -> SegmentRecord:
        meta = {
            "format": SEGMENT_FORMAT,
            "version": SEGMENT_VERSION,
            "number": number,
            "first_seq": first_seq,
            "end_seq": end_seq,
            "tasks": {
                str(tid): {"family": names[tid][0], "kind": names[tid][1], "count": len(rows["seq"])}
                for tid, rows in groups.items()
            },
            "counters": counters,
            "written_at": time.time(),
        }
        arrays = {"meta": np.array(json.dumps(meta))}
        for tid, rows in groups.items():
            arrays.update({f"t{tid}.{name}": rows[name] for name in POSITION_FIELDS})
        path = self.directory / f"{number:09d}.npz"
        nbytes = _write_npz_atomically(path, arrays)
        return SegmentRecord(number, path, first_seq, end_seq, nbytes, sealed=False)

    # ----- housekeeping -----

    def housekeep(self, cutoff: int) -> None:
        """Delete segments whose positions are all evicted, then compact runs of small segments.

        Failures here only cost disk space, never acknowledged data, so they are logged, not raised.
        """
        try:
            self._drop_before(cutoff)
            for group in self._closed_groups():
                if len(group) == 1:
                    group[0].sealed = True
                else:
                    self._merge(group, cutoff)
        except (OSError, CorruptSegmentError) as error:
            log.warning(
                "replay: segment housekeeping in %s failed (%s); will retry after the next add", self.directory, error
            )

    def _drop_before(self, cutoff: int) -> None:
        dead = [r for r in self.records if r.end_seq <= cutoff]
        for record in dead:
            _unlink(record.path)
        if dead:
            self.records = [r for r in self.records if r.end_seq > cutoff]
            fsync_dir(self.directory)

    def _closed_groups(self) -> list[list[SegmentRecord]]:
        """Runs of consecutive unsealed segments that are full (or cut short by a sealed one).

        A run holds at most ``segment_positions`` positions, except a single segment bigger
        than that. The newest run stays open until it is full: more adds may fill it.
        """
        closed: list[list[SegmentRecord]] = []
        run: list[SegmentRecord] = []
        total = 0
        for record in self.records:
            if record.sealed or (run and total + record.positions > self.segment_positions):
                if run:
                    closed.append(run)
                run, total = [], 0
            if not record.sealed:
                run.append(record)
                total += record.positions
        if run and total >= self.segment_positions:
            closed.append(run)
        return closed

    def _merge(self, group: list[SegmentRecord], cutoff: int) -> None:
        """Rewrite ``group`` as one sealed segment without its evicted positions, then delete the originals."""
        loaded = [self.read(record) for record in group]
        if any(item is None for item in loaded):
            for record in group:
                record.sealed = True  # leave them as they are; do not retry every add
            self.records = [r for r in self.records if r.path.exists()]
            return
        groups: dict[int, list[dict[str, np.ndarray]]] = collections.defaultdict(list)
        names: dict[int, tuple[str, str]] = {}
        for meta, per_task in loaded:  # type: ignore[misc]
            for tid, rows in per_task.items():
                groups[tid].append(rows_from(rows, cutoff))
                info = meta["tasks"][str(tid)]
                names[tid] = (info["family"], info["kind"])
        merged = {tid: concat_rows(rs) for tid, rs in groups.items()}
        merged = {tid: rows for tid, rows in merged.items() if len(rows["seq"])}
        first, end = max(group[0].first_seq, cutoff), group[-1].end_seq
        index = self.records.index(group[0])
        replacement: list[SegmentRecord] = []
        if merged:
            counters = loaded[-1][0].get("counters", {})  # type: ignore[index]
            record = self._write(self.next_number, merged, names, first, end, counters)
            record.sealed = True
            self.next_number += 1
            replacement = [record]
        # The merged file is durable before the originals go: a crash in between leaves
        # duplicates, which `load` recognises by their index ranges.
        for old in group:
            _unlink(old.path)
        fsync_dir(self.directory)
        self.records[index : index + len(group)] = replacement

    # ----- reading -----

    def load(self) -> list[SegmentRecord]:
        """Scan the directory: check every segment, drop debris, and keep the records in index order."""
        candidates = self._scan()
        candidates.sort(key=lambda r: (r.first_seq, -r.end_seq))
        kept: list[SegmentRecord] = []
        covered_to = -1
        for record in candidates:
            if record.end_seq <= covered_to:
                # Its positions are all in an earlier-listed segment: a compaction was cut short.
                log.warning("replay: %s duplicates positions of a compacted segment; deleting it", record.path)
                _unlink(record.path)
                continue
            if record.first_seq < covered_to:
                record.first_seq = covered_to  # overlap by a prefix: read only the rest
            kept.append(record)
            covered_to = record.end_seq
        self.records = kept
        return list(kept)

    def _scan(self) -> list[SegmentRecord]:
        records = []
        for entry in sorted(os.scandir(self.directory), key=lambda e: e.name):
            if entry.name.startswith(_TEMP_PREFIX):
                log.warning("replay: deleting leftover temporary file %s (a write cut short by a crash)", entry.path)
                _unlink(Path(entry.path))
                continue
            match = _SEGMENT_NAME.match(entry.name) or _CORRUPT_NAME.match(entry.name)
            if match is None:
                continue
            number = int(match.group(1))
            self.next_number = max(self.next_number, number + 1)  # never reuse a quarantined number
            if entry.name.endswith(".corrupt"):
                continue
            record = self._check(Path(entry.path), number)
            if record is not None:
                records.append(record)
        return records

    def _check(self, path: Path, number: int) -> SegmentRecord | None:
        """The record of a fully readable segment, or None (after quarantining it with a warning)."""
        loaded = self._read_or_quarantine(path)
        if loaded is None:
            return None
        meta, _ = loaded
        sealed = meta["end_seq"] - meta["first_seq"] >= self.segment_positions
        return SegmentRecord(number, path, meta["first_seq"], meta["end_seq"], path.stat().st_size, sealed)

    def read(self, record: SegmentRecord) -> SegmentContents | None:
        """(meta, rows per task id) of a segment, rows restricted to ``record.first_seq`` on; None if unreadable."""
        loaded = self._read_or_quarantine(record.path)
        if loaded is None:
            return None
        meta, groups = loaded
        return meta, {tid: rows_from(rows, record.first_seq) for tid, rows in groups.items()}

    def _read_or_quarantine(self, path: Path) -> SegmentContents | None:
        try:
            return _read_segment(path)
        except CorruptSegmentError as error:
            self._quarantine(path, error)
            return None

    def _quarantine(self, path: Path, error: Exception) -> None:
        target = path.with_name(path.name + ".corrupt")
        log.warning("replay: skipping unreadable segment %s (%s); renamed to %s", path, error, target.name)
        with contextlib.suppress(OSError):
            os.rename(path, target)
        self.records = [r for r in self.records if r.path != path]

    def stats(self) -> dict[str, int]:
        return {
            "segments": len(self.records),
            "disk_bytes": sum(r.nbytes for r in self.records),
            "disk_positions": sum(r.positions for r in self.records),
        }


# ----- the file format ---------------------------------------------------------------------------


def _read_segment(path: Path) -> SegmentContents:
    """Read and check one segment; raises `CorruptSegmentError` on anything unexpected."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            meta = json.loads(str(archive["meta"][()]))
            _check_meta(meta)
            groups = {
                int(tid): {name: archive[f"t{int(tid)}.{name}"] for name in POSITION_FIELDS} for tid in meta["tasks"]
            }
    except CorruptSegmentError:
        raise
    except Exception as error:  # a damaged file can fail in any way (zip, npy header, JSON, keys); all mean "skip"
        raise CorruptSegmentError(f"{type(error).__name__}: {error}") from None
    seqs = []
    for tid, rows in groups.items():
        _check_rows(rows, meta["tasks"][str(tid)]["count"], tid)
        seqs.append(rows["seq"])
    all_seqs = np.sort(np.concatenate(seqs)) if seqs else np.zeros(0, np.int64)
    if not np.array_equal(all_seqs, np.arange(meta["first_seq"], meta["end_seq"])):
        raise CorruptSegmentError(f"positions do not match the index range [{meta['first_seq']}, {meta['end_seq']})")
    return meta, groups


def _check_meta(meta: Any) -> None:
    if not isinstance(meta, dict) or meta.get("format") != SEGMENT_FORMAT or meta.get("version") != SEGMENT_VERSION:
        raise CorruptSegmentError("not a replay segment of a known format version")
    first, end, tasks = meta.get("first_seq"), meta.get("end_seq"), meta.get("tasks")
    if not (isinstance(first, int) and isinstance(end, int) and 0 <= first < end and isinstance(tasks, dict)):
        raise CorruptSegmentError(f"bad index range or task table: {first!r}, {end!r}")


def _check_rows(rows: dict[str, np.ndarray], count: int, tid: int) -> None:
    for name, (dtype, shape) in POSITION_FIELDS.items():
        array = rows[name]
        if array.dtype != dtype or array.ndim != 1 + len(shape) or array.shape[0] != count:
            raise CorruptSegmentError(f"task {tid}: {name} has dtype {array.dtype} and shape {array.shape}")
    if rows["policy"].shape != rows["legal"].shape:
        raise CorruptSegmentError(f"task {tid}: policy {rows['policy'].shape} vs legal {rows['legal'].shape}")
    if count > 1 and not np.all(np.diff(rows["seq"]) > 0):
        raise CorruptSegmentError(f"task {tid}: positions out of order")


def _write_npz_atomically(path: Path, arrays: dict[str, np.ndarray]) -> int:
    """Write ``arrays`` to ``path`` so that it either appears whole or not at all; returns its size in bytes."""
    sizes = []

    def write(file: Any) -> None:
        np.savez(file, allow_pickle=False, **arrays)
        sizes.append(file.tell())

    atomic_write(path, write)
    return sizes[0]


# ----- the directory lock ------------------------------------------------------------------------


def _lock_directory(directory: Path) -> Any:
    """An exclusive lock on ``directory`` for this process, held while the returned file stays open.

    Two buffers writing one directory would number their segments alike and overwrite each
    other's acknowledged data; the second one fails here instead. The kernel releases the
    lock when the holder dies, so a restarted actor gets it back.
    """
    lock = open(directory / LOCK_FILE, "a+")  # noqa: SIM115 - held open for the buffer's lifetime
    deadline = time.monotonic() + LOCK_WAIT_S  # read at call time, so tests can shorten it
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            # A restarted actor may start while its predecessor is still being torn down: wait a little.
            if time.monotonic() >= deadline:
                lock.seek(0)
                holder = lock.read().strip() or "unknown"
                lock.close()
                raise RuntimeError(
                    f"replay: {directory} is in use by another replay buffer"
                    f" (process {holder}; waited {LOCK_WAIT_S:g} s)"
                ) from None
            time.sleep(0.1)
    lock.seek(0)
    lock.truncate()
    lock.write(str(os.getpid()))
    lock.flush()
    return lock


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
