"""``kdumplab check``: read a capture (live, --root, --sosreport, or pasted --log/--iomem files) and analyse it.

Pasted files are read bounded: at most ``MAX_INPUT`` bytes, text only. A file that is mostly text keeps its
text lines (a few junk lines from a serial console are dropped and reported as PARTIAL_INPUT by the readers);
binary input, NUL-filled input and text in another encoding than UTF-8 are refused with one line naming the
file and the line where it stops being text.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from kdumplab import capture
from kdumplab.errors import KdumplabError
from kdumplab.findings import Analysis, Severity, analyze
from kdumplab.inputfile import read_bytes

#: exit codes (docs/tools.md): 0 nothing wrong, 1 warnings only, 2 bad input, 3 kdump will not work
EXIT_CLEAN, EXIT_WARNINGS, EXIT_NOT_FUNCTIONAL = 0, 1, 3

#: the largest pasted file read (a full dmesg is well under 1 MiB; a journal of many boots a few MiB)
MAX_INPUT = 32 << 20
#: share of lines that may be junk before a file is refused as not text
MAX_JUNK = 0.05


def read_text(path: str, label: str) -> tuple[str, str]:
    """(text, name) of a pasted file or ``-`` for stdin, bounded and checked to be text."""
    name = "<stdin>" if path == "-" else path
    try:
        data = sys.stdin.buffer.read(MAX_INPUT + 1) if path == "-" else read_bytes(path, MAX_INPUT, name)
    except FileNotFoundError:
        raise KdumplabError(name, f"no such file ({label})") from None
    except OSError as err:
        raise KdumplabError(name, f"cannot read {label}: {err.strerror or err}") from None
    if len(data) > MAX_INPUT:
        raise KdumplabError(name, f"{label} larger than {MAX_INPUT >> 20} MiB",
                            "cut out the boot you mean (journalctl -k -b, or the lines around the crash kernel)")
    return _decode(data, name, label), name


def _decode(data: bytes, name: str, label: str) -> str:
    lines = data.split(b"\n")
    bad = []
    out = []
    for n, raw in enumerate(lines, 1):
        if b"\x00" in raw:
            bad.append(n)
            continue
        try:
            out.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            bad.append(n)
            out.append("")
            continue
    if not bad:
        return "\n".join(out)
    text_lines = sum(1 for ln in lines if ln.strip())
    good = sum(1 for ln in out if ln.strip())
    if len(bad) > max(2, MAX_JUNK * text_lines) or not good:
        first = bad[0]
        what = "NUL bytes" if b"\x00" in lines[first - 1] else "bytes that are not UTF-8"
        raise KdumplabError(f"{name}:{first}", f"{label} is not text ({what}; {len(bad)} of {len(lines)} lines)",
                            "convert it (iconv -f latin1 -t utf-8) or give the text file")
    # a few junk lines (serial noise): keep line numbers, blank the junk
    return "\n".join(out)


@dataclass(frozen=True, slots=True)
class CheckedCapture:
    """One host checked: what was read, whether it was read inside a crash kernel, and the analysis."""

    capture: capture.Capture
    vmcore: bool
    analysis: Analysis

    @property
    def exit(self) -> int:
        """The exit status ``kdumplab check`` gives for it (:func:`exit_code`)."""
        return exit_code(self.analysis)

    @property
    def memtotal(self) -> int | None:
        """MemTotal in bytes, or None when /proc/meminfo is missing or unreadable."""
        try:
            return self.capture.memtotal
        except KdumplabError:
            return None


def read_capture(root: str | None = None, sosreport: str | None = None) -> tuple[capture.Capture, bool]:
    """What check reads from a sosreport, a captured root or (neither given) this system, and whether that is
    a crash kernel's view: a root holding ``proc/vmcore`` was captured inside one (a sosreport never is)."""
    if sosreport:
        return capture.from_sosreport(sosreport), False
    if root:
        return capture.from_root(root), (Path(root) / "proc" / "vmcore").exists()
    return capture.from_live(), os.path.exists("/proc/vmcore")


def check_capture(root: str | None = None, sosreport: str | None = None, release: str | None = None,
                  arch: str | None = None) -> CheckedCapture:
    """``kdumplab check --root DIR`` / ``--sosreport FILE`` (or the live system) as a call: the one entry point
    for callers that check many hosts (``kdumplab fleet``), so they read and judge exactly as check does.
    Bad input raises KdumplabError naming the file."""
    cap, vmcore = read_capture(root, sosreport)
    return CheckedCapture(cap, vmcore, analyze(cap, vmcore=vmcore, release=release, arch=arch))


def check(root: str | None = None, sosreport: str | None = None, log: str | None = None,
          iomem: str | None = None, cmdline: str | None = None, release: str | None = None,
          arch: str | None = None, other: str | None = None) -> Analysis:
    if sosreport or root or not (log or iomem or cmdline or other):
        cap, vmcore = read_capture(root, sosreport)
    else:
        cap, vmcore = capture.from_texts("pasted evidence", {}), False
    texts: dict[str, str] = {}
    paths = dict(cap.paths)
    for field, path, label in (("kernel_log", log, "--log"), ("iomem", iomem, "--iomem"),
                               ("cmdline", cmdline, "--cmdline")):
        if path:
            texts[field], paths[field] = read_text(path, label)
    if texts:
        cap = replace(cap, paths=tuple(sorted(paths.items())), **texts)
    other_text, other_where = read_text(other, "--other") if other else (None, "other")
    if texts or other:
        names = [paths[f] for f in texts] + ([other_where] if other else [])
        if cap.source == "pasted evidence":
            cap = replace(cap, source=", ".join(names))
    return analyze(cap, vmcore=vmcore, release=release, arch=arch, other=other_text, other_where=other_where)


def exit_code(analysis: Analysis) -> int:
    worst = analysis.worst
    if worst is Severity.ERROR:
        return EXIT_NOT_FUNCTIONAL
    if worst is Severity.WARNING:
        return EXIT_WARNINGS
    return EXIT_CLEAN
