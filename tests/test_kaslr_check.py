"""check on x86 captures with physical KASLR (issue 14): the machine inferred from a recorded boot's own log and
/proc/iomem (kdumplab.infer) reproduces that boot's reservation, and check says how often the same command line
fails over every place the kernel can land, the same share plan gives for the qemu-q35 preset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kdumplab import capture, kaslr, model
from kdumplab.evidence import gather
from kdumplab.findings import analyze
from kdumplab.infer import machine_from
from kdumplab.presets.q35 import qemu_q35

BOOTS = Path(__file__).parent / "data" / "boots-x86"
#: failed and reserved KASLR boots of every generation (crashkernel=3G on 6 GiB), and nokaslr boots
SAMPLE = ("kaslr-6.1-6G-3G-r1", "kaslr-6.1-6G-3G-r2", "kaslr-5.10-6G-3G-r3", "kaslr-6.12-6G-3G-r4",
          "kaslr-7.2-6G-3G-r5", "kaslr-7.2-6G-3G-r6", "6.1-x86-6G-3G", "7.2-x86-6G-1G-high-low96M")


def _capture(name: str) -> tuple[capture.Capture, dict]:
    case = json.loads((BOOTS / name / "case.json").read_text())
    texts = {"kernel_log": (BOOTS / name / "serial.log").read_text(errors="replace"), "iomem": case["iomem"],
             "cmdline": case["cmdline"] + "\n"}
    return capture.from_texts(name, texts), case


@pytest.mark.parametrize("name", SAMPLE)
def test_inferred_x86_machine_reproduces_the_boot(name: str) -> None:
    cap, case = _capture(name)
    ev = gather(cap)
    m = machine_from(ev)
    code = next(ln for ln in case["iomem"].splitlines() if ln.endswith(": Kernel code"))
    assert m.kernel is not None and m.kernel.load_address == int(code.split("-")[0], 16)
    assert m.initrd is not None and (m.initrd.start, m.initrd.end) == ev.initrd
    res = model.run(model.Scenario(m, case["cmdline"], case["generation"]))
    assert list(res.outcome.log) == case["crash_log"]
    assert [(r.start, r.end) for r in res.outcome.regions] == sorted(
        (r["start"], r["end"]) for r in case["crash_regions"])


def test_check_says_how_often_it_fails(name: str = "kaslr-6.1-6G-3G-r1") -> None:
    cap, case = _capture(name)
    found = {f.code: f for f in analyze(cap).findings}
    share = kaslr.distribution(model.Scenario(qemu_q35(6 << 30, None, case["provenance"]["initrd_size"],
                                                       case["generation"]), case["cmdline"], case["generation"]))
    f = found["KASLR_VARIES"]
    failed = sum(o.slots for o in share.outcomes if o.verdict == "failed")
    assert (f"fails on {share.failed_share:.1%} of boots of this machine ({failed} of the {share.total_slots} "
            "places") in f.title
    assert ("this boot failed" in f.title) is (not case["crash_regions"])
    # the fix: 3/4 of 3G fails when the kernel splits the 4 GiB above 4 GiB, half of it reserves everywhere
    assert f.fix.startswith("crashkernel=1536M (reserves on every boot")


def test_check_on_a_modelled_boot_that_reserved() -> None:
    # 1 GiB, crashkernel=640M (tests/tools/test_plan_kaslr.py): the kernel pinned at 0x30000000 leaves room below
    # it, and check (on the modelled capture) says the share plan gives, as a warning with a smaller fix
    m = qemu_q35(1 << 30, None, 1028151, "6.1", kernel_at=0x3000_0000)
    res = model.run(model.Scenario(m, "console=ttyS0 crashkernel=640M", "6.1"))
    text = res.outcome.log
    log = "\n".join(["Linux version 6.1.0-57-amd64 (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC "
                     "Debian 6.1.192-3", "RAMDISK: [mem 0x3fed4000-0x3ffcffff]", *text]) + "\n"
    cap = capture.from_texts("model", {"kernel_log": log, "iomem": res.iomem_text,
                                       "cmdline": "console=ttyS0 crashkernel=640M\n"})
    found = {f.code: f for f in analyze(cap).findings}
    share = kaslr.distribution(model.Scenario(qemu_q35(1 << 30, None, 1028151, "6.1"), res.scenario.cmdline, "6.1"))
    f = found["KASLR_VARIES"]
    assert res.outcome.regions and "this boot reserved" in f.title
    assert f"fails on {share.failed_share:.1%} of boots of this machine" in f.title
    assert f.fix.startswith("crashkernel=") and int(f.fix.split("=")[1].split("M")[0]) < 640


def test_nokaslr_capture_has_no_kaslr_finding() -> None:
    cap, _ = _capture("6.1-x86-6G-3G")
    assert not {"KASLR_VARIES", "KASLR_OK"} & {f.code for f in analyze(cap).findings}
