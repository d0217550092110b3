"""The linear map of every recorded boot and cycle that carries a ptdump (issue 13), against the model.

The lab-built kernels (tests/data/boots/{5.10-control,proposal-2019-*}-*, kernel-patches/) have
CONFIG_PTDUMP_DEBUGFS; their /init prints /sys/kernel/debug/kernel_page_tables up to "Linear Mapping end"
(``=== PTDUMP``; cycles print it before and after ``kexec -p``). The extractor below reads serial.log itself.
What the model claims (kdumplab.linearmap) and what is checked here:

- every byte of RAM outside NOMAP ranges is mapped, and nothing inside them (the review's low region);
- the main crash region is mapped with 4 KiB entries (PTE) when the model says so;
- with blocks granularity, nothing else is page-mapped except the kernel image's 2 MiB neighbourhood;
- after a crash kernel is loaded, exactly the pages of its segments are invalid (protect), the rest of the
  crash region stays mapped with pages; a refused load changes nothing.
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest

from kdumplab import linearmap, model
from kdumplab.tools.verify import scenario_for

DATA = Path(__file__).parent.parent / "data"
#: arm64 5.10, 4 KiB pages, 48-bit VA: the linear map starts at this VA and maps PHYS_OFFSET there;
#: PHYS_OFFSET (memstart_addr) is the start of RAM rounded down to 1 GiB = 0x40000000 on -M virt (no KASLR:
#: the lab config has RANDOMIZE_BASE=n)
LINEAR_VA = 0xFFFF_0000_0000_0000
PHYS_OFFSET = 0x4000_0000
SZ_2M = 2 << 20

_LINE = re.compile(r"^0x([0-9a-f]{16})-0x([0-9a-f]{16})\s+\S+\s+(PTE|PMD|PUD|PGD)(.*)$")


def _section(text: str, name: str) -> str | None:
    m = re.search(rf"^=== {name}\s*$(.*?)^===", text, re.M | re.S)
    return m.group(1) if m else None


def _ptdump(text: str) -> list[tuple[int, int, str]]:
    """(phys start, phys end, level) of every *mapped* linear-map line. Lines without attributes are holes;
    a leading "F" marks entries whose valid bit is clear (arch/arm64/mm/ptdump.c pte_bits: PTE_VALID clear
    prints "F"), which is what arch_kexec_protect_crashkres leaves behind."""
    out = []
    for raw in text.replace("\r", "").splitlines():
        m = _LINE.match(raw.strip())
        if not m or not m.group(4).strip() or m.group(4).split()[0] == "F":
            continue
        va0, va1 = int(m.group(1), 16), int(m.group(2), 16)
        if va0 < LINEAR_VA:
            continue
        out.append((va0 - LINEAR_VA + PHYS_OFFSET, va1 - LINEAR_VA + PHYS_OFFSET, m.group(3)))
    return out


def _overlap(ranges, lo: int, hi: int) -> int:
    return sum(max(0, min(e, hi) - max(s, lo)) for s, e, *_ in ranges)


def _boots():
    for d in sorted((DATA / "boots").glob("*")):
        log = d / "serial.log"
        if log.is_file() and (d / "case.json").is_file() and "=== PTDUMP\n" in log.read_text().replace("\r", ""):
            yield d


def _cycles():
    for d in sorted(p for sub in ("cycles", "designs-cycles") for p in (DATA / sub).glob("*")):
        log = d / "serial.log.gz"
        if (d / "cycle.json").is_file() and b"=== PTDUMP_BEFORE" in gzip.decompress(log.read_bytes()):
            yield d


BOOTS = list(_boots())
CYCLES = list(_cycles())


def _predict(case: dict):
    sc = scenario_for(case["generation"], case["mem"], tuple(case["numa"]), case["cmdline"],
                      case["provenance"]["initrd_size"])
    return model.run(sc)


def _check_map(result, mapped: list[tuple[int, int, str]], where: str) -> None:
    lm = result.linear_map
    ram = [(b.start, b.start + b.size) for b in result.scenario.machine.banks]
    nomap = [(r.start, r.end) for r in lm.nomap]
    total = sum(e - s for s, e in ram) - sum(_overlap(nomap, s, e) for s, e in ram)
    assert sum(e - s for s, e, _ in mapped) == total, f"{where}: mapped bytes differ from RAM minus NOMAP"
    for s, e in nomap:
        assert _overlap(mapped, s, e) == 0, f"{where}: NOMAP [{s:#x}, {e:#x}) is mapped"
    main = result.outcome.main
    if main is not None and lm.crash_mapped_with_pages:
        ptes = [(s, e) for s, e, lvl in mapped if lvl == "PTE"]
        assert _overlap(ptes, main.start, main.end) == main.end - main.start, \
            f"{where}: the crash region is not all mapped with pages"
    if lm.granularity == "blocks":
        k = result.scenario.machine.kernel
        allowed = [(k.load_address - k.load_address % SZ_2M, -(-(k.load_address + k.end) // SZ_2M) * SZ_2M)]
        if main is not None:
            allowed.append((main.start, main.end))
        for s, e, lvl in mapped:
            if lvl == "PTE":
                assert _overlap(allowed, s, e) == e - s, f"{where}: [{s:#x}, {e:#x}) is page-mapped"


@pytest.mark.parametrize("case_dir", BOOTS, ids=[d.name for d in BOOTS])
def test_boot_linear_map(case_dir: Path) -> None:
    case = json.loads((case_dir / "case.json").read_text())
    text = (case_dir / "serial.log").read_text().replace("\r", "")
    mapped = _ptdump(_section(text, "PTDUMP") or "")
    assert mapped, "empty ptdump"
    _check_map(_predict(case), mapped, case_dir.name)


@pytest.mark.parametrize("case_dir", CYCLES, ids=[d.name for d in CYCLES])
def test_cycle_protect_unprotect(case_dir: Path) -> None:
    cyc = json.loads((case_dir / "cycle.json").read_text())
    text = gzip.decompress((case_dir / "serial.log.gz").read_bytes()).decode(errors="replace").replace("\r", "")
    before, after = (_ptdump(_section(text, n) or "") for n in ("PTDUMP_BEFORE", "PTDUMP_AFTER"))
    assert before and after
    result = _predict(cyc["first"])
    _check_map(result, before, case_dir.name + " before kexec -p")
    loaded = cyc["kexec"]["loaded"]
    segs = tuple((s["mem"], s["memsz"]) for s in cyc["kexec"]["segments"]) if loaded else ()
    gone = linearmap.protected_after_load(result.linear_map, segs)
    lost = [(s, e) for s, e, _ in before]
    for r in gone:
        assert _overlap(after, r.start, r.end) == 0, f"segment [{r.start:#x}, {r.end:#x}) still mapped"
    still = sum(e - s for s, e, _ in after)
    assert still == sum(e - s for s, e in lost) - sum(r.end - r.start for r in gone)
    main = result.outcome.main
    if main is not None:
        ptes = [(s, e) for s, e, lvl in after if lvl == "PTE"]
        left = main.end - main.start - sum(_overlap([(r.start, r.end)], main.start, main.end) for r in gone)
        assert _overlap(ptes, main.start, main.end) == left
