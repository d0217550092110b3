"""Does kdump work after the load? The plain-English verdict on a model run with kexec-tools.

Each problem named here was seen in a recorded real cycle (tests/data/cycles): a refused load (kexec-tools'
own message), an elfcorehdr whose virtual addresses assume another page_offset than the kernel's, a
kernel-text header that wraps around (/proc/vmcore of ~1.8e19 bytes), and a crash kernel with no memory
below 4 GiB (no swiotlb line in its log, or on 6.5+ a small bounce buffer above 4 GiB).
"""

from __future__ import annotations

from dataclasses import dataclass

from kdumplab.errors import EXIT_BROKEN, EXIT_FAILED, EXIT_OK
from kdumplab.kexec import KERNEL_KEXEC, verdict
from kdumplab.model import Result
from kdumplab.ranges import SZ_4G, U64_MAX, iec

__all__ = ["WRAPPED", "FATAL", "Judgement", "judge", "problems", "kdump_verdict", "exit_status", "vmcore_text",
           "paired_kexec_tools", "load_sentence"]

WRAPPED = 1 << 60  # no real program header or /proc/vmcore is this big: a size that wrapped below zero
#: problems after which there is no usable dump (the others are warnings: a dump exists, some tools or devices fail)
FATAL = frozenset({"vmcore size wraps", "elfcorehdr not in its memory"})


def problems(res: Result) -> tuple[tuple[str, str], ...]:
    """What still goes wrong after a successful load, as (label, sentence): each one seen in a recorded cycle."""
    load, view = res.kexec, res.crash_view
    found: list[tuple[str, str]] = []
    loads = [p for p in load.phdrs if p.type == "PT_LOAD"]
    facts = KERNEL_KEXEC.get(res.policy.kexec_generation)
    right = (U64_MAX << facts.va_bits) & U64_MAX if facts else None
    if right is not None and load.page_offset is not None and load.page_offset != right:
        found.append(("vmcore vaddrs wrong", f"its elfcorehdr's virtual addresses assume page_offset "
                         f"{load.page_offset:#x}, not the kernel's {right:#x}: tools that trust the PT_LOAD vaddrs "
                         "(crash) misread memory"))
    if loads and loads[0].size >= WRAPPED:
        found.append(("vmcore size wraps", "its elfcorehdr has a wrapped kernel-text header (no _text in "
                         "/proc/kallsyms): /proc/vmcore claims ~1.8e19 bytes and reading it oopses"))
    # x86 hands the ELF headers over outside the crash kernel's e820 RAM on purpose (kexec_x86.X86KexecLoad)
    inside = not getattr(load, "elfcorehdr_outside_ram", False)
    if view is not None and load.elfcorehdr is not None and inside and not any(
            s <= load.elfcorehdr[0] <= e for s, e in view.usable):
        # the 2019 v5 crash kernel with two usable ranges keeps only the second (tests/data/designs-lost)
        found.append(("elfcorehdr not in its memory", "the crash kernel does not keep the range that holds the "
                         f"elfcorehdr ({load.elfcorehdr[0]:#x}): vmcore_init faults and the crash kernel panics"))
    # plus what x86 lends the crash kernel outside them (its first 640 KiB / first MiB of RAM, kexec_x86)
    crash = [(r.start, r.end - 1) for r in res.outcome.regions] + list(getattr(load, "lent", ()))
    if view is not None and crash and any(not any(cs <= s and e <= ce for cs, ce in crash) for s, e in view.usable):
        # the 2019 v5 crash kernel with one usable range caps nothing (tests/data/designs-cycles)
        found.append(("crash kernel not confined", "the crash kernel uses memory outside the crash regions as its "
                         "own RAM: it can overwrite the memory it is meant to dump"))
    # the usable ranges decide, not the bounce buffer: 6.5+ with all memory above 4 GiB still allocates a small
    # one (RAM/1024, for unaligned kmalloc DMA) up there, where no 32-bit device reaches it (kdumplab.crashboot)
    if view is not None and all(s >= SZ_4G for s, _ in view.usable):
        found.append(("no memory below 4 GiB", "the crash kernel has no memory below 4 GiB: no swiotlb below "
                         f"4 GiB, devices limited to 32-bit DMA fail ({_why_no_low(res)})"))
    return tuple(found)


def kdump_verdict(res: Result) -> tuple[str, str]:
    """(short, sentence) for a model run with kexec-tools: does kdump work, and what is wrong if not."""
    load, view = res.kexec, res.crash_view
    if not load.loaded:
        first = load.error[0] if load.error else "refused"
        return f"NO: {first}", load_sentence(load)
    found = problems(res)
    where = "high" if load.segments and min(s.start for s in load.segments) >= SZ_4G else "low"
    mem = f", crash kernel MemTotal ~{view.memtotal_kb // 1024} MiB" if view is not None else ""
    short = f"yes, {where}{mem}" + ("; BUT " + ", ".join(label for label, _ in found) if found else "")
    sentence = load_sentence(load) + (" But " + "; and ".join(text for _, text in found) + "." if found else
                                f" The crash kernel boots in {'/'.join(f'{s:#x}-{e:#x}' for s, e in view.usable)}"
                                f"{mem}." if view is not None else "")
    return short, sentence


def load_sentence(load) -> str:  # noqa: ANN001 - kexec.KexecLoad or kexec_x86.X86KexecLoad
    """The kexec part of the verdict, in the words of the module that modelled the load."""
    from kdumplab.kexec_x86 import X86KexecLoad, x86_verdict  # noqa: PLC0415

    return x86_verdict(load) if isinstance(load, X86KexecLoad) else verdict(load)


def _why_no_low(res: Result) -> str:
    low = res.outcome.low
    if low is None:
        return "no low region is reserved: add crashkernel=Y,low"
    passed = any(s <= low.start <= e for s, e in res.kexec.usable_memory_ranges)
    if passed:
        return "the low region is in linux,usable-memory-range, but this crash kernel reads only the first range"
    return f"the low region '{low.name}' is reserved but kexec-tools does not pass it on: it reads only 'Crash kernel'"


def exit_status(res: Result) -> int:
    """The exit status every command uses for one model run: 0 reserved (and, with kexec-tools, loaded with no
    problem), 1 nothing reserved or only warnings, 3 reserved but kdump will not work."""
    if not res.outcome.regions:
        return EXIT_FAILED
    if res.kexec is None:
        return EXIT_OK
    if not res.kexec.loaded:
        return EXIT_BROKEN
    found = [label for label, _ in problems(res)]
    if any(label in FATAL for label in found):
        return EXIT_BROKEN
    return EXIT_FAILED if found else EXIT_OK


def vmcore_text(size: int) -> str:
    """/proc/vmcore's size for people: a wrapped size is said to wrap (the kernel's integer stays in JSON)."""
    if size >= WRAPPED:
        return f"/proc/vmcore size wraps ({size} bytes, {(1 << 64) - size:#x} below zero): reading it oopses"
    return f"/proc/vmcore {iec(size)} ({size} bytes)"


@dataclass(frozen=True, slots=True)
class Judgement:
    """The one verdict every command gives on a model run: exit status, a table cell, a sentence, the problems."""

    status: int
    short: str
    sentence: str
    problems: tuple[tuple[str, str], ...]


def judge(res: Result) -> Judgement:
    """Reserved or not, and with kexec-tools whether kdump then works, in the words every command uses."""
    o = res.outcome
    if res.kexec is None:
        sentence = (f"reserved: {o.reason}" if o.regions else f"{o.verdict}: {o.reason}").rstrip(": ")
        return Judgement(exit_status(res), str(o.verdict), sentence, ())
    short, sentence = kdump_verdict(res)
    return Judgement(exit_status(res), short, sentence, problems(res) if res.kexec.loaded else ())


def paired_kexec_tools(policy_name: str, kexec_generation: str) -> str | None:
    """The kexec-tools Debian ships beside a kernel generation (same suite: bullseye 5.10 + 2.0.20, bookworm 6.1
    + 2.0.25, trixie 6.12 + 2.0.29, sid 7.2 + 2.0.32; lab/setup.py KERNEL_SUITES and KEXEC_SUITES); the 2019
    proposals, patches on 5.10, pair with 5.10's."""
    from kdumplab.lab.setup import KERNEL_SUITES, KEXEC_SUITES  # noqa: PLC0415

    by_suite = {suite: version for version, suite in KEXEC_SUITES.items()}
    suite = KERNEL_SUITES.get(policy_name) or KERNEL_SUITES.get(kexec_generation)
    return by_suite.get(suite) if suite else None
