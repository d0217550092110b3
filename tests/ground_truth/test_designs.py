"""The questions of the 2019 review, answered by real boots of the designs built as kernels (issue 13).

Facts come from the raw serial logs (tests/data/boots, designs-cycles, designs-lost) with the small
extractors below, and each answer is also what the model predicts. The general field-by-field checks are
in test_boots.py, test_cycles-style ``verify --recorded tests/data/designs-cycles`` and test_linear_map.py;
this module pins the few facts the review argued about.
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest

from kdumplab import model
from kdumplab.tools.verify import scenario_for

DATA = Path(__file__).parent.parent / "data"
CYCLES = DATA / "designs-cycles"
LOST = DATA / "designs-lost"


def _section(text: str, name: str) -> str:
    m = re.search(rf"^=== {name}\s*$(.*?)^===", text.replace("\r", ""), re.M | re.S)
    assert m, f"no {name} section"
    return m.group(1)


def _crash_lines(iomem: str) -> list[tuple[str, int, int, str]]:
    """(name, start, end inclusive, parent name) of each crash resource in /proc/iomem text."""
    out, parent = [], ""
    for line in iomem.splitlines():
        m = re.match(r"^( *)([0-9a-f]+)-([0-9a-f]+) : (.*)$", line)
        if not m:
            continue
        if not m.group(1):
            parent = m.group(4)
        if m.group(4).startswith("Crash kernel"):
            out.append((m.group(4), int(m.group(2), 16), int(m.group(3), 16), parent if m.group(1) else ""))
    return out


def _boot(name: str) -> str:
    return (DATA / "boots" / name / "serial.log").read_text(errors="replace")


def _cycle(name: str) -> str:
    return gzip.decompress((CYCLES / name / "serial.log.gz").read_bytes()).decode(errors="replace")


def _chosen(text: str) -> dict[str, str]:
    props = {}
    for line in _section(text, "CAPTURE_CHOSEN").splitlines():  # "name hexbytes"
        k, _, v = line.strip().partition(" ")
        if k:
            props[k] = v.strip()
    return props


def test_v5_high_gives_two_entries_named_alike():
    """v5, ,high on 8 GiB: two 'Crash kernel' entries, the low one (256 MiB default) first."""
    lines = _crash_lines(_section(_boot("proposal-2019-v5-d-8G-512M-high"), "IOMEM"))
    assert [n for n, *_ in lines] == ["Crash kernel", "Crash kernel"]
    assert lines[0][2] < 1 << 32 <= lines[1][1] and lines[0][2] + 1 - lines[0][1] == 256 << 20
    case = json.loads((DATA / "boots" / "proposal-2019-v5-d-8G-512M-high" / "case.json").read_text())
    r = model.run(scenario_for(case["generation"], case["mem"], (), case["cmdline"], case["provenance"]["initrd_size"]))
    assert [(x.name, x.start, x.end - 1) for x in r.outcome.regions] == [(n, s, e) for n, s, e, _ in lines]


@pytest.mark.parametrize("name", ["proposal-2019-v5-kt2.0.20-d-8G-512M-high", "proposal-2019-v5-kt2.0.20-d-8G-3G"])
def test_v5_old_kexec_tools_loads_into_the_low_entry_and_is_refused(name: str):
    """kexec-tools 2.0.20 keeps the first 'Crash kernel' (the low one), places every segment there, and
    kexec_load refuses: the entry is outside crashk_res (the high region)."""
    text = _cycle(name)
    out = _section(text, "KEXEC_OUTPUT")
    assert "kexec_load failed: Cannot assign requested address" in out
    assert _section(text, "KEXEC_LOADED_AFTER").strip() == "0"
    low = _crash_lines(_section(text, "IOMEM"))[0]
    mems = [int(m, 16) for m in re.findall(r"segment\[\d+\]\.mem\s*=\s*(0x[0-9a-f]+)", out)]
    assert mems and all(low[1] <= m <= low[2] for m in mems)


@pytest.mark.parametrize("name", sorted(p.name for p in LOST.glob("proposal-2019-v5-*")))
def test_v5_crash_kernel_given_two_ranges_loses_the_first(name: str):
    """v5 with kexec-tools that write both ranges (2.0.25, 2.0.32): the load succeeds, but the v5 crash
    kernel's scan of linux,usable-memory-range ([PATCH 3/4]) warns in memblock_add_range and keeps only the
    second (low) range, so the elfcorehdr at the top of the high region is not RAM to it and vmcore_init
    faults: the capture kernel panics (no capture /init ever runs)."""
    text = gzip.decompress((LOST / name / "serial.log.gz").read_bytes()).decode(errors="replace")
    assert _section(text, "KEXEC_LOADED_AFTER").strip() == "1"
    crash_part = text.split("Starting crashdump kernel", 1)[1]
    assert re.search(r"WARNING: .* at memblock_add_range", crash_part)
    assert "vmcore_init" in crash_part and "Kernel panic - not syncing: Attempted to kill init" in crash_part
    assert "=== CAPTURE_BEGIN" not in crash_part


@pytest.mark.parametrize("kt", ["2.0.20", "2.0.25-lab", "2.0.32"])
def test_v5_crash_kernel_with_one_range_is_not_capped(kt: str):
    """The same quirk with one range: nothing is capped, the v5 crash kernel takes all 8 GiB as its RAM."""
    text = _cycle(f"proposal-2019-v5-kt{kt}-d-8G-512M")
    assert re.search(r"WARNING: .* at memblock_add_range", text.split("Starting crashdump kernel", 1)[1])
    ram = [ln for ln in _section(text, "CAPTURE_IOMEM").splitlines() if ln.endswith(": System RAM")]
    assert ram == ["40000000-23fffffff : System RAM"]


def test_review_low_region_is_named_apart_under_its_own_reserved_entry():
    lines = _crash_lines(_section(_boot("proposal-2019-review-d-8G-512M-128M-low"), "IOMEM"))
    assert [(n, p.split(" : ")[-1] if " : " in p else p) for n, *_, p in lines] == [
        ("Crash kernel (low)", "reserved"), ("Crash kernel", "System RAM")]


@pytest.mark.parametrize("kt", ["2.0.20", "2.0.25-lab", "2.0.32"])
def test_review_old_kexec_tools_ignore_the_low_region(kt: str):
    """Exact-name matching: 'Crash kernel (low)' is not read; the crash kernel is loaded into the main region
    and told of nothing low."""
    text = _cycle(f"proposal-2019-review-kt{kt}-d-8G-512M-128M-low")
    assert _section(text, "KEXEC_LOADED_AFTER").strip() == "1"
    chosen = _chosen(text)
    assert "linux,low-memory-range" not in chosen
    assert chosen["linux,usable-memory-range"] == "0000000220000000" + "0000000020000000"


def test_review_new_kexec_tools_describe_the_low_region_and_the_crash_kernel_uses_it():
    text = _cycle("proposal-2019-review-kt2.0.25-lowmem-d-8G-512M-128M-low")
    chosen = _chosen(text)
    assert chosen["linux,low-memory-range"] == "00000000f8000000" + "0000000008000000"
    ram = [ln for ln in _section(text, "CAPTURE_IOMEM").splitlines() if ln.endswith(": System RAM")]
    assert ram == ["f8000000-ffffffff : System RAM", "220000000-23fffffff : System RAM"]


def test_the_verdict_names_what_the_v5_crash_kernel_does():
    """compare/plan/report say it: with two ranges the v5 crash kernel loses its elfcorehdr (fatal), with one
    it is not confined to the crash region (tests/data/designs-lost, designs-cycles)."""
    from kdumplab import presets
    from kdumplab.verdict import FATAL, problems

    def labels(kernel: str, cmdline: str) -> set[str]:
        res = model.run(model.Scenario(presets.qemu_virt(8 << 30, kernel=kernel),
                                       f"console=ttyAMA0 panic=-1 {cmdline}", kernel, kexec_tools="2.0.32"))
        return {label for label, _ in problems(res)}

    assert "elfcorehdr not in its memory" in labels("proposal-2019-v5", "crashkernel=512M,high") & FATAL
    assert "crash kernel not confined" in labels("proposal-2019-v5", "crashkernel=512M")
    for kernel in ("5.10-control", "proposal-2019-review"):
        assert not labels(kernel, "crashkernel=512M") & {"crash kernel not confined", "elfcorehdr not in its memory"}


def _verdict_labels(kernel: str, mem: str, cmdline: str, kexec_tools: str, initrd_size: int,
                    crash_initrd_size: int) -> set[str]:
    import dataclasses  # noqa: PLC0415

    from kdumplab.verdict import problems  # noqa: PLC0415

    scn = dataclasses.replace(scenario_for(kernel, mem, (), cmdline, initrd_size), kexec_tools=kexec_tools,
                              crash_initrd_size=crash_initrd_size)
    return {label for label, _ in problems(model.run(scn))}


@pytest.mark.parametrize("name", sorted(p.name for p in LOST.glob("proposal-2019-v5-*")))
def test_the_model_predicts_each_recorded_v5_panic(name: str):
    """Each of the three runs whose v5 crash kernel panicked in vmcore_init is, in the model's verdict, a
    crash kernel that loses the range holding its elfcorehdr (fatal: exit 3). The first kernel's command line
    and kexec-tools come from the run itself; initrd sizes are those of every designs cycle."""
    from kdumplab.verdict import FATAL  # noqa: PLC0415

    text = gzip.decompress((LOST / name / "serial.log.gz").read_bytes()).decode(errors="replace")
    cmdline = re.search(r"Kernel command line: (.*)", text).group(1).strip()
    kt = re.match(r"proposal-2019-v5-kt([\d.]+(?:-\w+)?)-d-", name).group(1)
    labels = _verdict_labels("proposal-2019-v5", "8G", cmdline, kt, 8104448, 987675)
    assert labels & FATAL == {"elfcorehdr not in its memory"}, labels


@pytest.mark.parametrize("name", sorted(p.name for p in CYCLES.iterdir() if (p / "cycle.json").is_file()))
def test_the_model_predicts_no_panic_where_the_crash_kernel_ran(name: str):
    """The 15 designs cycles whose crash kernel reached its /init: no fatal verdict for any of them."""
    from kdumplab.verdict import FATAL  # noqa: PLC0415

    d = json.loads((CYCLES / name / "cycle.json").read_text())
    first = d["first"]
    labels = _verdict_labels(first["generation"], first["mem"], first["cmdline"], d["kexec"]["version"],
                             first["provenance"]["initrd_size"], d["kexec"]["crash_initrd_size"])
    assert not labels & FATAL, labels
