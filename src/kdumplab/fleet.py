"""Many hosts at once: which inputs are hosts, what identifies a host's input, and check on one host.

A host is a captured root (a directory holding ``proc/`` or ``sos_commands/``, as ``check --root`` reads)
or a sosreport tarball (as ``check --sosreport`` reads). Any other directory is a directory of hosts: each
entry is one host (a broken entry is a host that fails, with its reason). A path that does not exist is
taken as a glob pattern.

``check_host`` runs in a worker process (or on a Dask worker) and returns a plain dict: the check JSON
document (``render.check.analysis_dict``, read defensively because check keeps growing fields) plus what
fleet adds: host name, kind, input fingerprint, RAM size, status and error. It never raises for a bad host.
"""

from __future__ import annotations

import glob
import hashlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

from kdumplab.errors import KdumplabError

__all__ = ["Host", "discover", "fingerprint", "check_host", "check_hosts", "died", "died_batch", "host_name", "ROOT",
           "SOSREPORT"]

ROOT, SOSREPORT = "root", "sosreport"
_ARCHIVE_SUFFIXES = (".tar.xz", ".tar.gz", ".tgz", ".tar.bz2", ".tar", ".txz")


@dataclass(frozen=True, slots=True)
class Host:
    path: str
    kind: str  # ROOT or SOSREPORT

    @property
    def name(self) -> str:
        return host_name(self.path)


def host_name(path: str) -> str:
    """``sosreport-web01-2026-11-25-abc.tar.xz`` -> ``sosreport-web01-2026-11-25-abc``; a directory's name."""
    base = os.path.basename(os.path.normpath(path))
    for suffix in _ARCHIVE_SUFFIXES:
        if base.endswith(suffix):
            return base[: -len(suffix)]
    return base


def _is_root(path: str) -> bool:
    return os.path.isdir(os.path.join(path, "proc")) or os.path.isdir(os.path.join(path, "sos_commands"))


def _entry(path: str) -> Host:
    return Host(path, ROOT if os.path.isdir(path) else SOSREPORT)


def discover(paths: tuple[str, ...] | list[str]) -> Iterator[Host]:
    """Hosts in the order given (a directory's entries sorted by name), each path once. Lazy: a directory
    of a million hosts is walked, not listed into memory at once."""
    seen: set[str] = set()
    for arg in paths:
        if os.path.lexists(arg):
            matches = [arg]
        else:
            matches = sorted(glob.glob(arg))
            if not matches:
                raise KdumplabError(arg, "no such file or directory, and no file matches it as a pattern")
        for path in matches:
            if os.path.isdir(path) and not _is_root(path):
                for name in _sorted_names(path):
                    if not name.startswith("."):
                        yield from _once(_entry(os.path.join(path, name)), seen)
            else:
                yield from _once(_entry(path), seen)


def _sorted_names(directory: str) -> list[str]:
    try:
        return sorted(os.listdir(directory))
    except OSError as err:
        raise KdumplabError(directory, f"cannot list: {err.strerror}") from None


def _once(host: Host, seen: set[str]) -> Iterator[Host]:
    key = os.path.realpath(host.path)
    if key not in seen:
        seen.add(key)
        yield host


def _root_files(path: str) -> list[str]:
    """The files of a captured root that check reads (the first of each field's candidates that exists)."""
    from kdumplab.capture import FIELDS

    out = []
    for candidates in FIELDS.values():
        for rel in candidates:
            if os.path.isfile(os.path.join(path, rel)):
                out.append(rel)
                break
    return out


def fingerprint(host: Host) -> tuple[int, int]:
    """(size, mtime_ns) of what check reads: the archive, or the sum / latest of a root's files. Cheap: a
    rerun skips a host whose fingerprint is unchanged without reading it."""
    try:
        if host.kind == SOSREPORT:
            st = os.stat(host.path)
            return st.st_size, st.st_mtime_ns
        size = mtime = 0
        for rel in _root_files(host.path):
            st = os.stat(os.path.join(host.path, rel))
            size, mtime = size + st.st_size, max(mtime, st.st_mtime_ns)
        return size, mtime
    except OSError:
        return -1, -1


def content_hash(host: Host) -> str:
    """sha256 of the archive's bytes, or of a root's files (name and bytes, in a fixed order)."""
    h = hashlib.sha256()
    if host.kind == SOSREPORT:
        with open(host.path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    else:
        for rel in _root_files(host.path):
            h.update(rel.encode() + b"\0")
            with open(os.path.join(host.path, rel), "rb") as fh:
                h.update(fh.read(64 << 20))
    return h.hexdigest()


def _analyse(host: Host) -> tuple[dict[str, object], int | None, int]:
    """check on one host through its entry point (tools.check.check_capture): (check JSON dict, MemTotal, exit)."""
    from kdumplab.render.check import analysis_dict
    from kdumplab.tools.check import check_capture

    checked = check_capture(sosreport=host.path) if host.kind == SOSREPORT else check_capture(root=host.path)
    return analysis_dict(checked.analysis), checked.memtotal, checked.exit


def _family(doc: dict[str, object]) -> str | None:
    fam = doc.get("family")
    if isinstance(fam, dict):
        fam = fam.get("name") or fam.get("family")
    return str(fam) if fam else None


def check_host(task: tuple[str, str, str | None]) -> dict[str, object]:
    """One host: ``(path, kind, sha256 known from an earlier run or None)`` -> its record (a plain dict).

    When the content hash equals the known one, the host is not checked again (``status`` "unchanged").
    Bad input (a corrupt, truncated or hostile archive; an unreadable root) is ``status`` "error" with the
    one-line reason; a bug in our code is "error" too, with its type, so one host never stops the run.
    """
    path, kind, known = task
    host = Host(path, kind)
    started = time.perf_counter()
    size, mtime = fingerprint(host)
    rec = _blank(path, kind)
    rec.update(size=size, mtime_ns=mtime, status="ok")
    try:
        rec["sha256"] = content_hash(host)
        if known is not None and rec["sha256"] == known:
            rec["status"] = "unchanged"
            return rec
        doc, ram, code = _analyse(host)
    except KdumplabError as err:
        rec.update(status="error", error=err.one_line(), exit=2)
    except OSError as err:
        rec.update(status="error", error=f"{path}: {err.strerror or err}", exit=2)
    except Exception as err:  # noqa: BLE001 - a bug on one host's input must not stop the fleet run
        rec.update(status="error", error=f"{path}: internal error {type(err).__name__}: {err}"[:500], exit=2)
    else:
        findings = [f for f in doc.get("findings", []) if isinstance(f, dict)]  # type: ignore[union-attr]
        worst = max((_SEVERITY.get(str(f.get("severity")), 0) for f in findings), default=-1)
        rec.update(arch=doc.get("arch"), release=doc.get("release"), family=_family(doc), ram=ram,
                   generations=list(doc.get("generations") or []), kexec_tools=list(doc.get("kexec_tools") or []),
                   view=doc.get("view"), outcome=doc.get("outcome"), regions=list(doc.get("regions") or []),
                   findings=findings, worst=_SEVERITY_NAME.get(worst), exit=code)
    rec["seconds"] = round(time.perf_counter() - started, 6)
    return rec


def check_hosts(batch: tuple[tuple[str, str, str | None], ...]) -> list[dict[str, object]]:
    """Several hosts in one task: fewer round trips to the workers (a Dask task costs about a millisecond of
    scheduling, a pool task a pickle each way)."""
    return [check_host(task) for task in batch]


def died_batch(batch: tuple[tuple[str, str, str | None], ...], err: BaseException) -> list[dict[str, object]]:
    return [died(task, err) for task in batch]


def _blank(path: str, kind: str) -> dict[str, object]:
    """Every field of a host's record (docs/fleet.md), so each JSON line has the same keys."""
    return {"host": host_name(path), "path": path, "kind": kind, "status": "error", "error": None, "sha256": None,
            "size": -1, "mtime_ns": -1, "arch": None, "release": None, "family": None, "ram": None,
            "generations": [], "kexec_tools": [], "view": None, "outcome": None, "regions": [], "findings": [],
            "worst": None, "exit": 2, "seconds": 0.0, "cached": False}


def died(task: tuple[str, str, str | None], err: BaseException) -> dict[str, object]:
    """The record of a host whose worker died (killed for memory, crashed) or failed outside check_host."""
    path, kind, _ = task
    rec = _blank(path, kind)
    rec["error"] = f"{path}: the worker checking it died ({type(err).__name__}: {err})"[:500]
    return rec


_SEVERITY = {"info": 0, "warning": 1, "error": 2}
_SEVERITY_NAME = {v: k for k, v in _SEVERITY.items()}


def ram_bucket(ram: object) -> str:
    """MemTotal rounded up to a power of two GiB, as people name machine sizes ("<=8G"); "unknown"."""
    if not isinstance(ram, int) or ram <= 0:
        return "unknown"
    gib = 1
    while gib << 30 < ram:
        gib *= 2
    return f"<={gib}G" if gib < 1024 else f"<={gib // 1024}T"

