"""SQLite's WAL checkpoints, run by a thread of each process instead of inside requests.

By default SQLite checkpoints inside the COMMIT that takes the write-ahead log past 1,000 pages:
that request copies the logged pages into the database file and waits for two fsyncs. A compose
writes about 14 pages, so one write in seventy pays for the others, and on average a write spent
longer in checkpoints than in its own statements, mostly waiting for the disk. SQLite's
documentation names the alternative used here: automatic checkpoints (nearly) off where requests
commit, and checkpoints run from a separate thread
(https://www.sqlite.org/wal.html#application_initiated_checkpoints).

The thread runs a PASSIVE checkpoint, which never blocks readers or writers, a moment after its
process commits. Durability is unchanged: the checkpoint syncs exactly as the automatic one does.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time

log = logging.getLogger(__name__)

# Connections still checkpoint by themselves past this many pages (40 MB): under a steady stream
# of writes the log rarely starts over (only a writer that begins after a complete checkpoint
# restarts it), and this keeps it bounded all the same.
FALLBACK_PAGES = 10_000
# How long the thread lets commits gather before it checkpoints them together: a page written by
# several commits meanwhile is copied once.
GATHER_SECONDS = 0.2


class Checkpointer:
    """One per app: call `committed()` after each commit. The thread starts in the process that
    commits, on its first commit: a gunicorn worker is a fork of its master, and threads do not
    survive a fork."""

    def __init__(self, database_path: str) -> None:
        self.database_path = database_path
        self._pid: int | None = None
        self._lock = threading.Lock()
        self._pending = threading.Event()
        self.checkpoints = 0  # how many this process ran (tests)

    def committed(self) -> None:
        if self._pid != os.getpid():
            self._start()
        self._pending.set()

    def _start(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pending = threading.Event()  # a fork's copy may be set, with no thread to clear it
            threading.Thread(target=self._run, name="sqlite-checkpoints", daemon=True).start()
            self._pid = os.getpid()

    def _run(self) -> None:
        pending = self._pending
        try:
            connection = sqlite3.connect(self.database_path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error:
            log.warning("no SQLite checkpoint thread: connections checkpoint by themselves", exc_info=True)
            return
        while True:
            pending.wait()
            time.sleep(GATHER_SECONDS)
            pending.clear()  # commits made until now are in the log: this checkpoint copies them
            try:
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                self.checkpoints += 1
            except sqlite3.Error:
                # E.g. a full disk: the log keeps every commit meanwhile; the next commit asks again.
                log.warning("SQLite checkpoint failed", exc_info=True)
