"""Reading an input file the user names, with bounds: the one door for every file kdumplab reads.

A path given on the command line (or found in a capture) may be a FIFO that blocks forever, ``/dev/zero``
that never ends, a symlink out of a capture, or a 200 MB file where a few KiB are normal. Every reader here
opens without blocking, refuses anything but a regular file, and stops one byte past its cap, so memory and
time stay bounded whatever the path holds. /proc and /sys files are regular files (size 0 in ``stat``,
read to their end), so live reads go through the same door.

Errors are ``KdumplabError`` naming the file, so the CLI prints one line and exits 2.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from kdumplab.errors import KdumplabError

__all__ = ["DEFAULT_LIMIT", "LOG_LIMIT", "read_bytes", "read_text", "inside", "decimal", "MAX_DIGITS",
           "one_line"]

#: A capture file, a TOML file, a recording: real ones are KiB to a few MiB (a large server's
#: /proc/iomem is ~100 KiB).
DEFAULT_LIMIT = 16 << 20
#: A kernel log or journal export may be much longer than the other files.
LOG_LIMIT = 256 << 20
#: Decimal numbers kdumplab reads (MemTotal in kB, kexec-tools version parts, calibrate.conf values) fit in
#: 20 digits (2^64 - 1 has 20); more is garbage, and Python refuses int() of more than 4300 digits anyway.
MAX_DIGITS = 20


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory")):
        if test(mode):
            return name
    return "not a regular file"


def _size(n: int) -> str:
    return f"{n >> 20} MiB" if n >= 1 << 20 else f"{n} bytes"


def read_bytes(path: str | os.PathLike[str], limit: int = DEFAULT_LIMIT, where: str | None = None) -> bytes:
    """The bytes of a regular file, at most ``limit`` of them; anything else is a one-line error.

    Opened with ``O_NONBLOCK`` so a FIFO cannot block the open; its type is checked on the open descriptor
    (no race with a swapped path). ``FileNotFoundError`` passes through for callers that treat a missing
    file as "not captured".
    """
    name = where or str(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise
    except OSError as err:
        raise KdumplabError(name, f"cannot read: {err.strerror or err}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise KdumplabError(name, f"is {_kind(st.st_mode)}, not a regular file", "give a copy of the file")
        if st.st_size > limit:
            raise KdumplabError(name, f"is {_size(st.st_size)}; more than the {_size(limit)} this input may have")
        os.set_blocking(fd, True)
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise KdumplabError(name, f"is larger than the {_size(limit)} this input may have")
        return b"".join(chunks)
    except OSError as err:
        raise KdumplabError(name, f"cannot read: {err.strerror or err}") from None
    finally:
        os.close(fd)


def read_text(path: str | os.PathLike[str], limit: int = DEFAULT_LIMIT, where: str | None = None,
              strict: bool = False) -> str:
    """``read_bytes`` decoded as UTF-8: bad bytes become U+FFFD, or with ``strict`` a one-line error."""
    data = read_bytes(path, limit, where)
    if not strict:
        return data.decode("utf-8", "replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise KdumplabError(where or str(path), f"not UTF-8 text (byte {data[err.start]:#04x} at offset "
                            f"{err.start})") from None


def inside(base: Path, rel: str) -> Path:
    """``base/rel`` with every symlink resolved, refused (naming the file) when it leaves ``base``.

    A capture may hold symlinks between its own files (sosreport's top-level ``dmesg`` and ``uname``
    links); one that points out of it (``proc/cmdline -> /etc/passwd``) would quote the host's files as
    evidence.
    """
    root = Path(os.path.realpath(base))
    target = Path(os.path.realpath(base / rel))
    if target != root and root not in target.parents:
        raise KdumplabError(str(base / rel), f"links outside the capture (to {target})",
                            "a capture's files must lie inside it")
    return target


def decimal(text: str, where: str, name: str = "", max_digits: int = MAX_DIGITS) -> int:
    """An ASCII decimal number of at most ``max_digits`` digits (``str.isdigit`` also accepts ``²`` and
    other Unicode digits, which ``int`` then refuses or reads differently). ``name`` prefixes the message
    (``KEY='12k' is not ...``)."""
    if not (0 < len(text) <= max_digits and text.isascii() and text.isdigit()):
        shown = repr(text if len(text) <= 24 else text[:20] + "...")
        raise KdumplabError(where, f"{name + '=' if name else ''}{shown} is not a decimal number of at most "
                            f"{max_digits} digits")
    return int(text)


def one_line(text: str, limit: int = 200) -> str:
    """Text for an evidence or error line: control characters as spaces, cut to ``limit`` characters."""
    flat = "".join(c if c.isprintable() else " " for c in text)
    return flat if len(flat) <= limit else flat[:limit - 1] + "…"
