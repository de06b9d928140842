"""The durable event log: an append-only SQLite table (WAL) that is also the cloud outbox.

Durability: WAL journal with ``synchronous=FULL``: the WAL is fsynced at every commit, so
once `append` returns the event survives a killed process and a power cut (as far as the
storage honours fsync). ``NORMAL`` would survive a killed process but may lose the last
commits on power loss, which an outbox must not.

Sequence numbers come from an AUTOINCREMENT key: strictly increasing, never reused even
after retention deletes rows, and a rolled-back insert leaves no gap.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import logging
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, TypeVar
from urllib.parse import quote

import sqlite_utils

from edge.catalogue import PRIORITY_NAMES, Priority
from edge.events import Event, encode_data, envelope_json, format_time, parse_time
from edge.ratelimit import LogEvery

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
FULL_CHECK_MAX_BYTES = 256 << 20
BIG_CHECK_BUDGET_S = 5.0  # quick_check time budget at open for a log over FULL_CHECK_MAX_BYTES
_T = TypeVar("_T")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    time TEXT NOT NULL,
    priority INTEGER NOT NULL,
    source TEXT NOT NULL,
    bootid TEXT NOT NULL,
    data TEXT NOT NULL,
    delivered INTEGER NOT NULL DEFAULT 0,
    delivered_at TEXT
);
CREATE INDEX IF NOT EXISTS events_outbox ON events(priority, seq) WHERE delivered = 0;
CREATE INDEX IF NOT EXISTS events_time ON events(time);
DROP INDEX IF EXISTS events_type_time;
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
# Indexes, each for a query that needs it (tests/test_core_eventlog.py checks the plans):
# the id's UNIQUE (duplicate ids, `contains`), events_outbox (the publisher's lanes, queued
# counts, shedding undelivered events) and events_time (age retention, time ranges). Every
# index is written on each append; events_type_time (type, time) was dropped: no query
# used it (a type filter in `query` is `type = ? OR type LIKE ?`, which no index serves, and
# it reads in seq order), and it cost a sixth of the pages each append commit writes.
_COLUMNS = "seq, id, type, time, priority, source, bootid, data"
DiskUsage = Callable[[str], Any]


class EventLogError(RuntimeError):
    """The event log cannot be opened or used; the message says why and what to do."""


class DuplicateEventError(EventLogError):
    """An event with this id is already in the log (or twice in one batch): nothing of the
    batch was stored."""


@dataclass(frozen=True)
class RetentionPolicy:
    """How long and how much to keep, and the free-disk floor.

    Shedding order (size limit and disk pressure alike): delivered events oldest first,
    then undelivered events lowest priority first, oldest first. Every undelivered event
    shed is counted as dropped.
    """

    max_age_s: float = 30 * 86400
    max_bytes: int = 1 << 30
    min_free_bytes: int = 256 << 20
    shed_batch: int = 2000


@dataclass
class OutboxStats:
    total: int
    queued: int
    delivered: int
    last_seq: int
    oldest_undelivered_time: str | None
    counters: dict[str, int] = field(default_factory=dict)

    def oldest_undelivered_age_s(self, now: float) -> float | None:
        if self.oldest_undelivered_time is None:
            return None
        return max(0.0, now - parse_time(self.oldest_undelivered_time))

    def dropped(self) -> int:
        return sum(v for k, v in self.counters.items()
                   if k.startswith("dropped.") and not k.startswith("dropped.priority."))


class StoredEvent(NamedTuple):
    event: Event
    delivered: bool


class OutboxItem(NamedTuple):
    """An undelivered event as the publisher sends it: `payload` is the CloudEvent JSON
    with the data text exactly as stored (see `edge.events.envelope_json`)."""

    seq: int
    type: str
    payload: bytes


def _row_to_event(row: Sequence[Any]) -> Event:
    seq, id_, type_, time_, priority, source, bootid, data = row[:8]
    return Event(
        id=id_, type=type_, source=source, time=time_, data=json.loads(data),
        bootid=bootid, seq=seq, priority=Priority(priority), data_json=data,
    )


def _row_to_outbox(row: Sequence[Any]) -> OutboxItem:
    seq, id_, type_, time_, _priority, source, bootid, data = row
    return OutboxItem(seq, type_, envelope_json(
        id=id_, source=source, type=type_, time=time_, data_json=data, seq=seq,
        bootid=bootid).encode())


class PreparedEvent(NamedTuple):
    """An event ready to be written: its row's parameters (id, type, time, priority,
    source, bootid, data JSON text), made without the log's lock."""

    event: Event
    row: tuple[str, str, str, int, str, str, str]


def prepare(event: Event) -> PreparedEvent:
    """Encode an event for `EventLog.write` (pure: no I/O, no lock)."""
    return PreparedEvent(event, (event.id, event.type, event.time, int(event.priority),
                                 event.source, event.bootid, encode_data(event.data)))


_INSERT_ROWS = 256  # 7 parameters a row; SQLite allows 32766 a statement


@functools.lru_cache(maxsize=64)
def _insert_sql(rows: int) -> str:
    return ("INSERT INTO events(id, type, time, priority, source, bootid, data) VALUES "
            + ",".join(["(?,?,?,?,?,?,?)"] * rows))


_MARK_RUN = 8  # consecutive acknowledged seqs marked with one range UPDATE


def _runs(seqs: Iterable[int]) -> Iterator[tuple[int, int]]:
    """(first, last) of each run of consecutive values among `seqs` (sorted, deduplicated)."""
    first = last = None
    for seq in sorted(set(seqs)):
        if last is not None and seq == last + 1:
            last = seq
            continue
        if first is not None and last is not None:
            yield first, last
        first = last = seq
    if first is not None and last is not None:
        yield first, last


_UNIQUE_VIOLATIONS = frozenset({sqlite3.SQLITE_CONSTRAINT_UNIQUE,
                                sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY})


def _is_disk_full(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code == sqlite3.SQLITE_FULL or "disk is full" in str(exc)


def _is_io_error(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and (code & 0xFF) == sqlite3.SQLITE_IOERR


def _looks_corrupt(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None and (code & 0xFF) in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        return True
    text = str(exc).lower()
    return any(s in text for s in ("malformed", "not a database", "corrupt", "quick_check"))


class EventLog:
    """Append-only event log and outbox. Thread-safe: one connection behind a lock."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        policy: RetentionPolicy | None = None,
        disk_usage: DiskUsage = shutil.disk_usage,
        readonly: bool = False,
    ) -> None:
        self.path = Path(path)
        self.policy = policy or RetentionPolicy()
        self._disk_usage = disk_usage
        self._lock = threading.RLock()
        self._readonly = readonly
        self._pending_counters: dict[str, int] = {}
        self._drops_unreported: dict[str, dict[int, int]] = {}
        self.recovered_from: Path | None = None
        self.on_recovered: Callable[[Path], None] | None = None
        self._recoveries: list[Path] = []
        self._last_seq_seen = 0
        self.degraded: str | None = None  # why the log is not open normally (full disk)
        self._drop_reason = "disk_full"
        self._exclusive = False
        self._unavailable = False
        self._last_drop: float | None = None
        self._drop_log = LogEvery(60.0)
        self._marks_lock = threading.Lock()  # only the in-memory mark queue, never held long
        self._to_mark: list[int] = []
        self._to_mark_since: float | None = None
        self._marked: list[int] = []
        self._marked_rows = 0
        self._conn = self._open()
        self.db = sqlite_utils.Database(self._conn)

    # ----------------------------------------------------------------- opening
    def _connect(self, *, exclusive: bool = False) -> sqlite3.Connection:
        if self._readonly:
            if not self.path.exists():
                raise EventLogError(f"no event log at {self.path} (has the daemon run yet?)")
            if not self.path.is_file():
                raise EventLogError(f"{self.path} is not an event log file")
            # A log no process has open (no -wal/-shm beside it) is opened immutable, so that
            # reading it creates no side files: made by root, they would lock the daemon out.
            live = any(Path(f"{self.path}{s}").exists() for s in ("-wal", "-shm"))
            mode = "mode=ro" if live else "mode=ro&immutable=1"
            conn = sqlite3.connect(
                f"file:{quote(str(self.path))}?{mode}", uri=True, check_same_thread=False,
                isolation_level=None,
            )
            conn.execute("PRAGMA busy_timeout=5000")
            return conn
        parent = self.path.parent
        if parent.exists() and not parent.is_dir():
            raise EventLogError(
                f"cannot open event log {self.path}: {parent} is not a directory; "
                "point storage.path at a writable directory"
            )
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise EventLogError(
                f"cannot create the event log directory {parent}: {exc.strerror}; "
                "create it and make it writable by the omo-edge user, or set storage.path"
            ) from None
        if not os.access(parent, os.W_OK | os.X_OK):
            raise EventLogError(
                f"cannot write the event log directory {parent}: permission denied; "
                "make it writable by the omo-edge user, or set storage.path"
            )
        if self.path.exists() and not self.path.is_file():
            raise EventLogError(
                f"cannot open event log {self.path}: it is not a regular file; "
                "set storage.path to a file name such as /var/lib/omo-edge/events.db"
            )
        if self.path.exists() and not os.access(self.path, os.R_OK | os.W_OK):
            raise EventLogError(
                f"cannot write the event log {self.path}: permission denied; "
                f"fix its owner (chown omo-edge {self.path}) or set storage.path"
            )
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            conn.execute("PRAGMA busy_timeout=5000")
            if exclusive:
                # Set before the first WAL access, SQLite keeps the WAL index in heap memory:
                # no -shm file to size, which is what a full disk refuses.
                conn.execute("PRAGMA locking_mode=EXCLUSIVE")
            self._refuse_foreign(conn)
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise EventLogError(f"{self.path}: the file system does not support WAL mode")
            conn.execute("PRAGMA synchronous=FULL")
            conn.executescript(_SCHEMA)
            conn.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
        except BaseException:
            conn.close()
            raise
        return conn

    def _refuse_foreign(self, conn: sqlite3.Connection) -> None:
        """A sound SQLite database that is not an event log (storage.path pointed at the
        wrong file) is refused, never written into nor moved aside."""
        tables = {r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")}
        if tables and "meta" not in tables:
            shown = ", ".join(sorted(tables)[:5])
            raise EventLogError(
                f"{self.path} is an SQLite database but not an omo-edge event log (it holds "
                f"the tables {shown}); it was left as it is: set storage.path to another file")

    def _check(self, conn: sqlite3.Connection) -> None:
        """Detect a damaged file at open. Reading the schema catches a file that is not a
        database or has a broken header; the header's page count must fit the file (a cut
        file). `quick_check` is O(size): it runs whole for logs up to FULL_CHECK_MAX_BYTES
        and within BIG_CHECK_BUDGET_S seconds above that (`omo-edge doctor` runs it
        always). Damage it does not reach is handled when a query meets it (see
        `_recover_running`)."""
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if self._readonly:
            missing = {"events", "counters", "meta"} - tables
            if missing:
                raise EventLogError(
                    f"{self.path} is not an omo-edge event log (no {', '.join(sorted(missing))} "
                    f"table{'s' if len(missing) > 1 else ''}"
                    f"{'; it is empty' if not tables else ''})")
            return
        size = self.path.stat().st_size if self.path.exists() else 0
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        if size and pages * page_size > size and not Path(f"{self.path}-wal").exists():
            raise sqlite3.DatabaseError(
                f"quick_check: the file is cut short ({size} bytes, header says "
                f"{pages * page_size})")
        budget = None if size <= FULL_CHECK_MAX_BYTES else BIG_CHECK_BUDGET_S
        deadline = time.monotonic() + (budget or 0.0)
        if budget is not None:
            conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
        try:
            result = conn.execute("PRAGMA quick_check").fetchone()[0]
        except sqlite3.OperationalError as exc:
            if budget is None or "interrupt" not in str(exc):
                raise
            log.info("event log %s (%d MiB): quick_check stopped after its %.0f s budget; "
                     "damage further in is handled when it is met", self.path, size >> 20,
                     budget)
            return
        finally:
            conn.set_progress_handler(None, 0)
        if result != "ok":
            raise sqlite3.DatabaseError(f"quick_check: {result}")

    def _open(self) -> sqlite3.Connection:
        try:
            conn = self._connect()
            try:
                self._check(conn)
            except BaseException:
                conn.close()
                raise
            return conn
        except EventLogError:
            raise
        except sqlite3.DatabaseError as exc:
            if self._readonly:
                raise EventLogError(f"event log {self.path} is unreadable: {exc}") from None
            if _looks_corrupt(exc):
                return self._replace_corrupt(str(exc))
            if _is_disk_full(exc) or _is_io_error(exc) or "disk i/o error" in str(exc).lower():
                return self._open_degraded(exc)
            raise EventLogError(f"cannot open event log {self.path}: {exc}") from None

    def _replace_corrupt(self, reason: str) -> sqlite3.Connection:
        """Move the corrupt file aside (kept) and start a new log whose seq continues above
        any the old file can have reached."""
        moved = self._move_aside(reason)
        conn = self._connect()
        # Seq must stay strictly increasing across the lost file: restart it from the
        # clock (milliseconds x 1000), above any seq the old file can have reached.
        base = max(int(time.time() * 1000) * 1000, self._last_seq_seen + 1)
        conn.execute("INSERT INTO sqlite_sequence(name, seq) VALUES ('events', ?)", (base,))
        conn.execute(
            "INSERT INTO counters(name, value) VALUES ('log.corrupt_recovered', 1) "
            "ON CONFLICT(name) DO UPDATE SET value = value + 1"
        )
        self.recovered_from = moved
        self._recoveries.append(moved)
        if self.on_recovered is not None:
            try:
                self.on_recovered(moved)
            except Exception:
                log.exception("event log: the recovery callback failed")
        return conn

    def _recover_running(self, exc: sqlite3.Error) -> None:
        """A query met a corrupt page while running: move the file aside (kept) and go on
        with a new log, as at open. Called with the lock held."""
        with contextlib.suppress(sqlite3.Error):
            self._conn.execute("ROLLBACK")
        with contextlib.suppress(sqlite3.Error):
            self._conn.close()
        self._conn = self._replace_corrupt(f"found while running: {exc}")
        self.db = sqlite_utils.Database(self._conn)

    def _guarded(self, read: Callable[[], _T]) -> _T:
        """Run a read under the lock; if it meets a corrupt page, recover and read again
        (from the new log)."""
        with self._lock:
            try:
                return read()
            except sqlite3.DatabaseError as exc:
                if self._readonly or not _looks_corrupt(exc):
                    raise
                self._recover_running(exc)
                return read()

    def take_recoveries(self) -> list[Path]:
        """Where corrupt logs were moved aside since the last call (at open or running)."""
        with self._lock:
            moved, self._recoveries = self._recoveries, []
            return moved

    # ------------------------------------------------------------ full disk
    def _open_degraded(self, exc: sqlite3.Error) -> sqlite3.Connection:
        """The disk refused the open (full, or failing): run degraded rather than stop. An
        existing log is opened in exclusive mode (no -shm file needed), so what it holds
        stays readable and is sent; if even that fails, a placeholder in memory stands in
        and every append is dropped and counted. `retry_open` returns to normal."""
        self.degraded = f"cannot open the event log normally: {exc}"
        self._drop_reason = "disk_full" if _is_disk_full(exc) else "io_error"
        log.error("event log %s: %s; running degraded (events are dropped and counted "
                  "until space returns)", self.path, exc)
        if self.path.exists() and self.path.stat().st_size > 0:
            try:
                conn = self._connect(exclusive=True)
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
                self._exclusive = True
                return conn
            except (sqlite3.Error, EventLogError) as second:
                log.error("event log %s: cannot open it in exclusive mode either: %s",
                          self.path, second)
        conn = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        conn.executescript(_SCHEMA)
        self._unavailable = True
        return conn

    def retry_open(self) -> bool:
        """If running degraded, try to open the log normally again; True once it is."""
        with self._lock:
            if self.degraded is None:
                return True
            old = self._conn
            if self._exclusive:
                old.close()  # it holds the lock a normal open needs
            try:
                conn = self._connect()
                self._check(conn)
            except (sqlite3.Error, EventLogError) as exc:
                if self._exclusive:
                    try:
                        self._conn = self._connect(exclusive=True)
                    except (sqlite3.Error, EventLogError):
                        self._conn = sqlite3.connect(":memory:", check_same_thread=False,
                                                     isolation_level=None)
                        self._conn.executescript(_SCHEMA)
                        self._exclusive, self._unavailable = False, True
                    self.db = sqlite_utils.Database(self._conn)
                log.debug("event log still degraded: %s", exc)
                return False
            if not self._exclusive:
                old.close()
            self._conn = conn
            self.db = sqlite_utils.Database(conn)
            self.degraded = None
            self._exclusive = self._unavailable = False
            log.warning("event log %s: opened normally again; no longer degraded", self.path)
            return True

    def dropping(self, within_s: float) -> bool:
        """True if events were dropped for lack of disk in the last `within_s` seconds, or
        the log is degraded."""
        with self._lock:
            return self.degraded is not None or (
                self._last_drop is not None and time.monotonic() - self._last_drop <= within_s)

    def _move_aside(self, reason: str) -> Path:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        n = 1
        while target.exists():
            n += 1
            target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}")
        os.replace(self.path, target)
        for suffix in ("-wal", "-shm"):
            side = Path(str(self.path) + suffix)
            if side.exists():
                os.replace(side, Path(str(target) + suffix))
        log.error(
            "event log %s is corrupt (%s): moved it aside to %s (kept, not deleted) "
            "and started a new log", self.path, reason, target,
        )
        return target

    def close(self) -> None:
        with self._lock:
            if not self._readonly:
                self.flush_delivered()
                self._flush_counters()
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._conn.close()

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- counters
    def _upsert_counter(self, name: str, value: int) -> None:
        self._conn.execute(
            "INSERT INTO counters(name, value) VALUES (?, ?) "
            "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
            (name, value),
        )

    def _write_pending_counters(self) -> None:
        """Inside an open transaction: persist counters kept in memory."""
        for name, value in self._pending_counters.items():
            self._upsert_counter(name, value)

    def _flush_counters(self) -> None:
        if not self._pending_counters or self._readonly or self._unavailable:
            return
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            self._write_pending_counters()
            self._conn.execute("COMMIT")
            self._pending_counters.clear()
        except sqlite3.Error:
            self._rollback()

    def _count(self, name: str, value: int = 1) -> None:
        if value:
            self._pending_counters[name] = self._pending_counters.get(name, 0) + value

    def _count_drops(self, reason: str, by_priority: dict[int, int]) -> None:
        total = sum(by_priority.values())
        if not total:
            return
        self._count(f"dropped.{reason}", total)
        if reason in ("disk_full", "io_error"):
            self._last_drop = time.monotonic()
        for prio, n in by_priority.items():
            self._count(f"dropped.priority.{PRIORITY_NAMES.get(prio, prio)}", n)
        bucket = self._drops_unreported.setdefault(reason, {})
        for prio, n in by_priority.items():
            bucket[prio] = bucket.get(prio, 0) + n

    def count(self, name: str, value: int = 1) -> None:
        """Add to a persistent counter (written with the next transaction)."""
        with self._lock:
            self._count(name, value)

    def take_drop_report(self) -> dict[str, dict[int, int]]:
        """Drops since the last call, by reason and priority (for the dropped-events event)."""
        with self._lock:
            report, self._drops_unreported = self._drops_unreported, {}
            return report

    def restore_drop_report(self, reason: str, by_priority: dict[int, int]) -> None:
        """Put back a part of a drop report whose event could not be stored (the disk is
        still full): it is kept in memory and reported again with the next one."""
        with self._lock:
            bucket = self._drops_unreported.setdefault(reason, {})
            for prio, n in by_priority.items():
                bucket[prio] = bucket.get(prio, 0) + n

    def counters(self) -> dict[str, int]:
        with self._lock:
            values = dict(self._guarded(lambda: self._conn.execute(
                "SELECT name, value FROM counters").fetchall()))
            for name, value in self._pending_counters.items():
                values[name] = values.get(name, 0) + value
            return dict(sorted(values.items()))

    # ----------------------------------------------------------------- writing
    def _rollback(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._conn.execute("ROLLBACK")

    def append(self, event: Event) -> Event | None:
        """Append one event durably; returns it with its `seq`, or None if it was dropped.
        Raises DuplicateEventError if its id is already in the log, EventLogError if the
        database refuses it for another reason."""
        stored = self.append_many([event])
        return stored[0] if stored else None

    def append_many(self, events: Sequence[Event]) -> list[Event]:
        """Append events in one transaction (all or none). Returns them with `seq` and
        `data_json` (the data's JSON text as stored) set, or an empty list if the disk is
        full or failing (they are counted as dropped).

        Raises DuplicateEventError (nothing stored) if an id is already in the log or
        twice in `events`; EventLogError for another constraint the database enforces;
        sqlite3.Error for any other database failure."""
        return self.write([prepare(ev) for ev in events])

    def write(self, prepared: Sequence[PreparedEvent], *, _retry: bool = True) -> list[Event]:
        """`append_many` for events already prepared (`prepare`): the caller encoded them
        (the emitter does it on the loop as each event arrives), so the writer thread
        holding the lock does SQLite work only."""
        if not prepared:
            return []
        events = [p.event for p in prepared]
        with self._lock:
            if self._unavailable:
                self._drop(events, self._drop_reason, self.degraded or "")
                return []
            marks = self._take_marks()
            try:
                params = list(itertools.chain.from_iterable(p.row for p in prepared))
                self._conn.execute("BEGIN IMMEDIATE")
                # Multi-row INSERTs rather than executemany: one statement step (one release
                # of the GIL to SQLite) per _INSERT_ROWS events, not one per event.
                last = 0
                for start in range(0, len(events), _INSERT_ROWS):
                    n = min(_INSERT_ROWS, len(events) - start)
                    cur = self._conn.execute(_insert_sql(n), params[start * 7:(start + n) * 7])
                    last = cur.lastrowid or 0
                # One writer holds the lock and seq is AUTOINCREMENT: the batch's seqs are
                # consecutive and end at the last inserted rowid.
                first = last - len(events) + 1
                self._last_seq_seen = max(self._last_seq_seen, last)
                out = [p.event.stored(first + i, p.row[6]) for i, p in enumerate(prepared)]
                changed = self._set_delivered(marks, format_time(time.time())) if marks else 0
                self._write_pending_counters()
                self._conn.execute("COMMIT")
                self._pending_counters.clear()
                if marks:
                    self._note_marked(marks, changed)
                return out
            except sqlite3.IntegrityError as exc:
                self._rollback()
                self._requeue_marks(marks)
                if getattr(exc, "sqlite_errorcode", None) in _UNIQUE_VIOLATIONS:
                    ids = ", ".join(sorted({ev.id for ev in events})[:3])
                    raise DuplicateEventError(
                        f"event id already in the event log (batch of {len(events)}: "
                        f"{ids}{', ...' if len(events) > 3 else ''}); nothing was stored"
                    ) from None
                raise EventLogError(f"the event log refused the events: {exc}") from None
            except sqlite3.Error as exc:
                self._rollback()
                self._requeue_marks(marks)
                if _retry and isinstance(exc, sqlite3.DatabaseError) and _looks_corrupt(exc):
                    self._recover_running(exc)
                    return self.write(prepared, _retry=False)  # into the new log
                if not (_is_disk_full(exc) or _is_io_error(exc)):
                    raise
                self._drop(events, "disk_full" if _is_disk_full(exc) else "io_error", str(exc))
                return []

    def _drop(self, events: Sequence[Event], reason: str, why: str) -> None:
        by_prio: dict[int, int] = {}
        for ev in events:
            by_prio[ev.priority] = by_prio.get(ev.priority, 0) + 1
        self._count_drops(reason, by_prio)
        if self._drop_log.due(reason):
            log.error("event log: %s; dropping events (counted in dropped.%s; "
                      "logged at most once a minute for each reason)", why, reason)

    def mark_delivered(self, seqs: Iterable[int], *, when: float | None = None) -> int:
        """Mark events delivered (after the broker acknowledged them). Returns rows changed.
        A failure is logged and leaves them undelivered: they are sent again (at least once)."""
        seq_list = list(seqs)
        if not seq_list:
            return 0
        stamp = format_time(time.time() if when is None else when)
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                changed = self._set_delivered(seq_list, stamp)
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                if isinstance(exc, sqlite3.DatabaseError) and _looks_corrupt(exc):
                    self._recover_running(exc)
                    return 0  # those events were in the old file, kept aside
                log.warning("event log: could not mark %d event(s) delivered: %s "
                            "(they will be sent again)", len(seq_list), exc)
                return 0
            return changed

    def _set_delivered(self, seqs: list[int], stamp: str) -> int:
        """Inside an open transaction: mark `seqs` delivered; returns rows changed.
        Acknowledgements come back mostly in runs of consecutive seqs: each run of
        _MARK_RUN or more is one range UPDATE on the primary key (two parameters, not one
        a row); the rest go in IN lists."""
        changed = 0
        loose: list[int] = []
        for first, last in _runs(seqs):
            if last - first + 1 >= _MARK_RUN:
                changed += self._conn.execute(
                    "UPDATE events SET delivered = 1, delivered_at = ? "
                    "WHERE seq BETWEEN ? AND ? AND delivered = 0", (stamp, first, last),
                ).rowcount
            else:
                loose.extend(range(first, last + 1))
        for start in range(0, len(loose), 500):
            chunk = loose[start:start + 500]
            changed += self._conn.execute(
                "UPDATE events SET delivered = 1, delivered_at = ? "
                f"WHERE delivered = 0 AND seq IN ({','.join('?' * len(chunk))})",
                (stamp, *chunk),
            ).rowcount
        return changed

    # ------------------------------------------------------- deferred delivery marks
    # The publisher queues each acknowledged seq here instead of writing it at once: the
    # next append carries the marks in its own transaction (no fsync of their own, and
    # appends never wait behind a mark transaction); `flush_delivered` writes whatever no
    # append picked up. Until written an event is undelivered: a crash re-sends it.
    def mark_delivered_later(self, seqs: Iterable[int]) -> None:
        """Queue acknowledged events to be marked delivered with the next write. Takes
        only a short in-memory lock, never the database: safe on the event loop."""
        with self._marks_lock:
            if not self._to_mark:
                self._to_mark_since = time.monotonic()
            self._to_mark.extend(seqs)

    def unmarked_age(self) -> float | None:
        """Seconds the oldest queued delivered mark has waited; None if none is queued."""
        with self._marks_lock:
            since = self._to_mark_since
        return None if since is None else time.monotonic() - since

    def flush_delivered(self, *, wait: bool = True) -> bool:
        """Write the queued delivered marks now, in one transaction of their own. A failure
        is logged (see `mark_delivered`): those events stay undelivered and are sent
        again. With ``wait=False`` nothing is written while another write holds the log
        (an append, which may carry the marks itself: no extra commit and fsync queued in
        front of the next append); returns False then, True otherwise."""
        if not self._lock.acquire(blocking=wait):
            return False
        try:
            marks = self._take_marks()
            if marks:
                self._note_marked(marks, self.mark_delivered(marks))
            return True
        finally:
            self._lock.release()

    def take_marked(self) -> tuple[list[int], int]:
        """The queued seqs whose marks were written (or given up after a failure) since
        the last call, and how many rows that changed."""
        with self._marks_lock:
            seqs, self._marked = self._marked, []
            rows, self._marked_rows = self._marked_rows, 0
        return seqs, rows

    def _take_marks(self) -> list[int]:
        with self._marks_lock:
            marks, self._to_mark, self._to_mark_since = self._to_mark, [], None
        return marks

    def _requeue_marks(self, marks: list[int]) -> None:
        if marks:
            with self._marks_lock:
                self._to_mark[:0] = marks
                if self._to_mark_since is None:
                    self._to_mark_since = time.monotonic()

    def _note_marked(self, marks: list[int], changed: int) -> None:
        with self._marks_lock:
            self._marked.extend(marks)
            self._marked_rows += changed

    # ----------------------------------------------------------------- reading
    def pending(
        self, limit: int = 1000, *, after_seq: int = 0, priority: int | None = None
    ) -> list[Event]:
        """Undelivered events in seq order (optionally of one priority), after `after_seq`."""
        def read() -> list[Any]:
            if priority is None:
                return self._conn.execute(
                    f"SELECT {_COLUMNS} FROM events WHERE delivered = 0 AND seq > ? "
                    "ORDER BY seq LIMIT ?", (after_seq, limit),
                ).fetchall()
            return self._conn.execute(
                f"SELECT {_COLUMNS} FROM events INDEXED BY events_outbox "
                "WHERE delivered = 0 AND priority = ? AND seq > ? ORDER BY seq LIMIT ?",
                (priority, after_seq, limit),
            ).fetchall()

        rows = self._guarded(read)
        return [_row_to_event(r) for r in rows]

    def outbox(self, limit: int, *, after_seq: int, priority: Priority) -> list[OutboxItem]:
        """Undelivered events of one priority after `after_seq`, in seq order, ready to
        publish: the stored data text goes out as it is, never decoded."""
        rows = self._guarded(lambda: self._conn.execute(
            f"SELECT {_COLUMNS} FROM events INDEXED BY events_outbox "
            "WHERE delivered = 0 AND priority = ? AND seq > ? ORDER BY seq LIMIT ?",
            (int(priority), after_seq, limit),
        ).fetchall())
        return [_row_to_outbox(r) for r in rows]

    def query(
        self,
        *,
        types: Sequence[str] = (),
        since: str | None = None,
        until: str | None = None,
        after_seq: int = 0,
        limit: int | None = None,
        newest_first: bool = False,
        undelivered_only: bool = False,
    ) -> Iterator[StoredEvent]:
        """Events by type (exact, or a prefix such as ``omo.shelf``) and time range
        (RFC 3339 strings, compared as text), in seq order."""
        where = ["seq > ?"]
        args: list[Any] = [after_seq]
        if types:
            where.append("(" + " OR ".join("type = ? OR type LIKE ?" for _ in types) + ")")
            for t in types:
                args += [t, t.rstrip(".*") + ".%"]
        if since:
            where.append("time >= ?")
            args.append(since)
        if until:
            where.append("time < ?")
            args.append(until)
        if undelivered_only:
            where.append("delivered = 0")
        sql = (f"SELECT {_COLUMNS}, delivered FROM events WHERE {' AND '.join(where)} "
               f"ORDER BY seq {'DESC' if newest_first else 'ASC'}")
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        rows = self._guarded(lambda: self._conn.execute(sql, args).fetchall())
        for row in rows:
            yield StoredEvent(_row_to_event(row), bool(row[8]))

    def contains(self, event_id: str) -> bool:
        """Whether an event with this id is in the log (for idempotent appends)."""
        row = self._guarded(lambda: self._conn.execute(
            "SELECT 1 FROM events WHERE id = ?", (event_id,)).fetchone())
        return row is not None

    def last_seq(self) -> int:
        row = self._guarded(lambda: self._conn.execute(
            "SELECT seq FROM sqlite_sequence WHERE name = 'events'"
        ).fetchone())
        return int(row[0]) if row else 0

    def stats(self) -> OutboxStats:
        return self._guarded(self._stats)

    def _stats(self) -> OutboxStats:
        with self._lock:
            total = self._conn.execute("SELECT count(*) FROM events").fetchone()[0]
            queued = self._conn.execute(
                "SELECT count(*) FROM events INDEXED BY events_outbox WHERE delivered = 0"
            ).fetchone()[0]
            oldest = self._conn.execute(
                "SELECT time FROM events WHERE delivered = 0 ORDER BY seq LIMIT 1"
            ).fetchone()
            return OutboxStats(
                total=total, queued=queued, delivered=total - queued, last_seq=self.last_seq(),
                oldest_undelivered_time=oldest[0] if oldest else None,
                counters=self.counters(),
            )

    def free_bytes(self) -> int:
        """Free bytes on the log's file system (0 if it cannot be read)."""
        try:
            return int(self._disk_usage(str(self.path.parent)).free)
        except OSError:
            return 0

    def used_bytes(self) -> int:
        with self._lock:
            page_size = self._conn.execute("PRAGMA page_size").fetchone()[0]
            pages = self._conn.execute("PRAGMA page_count").fetchone()[0]
            free = self._conn.execute("PRAGMA freelist_count").fetchone()[0]
        return int((pages - free) * page_size)

    def integrity_check(self) -> str:
        with self._lock:
            return str(self._conn.execute("PRAGMA integrity_check").fetchone()[0])

    def quick_check(self) -> str:
        with self._lock:
            return str(self._conn.execute("PRAGMA quick_check").fetchone()[0])

    # --------------------------------------------------------------- retention
    def _shed(self, count: int, reason: str) -> tuple[int, int]:
        """Delete up to `count` events: delivered oldest first, then undelivered lowest
        priority first, oldest first. Returns (delivered pruned, undelivered dropped)."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            pruned = self._conn.execute(
                "DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE delivered = 1 "
                "ORDER BY seq LIMIT ?)", (count,),
            ).rowcount
            victims: list[tuple[int, int]] = []
            if count - pruned > 0:
                victims = self._conn.execute(
                    "SELECT seq, priority FROM events INDEXED BY events_outbox "
                    "WHERE delivered = 0 ORDER BY priority DESC, seq LIMIT ?", (count - pruned,),
                ).fetchall()
                for start in range(0, len(victims), 500):
                    chunk = victims[start:start + 500]
                    self._conn.execute(
                        f"DELETE FROM events WHERE seq IN ({','.join('?' * len(chunk))})",
                        [v[0] for v in chunk],
                    )
            by_prio: dict[int, int] = {}
            for _, prio in victims:
                by_prio[prio] = by_prio.get(prio, 0) + 1
            self._count_drops(reason, by_prio)
            self._count("pruned.delivered", pruned)
            self._write_pending_counters()
            self._conn.execute("COMMIT")
            self._pending_counters.clear()
        except sqlite3.Error:
            self._rollback()
            raise
        return pruned, len(victims)

    def enforce_retention(self, now: float | None = None, *, other_bytes: int = 0
                          ) -> dict[str, int]:
        """Apply the age, size and free-disk limits once. Returns what was removed, by reason.
        `other_bytes` is what else of the storage budget (`max_bytes`) is used: the command
        bookkeeping, which is capped and pruned on its own schedule."""
        now = time.time() if now is None else now
        removed: dict[str, int] = {}
        with self._lock:
            if self._unavailable:  # a placeholder in memory: nothing to remove
                return removed
            try:
                cutoff = format_time(now - self.policy.max_age_s)
                rows = self._conn.execute(
                    "SELECT priority, delivered, count(*) FROM events WHERE time < ? "
                    "GROUP BY priority, delivered", (cutoff,),
                ).fetchall()
                if rows:
                    self._conn.execute("BEGIN IMMEDIATE")
                    self._conn.execute("DELETE FROM events WHERE time < ?", (cutoff,))
                    self._count_drops("age_retention", {p: n for p, d, n in rows if not d})
                    self._count("pruned.delivered", sum(n for _, d, n in rows if d))
                    self._write_pending_counters()
                    self._conn.execute("COMMIT")
                    self._pending_counters.clear()
                    removed["age_retention"] = sum(n for _, _, n in rows)
                while self.used_bytes() + other_bytes > self.policy.max_bytes:
                    pruned, dropped = self._shed(self.policy.shed_batch, "size_retention")
                    if pruned + dropped == 0:
                        break
                    removed["size_retention"] = removed.get("size_retention", 0) + pruned + dropped
                free = self._disk_usage(str(self.path.parent)).free
                if free < self.policy.min_free_bytes:
                    pruned, dropped = self._shed(self.policy.shed_batch, "disk_pressure")
                    removed["disk_pressure"] = pruned + dropped
                    log.warning(
                        "free disk %d MiB is below the %d MiB floor: removed %d delivered and "
                        "dropped %d undelivered event(s)", free >> 20,
                        self.policy.min_free_bytes >> 20, pruned, dropped,
                    )
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as exc:
                self._rollback()
                if (not self._readonly and isinstance(exc, sqlite3.DatabaseError)
                        and _looks_corrupt(exc)):
                    self._recover_running(exc)
                else:
                    log.error("event log retention failed: %s", exc)
        return removed


def open_readonly(path: str | os.PathLike[str]) -> EventLog:
    """Open an existing log for reading (CLI `events`, `status`) beside a running daemon."""
    return EventLog(path, readonly=True)


__all__ = [
    "DuplicateEventError", "EventLog", "EventLogError", "OutboxItem", "OutboxStats",
    "PreparedEvent", "RetentionPolicy", "StoredEvent", "open_readonly", "prepare",
]
