"""The people-facing commands through the CLI: output, JSON and exit codes (docs/tools.md)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from kdumplab.cli import main
from tests.tools.util import realboot_files, sosreport

CAPTURES = Path(__file__).parents[1] / "data" / "captures"


def _run(*args: str):  # noqa: ANN202
    return CliRunner().invoke(main, list(args))


def test_check_root_warning_exit_1_and_json() -> None:
    r = _run("check", "--root", str(CAPTURES / "6.1-16G-high-without-low"), "--json")
    assert r.exit_code == 1, r.output
    doc = json.loads(r.output)
    assert doc["generations"] == ["6.1"]
    assert [f["code"] for f in doc["findings"] if f["severity"] == "warning"] == ["OUTSIDE_DMA_ZONE"]
    assert doc["regions"][0]["start"] == 0x32de00000


def test_check_not_functional_exit_3() -> None:
    r = _run("check", "--root", str(CAPTURES / "6.1-8G-two-regions-kexec-2.0.20"))
    assert r.exit_code == 3
    assert "[ERROR] KEXEC_TWO_REGIONS" in r.output and "fix: upgrade kexec-tools" in r.output


def test_check_clean_exit_0(tmp_path: Path) -> None:
    # real 6.12 boot, crashkernel=4G,high on 16G: 4 GiB high plus the default 128 MiB low
    files = realboot_files("6.12-16G-a12-crashkernel-4G-high")
    files["sys/kernel/kexec_crash_loaded"] = "1\n"
    r = _run("check", "--sosreport", str(sosreport(files, tmp_path / "s.tar.xz")))
    assert "[ERROR]" not in r.output and "[WARNING]" not in r.output, r.output
    assert r.exit_code == 0


def test_check_truncated_sosreport_exit_2_one_line(tmp_path: Path) -> None:
    whole = sosreport(realboot_files("6.1-16G-a12-crashkernel-4G-high"), tmp_path / "s.tar.gz", mode="w:gz")
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(whole.read_bytes()[:300])
    r = _run("check", "--sosreport", str(cut))
    assert r.exit_code == 2
    assert len(r.output.strip().splitlines()) == 1 and "cut.tar.gz" in r.output


def test_check_garbage_iomem_line_is_partial_input(tmp_path: Path) -> None:
    # a mangled line is named and skipped (PARTIAL_INPUT); the rest shows no crash region (exit 3)
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc" / "iomem").write_text("40000000-7fffffff : System RAM\nnonsense here\n")
    r = _run("check", "--root", str(tmp_path))
    assert r.exit_code == 3 and f"{tmp_path}/proc/iomem:2" in r.output and "PARTIAL_INPUT" in r.output


def test_check_iomem_with_nothing_usable_exit_2(tmp_path: Path) -> None:
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc" / "iomem").write_text("nonsense here\n")
    r = _run("check", "--root", str(tmp_path))
    assert r.exit_code == 2 and f"{tmp_path}/proc/iomem:1" in r.output


def test_explain_rpi4_1g_suggests_verified_changes() -> None:
    # RPi4: 1 GiB DMA limit; the low window [0, 1 GiB) holds the kernel, CMA and firmware, so 1G cannot fit
    r = _run("explain", "--machine", "rpi4-8g", "--cmdline", "crashkernel=1G", "--kernel", "6.1")
    assert r.exit_code == 1
    assert "low window: 0x0-0x3fffffff (1 GiB)" in r.output
    assert "crashkernel=1024M,high crashkernel=128M,low" in r.output


def test_explain_unknown_kernel_exit_2() -> None:
    r = _run("explain", "--machine", "qemu-virt", "--cmdline", "crashkernel=512M", "--kernel", "4.19")
    assert r.exit_code == 2 and "unknown kernel generation" in r.output


def _rows(output: str) -> dict[str, str]:
    """compare's text: policy -> its block (the row line and its indented lines)."""
    rows: dict[str, str] = {}
    name = None
    for line in output.splitlines()[2:]:
        if line[:1] in (" ", ">") and line[1:2] != " ":
            name = line[1:].split()[0]
            rows[name] = line
        elif name:
            rows[name] += "\n" + line
    return rows


def test_recommend_and_compare() -> None:
    r = _run("recommend", "--machine", "graviton", "--kernel", "6.12", "--json")
    assert r.exit_code == 0
    assert any(c["verdict"] == "reserved" for c in json.loads(r.output)["candidates"])
    c = _run("compare", "--machine", "qemu-virt", "--cmdline", "crashkernel=512M", "--kernel", "6.12")
    assert c.exit_code == 0, c.output
    assert list(_rows(c.output))[:7] == ["5.10", "6.1", "6.12", "7.2", "6.12-16k",
                                          "proposal-2019-v5", "proposal-2019-review"]
    assert all(len(line) <= 80 for line in c.output.splitlines())
    # the default --kernel 6.1 with Debian's kexec-tools 2.0.25: the vmcore size wraps, kdump will not work
    assert _run("compare", "--machine", "qemu-virt", "--cmdline", "crashkernel=512M").exit_code == 3


def test_compare_kexec_verdicts_match_the_recorded_cycles() -> None:
    # tests/data/cycles/6.12-kt2.0.20-high-1G: kexec-tools 2.0.20 refused with two regions;
    # 6.1-kt2.0.32-high-1G: loaded high, but the crash kernel had no memory below 4 GiB (no swiotlb line) and
    # its /proc/vmcore was ~1.8e19 bytes (no _text in 6.1's kallsyms)
    c = _run("compare", "--machine", "qemu-virt", "--cmdline", "crashkernel=1G,high")
    assert c.exit_code == 3
    rows = _rows(c.output)
    block = " ".join(rows["6.12"].split())
    assert "2.0.20: NO: kexec_load failed: Cannot assign requested address" in block
    assert "2.0.25: yes, high" in block
    block61 = " ".join(rows["6.1"].split())
    line = block61.split("2.0.32:")[1]
    assert "BUT" in line and "vmcore size wraps" in line and "no memory below 4 GiB" in line
    # and only 6.12/7.2 with kexec-tools >= 2.0.25 write the kernel's own page_offset (52-bit VA: 0xfff0...;
    # recorded: "load_crashdump_segments: page_offset:   fff0000000000000")
    assert "vmcore vaddrs wrong" in line
    assert "BUT" not in block.split("2.0.32:")[1]


def test_plan_says_what_compare_says() -> None:
    """One verdict engine: plan --kexec-tools names the problems compare names, with the same exit status."""
    p = _run("plan", "--cmdline", "crashkernel=1G,high", "--kexec-tools", "2.0.25", "--json")
    doc = json.loads(p.output)
    assert p.exit_code == 3 and doc["exit_status"] == 3 and doc["kdump"]["works"] is False
    labels = [x["label"] for x in doc["kdump"]["problems"]]
    assert labels == ["vmcore vaddrs wrong", "vmcore size wraps", "no memory below 4 GiB"]
    assert doc["crash_kernel"]["vmcore_size_wraps"] is True and doc["crash_kernel"]["vmcore_size"] > 1 << 63
    c = _run("compare", "--cmdline", "crashkernel=1G,high", "--json")
    cell = next(x for r in json.loads(c.output)["rows"] if r["policy"] == "6.1" for x in r["cells"]
                if x["version"] == "2.0.25")
    assert cell["short"] == doc["kdump"]["short"] and cell["status"] == 3
    text = " ".join(_run("plan", "--cmdline", "crashkernel=1G,high", "--kexec-tools", "2.0.25").output
                    .replace("│", " ").split())
    assert "/proc/vmcore size wraps" in text and "virtual addresses assume page_offset" in text


def test_x86_recommend(tmp_path: Path) -> None:
    toml = tmp_path / "x86.toml"
    toml.write_text('name = "x86 16G"\narch = "x86_64"\n[[bank]]\nstart = 0x100000\nsize = 0x7ff00000\n'
                    '[[bank]]\nstart = 0x100000000\nsize = 0x380000000\n')
    r = _run("recommend", "--machine", str(toml), "--kernel", "6.1", "--json")
    assert r.exit_code == 0, r.output
    cands = {c["name"]: c for c in json.loads(r.output)["candidates"]}
    assert cands["kdump-utils"]["size"] == 256 << 20  # x86_64 4G-64G:256M (kdump-lib.sh)


def test_check_committed_sosreport() -> None:
    sos = Path(__file__).parents[1] / "data" / "sosreports" / "sosreport-debian-6.1-high-without-low.tar.xz"
    r = _run("check", "--sosreport", str(sos))
    assert r.exit_code == 1 and "OUTSIDE_DMA_ZONE" in r.output
    assert "release: 6.1.0-56-arm64" in r.output


def test_check_json_golden(monkeypatch) -> None:  # noqa: ANN001
    # the --json schema (docs/tools.md); regenerate with KDUMPLAB_REGEN=1 after a deliberate change
    import os

    monkeypatch.chdir(CAPTURES.parent)
    r = _run("check", "--root", "captures/6.1-8G-two-regions-kexec-2.0.20", "--json")
    golden = CAPTURES.parent / "captures" / "6.1-8G-two-regions-kexec-2.0.20.check.json"
    if os.environ.get("KDUMPLAB_REGEN") == "1":
        golden.write_text(r.output)
    assert json.loads(r.output) == json.loads(golden.read_text())


def test_check_pasted_log_alone_and_stdin(tmp_path: Path) -> None:
    # a grep of dmesg is enough (issue 10): arm64 5.10 wording, end exclusive in the log, inclusive in JSON
    log = tmp_path / "dmesg.txt"
    log.write_text("$ dmesg | grep -i crash\n[    0.000000] crashkernel reserved: 0x00000000dc000000 - "
                   "0x00000000fc000000 (512 MB)\n")
    r = _run("check", "--log", str(log), "--json", "--release", "5.10.0-32-arm64")
    doc = json.loads(r.output)
    assert (doc["view"], doc["outcome"]) == ("first kernel", "reserved")
    assert doc["regions"][0] == {**doc["regions"][0], "start": 0xDC000000, "end": 0xFBFFFFFF, "size": 512 << 20,
                                 "source": "log", "boot": "this"}
    assert doc["family"]["name"] == "arm64-dma-fw"
    r = CliRunner().invoke(main, ["check", "--iomem", "-"], input="  dc000000-fbffffff : Crash kernel\n")
    assert r.exit_code in (0, 1) and "Crash kernel" in r.output and "512 MiB" in r.output


def test_check_other_text_tool_says_not_reserved(tmp_path: Path) -> None:
    other = tmp_path / "other.txt"
    other.write_text("Oct 31 03:19:18 host kdumpctl[987]: No memory reserved for crash kernel.\n")
    r = _run("check", "--other", str(other), "--json")
    doc = json.loads(r.output)
    assert r.exit_code == 3 and doc["outcome"] == "not requested"
    assert "NO_REGION" in [f["code"] for f in doc["findings"]]


def test_check_binary_log_exit_2(tmp_path: Path) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_bytes(bytes(range(256)) * 64)
    r = _run("check", "--log", str(junk))
    assert r.exit_code == 2 and f"{junk}:1" in r.output and "Traceback" not in r.output
    latin = tmp_path / "latin1.txt"
    latin.write_bytes("".join(f"[    0.0] caf\xe9 {i}\n" for i in range(40)).encode("latin-1"))
    r = _run("check", "--log", str(latin))
    assert r.exit_code == 2 and "not text" in r.output and "iconv" in r.output


def test_check_huge_and_nul_logs_exit_2_bounded(tmp_path: Path) -> None:
    # a 1 GB (sparse) log is refused by its size before it is read; NUL-filled text is not text
    huge = tmp_path / "huge.log"
    with huge.open("wb") as fh:
        fh.truncate(1 << 30)
    r = _run("check", "--log", str(huge))
    assert r.exit_code == 2 and str(huge) in r.output and len(r.output.splitlines()) == 1
    nul = tmp_path / "nul.log"
    nul.write_bytes(b"\x00" * 4096 + b"\n[    0.000000] crashkernel reserved: 0x0 - 0x1 (0 MB)\n")
    r = _run("check", "--log", str(nul))
    assert r.exit_code in (0, 1, 3) and "Traceback" not in r.output  # one NUL line among text: skipped
    r = _run("check", "--log", str(tmp_path / "nul2.log"))
    assert r.exit_code == 2 and "no such file" in r.output
    (tmp_path / "nul3.log").write_bytes(b"\x00\x01\x02" * 5000)
    r = _run("check", "--log", str(tmp_path / "nul3.log"))
    assert r.exit_code == 2 and "not text" in r.output


def test_check_root_inside_the_crash_kernel_with_vmcore(tmp_path: Path) -> None:
    # a --root captured inside a recorded crash kernel: /proc/vmcore exists, its iomem is the crash regions
    import gzip

    from tests.serial_sections import sections

    cyc = Path(__file__).parents[1] / "data" / "cycles" / "6.1-kt2.0.25-high-1G-low-128M"
    sec = sections(gzip.decompress((cyc / "serial.log.gz").read_bytes()).decode())
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc" / "iomem").write_text(sec["CAPTURE_IOMEM"])
    (tmp_path / "proc" / "vmcore").write_bytes(b"")
    doc = json.loads(_run("check", "--root", str(tmp_path), "--json").output)
    assert doc["view"] == "crash kernel" and "CAPTURE_KERNEL" in [f["code"] for f in doc["findings"]]
    assert [(r["start"], r["end"]) for r in doc["regions"]] == [(0xF4000000, 0xFBFFFFFF), (0x1F6E00000, 0x236DFFFFF)]


def test_check_root_with_a_diffed_iomem_and_two_kernels_in_dmesg(tmp_path: Path) -> None:
    # the lenient readers apply inside --root too
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc" / "iomem").write_text(
        "--- a\n+++ b\n@@ -1,2 +1,2 @@\n 40000000-23fffffff : System RAM\n-  dc000000-fbffffff : Crash kernel\n"
        "+  ec000000-fbffffff : Crash kernel\n")
    doc = json.loads(_run("check", "--root", str(tmp_path), "--json").output)
    assert {(r["start"], r["boot"]) for r in doc["regions"]} == {(0xEC000000, "this"), (0xDC000000, "other")}


def test_explain_offers_only_true_fixes() -> None:
    """No suggestion is the command line already given (in any order) or changes nothing the kernel does, every
    one reserves, and each says whether kdump then works with the kernel's own Debian kexec-tools."""
    from kdumplab import model, presets
    from kdumplab.tools.explain import explain

    scn = model.Scenario(presets.machine("rpi4-8g"), "crashkernel=1G", "6.12")
    e = explain(scn)
    cur = e.result.outcome.regions
    assert e.suggestions and len(e.kdump) == len(e.suggestions) and e.kexec_tools == "2.0.29"
    for cmd, _ in e.suggestions:
        r = model.run(model.Scenario(scn.machine, cmd, "6.12"))
        assert r.outcome.verdict == "reserved" and r.outcome.regions != cur
        assert set(cmd.split()) != {"crashkernel=1G"}
    failing = explain(model.Scenario(presets.machine("ampere-altra-2p"), "crashkernel=1G", "6.1"))
    assert all(model.run(model.Scenario(failing.result.scenario.machine, c, "6.1")).outcome.regions
               for c, _ in failing.suggestions)
