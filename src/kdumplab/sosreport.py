"""A sosreport tarball read as a stream, in memory, with bounds: nothing is extracted to disk.

sos 4.x writes one top directory ``sosreport-<host>-<date>/`` holding copied files under their real paths
and command output under ``sos_commands/``; symlinks in it are relative and stay inside it (sos rewrites
absolute link targets to point at the copy). An archive that does not look like that is refused rather than
half read: members outside one top directory, absolute names or ``..``, device/FIFO members, links out of
the top directory, a file check reads (or a link) named twice (tar appends: which copy is "the" file?; other
names may come twice: sos 4.9+ writes version.txt, sos_reports/ and sos_logs/ twice), and anything a tiny
file could use to ask for huge memory or time:

* compression is recognised by its magic bytes (xz, gzip, bzip2, or none) and decompressed as a stream;
* a member we keep may declare at most its field's limit (a sparse member can declare 64 GiB in 200 bytes);
* the decompressed stream may be at most ``TOTAL_LIMIT`` bytes, and past ``BOMB_FLOOR`` bytes it may not
  be more than ``BOMB_RATIO`` times the compressed bytes read so far (a real sosreport compresses ~10:1;
  an xz bomb of zeros 7000:1), so a bomb stops within a second.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import posixpath
import stat
import tarfile
import zlib
from collections.abc import Callable

from kdumplab.errors import KdumplabError

__all__ = ["read_members", "TOTAL_LIMIT", "BOMB_RATIO", "BOMB_FLOOR", "MAX_MEMBERS"]

TOTAL_LIMIT = 16 << 30
BOMB_RATIO = 200
BOMB_FLOOR = 64 << 20
MAX_MEMBERS = 1_000_000
_HINT = "re-copy the archive; `xz -t`/`gzip -t` tells whether it is whole"


class _Bounded(io.RawIOBase):
    """The decompressed stream, counting bytes and stopping a decompression bomb early."""

    def __init__(self, name: str, raw: io.BufferedReader, inner: io.IOBase) -> None:
        self.name, self.raw, self.inner, self.total = name, raw, inner, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:  # noqa: ANN001
        n = self.inner.readinto(buf)  # type: ignore[attr-defined]
        self.total += n or 0
        if self.total > TOTAL_LIMIT:
            raise KdumplabError(self.name, f"decompresses to more than {TOTAL_LIMIT >> 30} GiB; refusing it")
        if self.total > BOMB_FLOOR and self.total > BOMB_RATIO * max(1, self.raw.tell()):
            raise KdumplabError(self.name, f"decompresses more than {BOMB_RATIO}:1 (a decompression bomb?); "
                                "refusing it")
        return n or 0


def _open(name: str, raw: io.BufferedReader) -> io.IOBase:
    magic = raw.peek(6)[:6]
    if magic.startswith(b"\xfd7zXZ\x00"):
        return lzma.LZMAFile(raw)
    if magic.startswith(b"\x1f\x8b"):
        return gzip.GzipFile(fileobj=raw)
    if magic.startswith(b"BZh"):
        return bz2.BZ2File(raw)
    if magic.startswith(b"\x28\xb5\x2f\xfd"):
        raise KdumplabError(name, "a zstd archive, which this Python cannot read", "unpack it and use --root")
    return raw


def _checked_name(name: str, member: str) -> tuple[str, str]:
    """(top directory, path below it) of a member; absolute names and ``..`` are refused."""
    if member.startswith("/"):
        raise KdumplabError(name, f"member {member[:80]!r} has an absolute name; refusing the archive")
    parts = [p for p in member.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise KdumplabError(name, f"member {member[:80]!r} climbs out with '..'; refusing the archive")
    if not parts:
        return "", ""
    return parts[0], "/".join(parts[1:])


class _SosOrder:
    """Is the stream still in the order sos writes, and is every wanted choice settled by it?

    sos builds its archive with Python's ``tarfile.add`` of the report directory, which writes the top directory
    and then each directory before its entries, the entries sorted by name, depth first: member paths then
    increase strictly when compared component by component, and every member's directory came before it.
    (sos 4.9+ first adds version.txt, sos_reports/ and sos_logs/ on their own, before that walk: members
    before the top directory's own member are read but prove nothing.) While that holds, a wanted path that
    sorts below the current member and has not been met is absent, and a member already met cannot come again
    without breaking the order. (A tarball made another way, e.g. GNU tar in directory order or one without
    directory members, breaks it within a few members and is read whole.) ``groups`` are the candidates of
    each wanted file, best first; a group is settled when its best present candidate was read as a regular
    file after every better one was passed as absent, or when all are absent. A group whose
    choice falls on a link is never settled early (the link's target may come later).
    """

    def __init__(self, groups: tuple[tuple[str, ...], ...]) -> None:
        self.pending = [[tuple(c.split("/")) for c in g] for g in groups if g]
        self.links: set[tuple[str, ...]] = set()
        self.dirs: set[tuple[str, ...]] = set()
        self.last: tuple[str, ...] | None = None  # None: the walk has not begun
        self.ordered = True

    def settled(self, rel: str, kind: str) -> bool:
        """Account for the member ``rel`` (``kind``: "file" for a regular file read whole, "link", "dir" or
        "other");
        True once nothing later in a sos-ordered stream can change what is kept."""
        key = tuple(p for p in rel.split("/") if p)
        if self.last is None and key != ():
            return False  # before the walk (sos 4.9+'s files added first, or no top directory member at all)
        if (self.last is not None and key <= self.last) or (key and key[:-1] not in self.dirs):
            self.ordered = False  # not as sos writes it (or a name twice): read everything
        self.last = key
        if kind == "link":
            self.links.add(key)
        elif kind == "dir":
            self.dirs.add(key)
        if not self.ordered:
            return False
        still = []
        for group in self.pending:
            while group and group[0] < key and group[0] not in self.links:  # passed, never met: absent
                group.pop(0)
            if group and (group[0] in self.links or (group[0] == key and kind == "link")):
                self.ordered = False  # the choice is a link: read everything
                return False
            if group and group[0] == key and kind == "file":
                continue  # the best present candidate, read: settled
            if group:
                still.append(group)
        self.pending = still
        return not still


def read_members(path: str | os.PathLike[str], limit: Callable[[str], int | None],
                 wanted: tuple[tuple[str, ...], ...] | None = None) -> dict[str, bytes]:
    """Every member below the one top directory for which ``limit(rel)`` gives a byte limit, by ``rel``.

    Symlinks and hard links among the kept paths are followed inside the archive. Without ``wanted`` the
    whole stream is read, so a truncated archive is refused rather than half used. With ``wanted`` (groups
    of candidate paths, best first; every path in them must have a limit) reading stops as soon as the
    members so far are in sos's own order and settle every group (:class:`_SosOrder`): what comes after can
    then only be members sos did not write (appended with ``tar -r``, a second copy of a file, a damaged or
    cut tail), which are not read. docs/fleet.md gives the reasoning and the speed.
    """
    name = str(path)
    kept: dict[str, bytes] = {}
    links: dict[str, str] = {}
    seen: set[str] = set()
    top: str | None = None
    order = _SosOrder(wanted) if wanted else None
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise KdumplabError(name, "no such file") from None
    except OSError as err:
        raise KdumplabError(name, f"cannot read: {err.strerror or err}") from None
    with open(fd, "rb") as raw:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise KdumplabError(name, "is not a regular file", "give the sosreport tarball")
        os.set_blocking(fd, True)
        stream = io.BufferedReader(_Bounded(name, raw, _open(name, raw)), 1 << 16)
        try:
            with tarfile.open(fileobj=stream, mode="r|") as tar:
                for n, info in enumerate(tar):
                    if n >= MAX_MEMBERS:
                        raise KdumplabError(name, f"more than {MAX_MEMBERS} members; not a sosreport")
                    first, rel = _checked_name(name, info.name)
                    if top is None:
                        top = first
                    elif first != top:
                        raise KdumplabError(name, f"two top directories ({top!r} and {first[:60]!r}): not one "
                                            "sosreport", "give each sosreport on its own")
                    if info.ischr() or info.isblk() or info.isfifo():
                        raise KdumplabError(name, f"member {info.name[:80]!r} is a device or FIFO; refusing "
                                            "the archive")
                    # A name twice matters only where check reads it (a file it keeps, or a link that may lead
                    # to one): which copy counts would be unclear. sos 4.9+ writes version.txt, sos_reports/
                    # and sos_logs/ twice (first for quick reading, then in its walk), which changes nothing.
                    if not info.isdir() and (limit(rel) is not None or info.issym() or info.islnk()):
                        if rel in seen:
                            raise KdumplabError(name, f"member {info.name[:80]!r} appears twice; which copy "
                                                "counts is unclear", "repack the archive")
                        seen.add(rel)
                    if info.issym() or info.islnk():
                        target = info.linkname
                        if info.issym() and not target.startswith("/"):
                            target = posixpath.join(posixpath.dirname(rel), target)
                        elif info.islnk():
                            target = _checked_name(name, target)[1]
                        norm = posixpath.normpath(target)
                        if target.startswith("/") or norm == ".." or norm.startswith("../"):
                            raise KdumplabError(name, f"member {info.name[:80]!r} links outside the archive "
                                                f"(to {info.linkname[:80]!r}); refusing it")
                        links[rel] = norm
                        if order is not None and order.settled(rel, "link"):
                            break
                        continue
                    cap = limit(rel)
                    if cap is None or not info.isfile():
                        if order is not None and order.settled(rel, "dir" if info.isdir() else "other"):
                            break
                        continue
                    if info.size > cap:
                        raise KdumplabError(name, f"member {info.name[:80]!r} declares {info.size} bytes; more "
                                            f"than the {cap >> 20} MiB this file may have")
                    f = tar.extractfile(info)
                    data = f.read(cap + 1) if f is not None else b""
                    if len(data) > cap:
                        raise KdumplabError(name, f"member {info.name[:80]!r} is larger than {cap >> 20} MiB")
                    kept[rel] = data
                    if order is not None and order.settled(rel, "file"):
                        break
        except KdumplabError:
            raise
        except (tarfile.TarError, EOFError, lzma.LZMAError, zlib.error, OSError, ValueError) as err:
            detail = " ".join(str(err).split())[:120]
            raise KdumplabError(name, f"truncated or corrupt sosreport archive ({type(err).__name__}: {detail})",
                                _HINT) from None
    for rel, target in links.items():
        for _ in range(8):  # a link to a link, but no loops
            if target in kept or target not in links:
                break
            target = links[target]
        if limit(rel) is not None and target in kept:
            kept.setdefault(rel, kept[target])
    return kept

