"""compare, report and recommend on x86 with physical KASLR (issue 14): each says how often the reservation works
over every place the kernel can land (kdumplab.kaslr), not only at the nokaslr address."""

from __future__ import annotations

from click.testing import CliRunner

from kdumplab import kaslr, model
from kdumplab.cli import main
from kdumplab.presets.q35 import qemu_q35
from kdumplab.recommend import Candidate, _choose
from kdumplab.tools.compare import compare

# 1 GiB q35, all of it below 4 GiB: crashkernel=640M fails when the kernel sits in the middle (test_plan_kaslr)
Q35_1G = ("--machine", "qemu-q35", "--kernel", "6.1", "--mem", "1G")


def test_compare_rows_carry_the_kaslr_share() -> None:
    m = qemu_q35(1 << 30, None, 0xFB037, "6.1")
    rows = {r.policy: r for r in compare(m, "crashkernel=640M")}
    share = kaslr.share_text(kaslr.distribution(model.Scenario(m, "crashkernel=640M", "6.1")))
    assert rows["6.1"].kaslr.startswith(f"KASLR: {share}")
    assert all(r.kaslr == "" for r in compare(m, "nokaslr crashkernel=640M"))


def test_report_draws_where_the_kernel_can_land(tmp_path) -> None:  # noqa: ANN001
    page = tmp_path / "r.html"
    r = CliRunner().invoke(main, ["report", "--html", str(page), *Q35_1G, "--cmdline", "crashkernel=640M"])
    assert r.exit_code in (0, 1), r.output  # 1 while kexec-tools is not modelled on x86 (compare's cells)
    html = page.read_text()
    assert 'id="kaslr"' in html and "Crash region: fails on" in html
    assert 'class="kaslr-ok"' in html and 'class="kaslr-fail"' in html
    fixed = tmp_path / "f.html"
    CliRunner().invoke(main, ["report", "--html", str(fixed), *Q35_1G, "--cmdline", "nokaslr crashkernel=640M"])
    assert 'class="kaslr-ok"' not in fixed.read_text()


def test_recommend_prefers_a_size_that_reserves_on_every_boot() -> None:
    ours = Candidate("kdumplab", "crashkernel=640M", 640 << 20, "", "reserved", "", "", 1, everywhere=False)
    table = Candidate("kdump-utils", "crashkernel=256M", 256 << 20, "", "reserved", "", "", 0, everywhere=True)
    assert _choose([ours, table], 1 << 30, None)[0] == 1
    alone, why = _choose([ours], 1 << 30, None)
    assert alone == 0 and "fails on some boots" in why


def test_recommend_on_q35_checks_every_placement() -> None:
    r = CliRunner().invoke(main, ["recommend", *Q35_1G[:4], "--mem", "2G"])
    assert r.exit_code == 0, r.output
    assert "on every place KASLR can put the kernel" in r.output


def test_compare_builds_q35_for_each_kernel() -> None:
    # under OVMF 5.10 runs where LoadImage put it (0x78200000) and 6.1+ at 0x1600000: the 512M region sits under
    # each kernel's own place (tests/data/boots-x86-uefi/cal-5.10-uefi-6G-512M: 58000000-77ffffff; 6.1: 5b000000)
    out = CliRunner().invoke(main, ["compare", "--machine", "qemu-q35", "--firmware", "uefi", "--kernel", "6.1",
                                    "--mem", "6G", "--cmdline", "nokaslr crashkernel=512M"]).output
    assert "UEFI (EFI stub)" in out.splitlines()[0]
    lines = out.splitlines()
    main_of = {lines[i].split()[0].lstrip(">"): lines[i + 1].strip() for i in range(len(lines) - 1)
               if lines[i + 1].strip().startswith("main ")}
    assert main_of["5.10"].startswith("main 0x58000000-0x77ffffff")
    assert main_of["6.1"].startswith("main 0x5b000000-0x7affffff")
