"""Build capture directories and sosreport tarballs from recorded real boots (tests/data/realboots)."""

from __future__ import annotations

import io
import re
import tarfile
from pathlib import Path

REALBOOTS = Path(__file__).resolve().parents[1] / "data" / "realboots"

_SECTIONS = {"CMDLINE": "proc/cmdline", "IOMEM": "proc/iomem", "KEXEC_CRASH_SIZE": "sys/kernel/kexec_crash_size",
             "MEMINFO": "proc/meminfo"}


def realboot_files(case: str) -> dict[str, str]:
    """The files a live system would show, cut out of a recorded boot's serial.log.

    The recorder's initramfs printed ``=== CMDLINE`` ... ``=== END`` sections after boot; the lines before
    the first section are the kernel log (dmesg).
    """
    text = (REALBOOTS / case / "serial.log").read_text()
    files: dict[str, list[str]] = {"dmesg": []}
    current = "dmesg"
    for line in text.splitlines():
        m = re.match(r"^=== (\w+)$", line)
        if m:
            current = _SECTIONS.get(m.group(1), "")
            if current:
                files[current] = []
            continue
        if current:
            files[current].append(line)
    out = {k: "\n".join(v) + "\n" for k, v in files.items()}
    ver = re.search(r"Linux version .*", out["dmesg"])
    if ver:
        out["proc/version"] = ver.group(0) + "\n"
    return out


def write_root(files: dict[str, str], root: Path) -> Path:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root


def sosreport(files: dict[str, str], path: Path, top: str = "sosreport-host-2026-11-25-abcdef",
              mode: str = "w:xz") -> Path:
    """A tarball in the sos layout: one top directory, command output under sos_commands/<plugin>/."""
    mapped = {("sos_commands/kernel/dmesg" if rel == "dmesg" else rel): text for rel, text in files.items()}
    with tarfile.open(path, mode) as tar:
        for rel, text in mapped.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{top}/{rel}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path
