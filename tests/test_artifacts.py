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


CYCLE = os.path.join(os.path.dirname(__file__), "data", "cycles", "6.12-kt2.0.25-high-1G")  # wherever pytest runs from


def test_qemu_dtb_with_nops_is_read_and_kept(tmp_path):
    # QEMU's own DTB (the first kernel's /sys/firmware/fdt of a recorded cycle) carries FDT_NOP tokens that
    # the fdt library rejects; stripped, dtc reads the same tree from both blobs.
    from pathlib import Path

    from kdumplab.artifacts import without_nops
    from kdumplab.lab.cycle import load_cycle

    blob = load_cycle(Path(CYCLE)).first_fdt
    with pytest.raises(Exception, match="Unknown Tag: 4"):
        fdt.parse_dtb(blob)
    stripped = without_nops(blob)
    fdt.parse_dtb(stripped)
    dtc = _tool("dtc")
    out = []
    for name, data in (("a.dtb", blob), ("b.dtb", stripped)):
        (tmp_path / name).write_bytes(data)
        out.append(subprocess.run([dtc, "-q", "-I", "dtb", "-O", "dts", str(tmp_path / name)], capture_output=True,
                                  text=True, check=True).stdout)
    assert out[0] == out[1]


@pytest.mark.parametrize("blob", [b"", b"\xd0\x0d\xfe\xed" + bytes(36), b"not a dtb at all" * 4])
def test_damaged_dtb_is_one_error(blob):
    from kdumplab.errors import KdumplabError

    with pytest.raises(KdumplabError, match="base.dtb"):
        crash_dtb(blob, LOAD, "x", "base.dtb")


def test_truncated_dtb_is_one_error():
    from pathlib import Path

    from kdumplab.errors import KdumplabError
    from kdumplab.lab.cycle import load_cycle

    blob = load_cycle(Path(CYCLE)).first_fdt
    cut = blob[:0x1000]
    # header still claims the full blocks: refused before reading past the end
    with pytest.raises(KdumplabError, match="truncated"):
        crash_dtb(cut, LOAD, "x", "base.dtb")


def test_plan_emits_the_real_crash_dtb(tmp_path):
    # `kdumplab plan` with the first kernel's /sys/firmware/fdt writes the DTB kexec-tools 2.0.25 really built
    # (the recorded crash kernel's /sys/firmware/fdt), compared as sorted dtc output.
    from pathlib import Path

    from click.testing import CliRunner

    from kdumplab.cli import main
    from kdumplab.lab.cycle import CRASH_APPEND, load_cycle

    cyc = load_cycle(Path(CYCLE))
    (tmp_path / "base.dtb").write_bytes(cyc.first_fdt)
    args = ["plan", "--kernel", "6.12", "--mem", "8G", "--initrd-size", str(cyc.first.provenance.initrd_size),
            "--cmdline", cyc.first.cmdline, "--kexec-tools", "2.0.25", "--crash-initrd-size",
            str(cyc.kexec.crash_initrd_size), "--base-dtb", str(tmp_path / "base.dtb"), "--crash-append",
            CRASH_APPEND, "--emit-dtb", str(tmp_path / "crash.dtb"), "--json"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    (tmp_path / "real.dtb").write_bytes(cyc.capture.fdt)
    dtc = _tool("dtc")
    dts = [subprocess.run([dtc, "-q", "-s", "-I", "dtb", "-O", "dts", str(tmp_path / n)], capture_output=True,
                          text=True, check=True).stdout for n in ("crash.dtb", "real.dtb")]
    assert dts[0] == dts[1]


def test_plan_with_a_garbage_base_dtb_exits_2_and_writes_nothing(tmp_path):
    from click.testing import CliRunner

    from kdumplab.cli import main

    (tmp_path / "base.dtb").write_bytes(b"garbage")
    r = CliRunner().invoke(main, ["plan", "--kexec-tools", "2.0.25", "--base-dtb", str(tmp_path / "base.dtb"),
                                  "--emit-dtb", str(tmp_path / "crash.dtb")])
    assert r.exit_code == 2
    assert "base.dtb" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "crash.dtb").exists()


def root_cells_dtb(cells: object = 2) -> bytes:
    """A tiny base DTB whose root ``#address-cells`` is ``cells`` (None: the property with no value)."""
    tree = fdt.FDT()
    if cells is None:
        tree.add_item(fdt.Property("#address-cells"))
    else:
        tree.set_property("#address-cells", cells)
    tree.set_property("#size-cells", 2)
    tree.add_item(fdt.Node("chosen"))
    return tree.to_dtb(version=17)


@pytest.mark.parametrize("cells", [None, [1, 2], [3], "x"])
def test_base_dtb_with_bad_root_address_cells_is_one_line(tmp_path, cells):
    # found on 11-30: a 143-byte DTB whose root #address-cells is empty raised AttributeError
    from click.testing import CliRunner

    from kdumplab.cli import main

    (tmp_path / "base.dtb").write_bytes(root_cells_dtb(cells))
    r = CliRunner().invoke(main, ["plan", "--kexec-tools", "2.0.25", "--base-dtb", str(tmp_path / "base.dtb"),
                                  "--emit-dtb", str(tmp_path / "crash.dtb")])
    assert r.exit_code == 2 and len(r.stderr.splitlines()) == 1
    assert "base.dtb: root #address-cells must be one cell" in r.stderr
    assert not (tmp_path / "crash.dtb").exists()


def test_base_dtb_fifo_is_refused_without_blocking(tmp_path):
    import os

    from click.testing import CliRunner

    from kdumplab.cli import main

    os.mkfifo(tmp_path / "fifo")
    r = CliRunner().invoke(main, ["plan", "--kexec-tools", "2.0.25", "--base-dtb", str(tmp_path / "fifo"),
                                  "--emit-dtb", str(tmp_path / "crash.dtb")])
    assert r.exit_code == 2 and "is a FIFO" in r.stderr


@pytest.mark.parametrize("append", [None, "console=ttyAMA0 nr_cpus=1 reset_devices"])
def test_emitted_dtb_bootargs_are_the_crash_command_line_the_model_used(tmp_path, append):
    # The DTB written must carry the bootargs the model loaded and booted the crash kernel with (its size is
    # the DTB segment's): --crash-append when given, else the lab's kexec.CRASH_APPEND. Before 11-30 the default
    # was the first kernel's line without crashkernel=, which the modelled load never used.
    from click.testing import CliRunner

    from kdumplab.cli import main
    from kdumplab.kexec import CRASH_APPEND

    args = ["plan", "--kernel", "6.12", "--mem", "4G", "--cmdline", "console=ttyAMA0 loglevel=7 crashkernel=512M",
            "--kexec-tools", "2.0.25", "--emit-dtb", str(tmp_path / "crash.dtb")]
    r = CliRunner().invoke(main, args + ([] if append is None else ["--crash-append", append]))
    assert r.exit_code == 0, r.output
    # read with Debian's fdtget: kexec-tools pads the value with NULs to 4 bytes, which fdt may take for words
    out = subprocess.run([_tool("fdtget"), "-t", "bx", str(tmp_path / "crash.dtb"), "/chosen", "bootargs"],
                         capture_output=True, text=True, check=True).stdout
    assert bytes(int(b, 16) for b in out.split()).rstrip(b"\0").decode() == (append or CRASH_APPEND)
