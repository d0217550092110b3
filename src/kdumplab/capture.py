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

import lzma
import os
import platform
import re
import subprocess
import tarfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kdumplab.errors import KdumplabError

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
        """MemTotal in bytes."""
        m = re.search(r"^MemTotal:\s+(\d+)\s*kB", self.meminfo or "", re.M)
        return int(m.group(1)) * 1024 if m else None


def from_texts(source: str, texts: dict[str, str], paths: dict[str, str] | None = None) -> Capture:
    """A Capture from field -> text (tests build captures this way)."""
    unknown = set(texts) - set(FIELDS)
    if unknown:
        raise KdumplabError(source, f"unknown capture fields {sorted(unknown)}")
    return Capture(source=source, paths=tuple(sorted((paths or {}).items())), **texts)


def _collect(source: str, label: str, read: Callable[[str], str | None]) -> Capture:
    texts: dict[str, str] = {}
    paths: dict[str, str] = {}
    for field, candidates in FIELDS.items():
        for rel in candidates:
            text = read(rel)
            if text is not None:
                texts[field] = text
                paths[field] = f"{label}/{rel}" if label else f"/{rel}"
                break
    return from_texts(source, texts, paths)


def _read_file(path: Path) -> str | None:
    try:
        return path.read_bytes().decode("utf-8", "replace")
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError):
        return None
    except OSError:
        return None


def from_root(root: str | os.PathLike[str]) -> Capture:
    """Files under ``root`` at their live paths (``root/proc/iomem`` ...). A sosreport unpacked works too."""
    base = Path(root)
    if not base.is_dir():
        raise KdumplabError(str(root), "not a directory", "--root wants a directory of captured files")
    return _collect(str(root), str(base), lambda rel: _read_file(base / rel))


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

    def read(rel: str) -> str | None:
        if rel in live:
            return live[rel]()
        if rel.startswith(("sos_commands/", "var/")) or "/" not in rel:
            return None
        return _read_file(Path("/") / rel)

    cap = _collect(f"live system ({platform.node()})", "", read)
    return cap


_ARCHIVE_ERRORS = (tarfile.TarError, EOFError, lzma.LZMAError, zlib.error, OSError)


def from_sosreport(path: str | os.PathLike[str]) -> Capture:
    """A sosreport tarball (``.tar.xz``, ``.tar.gz``, ``.tar.bz2`` or plain), whatever its top directory.

    The whole archive is read so a truncated one is refused rather than half used.
    """
    name = str(path)
    members: dict[str, bytes] = {}
    wanted = {rel for cands in FIELDS.values() for rel in cands}
    try:
        with tarfile.open(name, "r:*") as tar:
            for info in tar:
                parts = info.name.lstrip("./").split("/", 1)
                rel = parts[1] if len(parts) == 2 else parts[0]
                if info.isfile() and rel in wanted:
                    f = tar.extractfile(info)
                    if f is not None:
                        members[rel] = f.read()
    except FileNotFoundError:
        raise KdumplabError(name, "no such file") from None
    except _ARCHIVE_ERRORS as err:
        raise KdumplabError(name, f"truncated or corrupt sosreport archive ({type(err).__name__}: {err})",
                            "re-copy the archive; `xz -t`/`gzip -t` tells whether it is whole") from None
    if "proc/iomem" not in members and "proc/cmdline" not in members:
        raise KdumplabError(name, "no proc/iomem or proc/cmdline inside: not a sosreport?")
    return _collect(name, name, lambda rel: members[rel].decode("utf-8", "replace") if rel in members else None)
