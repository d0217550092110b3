"""Every input form checked against a known truth: our own lab recordings, degraded the way evidence reaches
a bug report (grep'd, cut with '...', timestamps stripped, journal format, mail-quoted and wrapped, diffed
against another boot, read from inside the crash kernel), must still give the recorded crash regions and
outcome. The truth is the recording's case.json / cycle.json; the texts are cut from serial.log here with a
small extractor of our own (not lab/observe.py)."""

from __future__ import annotations

import gzip
import json
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from kdumplab import capture
from kdumplab.findings import analyze
from tests.serial_sections import sections

DATA = Path(__file__).parent / "data"
BOOTS = sorted(p for p in (DATA / "boots").iterdir() if (p / "case.json").exists())
CYCLES = sorted(p for p in (DATA / "cycles").iterdir() if (p / "cycle.json").exists())


def _stamp_off(line: str) -> str:
    return line.split("] ", 1)[1] if line.startswith("[") and "] " in line[:20] else line


def _crashy(line: str) -> bool:
    low = line.lower()
    return "crash" in low or "memory value expected" in low or "command line" in low


Degrade = Callable[[str, str], dict[str, str]]
FORMS: dict[str, Degrade] = {
    "whole": lambda log, io: {"kernel_log": log, "iomem": io},
    "log only": lambda log, io: {"kernel_log": log},
    "iomem only": lambda log, io: {"iomem": io},
    "grep": lambda log, io: {
        "kernel_log": "$ dmesg | grep -i crash\n" + "".join(ln + "\n" for ln in log.splitlines() if _crashy(ln)),
        # a grep that matches nothing prints nothing: then there is no iomem to give
        **({"iomem": "# grep -i crash /proc/iomem\n" + "".join(ln + "\n" for ln in io.splitlines() if "Crash" in ln)}
           if "Crash" in io else {})},
    "excerpt": lambda log, io: {
        "iomem": "".join(ln + "\n" if ("Crash" in ln or "System RAM" in ln) else "...\n" for ln in io.splitlines())},
    "no timestamps": lambda log, io: {"kernel_log": "".join(_stamp_off(ln) + "\n" for ln in log.splitlines())},
    "journal": lambda log, io: {"kernel_log": "-- Logs begin at Mon 2026-11-30 03:00:00 UTC. --\n" + "".join(
        f"Nov 30 03:00:00.{i:06d} guest kernel: {_stamp_off(ln)}\n" for i, ln in enumerate(log.splitlines()))},
    "quoted and wrapped": lambda log, io: {"kernel_log": "".join(
        "".join(f"> {w}\n" for w in textwrap.wrap(ln, 72, break_long_words=False) or [""])
        for ln in log.splitlines())},
}


def _truth(regions: list[dict]) -> list[tuple[int, int]]:
    return sorted((r["start"], r["end"]) for r in regions)


def _log_truth(rec: dict) -> list[tuple[int, int]]:
    """The regions the recorded crash log names ('crashkernel [low memory ]reserved: A - B', B exclusive): a
    6.12+ region of one byte is reserved (the log says so) but never in /proc/iomem."""
    out = []
    for line in rec["crash_log"]:
        if "reserved: 0x" in line:
            a, b = line.split("reserved: ", 1)[1].split(" (")[0].split(" - ")
            out.append((int(a, 16), int(b, 16)))
        elif "Reserving " in line and "for crashkernel" in line:  # x86 / 2019 series: "Reserving NMB ... at NMB"
            words = line.split("Reserving ", 1)[1].split()
            size = int(words[0].removesuffix("MB")) << 20
            at = int(words[words.index("at") + 1].removesuffix("MB")) << 20
            out.append((at, at + size))
    return sorted(out)


def _expected_outcome(rec: dict) -> str:
    if rec["crash_regions"] or _log_truth(rec):
        return "reserved"
    return "failed" if "crashkernel=" in rec["cmdline"] else "not requested"


def _params() -> list[object]:
    return [pytest.param(case, form, id=f"{case.name}/{form}") for case in BOOTS for form in FORMS]


@pytest.mark.parametrize(("case", "form"), _params())
def test_degraded_boot_reads_the_recorded_regions(case: Path, form: str) -> None:
    rec = json.loads((case / "case.json").read_text())
    sec = sections((case / "serial.log").read_text())
    texts = FORMS[form](sec["DMESG"], sec["IOMEM"])
    a = analyze(capture.from_texts(case.name, texts), release=rec["provenance"]["kernel_package"]
                .removeprefix("linux-image-").removesuffix("-unsigned"))
    assert a.view == "first kernel"
    got = sorted((r.start, r.end) for r in a.regions if r.boot == "this")
    want = _log_truth(rec) if "kernel_log" in texts and _log_truth(rec) else _truth(rec["crash_regions"])
    assert got == want
    if form in ("whole", "log only", "no timestamps", "journal", "quoted and wrapped"):
        assert a.outcome == _expected_outcome(rec)


def test_diffed_against_another_boot() -> None:
    # diff -u of two recorded boots' /proc/iomem: the + side is this boot, the - side the other
    this_case = next(p for p in BOOTS if p.name.startswith("6.1") and
                     json.loads((p / "case.json").read_text())["crash_regions"])
    other_case = next(p for p in BOOTS if p.name.startswith("6.1") and p != this_case and
                      _truth(json.loads((p / "case.json").read_text())["crash_regions"]) !=
                      _truth(json.loads((this_case / "case.json").read_text())["crash_regions"]) and
                      json.loads((p / "case.json").read_text())["crash_regions"])
    import difflib

    old = sections((other_case / "serial.log").read_text())["IOMEM"]
    new = sections((this_case / "serial.log").read_text())["IOMEM"]
    diff = "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True), "iomem.old", "iomem.new"))
    a = analyze(capture.from_texts("diff", {"iomem": diff}))
    this = sorted((r.start, r.end) for r in a.regions if r.boot == "this")
    other = sorted((r.start, r.end) for r in a.regions if r.boot == "other")
    assert this == _truth(json.loads((this_case / "case.json").read_text())["crash_regions"])
    assert other and set(other) <= set(_truth(json.loads((other_case / "case.json").read_text())["crash_regions"]))


def _cycle(case: Path) -> tuple[dict, dict[str, str]]:
    rec = json.loads((case / "cycle.json").read_text())
    return rec, sections(gzip.decompress((case / "serial.log.gz").read_bytes()).decode())


@pytest.mark.parametrize("case", [p for p in CYCLES if json.loads((p / "cycle.json").read_text())["panicked"]],
                         ids=lambda p: p.name)
def test_read_inside_the_crash_kernel(case: Path) -> None:
    # the crash kernel's own /proc/iomem and dmesg: CAPTURE_KERNEL, and its memory is the first kernel's
    # crash regions (one System RAM per usable range; 5.10 crash kernels read only the first pair)
    rec, sec = _cycle(case)
    a = analyze(capture.from_texts(case.name, {"kernel_log": sec["CAPTURE_DMESG"], "iomem": sec["CAPTURE_IOMEM"]}))
    assert a.view == "crash kernel" and "CAPTURE_KERNEL" in {f.code for f in a.findings}
    assert a.outcome == "reserved"
    first = _truth(rec["first"]["crash_regions"])
    got = sorted((r.start, r.end) for r in a.regions)
    assert got and set(got) <= set(first)
    assert not {"NO_REGION", "RESERVATION_FAILED"} & {f.code for f in a.findings}


@pytest.mark.parametrize("case", [p for p in CYCLES if json.loads((p / "cycle.json").read_text())["panicked"]][:6],
                         ids=lambda p: p.name)
def test_one_paste_of_both_kernels_is_split(case: Path) -> None:
    # the first kernel's dmesg followed by the crash kernel's: two boots, the regions are the earlier boot's
    rec, sec = _cycle(case)
    a = analyze(capture.from_texts(case.name, {"kernel_log": sec["DMESG"] + sec["CAPTURE_DMESG"]}))
    assert a.view == "crash kernel"
    assert sorted((r.start, r.end) for r in a.regions if r.boot == "other") == _truth(rec["first"]["crash_regions"])
