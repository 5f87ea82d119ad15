"""Group commit: concurrent writers share one commit (one segment, one fsync round).

Each commit costs several fsyncs, so with many concurrent clients committing each
request alone would make fsync the bottleneck and leave one tiny segment per request.
A single thread takes every batch queued while the previous commit ran and commits them
together, in arrival order; each caller's future resolves only after that commit.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future

from .batch import CommitResult, OpResult, WriteBatch
from .store import SegmentStore

log = logging.getLogger("spire.commit")
_STOP = object()


class GroupCommitter:
    def __init__(
        self,
        store: SegmentStore,
        max_batches: int = 64,
        on_commit: Callable[[CommitResult], None] | None = None,
    ) -> None:
        self.store = store
        self.max_batches = max_batches
        self.on_commit = on_commit
        self.commits = 0
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="spire-commit", daemon=True)
        self._thread.start()

    def submit(self, batch: WriteBatch) -> Future:
        """Queue a batch; the future yields its `CommitResult` (results for its ops only)."""
        future: Future = Future()
        self._queue.put((batch, future))
        return future

    def close(self, timeout: float = 30.0) -> None:
        self._queue.put(_STOP)
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            group = [item]
            while len(group) < self.max_batches:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    self._queue.put(_STOP)  # finish this group first
                    break
                group.append(nxt)
            self._commit(group)

    def _commit(self, group: list[tuple[WriteBatch, Future]]) -> None:
        combined = WriteBatch([op for batch, _ in group for op in batch.ops])
        try:
            result = self.store.apply(combined)
        except Exception as exc:
            if len(group) == 1:
                group[0][1].set_exception(exc)
                return
            # One bad batch must not fail its neighbours: retry them one by one.
            for batch, future in group:
                self._commit([(batch, future)])
            return
        self.commits += 1
        if self.on_commit is not None:
            try:
                self.on_commit(result)
            except Exception:  # a stats hook must never lose an acknowledged write
                log.exception("on_commit hook failed")
        start = 0
        for batch, future in group:
            ops: list[OpResult] = result.results[start : start + len(batch.ops)]
            start += len(batch.ops)
            future.set_result(
                CommitResult(result.generation, result.committed, ops, result.segment)
            )
