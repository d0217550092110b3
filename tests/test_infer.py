"""--from: the machine inferred from a boot's own evidence, checked against the recorded boots
(tests/data/boots): the model on the machine read back from a boot's dmesg and /proc/iomem must reserve what
that real boot reserved. The sections are cut from serial.log here, not through lab/observe.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from kdumplab import capture, model
from kdumplab.cli import main
from kdumplab.errors import KdumplabError
from kdumplab.evidence import gather
from kdumplab.infer import machine_from
from tests.serial_sections import sections

BOOTS = Path(__file__).parent / "data" / "boots"
CASES = sorted(p for p in BOOTS.iterdir() if (p / "case.json").exists())

#: boots the inferred machine cannot reproduce, and why
KNOWN = {
    # the initrd that occupies the fixed base is freed after boot: /proc/iomem and dmesg no longer show it
    **{f"{g}-fixed-occupied": "the initrd occupying @0x48000000 at boot is not in the evidence (freed later)"
       for g in ("5.10", "6.1", "6.12", "7.2")},
    # 7.2 reserves a CMA area per NUMA node (Feature.PERNODE_CMA); the log's one 'cma: Reserved' line is read
    # as the whole CMA size and the per-node areas are not rebuilt
    **{c: "7.2 per-node CMA areas are not inferred from the log" for c in
       ("7.2-dma1G-numa-512M", "7.2-numa-512M", "7.2-numa-high-1G")},
}


def _param(p: Path) -> object:
    marks = [pytest.mark.xfail(strict=True, reason=KNOWN[p.name])] if p.name in KNOWN else []
    return pytest.param(p, id=p.name, marks=marks)


@pytest.mark.parametrize("case", [_param(p) for p in CASES])
def test_inferred_machine_reserves_what_the_boot_did(case: Path) -> None:
    rec = json.loads((case / "case.json").read_text())
    sec = sections((case / "serial.log").read_text())
    cap = capture.from_texts(case.name, {"kernel_log": sec["DMESG"], "iomem": sec["IOMEM"]})
    m = machine_from(gather(cap))
    assert all(n.startswith("inferred: ") for n in m.notes)
    res = model.run(model.Scenario(m, rec["cmdline"], rec["generation"]))
    got = sorted((r.start, r.end) for r in res.outcome.regions if r.in_iomem)
    assert got == sorted((r["start"], r["end"]) for r in rec["crash_regions"])


def test_crash_kernel_evidence_is_refused() -> None:
    text = "[    0.000000] OF: fdt: Reserving 1 KiB of memory at 0xfbfff000 for elfcorehdr\n" \
           "[    0.000000]   node   0: [mem 0x00000000dc000000-0x00000000fbffffff]\n"
    with pytest.raises(KdumplabError, match="inside the crash kernel"):
        machine_from(gather(capture.from_texts("t", {"kernel_log": text})))


def test_from_on_plan(tmp_path: Path) -> None:
    sec = sections((BOOTS / "6.1-cma0-512M" / "serial.log").read_text()) if (BOOTS / "6.1-cma0-512M").exists() \
        else sections((CASES[0] / "serial.log").read_text())
    log = tmp_path / "dmesg.txt"
    log.write_text(sec["DMESG"])
    r = CliRunner().invoke(main, ["plan", "--from", str(log), "--cmdline", "crashkernel=512M", "--kernel", "6.1",
                                  "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["machine"]["name"] == f"from {log}" and doc["regions"]
