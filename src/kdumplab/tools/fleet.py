"""``kdumplab fleet``: check on every host, results into one DuckDB file, a summary grouped by finding code.

Only this (parent) process writes the database; workers return plain records. Hosts whose input is unchanged
since a run recorded them (same size and mtime, or else the same content hash) are not checked again; their
stored record is reported as it was. Results stream: at most a bounded number of hosts are in flight, and
records are written in small batches, so memory does not grow with the fleet.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from kdumplab import fleet as fl
from kdumplab.errors import KdumplabError
from kdumplab.parallel import Backend, Progress

__all__ = ["FleetRun", "run_fleet", "open_db", "SCHEMA", "exit_status"]

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS hosts (
        path TEXT PRIMARY KEY, host TEXT, kind TEXT, status TEXT, error TEXT,
        size BIGINT, mtime_ns BIGINT, sha256 TEXT, checked_at TIMESTAMP,
        arch TEXT, release TEXT, family TEXT, ram BIGINT, ram_bucket TEXT,
        generations TEXT, kexec_tools TEXT, view TEXT, outcome TEXT, worst TEXT, exit INTEGER,
        regions JSON, record JSON)""",
    """CREATE TABLE IF NOT EXISTS findings (
        path TEXT, host TEXT, code TEXT, severity TEXT, title TEXT, fix TEXT, evidence JSON)""",
)

_BATCH = 256  # records per database transaction
T = TypeVar("T")
_EXAMPLES = 3


@dataclass
class Cause:
    code: str
    severity: str
    hosts: int = 0
    examples: list[str] = field(default_factory=list)
    fix: str | None = None
    title: str = ""


@dataclass
class FleetRun:
    """What one run saw (counts and causes only: bounded whatever the fleet size)."""

    hosts: int = 0
    checked: int = 0
    reused: int = 0  # skipped or unchanged: the stored record was reported
    broken: int = 0
    worst_exit: int = 0
    causes: dict[str, Cause] = field(default_factory=dict)
    seconds: float = 0.0
    backend: str = ""

    def add(self, rec: dict[str, object]) -> None:
        self.hosts += 1
        if rec.get("status") == "error":
            self.broken += 1
        code = rec.get("exit")
        if isinstance(code, int):
            self.worst_exit = max(self.worst_exit, code if code != 2 else 1)  # a broken host: look at it
        seen: set[str] = set()
        for f in rec.get("findings") or []:  # type: ignore[union-attr]
            c = str(f.get("code"))
            if c in seen:
                continue
            seen.add(c)
            cause = self.causes.setdefault(c, Cause(c, str(f.get("severity")), title=str(f.get("title") or "")))
            cause.hosts += 1
            if len(cause.examples) < _EXAMPLES:
                cause.examples.append(str(rec.get("host")))
            cause.fix = cause.fix or (f.get("fix") or None)


def exit_status(run: FleetRun) -> int:
    """0 every host clean; 1 warnings or broken inputs; 3 kdump will not work on some host (2: bad input)."""
    return run.worst_exit


def open_db(path: str):  # noqa: ANN201
    try:
        import duckdb
    except ImportError:
        raise KdumplabError("--db", "duckdb is not installed", "pip install duckdb") from None
    try:
        con = duckdb.connect(path)
    except (duckdb.IOException, duckdb.Error) as err:
        raise KdumplabError(path, f"cannot open the database: {err}") from None
    for stmt in SCHEMA:
        con.execute(stmt)
    return con


def _row(rec: dict[str, object]) -> tuple[object, ...]:
    regions = rec.get("regions")
    return (rec["path"], rec.get("host"), rec.get("kind"), rec.get("status"), rec.get("error"), rec.get("size"),
            rec.get("mtime_ns"), rec.get("sha256"), rec.get("arch"), rec.get("release"), rec.get("family"),
            rec.get("ram"), fl.ram_bucket(rec.get("ram")), ",".join(rec.get("generations") or []),  # type: ignore[arg-type]
            ",".join(rec.get("kexec_tools") or []), rec.get("view"), rec.get("outcome"),  # type: ignore[arg-type]
            rec.get("worst"), rec.get("exit"), json.dumps(regions) if regions is not None else None,
            json.dumps(rec, default=str))


class _Writer:
    """The one writer: batches of upserts, each batch one transaction."""

    def __init__(self, con) -> None:  # noqa: ANN001
        self.con = con
        self.pending: list[dict[str, object]] = []

    def add(self, rec: dict[str, object]) -> None:
        self.pending.append(rec)
        if len(self.pending) >= _BATCH:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        recs, self.pending = self.pending, []
        con = self.con
        con.execute("BEGIN TRANSACTION")
        try:
            paths = [r["path"] for r in recs]
            for table in ("findings", "hosts"):
                con.execute(f"DELETE FROM {table} WHERE path IN (SELECT unnest(?))", [paths])
            _insert(con, "hosts", _HOST_COLUMNS, [_row(r) for r in recs])
            rows = [(r["path"], r.get("host"), f.get("code"), f.get("severity"), f.get("title"), f.get("fix"),
                     json.dumps(f.get("evidence") or []))
                    for r in recs for f in (r.get("findings") or [])]  # type: ignore[union-attr]
            _insert(con, "findings", _FINDING_COLUMNS, rows)
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise


#: how each table's values are selected from the unnested parameter lists (one list per column)
_HOST_COLUMNS = ("?", "?", "?", "?", "?", "?", "?", "?", "now()", "?", "?", "?", "?", "?", "?", "?", "?", "?", "?",
                 "?", "?::JSON", "?::JSON")
_FINDING_COLUMNS = ("?", "?", "?", "?", "?", "?", "?::JSON")


def _insert(con, table: str, columns: tuple[str, ...], rows: list[tuple[object, ...]]) -> None:  # noqa: ANN001
    """Insert rows column-wise (one list per column, unnested together): DuckDB's executemany costs about a
    millisecond per row, this a few microseconds."""
    if not rows:
        return
    cols = iter(list(c) for c in zip(*rows, strict=True))
    select, params = [], []
    for col in columns:
        if "?" in col:
            select.append(col.replace("?", "unnest(?)"))
            params.append(next(cols))
        else:
            select.append(col)
    con.execute(f"INSERT INTO {table} SELECT {', '.join(select)}", params)


def _batched(items: Iterator[T], size: int) -> Iterator[tuple[T, ...]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield tuple(batch)
            batch = []
    if batch:
        yield tuple(batch)


def run_fleet(paths: tuple[str, ...], db_path: str, backend: Backend, emit: Callable[[dict[str, object]], None],
              progress: Progress | None = None, recheck: bool = False, batch: int = 8) -> FleetRun:
    """Check every host of ``paths``; ``emit`` gets each host's record (fresh or stored) as it is known.
    Hosts go to the workers ``batch`` at a time."""
    total = sum(1 for _ in fl.discover(paths))  # a cheap walk first: bad paths fail before any work, ETA
    if total == 0:
        raise KdumplabError(" ".join(paths), "no hosts found")
    con = open_db(db_path)
    writer = _Writer(con)
    run = FleetRun(backend=backend.name)
    if progress is not None:
        progress.total = total
    started = time.monotonic()

    def report(rec: dict[str, object]) -> None:
        run.add(rec)
        emit(rec)
        if progress is not None:
            progress.add()

    def stored(path: str) -> tuple[int, int, str | None, str] | None:
        row = con.execute("SELECT size, mtime_ns, sha256, record FROM hosts WHERE path = ?", [path]).fetchone()
        return None if row is None else row

    def tasks() -> Iterator[tuple[str, str, str | None]]:
        for host in fl.discover(paths):
            old = None if recheck else stored(host.path)
            if old is not None and (old[0], old[1]) == fl.fingerprint(host):
                run.reused += 1
                report(dict(json.loads(old[3]), cached=True))
                continue
            yield host.path, host.kind, None if old is None else old[2]

    try:
        with backend:
            for _batch, recs in backend.map(fl.check_hosts, _batched(tasks(), batch), failed=fl.died_batch):
                for rec in recs:
                    if rec.get("status") == "unchanged":  # same bytes, new mtime: keep the stored analysis
                        old = stored(str(rec["path"]))
                        if old is not None:
                            run.reused += 1
                            rec = dict(json.loads(old[3]), size=rec["size"], mtime_ns=rec["mtime_ns"], cached=True)
                            writer.add(rec)
                            report(rec)
                            continue
                    run.checked += 1
                    writer.add(rec)
                    report(rec)
        writer.flush()
    finally:
        writer.flush()
        con.close()
        if progress is not None:
            progress.close()
    run.seconds = time.monotonic() - started
    return run


def export_parquet(db_path: str, directory: str) -> list[str]:
    """hosts.parquet and findings.parquet in ``directory`` (DuckDB writes them; any Parquet reader reads them)."""
    import os

    os.makedirs(directory, exist_ok=True)
    con = open_db(db_path)
    out = []
    try:
        for table in ("hosts", "findings"):
            target = os.path.join(directory, f"{table}.parquet")
            con.execute(f"COPY {table} TO '{_quote(target)}' (FORMAT PARQUET)")
            out.append(target)
    finally:
        con.close()
    return out


def _quote(path: str) -> str:
    return path.replace("'", "''")
