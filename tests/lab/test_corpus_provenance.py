"""Ground truth: every recorded boot under tests/data/boots has full provenance and its crash lines match
what a small extractor of our own (regexes over serial.log, NOT lab/observe.py or klog.py) finds."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

BOOTS = Path(__file__).resolve().parents[1] / "data" / "boots"
CASES = sorted(p for p in BOOTS.glob("*") if p.is_dir())

_TS = re.compile(r"^\s*(<\d+>)?\[\s*\d+\.\d+\] ?")
_WANT = re.compile(r"crashkernel|crahskernel|^Memory value expected|for elfcorehdr|elfcorehdr is overlapped", re.I)
# memblock=debug boots trace every allocation with its caller ("memblock_phys_alloc_range: ...
# reserve_crashkernel_generic+0x8c/0x1f8"): the caller's name is not a crash line
_SKIP = re.compile(r"^(Kernel command line:|Unknown kernel command line parameters|\s*with arguments:|"
                   r"\s*with environment:|memblock_\w+: )")


def _section(serial: str, name: str) -> list[str]:
    lines = serial.splitlines()
    start = lines.index(f"=== {name}") + 1
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("=== "))
    return [x.rstrip("\r") for x in lines[start:end]]


def _extract(serial: str) -> list[str]:
    out = []
    for raw in _section(serial, "DMESG"):
        text = _TS.sub("", raw)
        if _WANT.search(text) and not _SKIP.match(text):
            out.append(text)
    return out


def test_corpus_is_big_enough() -> None:
    assert len(CASES) >= 64, f"only {len(CASES)} recorded boots"
    kernels = {json.loads((c / "case.json").read_text())["generation"] for c in CASES}
    # the four Debian generations, Debian's 16K 6.12, and the lab-built kernels of issue 13
    # (tests/data/suites/designs.toml)
    assert kernels == {"5.10", "6.1", "6.12", "7.2", "6.12-16k", "5.10-control", "proposal-2019-v5",
                       "proposal-2019-review"}


@pytest.mark.parametrize("case", CASES, ids=[p.name for p in CASES])
def test_provenance_and_crash_lines(case: Path) -> None:
    assert (case / "serial.log").is_file(), "serial.log missing"
    rec = json.loads((case / "case.json").read_text())
    prov = rec["provenance"]
    for key in ("kernel_package", "kernel_version", "qemu_version", "initrd_sha256"):
        assert isinstance(prov[key], str) and prov[key], key
    assert prov["qemu_cmdline"][0] == "qemu-system-aarch64" and "-append" in prov["qemu_cmdline"]
    assert prov["initrd_size"] > 0 and len(prov["initrd_sha256"]) == 64
    assert prov["wall_s"] > 0
    serial = (case / "serial.log").read_text()
    assert rec["crash_log"] == _extract(serial)
    # The iomem "Crash kernel" lines, also read independently.
    iomem = _section(serial, "IOMEM")
    crash = [ln.strip() for ln in iomem if ln.strip().endswith(": Crash kernel") or ": Crash kernel (" in ln]
    got = [f"{r['start']:x}-{r['end'] - 1:x} : {r['name']}" for r in rec["crash_regions"]]
    assert got == crash
