"""``kdumplab check``: read a capture (live, --root, --sosreport) and analyse it."""

from __future__ import annotations

from kdumplab import capture
from kdumplab.findings import Analysis, Severity, analyze

#: exit codes (docs/tools.md): 0 nothing wrong, 1 warnings only, 2 bad input, 3 kdump will not work
EXIT_CLEAN, EXIT_WARNINGS, EXIT_NOT_FUNCTIONAL = 0, 1, 3


def check(root: str | None = None, sosreport: str | None = None) -> Analysis:
    if sosreport:
        cap = capture.from_sosreport(sosreport)
    elif root:
        cap = capture.from_root(root)
    else:
        cap = capture.from_live()
    return analyze(cap)


def exit_code(analysis: Analysis) -> int:
    worst = analysis.worst
    if worst is Severity.ERROR:
        return EXIT_NOT_FUNCTIONAL
    if worst is Severity.WARNING:
        return EXIT_WARNINGS
    return EXIT_CLEAN
