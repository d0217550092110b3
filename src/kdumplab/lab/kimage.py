"""Is a kernel image file whole? Checked before a boot, so a damaged cache fails at once naming the file
instead of QEMU waiting out the whole timeout on a guest that never prints.

What a bootable image starts with:

* arm64 ``Image`` (Documentation/arch/arm64/booting.rst, "Image header"): the little-endian magic
  ``0x644d5241`` ("ARM\\x64") at offset 56. Debian's ``vmlinuz`` for arm64 is this Image with an EFI stub
  (``MZ`` at 0); QEMU's ``-kernel`` also takes a gzip-compressed Image (magic ``1f 8b``).
* x86 ``bzImage`` (Documentation/arch/x86/boot.rst, "The real-mode kernel header"): ``HdrS`` at 0x202.

A recorded sha256 (``lab setup`` writes ``image_sha256`` for each kernel) catches damage past the header.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from kdumplab.errors import KdumplabError

__all__ = ["check_image", "image_sha256", "ARM64_MAGIC_OFFSET", "X86_HDRS_OFFSET"]

ARM64_MAGIC_OFFSET = 56
X86_HDRS_OFFSET = 0x202
_HINT = "rerun `kdumplab lab setup`: it checks the cache and unpacks damaged kernels again"


def image_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_image(path: str | Path, arch: str = "arm64", sha256: str | None = None) -> None:
    """Refuse (one line naming the file) a kernel image that is missing, empty, not a regular file, has
    the wrong header for ``arch``, or differs from its recorded ``sha256``."""
    p = Path(path)
    if not p.is_file():
        raise KdumplabError(str(p), "kernel image missing from the lab cache", _HINT)
    with open(p, "rb") as f:
        head = f.read(0x210)
    if head[:2] == b"\x1f\x8b" and arch == "arm64":
        pass
    elif arch == "arm64" and head[ARM64_MAGIC_OFFSET:ARM64_MAGIC_OFFSET + 4] != b"ARM\x64":
        raise KdumplabError(str(p), "not an arm64 kernel Image (no ARM\\x64 magic at offset 56)", _HINT)
    elif arch == "x86_64" and head[X86_HDRS_OFFSET:X86_HDRS_OFFSET + 4] != b"HdrS":
        raise KdumplabError(str(p), "not an x86 bzImage (no HdrS at offset 0x202)", _HINT)
    if sha256 and image_sha256(p) != sha256:
        raise KdumplabError(str(p), "kernel image differs from the sha256 recorded at setup (damaged)", _HINT)
