"""Every recorded x86_64 boot under OVMF (tests/data/boots-x86-uefi/*/) against the ``qemu-q35`` preset with
``firmware="uefi"``.

The recording wins: when this fails, fix the model, never the recording. Facts come from the raw serial.log by
the extractor of test_x86_boots. Checked byte for byte: OVMF's e820 map (the BIOS-e820 lines), the crash log
lines, the crash lines of /proc/iomem and kexec_crash_size; every other /proc/iomem line too, except inside the
EFI loader's memory at the top of low RAM, where the stub's setup_data and one efi_mem_reserve'd range split
System RAM at places the model does not give (tools.verify.merge_loader_window joins them back). With nokaslr
the kernel must run where the model puts it (the EFI stub's first slot, or 5.10's LoadImage placement); with
KASLR its address must be one of the places the model draws from.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from kdumplab import kaslr, model
from kdumplab.presets.q35 import ovmf_e820, ovmf_loader_window, qemu_q35
from kdumplab.tools.verify import merge_loader_window
from tests.ground_truth.test_x86_boots import _facts, _section, _size

BOOTS = sorted(p for p in (Path(__file__).parent.parent / "data" / "boots-x86-uefi").glob("*")
               if (p / "case.json").exists())
#: e820__print_table; 7.x prints "System RAM"/"device reserved" with two spaces and the gaps between entries
_E820 = re.compile(r"BIOS-e820: \[mem 0x([0-9a-f]+)-0x([0-9a-f]+)\] {1,2}(usable|System RAM|reserved|device reserved|"
                   r"ACPI data|ACPI NVS)$")
_KIND = {"System RAM": "usable", "device reserved": "reserved"}


def _case(case_dir: Path) -> tuple[dict, dict, int]:
    case = json.loads((case_dir / "case.json").read_text())
    assert "-bios" in case["provenance"]["qemu_cmdline"], "an OVMF boot passes OVMF.fd with -bios"
    return case, _facts((case_dir / "serial.log").read_text(errors="replace")), _size(case["mem"])


def test_there_are_ovmf_recordings() -> None:
    assert len(BOOTS) >= 30


@pytest.mark.parametrize("case_dir", BOOTS, ids=lambda p: p.name)
def test_model_matches_real_ovmf_boot(case_dir: Path) -> None:
    case, real, mem = _case(case_dir)
    text = (case_dir / "serial.log").read_text(errors="replace").replace("\r", "")
    e820 = [(int(m[1], 16), int(m[2], 16) + 1, _KIND.get(m[3], m[3])) for x in _section(text, "DMESG").splitlines()
            if (m := _E820.search(x))]
    assert e820 == list(ovmf_e820(mem))
    gen = case["generation"]
    free = qemu_q35(mem, None, case["provenance"]["initrd_size"], gen, firmware="uefi")
    if "nokaslr" in case["cmdline"].split():
        assert real["kernel_at"] == free.kernel.load_address
    else:
        assert real["kernel_at"] in kaslr.slots(kaslr.layout_for(free))
    pinned = qemu_q35(mem, None, case["provenance"]["initrd_size"], gen, kernel_at=real["kernel_at"],
                      firmware="uefi")
    result = model.run(model.Scenario(pinned, case["cmdline"], gen))
    assert list(result.outcome.log) == real["log"]
    window = ovmf_loader_window(mem)
    assert result.iomem_text.splitlines() == merge_loader_window(real["iomem"], *window).splitlines()
    if real["kexec_crash_size"] is not None:
        assert result.kexec_crash_size == real["kexec_crash_size"]


def test_merge_loader_window_joins_only_inside_the_window() -> None:
    text = ("00900000-7de3b017 : System RAM\n  01600000-02401d31 : Kernel code\n7de3b018-7de44c57 : System RAM\n"
            "7de44c58-7df44fff : System RAM\n7df45000-7df4dfff : Reserved\n7df4e000-7eeb6fff : System RAM\n"
            "7eeb7000-7ef77fff : Reserved\n7ef78000-7f8ecfff : System RAM\n")
    merged = merge_loader_window(text, 0x7bf75000, 0x7eeb7000)
    assert merged == ("00900000-7eeb6fff : System RAM\n  01600000-02401d31 : Kernel code\n"
                      "7eeb7000-7ef77fff : Reserved\n7ef78000-7f8ecfff : System RAM\n")
    assert merge_loader_window(text, 0x7e000000, 0x7eeb7000) == text  # a split below the window stays
