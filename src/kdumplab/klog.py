"""The kernel log lines kdumplab cares about, and how to pick them out of a boot log.

Shared by the model (which produces these lines) and the lab (which finds them in a real boot), so both
sides agree on what "the crash-related log" is.
"""

from __future__ import annotations

import re

__all__ = ["strip_timestamp", "is_crash_line", "crash_lines"]

_TIMESTAMP = re.compile(r"^\s*(<\d+>)?\[\s*\d+\.\d+\]\s?")

# Lines the kernel prints about crashkernel= parsing and reservation. The parser's range-list messages in
# 5.10/6.1 ("Memory value expected", "Memory value expected after '@'") carry no prefix; 6.12 has a typo
# ("crahskernel:"); the elfcorehdr lines come from a crash kernel.
_CRASH = re.compile(
    r"crashkernel|crahskernel|^Memory value expected|for elfcorehdr|elfcorehdr is overlapped",
    re.IGNORECASE,
)
# Lines that merely echo the command line back (x86 also prints it as "Command line:"; x86 5.10 has no
# crashkernel early_param, so the parameter is handed to /init's environment and listed indented under
# "with environment:"), and memblock=debug traces that name the caller
# (e.g. "memblock_phys_alloc_range: ... reserve_crashkernel_generic+0x8c/0x1f8").
_ECHO = re.compile(r"^(Kernel command line:|Command line:|Unknown kernel command line parameters|\s*with arguments:|"
                   r"\s*with environment:|\s+crashkernel=\S*$|_*memblock_)")


def strip_timestamp(line: str) -> str:
    """``[    0.000000] text`` -> ``text`` (also drops a ``<6>`` level prefix)."""
    return _TIMESTAMP.sub("", line.rstrip("\r\n"))


def is_crash_line(text: str) -> bool:
    """True for a (timestamp-free) log line about the crash reservation."""
    return bool(_CRASH.search(text)) and not _ECHO.match(text)


def crash_lines(log_text: str) -> tuple[str, ...]:
    """The crash-related lines of a kernel log, in order, without timestamps."""
    out = []
    for raw in log_text.splitlines():
        text = strip_timestamp(raw)
        if is_crash_line(text):
            out.append(text)
    return tuple(out)
