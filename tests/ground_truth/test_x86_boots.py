"""Every recorded x86_64 boot (tests/data/boots-x86/*/) against the model on the ``qemu-q35`` preset.

The recording wins: when this fails, fix the model, never the recording. Facts come from the raw serial.log by
the small extractor below (not kdumplab.lab.observe); the inputs (generation, -m, NUMA, initrd size) from
case.json. The kernel is pinned where the boot's "Kernel code" line says it ran: with physical KASLR on, that
address is the one random choice a boot makes, and once it is given the prediction must be exact. Crash lines
of the log and /proc/iomem, every other /proc/iomem line (x86 shows no memblock "reserved" children) and
kexec_crash_size are compared byte for byte.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from kdumplab import model
from kdumplab.presets.q35 import qemu_q35

BOOTS = sorted(p for p in (Path(__file__).parent.parent / "data" / "boots-x86").glob("*") if (p / "case.json").exists())
_CRASH = re.compile(r"^(crashkernel|Reserving .*crashkernel|kexec: Reserving the low 1M|Cannot reserve .*crashkernel|"
                    r"cannot allocate crashkernel)")


def _section(text: str, name: str) -> str:
    m = re.search(rf"^=== {name}\s*$(.*?)^=== ", text, re.M | re.S)
    assert m, f"no {name} section"
    body = m.group(1)
    if name != "DMESG":  # the console is shared: a late kernel message can land inside another section
        body = "\n".join(x for x in body.splitlines() if not re.match(r"^\[ *\d+\.\d+\] ", x))
    return body.strip("\n") + "\n"


def _facts(serial: str) -> dict:
    text = serial.replace("\r", "")
    lines = [re.sub(r"^\[ *[0-9.]+\] ", "", x) for x in _section(text, "DMESG").splitlines()]
    iomem = _section(text, "IOMEM")
    code = re.search(r"^  ([0-9a-f]+)-[0-9a-f]+ : Kernel code$", iomem, re.M)
    # kernel messages can land inside a section (the console is shared): take the number line
    size = re.search(r"^(\d+)$", _section(text, "KEXEC_CRASH_SIZE"), re.M)
    return {"log": [x for x in lines if _CRASH.match(x)], "iomem": iomem, "kernel_at": int(code.group(1), 16),
            "kexec_crash_size": int(size.group(1)) if size else None}


def _size(text: str) -> int:
    return int(text[:-1]) << {"M": 20, "G": 30}[text[-1]]


def test_there_are_x86_recordings() -> None:
    assert len(BOOTS) >= 12


@pytest.mark.parametrize("case_dir", BOOTS, ids=lambda p: p.name)
def test_model_matches_real_x86_boot(case_dir: Path) -> None:
    case = json.loads((case_dir / "case.json").read_text())
    assert case["provenance"]["qemu_cmdline"][:3] == ["qemu-system-x86_64", "-M", "q35"]
    real = _facts((case_dir / "serial.log").read_text(errors="replace"))
    machine = qemu_q35(_size(case["mem"]), tuple(_size(n) for n in case["numa"]) or None,
                       case["provenance"]["initrd_size"], case["generation"], kernel_at=real["kernel_at"])
    result = model.run(model.Scenario(machine, case["cmdline"], case["generation"]))
    assert list(result.outcome.log) == real["log"]
    assert result.iomem_text.splitlines() == real["iomem"].splitlines()
    if real["kexec_crash_size"] is not None:
        assert result.kexec_crash_size == real["kexec_crash_size"]
