"""/proc/iomem as people paste it: whole, grep'd, cut with ``...``, diffed, or typed by hand.

The strict parser (``kdumplab.iomem.parse``) wants the kernel's exact text. This reader takes whatever
lines it can and says what it had to leave: each entry keeps its depth when the indentation shows it
(``None`` when it cannot be known), the boot it belongs to (``diff -u``: the ``+`` and context side is this
boot, the ``-`` side the other), and the line it came from.

Accepted line shapes, after mail quoting (``> ``), shell prompts (``$ cat /proc/iomem``) and ``diff``
markers are taken off:

- the kernel's ``start-end : name`` (hex without ``0x``, inclusive end; kernel/resource.c ``r_show``);
- hand-typed ``0xSTART - 0xEND name`` / ``name: 0xSTART-0xEND`` / ``START..END``, spaces anywhere around
  the dash. The end is inclusive, as /proc/iomem prints it, unless the line marks it exclusive (``[a, b)``,
  "exclusive") or it is page-aligned (an inclusive end of a page-granular resource always ends in ``fff``,
  so an end ending in ``000`` can only be exclusive);
- ``...``, ``[...]``, ``<snip>`` elisions (the text is an excerpt).

Anything else that looks like an address range but cannot be read is counted as mangled
(``PARTIAL_INPUT``); text with no entry at all is the only error (one line naming the file and line).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kdumplab.errors import KdumplabError

__all__ = ["Entry", "IomemText", "read", "CRASH_NAMES", "KERNEL_LINE"]

#: the names crash regions carry in /proc/iomem in any generation or proposal
CRASH_NAMES = ("Crash kernel", "Crash kernel (low)", "Crash kernel low")


@dataclass(frozen=True, slots=True)
class Entry:
    """One resource ``[start, end)``; ``depth`` None when the text does not show it."""

    start: int
    end: int
    name: str
    depth: int | None
    lineno: int
    text: str
    boot: str = "this"
    #: the end was read as exclusive (hand-typed, marked or page-aligned)
    exclusive_end: bool = False

    @property
    def is_crash(self) -> bool:
        return self.name.lower().startswith("crash kernel")


@dataclass(frozen=True, slots=True)
class IomemText:
    where: str
    entries: tuple[Entry, ...]
    #: "full", "grep", "excerpt", "diff", "hand" (the strongest sign seen)
    form: str
    #: lines that looked like ranges but could not be read
    mangled: tuple[int, ...] = ()
    #: lines holding an elision marker
    elided: tuple[int, ...] = ()
    hidden: bool = False

    def of(self, boot: str = "this") -> tuple[Entry, ...]:
        return tuple(e for e in self.entries if e.boot == boot)

    def crash(self, boot: str = "this") -> tuple[Entry, ...]:
        return tuple(e for e in self.of(boot) if e.is_crash)

    def named(self, name: str, boot: str = "this") -> tuple[Entry, ...]:
        return tuple(e for e in self.of(boot) if e.name == name)

    @property
    def whole(self) -> bool:
        """The text is a complete /proc/iomem (top-level entries present, nothing cut)."""
        return self.form == "full" and not self.mangled and not self.elided


_QUOTE = re.compile(r"[ \t]*(?:>[ \t]?)+")
_KERNEL = re.compile(r"( *)([0-9a-fA-F]{1,16})-([0-9a-fA-F]{1,16}) : (.{1,200})$")
#: one line in the kernel's own /proc/iomem format
KERNEL_LINE = _KERNEL
_RANGE = (r"[\[(]?\s*(?:0x)?(?P<s>[0-9a-fA-F]{1,16})\s*(?:-|–|\.\.|to|,)\s*(?:0x)?(?P<e>[0-9a-fA-F]{1,16})\s*"
          r"(?P<close>[\])])?")
#: "0xSTART - 0xEND name" (tried first) and "name: 0xSTART-0xEND"
_HAND = (re.compile(rf"\s*(?P<pre>){_RANGE}\s*[:=]?\s*(?P<post>.{{0,120}})$"),
         re.compile(rf"\s*(?P<pre>[A-Za-z][\w ()./-]{{0,60}}?)\s*[:=]?\s*{_RANGE}\s*(?P<post>.{{0,120}})$"))
_ELISION = re.compile(r"\s*(?:\.{3}|…|\[\s*\.{3}\s*\]|<\s*snip\s*>|\[\s*snip\s*\]|-{2,}\s*snip)")
_PROMPT = re.compile(r"\s*(?:[#$%]|\S+@\S+[:~][^$#]{0,60}[$#])\s+\S|\s*(?:sudo |cat |grep |egrep |diff |dmesg|"
                     r"journalctl |xsos |less |head |tail )")
_DIFF_HEAD = re.compile(r"(?:---|\+\+\+) \S|@@ -\d")


def _diff(lines: list[str]) -> bool:
    heads = sum(1 for ln in lines[:200] if _DIFF_HEAD.match(ln))
    marked = sum(1 for ln in lines if ln[:1] in "+-" and _KERNEL.match(ln[1:]))
    return heads >= 1 and marked >= 1


def read(text: str, where: str = "iomem") -> IomemText:
    """Every readable entry of a pasted /proc/iomem. Raises only when no entry at all can be read."""
    raw = text.splitlines()
    lines = []
    for ln in raw:
        ln = ln[:512].rstrip("\r\n")
        m = _QUOTE.match(ln)
        if m and m.end():
            ln = ln[m.end():]
        lines.append(ln)
    is_diff = _diff(lines)
    entries: list[Entry] = []
    mangled: list[int] = []
    elided: list[int] = []
    hand = grep_like = False
    first_bad: int | None = None
    for n, ln in enumerate(lines, 1):
        boot = "this"
        if is_diff:
            if _DIFF_HEAD.match(ln):
                continue
            mark, ln = ln[:1], ln[1:]
            if mark == "-":
                boot = "other"
            elif mark not in "+ ":
                continue
        if not ln.strip():
            continue
        if _ELISION.match(ln):
            elided.append(n)
            continue
        if _PROMPT.match(ln):
            grep_like = grep_like or "grep" in ln
            continue
        m = _KERNEL.match(ln)
        if m:
            indent, s, e, name = m.groups()
            start, last = int(s, 16), int(e, 16)
            if last < start:
                mangled.append(n)
                continue
            depth = len(indent) // 2 if len(indent) % 2 == 0 else None
            entries.append(Entry(start, last + 1, name.strip(), depth, n, ln.strip(), boot))
            continue
        h = _HAND[0].match(ln) or _HAND[1].match(ln)
        if h and (h.group("pre") or h.group("post")):
            start, last = int(h.group("s"), 16), int(h.group("e"), 16)
            name = (h.group("pre") or h.group("post") or "").strip(" :=()")
            exclusive = h.group("close") == ")" or "exclusive" in ln.lower() or \
                (last & 0xFFF == 0 and last > start)
            end = last if exclusive else last + 1
            if end <= start or not name:
                mangled.append(n)
                continue
            hand = True
            entries.append(Entry(start, end, _clean_name(name), None, n, ln.strip(), boot, exclusive))
            continue
        mangled.append(n)
        first_bad = first_bad or n
    if not entries:
        line = first_bad or (len(lines) and 1) or 1
        raise KdumplabError(f"{where}:{line}", "no /proc/iomem entry found",
                            "expected lines like '40000000-23fffffff : System RAM' or '0x... - 0x... Crash kernel'")
    tops = any(e.depth == 0 for e in entries if e.boot == "this")
    children = any(e.depth for e in entries)
    if is_diff:
        form = "diff"
    elif hand:
        form = "hand"
    elif elided:
        form = "excerpt"
    elif grep_like or (children and not tops) or not any(e.name == "System RAM" for e in entries):
        form = "grep"
    else:
        form = "full"
    hidden = all(e.start == 0 and e.end == 1 for e in entries)
    return IomemText(where, tuple(entries), form, tuple(mangled), tuple(elided), hidden)


def _clean_name(name: str) -> str:
    low = name.lower()
    if low.startswith("crash kernel") or low.startswith("crashkernel"):
        return "Crash kernel (low)" if "low" in low else "Crash kernel"
    if low.startswith("system ram"):
        return "System RAM"
    return name
