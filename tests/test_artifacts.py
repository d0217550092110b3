"""DTB and elfcorehdr bytes read back by independent readers (fdtget, readelf, pyelftools); vector K3."""

from __future__ import annotations

import io
import os
import shutil
import subprocess

import fdt
import pytest
from elftools.elf.elffile import ELFFile

from kdumplab.artifacts import crash_dtb, elfcorehdr_bytes
from kdumplab.kexec import KERNEL_KEXEC, kexec_tools, load_crash_kernel
from tests.test_kexec import HIGH, INITRD, V08


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("KDUMPLAB_REQUIRE_TOOLS") == "1":
            pytest.fail(f"{name} is required")
        pytest.skip(f"{name} not installed (apt-get install device-tree-compiler binutils)")
    return path


def _base() -> bytes:
    tree = fdt.FDT()
    tree.set_property("#address-cells", 2)
    tree.set_property("#size-cells", 2)
    tree.add_item(fdt.Node("chosen"))
    return tree.to_dtb(version=17)


LOAD = load_crash_kernel(kexec_tools("2.0.25"), KERNEL_KEXEC["6.12"], V08, HIGH, INITRD)


def test_dtb_read_by_fdtget(tmp_path):
    fdtget = _tool("fdtget")
    p = tmp_path / "crash.dtb"
    p.write_bytes(crash_dtb(_base(), LOAD, "console=ttyAMA0 maxcpus=1"))
    out = subprocess.run(
        [fdtget, "-tx", str(p), "/chosen", "linux,usable-memory-range"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["1", "7f000000", "0", "c0000000", "0", "f4000000", "0", "8000000"]  # K3
    out = subprocess.run(
        [fdtget, "-tx", str(p), "/chosen", "linux,elfcorehdr"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["2", "3efff000", "0", "400"]


def test_elfcorehdr_read_by_pyelftools_and_readelf(tmp_path):
    data = elfcorehdr_bytes(LOAD)
    assert len(data) == 1024
    elf = ELFFile(io.BytesIO(data))
    assert elf["e_type"] == "ET_CORE" and elf["e_machine"] == "EM_AARCH64" and elf.num_segments() == 13
    p = tmp_path / "elfcorehdr"
    p.write_bytes(data)
    out = subprocess.run([_tool("readelf"), "-lW", str(p)], capture_output=True, text=True, check=True).stdout
    assert out.count("LOAD") == 4 and out.count("NOTE") == 9
