"""Our own initramfs, built in pure Python: cpio ``newc`` (the format the kernel's initramfs unpacker
reads, init/initramfs.c), gzip-compressed.

The archive is deterministic: entries sorted by path, uid/gid 0, mtime 0, inode numbers assigned in order,
gzip header mtime 0. The same inputs always give the same bytes; the sha256 goes into every recording.

The builder is generic: ``Initramfs`` is a frozen set of entries (files, directories, symlinks) and
``with_file`` / ``with_dir`` / ``with_symlink`` / ``with_tree`` return a new one with more entries, so a
later stage (full kdump cycles: kexec-tools, its libraries, a crash-kernel Image) adds what it needs on top of
``base_initramfs(busybox)`` without touching this module.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import stat
from dataclasses import dataclass, field
from pathlib import Path

from kdumplab.errors import KdumplabError

__all__ = ["Entry", "Initramfs", "Built", "INIT_HEADER", "INIT_REPORT", "INIT_SCRIPT", "MARKERS", "base_initramfs",
           "read_newc", "init_script", "ptdump_report"]

# The markers /init prints around each section; lab/observe.py and the ground-truth extractor look for them.
MARKERS = ("CMDLINE", "IOMEM", "DMESG", "KEXEC_CRASH_SIZE", "KEXEC_CRASH_LOADED", "MEMTOTAL",
           "MEMBLOCK_MEMORY", "MEMBLOCK_RESERVED")

#: What every /init of ours starts with: busybox's shell, /proc and /sys.
INIT_HEADER = """#!/bin/busybox sh
B=/bin/busybox
$B mount -t proc proc /proc
$B mount -t sysfs sys /sys
"""

#: The first kernel's report, shared by plain boots and full cycles (lab/cycle.py): lab/observe.py reads it.
INIT_REPORT = """echo "=== KDUMPLAB BEGIN"
echo "=== CMDLINE"
$B cat /proc/cmdline
echo "=== IOMEM"
$B cat /proc/iomem
echo "=== DMESG"
$B dmesg
echo "=== KEXEC_CRASH_SIZE"
$B cat /sys/kernel/kexec_crash_size
echo "=== KEXEC_CRASH_LOADED"
$B cat /sys/kernel/kexec_crash_loaded
echo "=== MEMTOTAL"
$B grep MemTotal /proc/meminfo
"""



def ptdump_report(marker: str = "PTDUMP") -> str:
    """An optional part of the report: /sys/kernel/debug/kernel_page_tables up to its "Linear Mapping end"
    marker (5.10 prints no start marker: the first lines are the user half and the linear map)
    (CONFIG_PTDUMP_DEBUGFS; the lab-built kernels have it, Debian's do not), after ``=== <marker>``."""
    return f"""$B mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
if [ -r /sys/kernel/debug/kernel_page_tables ]; then
echo "=== {marker}"
$B sed -n '1,/Linear Mapping end/p' /sys/kernel/debug/kernel_page_tables
fi
"""


INIT_SCRIPT = INIT_HEADER + """$B mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
""" + INIT_REPORT + """if [ -r /sys/kernel/debug/memblock/memory ]; then
echo "=== MEMBLOCK_MEMORY"
$B cat /sys/kernel/debug/memblock/memory
echo "=== MEMBLOCK_RESERVED"
$B cat /sys/kernel/debug/memblock/reserved
fi
echo "=== KDUMPLAB END"
$B poweroff -f
"""


def init_script(ptdump: bool = False) -> str:
    """The plain boot's /init; with ``ptdump`` the report also holds the linear map (``=== PTDUMP``)."""
    if not ptdump:
        return INIT_SCRIPT
    return INIT_SCRIPT.replace('echo "=== KDUMPLAB END"', ptdump_report() + 'echo "=== KDUMPLAB END"', 1)


@dataclass(frozen=True, slots=True)
class Entry:
    """One archive member. ``path`` has no leading slash; ``data`` is the file body or the link target."""

    path: str
    mode: int
    data: bytes = b""
    rdev: tuple[int, int] = (0, 0)

    def __post_init__(self) -> None:
        if not self.path or self.path.startswith("/") or ".." in self.path.split("/"):
            raise KdumplabError("initramfs", f"bad member path {self.path!r}", "relative, without '..'")


@dataclass(frozen=True, slots=True)
class Built:
    """The finished archive: gzip bytes, their sha256 and size."""

    data: bytes
    sha256: str

    @property
    def size(self) -> int:
        return len(self.data)


def _parents(path: str) -> tuple[str, ...]:
    parts = path.split("/")[:-1]
    return tuple("/".join(parts[: i + 1]) for i in range(len(parts)))


@dataclass(frozen=True, slots=True)
class Initramfs:
    """A set of entries keyed by path; later additions replace earlier ones of the same path."""

    entries: tuple[Entry, ...] = field(default=())

    def _with(self, entry: Entry) -> Initramfs:
        kept = {e.path: e for e in self.entries}
        for parent in _parents(entry.path):
            kept.setdefault(parent, Entry(parent, stat.S_IFDIR | 0o755))
        kept[entry.path] = entry
        return Initramfs(tuple(sorted(kept.values(), key=lambda e: e.path)))

    def with_dir(self, path: str, mode: int = 0o755) -> Initramfs:
        return self._with(Entry(path.strip("/"), stat.S_IFDIR | mode))

    def with_file(self, path: str, data: bytes, mode: int = 0o644) -> Initramfs:
        return self._with(Entry(path.strip("/"), stat.S_IFREG | mode, data))

    def with_symlink(self, path: str, target: str) -> Initramfs:
        return self._with(Entry(path.strip("/"), stat.S_IFLNK | 0o777, target.encode()))

    def with_host_file(self, path: str, host: Path, mode: int | None = None) -> Initramfs:
        """Copy a host file in (symlinks followed); mode from the host file unless given."""
        if not host.is_file():
            raise KdumplabError(str(host), "missing file for the initramfs", "run `kdumplab lab setup`")
        return self.with_file(path, host.read_bytes(), stat.S_IMODE(host.stat().st_mode) if mode is None else mode)

    def with_tree(self, prefix: str, root: Path) -> Initramfs:
        """Add every file, directory and symlink under host directory ``root`` at ``prefix``."""
        out = self
        for p in sorted(root.rglob("*")):
            rel = f"{prefix.strip('/')}/{p.relative_to(root).as_posix()}".strip("/")
            if p.is_symlink():
                out = out.with_symlink(rel, str(p.readlink()))
            elif p.is_dir():
                out = out.with_dir(rel)
            elif p.is_file():
                out = out.with_host_file(rel, p)
        return out

    def cpio(self) -> bytes:
        """The uncompressed newc archive, ending with the TRAILER!!! member."""
        buf = io.BytesIO()
        for ino, e in enumerate(self.entries, start=1):
            nlink = 2 if stat.S_ISDIR(e.mode) else 1
            _member(buf, e.path, e.mode, e.data, ino, nlink, e.rdev)
        _member(buf, "TRAILER!!!", 0, b"", 0, 1, (0, 0))
        pad = (-buf.tell()) % 512
        buf.write(b"\0" * pad)
        return buf.getvalue()

    def build(self, compress: bool = True) -> Built:
        """gzip (level 9, header mtime 0, no file name) of ``cpio()``; the plain archive without ``compress``
        (the kernel takes both; a plain one spares the guest inflating a crash-kernel Image under TCG)."""
        if not compress:
            data = self.cpio()
            return Built(data, hashlib.sha256(data).hexdigest())
        raw = io.BytesIO()
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz:
            gz.write(self.cpio())
        data = raw.getvalue()
        return Built(data, hashlib.sha256(data).hexdigest())


def _member(buf: io.BytesIO, name: str, mode: int, data: bytes, ino: int, nlink: int,
            rdev: tuple[int, int]) -> None:
    nameb = name.encode() + b"\0"
    fields = (ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rdev[0], rdev[1], len(nameb), 0)
    buf.write(b"070701" + b"".join(b"%08X" % f for f in fields))
    buf.write(nameb)
    buf.write(b"\0" * ((-(110 + len(nameb))) % 4))
    buf.write(data)
    buf.write(b"\0" * ((-len(data)) % 4))


def read_newc(data: bytes) -> tuple[tuple[str, int, bytes], ...]:
    """Read back a (gzip or plain) newc archive as (path, mode, data) tuples; used by tests."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    out = []
    pos = 0
    while True:
        if data[pos:pos + 6] != b"070701":
            raise KdumplabError(f"cpio offset {pos}", "not a newc header")
        f = [int(data[pos + 6 + 8 * i: pos + 14 + 8 * i], 16) for i in range(13)]
        namesize, filesize, mode = f[11], f[6], f[1]
        name = data[pos + 110: pos + 110 + namesize - 1].decode()
        pos += 110 + namesize
        pos += (-pos) % 4
        body = data[pos:pos + filesize]
        pos += filesize
        pos += (-pos) % 4
        if name == "TRAILER!!!":
            return tuple(out)
        out.append((name, mode, body))


def base_initramfs(busybox: Path, init_script: str = INIT_SCRIPT) -> Initramfs:
    """busybox-static as /bin/busybox, /init, and the mount points /init uses."""
    fs = Initramfs()
    for d in ("dev", "proc", "sys", "tmp", "bin"):
        fs = fs.with_dir(d)
    fs = fs.with_host_file("bin/busybox", busybox, 0o755)
    fs = fs.with_symlink("bin/sh", "busybox")
    fs = fs.with_file("init", init_script.encode(), 0o755)
    # The kernel opens /dev/console before running /init; a static node avoids needing devtmpfs.
    fs = fs._with(Entry("dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1)))
    return fs
