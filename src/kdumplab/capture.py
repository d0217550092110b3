"""One frozen ``Capture`` of the texts kdump depends on, read from a live system, a directory or a sosreport.

All three sources fill the same fields, so the analysis (``kdumplab.findings``) never touches files. A file
that is missing is ``None``; only input we cannot read at all (a corrupt archive) is an error.

sosreport layout (sos 4.x, ``sos report``): the archive holds one top directory ``sosreport-<host>-<date>/``
with copied files under their real paths (``proc/iomem``, ``proc/cmdline``, ``proc/meminfo``, ``proc/version``,
``sys/kernel/kexec_crash_size`` ...) and command output under ``sos_commands/<plugin>/<command with spaces
as underscores>`` (``sos_commands/kernel/dmesg``, ``sos_commands/kernel/uname_-a``,
``sos_commands/kdump/...``). See sosreport/sos ``sos/report/plugins/kernel.py`` and ``kdump.py``.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kdumplab.errors import KdumplabError
from kdumplab.inputfile import DEFAULT_LIMIT, LOG_LIMIT, MAX_DIGITS, inside, read_text
from kdumplab.sosreport import read_members

__all__ = ["Capture", "FIELDS", "from_texts", "from_root", "from_live", "from_sosreport"]

#: field -> candidate relative paths, first found wins (live paths first, then sosreport command output)
FIELDS: dict[str, tuple[str, ...]] = {
    "iomem": ("proc/iomem",),
    "cmdline": ("proc/cmdline",),
    "kexec_crash_size": ("sys/kernel/kexec_crash_size",),
    "kexec_crash_loaded": ("sys/kernel/kexec_crash_loaded",),
    "kernel_log": ("sos_commands/kernel/dmesg", "sos_commands/logs/journalctl_--no-pager_--catalog_--boot",
                   "var/log/dmesg", "dmesg"),
    "memblock_memory": ("sys/kernel/debug/memblock/memory",),
    "memblock_reserved": ("sys/kernel/debug/memblock/reserved",),
    "kexec_version": ("sos_commands/kdump/kexec_--version", "kexec_--version", "kexec_version"),
    "version": ("proc/version",),
    "uname": ("sos_commands/kernel/uname_-a", "uname_-a", "uname"),
    "meminfo": ("proc/meminfo",),
}


@dataclass(frozen=True, slots=True)
class Capture:
    """The texts, verbatim. ``source`` names where they came from; ``paths`` maps field -> file read."""

    source: str
    iomem: str | None = None
    cmdline: str | None = None
    kexec_crash_size: str | None = None
    kexec_crash_loaded: str | None = None
    kernel_log: str | None = None
    memblock_memory: str | None = None
    memblock_reserved: str | None = None
    kexec_version: str | None = None
    version: str | None = None
    uname: str | None = None
    meminfo: str | None = None
    paths: tuple[tuple[str, str], ...] = ()

    def where(self, field: str) -> str:
        """The file a field was read from (for evidence ``file:line``)."""
        return dict(self.paths).get(field, field)

    @property
    def release(self) -> str | None:
        """``uname -r``: from ``uname -a`` (third word) or /proc/version ("Linux version <release> ...")."""
        if self.uname and len(self.uname.split()) >= 3:
            return self.uname.split()[2]
        if self.version:
            m = re.search(r"Linux version (\S+)", self.version)
            if m:
                return m.group(1)
        return None

    @property
    def arch(self) -> str | None:
        """The machine word of ``uname -a`` (next to last: "... aarch64 GNU/Linux"), or the release suffix."""
        words = (self.uname or "").split()
        for w in reversed(words):
            if w in ("aarch64", "arm64"):
                return "arm64"
            if w in ("x86_64", "amd64"):
                return "x86_64"
        rel = self.release or ""
        if rel.endswith(("arm64", "aarch64")) or "aarch64" in rel:
            return "arm64"
        if rel.endswith(("amd64", "x86_64")) or "x86_64" in rel:
            return "x86_64"
        return None

    @property
    def memtotal(self) -> int | None:
        """MemTotal in bytes; a value no machine can have (past 2^64 bytes) is an error naming the line."""
        m = re.search(r"^MemTotal:[ \t]*([0-9]+)[ \t]*kB", self.meminfo or "", re.M)
        if not m:
            return None
        digits = m.group(1)
        value = int(digits) * 1024 if len(digits) <= MAX_DIGITS else 1 << 64
        if value >= 1 << 64:
            line = (self.meminfo or "").count("\n", 0, m.start()) + 1
            raise KdumplabError(f"{self.where('meminfo')}:{line}", f"MemTotal {digits[:24]}"
                                f"{'...' if len(digits) > 24 else ''} kB is past 2^64 bytes")
        return value


def from_texts(source: str, texts: dict[str, str], paths: dict[str, str] | None = None) -> Capture:
    """A Capture from field -> text (tests build captures this way)."""
    unknown = set(texts) - set(FIELDS)
    if unknown:
        raise KdumplabError(source, f"unknown capture fields {', '.join(sorted(unknown))}")
    return Capture(source=source, paths=tuple(sorted((paths or {}).items())), **texts)


def _collect(source: str, label: str, read: Callable[[str, str], str | None]) -> Capture:
    texts: dict[str, str] = {}
    paths: dict[str, str] = {}
    for field, candidates in FIELDS.items():
        for rel in candidates:
            text = read(field, rel)
            if text is not None:
                texts[field] = text
                paths[field] = f"{label}/{rel}" if label else f"/{rel}"
                break
    return from_texts(source, texts, paths)


def limit(field: str) -> int:
    """The most bytes a capture may hold for ``field`` (the kernel log may be long, the others are small)."""
    return LOG_LIMIT if field == "kernel_log" else DEFAULT_LIMIT


def _reader(base: Path, label: str) -> Callable[[str, str], str | None]:
    """Read ``base/rel``: None when it is not there (missing, a directory, unreadable without root); a
    symlink out of ``base``, a FIFO or device, or a file over its limit is a one-line error."""

    def read(field: str, rel: str) -> str | None:
        path = base / rel
        if not os.path.lexists(path):
            return None
        target = inside(base, rel)
        if not target.exists() or target.is_dir() or not os.access(target, os.R_OK):
            return None
        return read_text(target, limit(field), f"{label}/{rel}" if label else f"/{rel}")

    return read


def from_root(root: str | os.PathLike[str]) -> Capture:
    """Files under ``root`` at their live paths (``root/proc/iomem`` ...). A sosreport unpacked works too.

    Symlinks between the capture's own files are followed; one that leads out of ``root`` is refused.
    """
    base = Path(root)
    if not base.is_dir():
        raise KdumplabError(str(root), "not a directory", "--root wants a directory of captured files")
    return _collect(str(root), str(base), _reader(base, str(base)))


def _run(argv: list[str]) -> str | None:
    """Run a read-only command with a pinned locale and empty stdin; None when it is missing or fails."""
    env = {"LC_ALL": "C", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    try:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env,
                              timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def from_live() -> Capture:
    """This system, read-only: /proc, /sys, debugfs if mounted, ``dmesg``, ``kexec --version``, ``uname -a``."""
    live = {"dmesg": lambda: _run(["dmesg"]), "kexec_--version": lambda: _run(["kexec", "--version"]),
            "uname_-a": lambda: _run(["uname", "-a"])}

    files = _reader(Path("/"), "")

    def read(field: str, rel: str) -> str | None:
        if rel in live:
            return live[rel]()
        if rel.startswith(("sos_commands/", "var/")) or "/" not in rel:
            return None
        return files(field, rel)

    cap = _collect(f"live system ({platform.node()})", "", read)
    return cap


def from_sosreport(path: str | os.PathLike[str], whole: bool = False) -> Capture:
    """A sosreport tarball (``.tar.xz``, ``.tar.gz``, ``.tar.bz2`` or plain), whatever its top directory.

    Read as a bounded stream in memory (``kdumplab.sosreport``); a truncated, corrupt or hostile archive is
    one error line. Reading stops once the archive, in the order sos writes it, has settled every field
    (``whole``: read to the end anyway; docs/fleet.md says what each way checks).
    """
    name = str(path)
    field_of = {rel: field for field, cands in FIELDS.items() for rel in cands}
    members = read_members(name, lambda rel: limit(field_of[rel]) if rel in field_of else None,
                           None if whole else tuple(FIELDS.values()))
    if "proc/iomem" not in members and "proc/cmdline" not in members:
        raise KdumplabError(name, "no proc/iomem or proc/cmdline inside: not a sosreport?")
    return _collect(name, name, lambda field, rel: members[rel].decode("utf-8", "replace") if rel in members
                    else None)
