"""The marked sections of a recorded serial log (``=== NAME`` lines), cut independently of lab/observe.py so
a parser bug there cannot hide one in the code under test."""

from __future__ import annotations


def sections(text: str) -> dict[str, str]:
    out: dict[str, list[str]] = {}
    cur = None
    for line in text.splitlines():
        if line.startswith("=== "):
            cur = line[4:].strip()
            out[cur] = []
        elif cur is not None:
            out[cur].append(line)
    return {k: "\n".join(v) + "\n" for k, v in out.items()}
