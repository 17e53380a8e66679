"""The hashing engine: digests of every chunk of every file, in parallel threads.

Files are cut into chunks of ``HashOptions.chunk_size`` bytes; every chunk is one job on a pool
of worker threads (largest first), so one large file uses every core and many small files do
too. hashlib and blake3 release the GIL while they hash, and each worker reads with
``preadv`` into its own preallocated buffer, so memory stays at ``workers * read_size`` no matter
how large the files are (no mmap: mapped pages would count against the process).

Every job opens its file afresh and compares ``fstat`` before and after reading with the
identity the walk saw (device, inode, size, mtime_ns, ctime_ns); once every chunk is done the
path is ``stat``-ed again. A difference raises ``FileChangedError`` instead of recording a digest
of a file that was being written.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import itertools
import os
import stat
import threading
from typing import Any

from kastell.integrity._walk import plan_tree
from kastell.integrity.interface import (
    AccessDeniedError,
    BytesDone,
    CacheKey,
    CacheNotAllowedError,
    ChunkDigest,
    DigestCache,
    FileChangedError,
    FileDigest,
    HashOptions,
    PlannedFile,
    ReadError,
    TreeDigest,
    TreePlan,
)
from kastell.integrity.merkle import file_digest, new_hasher, tree_root
from kastell.types import Digest

__all__ = ["cache_key", "chunk_ranges", "default_workers", "hash_plan", "hash_tree", "plan_tree"]

_BLAKE3_THREADED_READ = 4 * 1024 * 1024
_BLAKE3_THREADED_MIN = 16 * 1024 * 1024
_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


def default_workers() -> int:
    """The number of CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def chunk_ranges(size: int, chunk_size: int | None) -> list[tuple[int, int]]:
    """The ``(offset, length)`` chunks of a file: model_signing's shard boundaries.

    ``[0, c), [c, 2c), ...``, the last one shorter; none for an empty file; one for the whole
    file when ``chunk_size`` is ``None``.
    """
    if size == 0:
        return []
    if chunk_size is None:
        return [(0, size)]
    return [(offset, min(chunk_size, size - offset)) for offset in range(0, size, chunk_size)]


def cache_key(planned: PlannedFile, options: HashOptions) -> CacheKey:
    """The digest-cache key of a planned file under ``options``."""
    return CacheKey(
        path=planned.source,
        device=planned.device,
        inode=planned.inode,
        size=planned.size,
        mtime_ns=planned.mtime_ns,
        ctime_ns=planned.ctime_ns,
        algorithm=options.algorithm,
        chunk_size=options.chunk_size,
    )


def hash_tree(
    path: str | os.PathLike[str],
    options: HashOptions | None = None,
    *,
    cache: DigestCache | None = None,
    on_bytes: BytesDone | None = None,
    for_verification: bool = False,
) -> TreeDigest:
    """Walk and hash a file or directory.

    Args:
        path: a regular file or a directory.
        options: algorithm, chunk size, ignore patterns, link handling, threads.
        cache: digests of unchanged files from earlier runs (recording only).
        on_bytes: progress callback, called from worker threads with bytes just hashed.
        for_verification: set by every verification path; a cache is then refused.

    Raises:
        IntegrityError: see ``kastell.integrity.interface`` for each case.
    """
    options = options or HashOptions()
    if for_verification and cache is not None:
        raise CacheNotAllowedError("a digest cache cannot be used to verify")
    return hash_plan(
        plan_tree(path, options),
        options,
        cache=cache,
        on_bytes=on_bytes,
        for_verification=for_verification,
    )


@dataclasses.dataclass(frozen=True)
class _Job:
    index: int
    offset: int
    length: int


def hash_plan(
    plan: TreePlan,
    options: HashOptions,
    *,
    cache: DigestCache | None = None,
    on_bytes: BytesDone | None = None,
    for_verification: bool = False,
) -> TreeDigest:
    """Hash every file of a plan (from ``plan_tree``) and compute the root.

    Args:
        plan: the walk result.
        options: must be the options the plan was made with.
        cache: digests of unchanged files from earlier runs (recording only).
        on_bytes: progress callback, called from worker threads with bytes just hashed.
        for_verification: set by every verification path; a cache is then refused.
    """
    if for_verification and cache is not None:
        raise CacheNotAllowedError("a digest cache cannot be used to verify")
    done: dict[int, FileDigest] = {}
    todo: list[int] = []
    for index, planned in enumerate(plan.files):
        hit = cache.get(cache_key(planned, options)) if cache is not None else None
        if hit is not None:
            done[index] = dataclasses.replace(hit, path=planned.path)
            if on_bytes is not None:
                on_bytes(planned.size)
        else:
            todo.append(index)
    single, multi = _run_jobs(plan, options, todo, on_bytes)
    for index in todo:
        planned = plan.files[index]
        _check_unchanged_path(planned, plan, options)
        entry = _file_entry(planned, options, _chunk_digests(planned, index, single, multi))
        done[index] = entry
        if cache is not None:
            cache.put(cache_key(planned, options), entry)
    files = tuple(done[index] for index in range(len(plan.files)))
    return TreeDigest(
        algorithm=options.algorithm,
        chunk_size=options.chunk_size,
        files=files,
        symlinks=plan.symlinks,
        root=tree_root(options.algorithm, files, plan.symlinks),
        ignore=plan.ignore,
        follow_symlinks=plan.follow_symlinks,
    )


def _file_entry(planned: PlannedFile, options: HashOptions, digests: list[bytes]) -> FileDigest:
    ranges = chunk_ranges(planned.size, options.chunk_size)
    whole = file_digest(options.algorithm, planned.size, options.chunk_size, digests)
    # a one-chunk file's digest is its chunk's digest: share the object (100k small files
    # would otherwise hold two equal Digest objects and hex strings each)
    chunks = tuple(
        ChunkDigest(offset, length, whole if len(digests) == 1 else Digest(
            options.algorithm, value.hex()))
        for (offset, length), value in zip(ranges, digests, strict=True)
    )  # fmt: skip
    return FileDigest(
        path=planned.path,
        size=planned.size,
        chunk_size=options.chunk_size,
        chunks=chunks,
        digest=whole,
    )


def _jobs(plan: TreePlan, options: HashOptions, todo: list[int]) -> list[_Job]:
    jobs: list[_Job] = []
    for index in todo:
        ranges = chunk_ranges(plan.files[index].size, options.chunk_size) or [(0, 0)]
        jobs.extend(_Job(index, offset, length) for offset, length in ranges)
    jobs.sort(key=lambda job: -job.length)  # largest first: the pool ends evenly loaded
    return jobs


def _run_jobs(
    plan: TreePlan, options: HashOptions, todo: list[int], on_bytes: BytesDone | None
) -> tuple[dict[int, bytes], dict[int, dict[int, bytes]]]:
    """Run every chunk job; return the raw digests by file index.

    One-chunk files (most files of a large tree) get one digest; others offset -> digest.
    """
    jobs = _jobs(plan, options, todo)
    threads = options.workers or default_workers()
    workers = min(threads, max(1, len(jobs)))
    # A job holding most of the bytes (one big file hashed whole, say) would leave the other
    # threads idle: blake3 may then spread each of its updates over every thread.
    total = sum(job.length for job in jobs)
    dominant = max((job.length for job in jobs if 2 * job.length > total), default=0)
    reader = _ChunkReader(plan, options, on_bytes, threads, max(dominant, _BLAKE3_THREADED_MIN))
    # one raw digest per one-chunk file (most files of a large tree), offset -> digest otherwise
    single: dict[int, bytes] = {}
    multi: dict[int, dict[int, bytes]] = {
        index: {}
        for index in todo
        if len(chunk_ranges(plan.files[index].size, options.chunk_size)) > 1
    }

    def store(job: _Job, value: bytes) -> None:
        by = multi.get(job.index)
        if by is None:
            single[job.index] = value
        else:
            by[job.offset] = value

    if workers == 1:
        for job in jobs:
            store(job, reader.hash(job))
    else:
        # a bounded window of jobs in flight: one Future per file of a 100k-file tree would
        # cost about a kilobyte each, for nothing (the pool has only `workers` threads)
        window = workers * 16
        pending: dict[concurrent.futures.Future[bytes], _Job] = {}
        queue = iter(jobs)
        with concurrent.futures.ThreadPoolExecutor(workers, "kastell-hash") as pool:
            try:
                while True:
                    for job in itertools.islice(queue, window - len(pending)):
                        pending[pool.submit(reader.hash, job)] = job
                    if not pending:
                        break
                    finished, _ = concurrent.futures.wait(
                        pending, return_when=concurrent.futures.FIRST_COMPLETED
                    )
                    for future in finished:
                        store(pending.pop(future), future.result())
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise
    return single, multi


def _chunk_digests(
    planned: PlannedFile, index: int, single: dict[int, bytes], multi: dict[int, dict[int, bytes]]
) -> list[bytes]:
    """The raw chunk digests of one file, in offset order (none for an empty file)."""
    if index in single:
        value = single.pop(index)
        return [] if planned.size == 0 else [value]
    found = multi.pop(index)
    return [found[offset] for offset in sorted(found)]


def _identity(info: os.stat_result) -> tuple[int, int, int, int, int]:
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


def _planned_identity(planned: PlannedFile) -> tuple[int, int, int, int, int]:
    return (planned.device, planned.inode, planned.size, planned.mtime_ns, planned.ctime_ns)


def _changed(plan: TreePlan, planned: PlannedFile) -> FileChangedError:
    return FileChangedError(
        f"{os.path.join(plan.root, planned.path)} changed while it was being hashed"
    )


def _check_unchanged_path(planned: PlannedFile, plan: TreePlan, options: HashOptions) -> None:
    """After hashing: the path must still name the same, unmodified file."""
    try:
        info = os.stat(planned.source, follow_symlinks=options.follow_symlinks)
    except OSError:
        raise _changed(plan, planned) from None
    if _identity(info) != _planned_identity(planned):
        raise _changed(plan, planned)


class _ChunkReader:
    """Hashes one chunk job; each worker thread reuses its own read buffer."""

    def __init__(
        self,
        plan: TreePlan,
        options: HashOptions,
        on_bytes: BytesDone | None,
        blake3_threads: int,
        threaded_from: int,
    ) -> None:
        self.plan = plan
        self.options = options
        self.on_bytes = on_bytes
        self.blake3_threads = blake3_threads
        self.threaded_from = threaded_from
        """Jobs at least this long hash with ``blake3_threads`` threads (blake3 only)."""
        self.local = threading.local()
        flags = _OPEN_FLAGS
        if not options.follow_symlinks:
            flags |= getattr(os, "O_NOFOLLOW", 0)
        self.flags = flags

    def _threads(self, job: _Job) -> int:
        return self.blake3_threads if job.length >= self.threaded_from else 1

    def _buffer(self, threaded: bool) -> memoryview:
        """This thread's read buffer; a larger one for threaded blake3, which splits it."""
        name = "threaded" if threaded else "plain"
        view: memoryview | None = getattr(self.local, name, None)
        if view is None:
            size = self.options.read_size
            if threaded:
                size = max(size, _BLAKE3_THREADED_READ)
            view = memoryview(bytearray(size))
            setattr(self.local, name, view)
        return view

    def hash(self, job: _Job) -> bytes:
        """The raw digest of one chunk of one file."""
        planned = self.plan.files[job.index]
        shown = os.path.join(self.plan.root, planned.path)
        try:
            fd = os.open(planned.source, self.flags)
        except PermissionError:
            raise AccessDeniedError(f"permission denied: {shown}") from None
        except OSError:
            # vanished, replaced by a link (O_NOFOLLOW) or otherwise no longer what was walked
            raise _changed(self.plan, planned) from None
        try:
            self._check(fd, planned)
            threads = self._threads(job) if self.options.algorithm == "blake3" else 1
            hasher = new_hasher(self.options.algorithm, threads=threads)
            self._feed(fd, job, planned, self._buffer(threads > 1), hasher.update)
            self._check(fd, planned)
        finally:
            os.close(fd)
        digest: bytes = hasher.digest()
        return digest

    def _check(self, fd: int, planned: PlannedFile) -> None:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or _identity(info) != _planned_identity(planned):
            raise _changed(self.plan, planned)

    def _feed(
        self, fd: int, job: _Job, planned: PlannedFile, view: memoryview, update: Any
    ) -> None:
        """Read the job's byte range into ``view`` block by block and pass each to ``update``.

        The hot loop of the engine: full blocks reuse one buffer list and the whole view, so a
        block costs two calls that release the GIL and almost no Python work.
        """
        offset, end, size = job.offset, job.offset + job.length, len(view)
        whole, on_bytes = [view], self.on_bytes
        try:
            while offset < end:
                if end - offset >= size:
                    count = os.preadv(fd, whole, offset)
                else:
                    count = os.preadv(fd, [view[: end - offset]], offset)
                if count == 0:  # shorter than at walk time: truncated under us
                    raise _changed(self.plan, planned)
                update(view if count == size else view[:count])
                offset += count
                if on_bytes is not None:
                    on_bytes(count)
        except OSError as error:
            shown = os.path.join(self.plan.root, planned.path)
            raise ReadError(f"cannot read {shown}: {error.strerror or error}") from None
