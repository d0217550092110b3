"""recommend: the cited tables, the range rule, and proof on the model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from kdumplab import presets
from kdumplab.cli import main
from kdumplab.errors import KdumplabError
from kdumplab.machine import Bank, Machine
from kdumplab.recommend import (
    SUSE_CALIBRATE_DEFAULTS,
    TABLES,
    CalibrateConf,
    parse_calibrate_conf,
    pick,
    recommend,
    suse_calibrate,
)

M, G = 1 << 20, 1 << 30


@pytest.mark.parametrize(("ram", "size"), [(2 * G - 1, 0), (2 * G, 256 * M), (4 * G - 1, 256 * M), (4 * G, 320 * M),
                                           (64 * G, 576 * M)])
def test_pick_start_inclusive_end_exclusive(ram: int, size: int) -> None:
    # kdump-utils spec/kdump-lib_spec.sh: lower bound inclusive, upper exclusive
    arm = next(t for t in TABLES if t.name == "kdump-utils" and t.arch == "arm64")
    assert pick(arm.ranges, ram) == size


def test_every_table_is_cited() -> None:
    assert all(t.source and ("kdump-utils" in t.source or "kdump-tools" in t.source) for t in TABLES)
    # kdump-utils is pinned to a commit; Ubuntu's packaging git is not mirrored, so a search-index file id
    assert all("commit" in t.source or "file id" in t.source for t in TABLES)


def _table(name: str, arch: str) -> str:
    return next(t.ranges for t in TABLES if t.name == name and t.arch == arch)


# rhkdump/kdump-utils kdump-lib.sh @ 63f248c94a4a, kdump_get_arch_recommend_crashkernel:
#   x86_64/s390x  "2G-64G:256M,64G-:512M"            (fe18f933baed: 192M from 1G before 2025-03-06)
#   aarch64       "2G-4G:256M,4G-64G:320M,64G-:576M" (ca42bd690ae5: started at 1G before)
# Ubuntu kdump-tools 1:1.10.7ubuntu3 /etc/default/grub.d/kdump-tools.cfg, both arches:
#   "2G-4G:320M,4G-32G:512M,32G-64G:1024M,64G-128G:2048M,128G-:4096M"
@pytest.mark.parametrize(("name", "arch", "ram", "size"), [
    ("kdump-utils", "x86_64", 2 * G - 1, 0), ("kdump-utils", "x86_64", 2 * G, 256 * M),
    ("kdump-utils", "x86_64", 64 * G - 1, 256 * M), ("kdump-utils", "x86_64", 64 * G, 512 * M),
    ("kdump-utils", "x86_64", 4096 * G, 512 * M),
    ("kdump-utils", "arm64", 2 * G, 256 * M), ("kdump-utils", "arm64", 4 * G, 320 * M),
    ("kdump-utils", "arm64", 8 * G, 320 * M), ("kdump-utils", "arm64", 64 * G, 576 * M),
    ("ubuntu", "arm64", 2 * G - 1, 0), ("ubuntu", "arm64", 2 * G, 320 * M), ("ubuntu", "arm64", 4 * G, 512 * M),
    ("ubuntu", "arm64", 32 * G - 1, 512 * M), ("ubuntu", "arm64", 32 * G, 1024 * M),
    ("ubuntu", "arm64", 64 * G, 2048 * M), ("ubuntu", "arm64", 128 * G - 1, 2048 * M),
    ("ubuntu", "arm64", 128 * G, 4096 * M), ("ubuntu", "x86_64", 8 * G, 512 * M),
    ("ubuntu", "x86_64", 64 * G, 2048 * M),
])
def test_table_values(name: str, arch: str, ram: int, size: int) -> None:
    assert pick(_table(name, arch), ram) == size


def test_64k_without_extras_and_16k_mlx5() -> None:
    # kdump-lib.sh: a "64k" kernel gets +100M; a 16K kernel is not "64k" so gets the 4K baseline, mlx5 +150M
    rec = recommend(presets.machine("rpi4-8g"), "6.1", page_size=65536)
    assert next(c for c in rec.candidates if c.name == "kdump-utils").size == (320 + 100) * M
    rec = recommend(presets.machine("rpi4-8g"), "6.1", page_size=16384, nic_drivers=("mlx5_core",))
    assert next(c for c in rec.candidates if c.name == "kdump-utils").size == (320 + 150) * M


def test_rpi4_recommendation_runs_on_the_model() -> None:
    rec = recommend(presets.machine("rpi4-8g"), "6.1")
    byname = {c.name: c for c in rec.candidates}
    # 8052 MiB RAM -> kdump-utils aarch64 4G-64G:320M; Ubuntu 4G-32G:512M
    assert byname["kdump-utils"].size == 320 * M and byname["ubuntu"].size == 512 * M
    assert byname["kdump-utils"].verdict == "reserved"


def test_64k_smmu_mlx5_deltas() -> None:
    rec = recommend(presets.machine("rpi4-8g"), "6.1", page_size=65536, smmu=True, nic_drivers=("mlx5_core",))
    # 320 + 100 (64K) + 384 (SMMU queues on 64K) + 200 (mlx5 on 64K), kdump-lib.sh
    assert next(c for c in rec.candidates if c.name.startswith("kdump-utils")).size == (320 + 100 + 384 + 200) * M


def test_altra_needs_the_split_on_61() -> None:
    # 6.1: plain crashkernel= does not fall back high; the Altra's low 4 GiB cannot hold 576M
    rec = recommend(presets.machine("ampere-altra-2p"), "6.1")
    plain = next(c for c in rec.candidates if c.name == "kdump-utils")
    split = next(c for c in rec.candidates if c.name == "kdump-utils (high/low split)")
    assert plain.verdict == "failed" and split.verdict == "reserved"
    assert split.cmdline == "crashkernel=576M,high crashkernel=128M,low"



@given(st.lists(st.integers(1, 64), min_size=1, max_size=6, unique=True), st.integers(0, 80 << 30))
def test_pick_matches_brute_force(bounds: list[int], ram: int) -> None:
    # ranges built from sorted GiB bounds, last one open-ended; sizes are the index (MiB) so each range is known
    b = sorted(bounds)
    parts = [f"{lo}G-{hi}G:{i + 1}M" for i, (lo, hi) in enumerate(zip(b, b[1:], strict=False))]
    parts.append(f"{b[-1]}G-:{len(b)}M")
    expect = 0
    for i, lo in enumerate(b):
        hi = b[i + 1] if i + 1 < len(b) else None
        if ram >= lo * G and (hi is None or ram < hi * G):
            expect = (i + 1) * M
    assert pick(",".join(parts), ram) == expect


# -- SUSE kdumptool calibrate ----------------------------------------------------------------------------
# Model of openSUSE/kdump kdumptool/calibrate.cc @ 34da4b882455 (runtimeSize, main); calibrate.conf numbers
# from bmwiedemann/openSUSE packages/k/kdump/calibrate.conf.all @ d807b353853b (kdump 2.1.10), Tumbleweed.
# Defaults: KDUMP_CPUS=32, local dump (no network), makedumpfile, no LUKS, the 3072 KiB default framebuffer.

ARM_4K = SUSE_CALIBRATE_DEFAULTS[("arm64", 4096)]
ARM_64K = SUSE_CALIBRATE_DEFAULTS[("arm64", 65536)]
X86 = SUSE_CALIBRATE_DEFAULTS[("x86_64", 4096)]


def test_calibrate_conf_defaults_are_the_tumbleweed_lines() -> None:
    # tumbleweed.aarch64:KERNEL_BASE=87350 KERNEL_INIT=30384 INIT_NET=8964 INIT_CACHED=47132 INIT_CACHED_NET=28400
    #   PERCPU=2377 PAGESIZE=4096 SIZEOFPAGE=64 USER_BASE=22764 USER_NET=2424; *_64kb: 148734 31616 8960 101504
    #   35712 5249 65536 64 70400 10816; tumbleweed.x86_64: 115810 23440 9732 41804 26864 2143 4096 64 30540 3204
    assert (ARM_4K.kernel_base, ARM_4K.init_cached, ARM_4K.percpu, ARM_4K.user_base) == (87350, 47132, 2377, 22764)
    assert (ARM_64K.kernel_base, ARM_64K.pagesize, ARM_64K.percpu, ARM_64K.user_base) == (148734, 65536, 5249, 70400)
    assert (X86.kernel_base, X86.kernel_init, X86.percpu, X86.user_net) == (115810, 23440, 2143, 3204)


def test_suse_arm64_4k_8g() -> None:
    # memtotal = 8 GiB = 8388608 KiB; boot = 87350 + 30384 + 47132 = 164866
    # run time: 87350 + 47132 + 2*3072 (framebuffer) = 140626
    #   per CPU 2377 + 2*50 + 3*4096/1024 + 128 + 5 = 2622, x32 = 83904        -> 224530
    #   user 22764 + bitmap ceil((8388608 // 4096) / 4) = 512 + 96 * ceil(8388608 / 2^27) = 96 = 23372 -> 247902
    #   dirty: 247902 * 102400 // (102400 - 20480 - 20*64 = 80640) = 314796
    #   hashes: 314796 * 1048576 // (1048576 - 232*8 = 1046720) = 315354
    #   memmap: 315354 * 4096 // 4032 = 320359; (320359 - 315354) // 64 * 64 = 4992 -> 320346
    # required = 320346 * 130 // 100 + 65536 = 416449 + 65536 = 481985 KiB; Low = ceil(481985 / 1024) = 471
    # arm64 is not x86_64: everything is Low, MinLow 72 (64 swiotlb + 8), High 0 -> "crashkernel=471M"
    cal = suse_calibrate(((0x4000_0000, 0x4000_0000 + 8 * G),), "arm64", ARM_4K)
    st_ = dict(cal.steps)
    assert (st_["boot"], st_["before dirty"], st_["after dirty+io"], st_["after hashes"]) == (164866, 247902, 314796,
                                                                                           315354)
    assert st_["after memmap (run time)"] == 320346 and st_["required"] == 481985
    assert (cal.total, cal.low, cal.high, cal.min_low, cal.min_high, cal.max_high) == (8192, 471, 0, 72, 0, 0)
    assert cal.max_low == 8192  # one 8 GiB block, no kernel in it given
    assert cal.cmdline == "crashkernel=471M"


def test_suse_arm64_64k_8g() -> None:
    # boot = 148734 + 31616 + 101504 = 281854; run time 148734 + 101504 + 6144 = 256382
    #   per CPU 5249 + 100 + 3*65536/1024 (192) + 128 + 5 = 5674, x32 = 181568 -> 437950
    #   user 70400 + ceil((8388608 // 65536 = 128) / 4) = 32 + 96 = 70528 -> 508478
    #   dirty 508478 * 102400 // 80640 = 645686; hashes * 1048576 // 1046720 = 646830
    #   memmap 646830 * 65536 // 65472 = 647462; (647462 - 646830) // 64 * 64 = 576 -> 647406
    # required = 647406 * 130 // 100 + 65536 = 841627 + 65536 = 907163; Low = ceil(907163 / 1024) = 886
    cal = suse_calibrate(((0x4000_0000, 0x4000_0000 + 8 * G),), "arm64", ARM_64K)
    assert dict(cal.steps)["required"] == 907163
    assert (cal.low, cal.high, cal.cmdline) == (886, 0, "crashkernel=886M")


def test_suse_x86_64_8g_split() -> None:
    # RAM [1M, 2G) + [4G, 10G) = 2047 + 6144 = 8191 MiB -> memtotal 8387584 KiB; boot = 115810 + 23440 + 41804 = 181054
    # run time 115810 + 41804 + 6144 = 163758; per CPU 2143 + 100 + 12 + 128 + 5 = 2388, x32 = 76416 -> 240174
    #   user 30540 + ceil((8387584 // 4096 = 2047) / 4) = 512 + 96 = 31148 -> 271322
    #   dirty 271322 * 102400 // 80640 = 344535; hashes -> 345145; memmap 345145 * 4096 // 4032 = 350623,
    #   5478 // 64 * 64 = 5440 -> 350585
    # required = 350585 * 130 // 100 + 65536 = 455760 + 65536 = 521296 KiB
    # placed top-down 16M-aligned: (10G - 521296K) aligned = 0x260000000, above 4G: + 64M swiotlb = 586832,
    #   Low = MinLow = 72M (73728), High = 586832 - 73728 = 513104 KiB -> ceil 502
    # MaxLow = the [1M, 2G) block = 2047; MaxHigh = the 6 GiB block = 6144
    cal = suse_calibrate(((0x10_0000, 0x8000_0000), (1 << 32, 10 * G)), "x86_64", X86)
    assert dict(cal.steps)["required"] == 521296 and dict(cal.steps)["+swiotlb"] == 586832
    assert (cal.total, cal.low, cal.high, cal.min_low, cal.max_low, cal.min_high, cal.max_high) == (
        8191, 72, 502, 72, 2047, 0, 6144)
    # kdumptool commandline and YaST: "L,low" then "H,high"
    assert cal.cmdline == "crashkernel=72M,low crashkernel=502M,high"


def test_suse_x86_64_below_4g_is_high_only() -> None:
    # all RAM below 4G: the base is below 4G, Low = 0, and the top of it ends below 4G so no swiotlb:
    # High = the 3 GiB machine's requirement alone -> "crashkernel=XM,high" with no low word
    cal = suse_calibrate(((0x10_0000, 0xC000_0000),), "x86_64", X86)
    assert "+swiotlb" not in dict(cal.steps)
    assert cal.low == 0 and cal.high == -(-dict(cal.steps)["required"] // 1024)
    assert cal.cmdline == f"crashkernel={cal.high}M,high"


def test_suse_network_and_cpus_and_kernel_block() -> None:
    base = suse_calibrate(((0x4000_0000, 0x4000_0000 + 8 * G),), "arm64", ARM_4K)
    one = suse_calibrate(((0x4000_0000, 0x4000_0000 + 8 * G),), "arm64", ARM_4K, cpus=1)
    # 31 fewer CPUs: 31 * 2622 = 81282 KiB less before the growth factors
    assert dict(base.steps)["before dirty"] - dict(one.steps)["before dirty"] == 31 * 2622
    assert dict(one.steps)["required"] == 345403  # worked out in test_cli_recommend_text_prints_kdumptool_lines
    net = suse_calibrate(((0x4000_0000, 0x4000_0000 + 8 * G),), "arm64", ARM_4K, network=True)
    assert dict(net.steps)["user"] - dict(base.steps)["user"] == 2424  # USER_NET
    assert dict(net.steps)["boot"] - dict(base.steps)["boot"] == 8964 + 28400  # INIT_NET + INIT_CACHED_NET
    # the block holding the kernel counts (length - kernel - KERNEL_INIT) / 3: (8G - 32M - 30384) // 3 >> 20 = 2720
    k = suse_calibrate(((0x4000_0000, 0x4000_0000 + 8 * G),), "arm64", ARM_4K,
                       kernel=(0x4020_0000, 0x4020_0000 + 32 * M))
    assert k.max_low == (8 * G - 32 * M - 30384) // 3 >> 20


@given(st.integers(1, 1024), st.integers(1, 1024), st.integers(1, 256))
def test_suse_monotonic_in_ram_and_cpus(gib_a: int, gib_b: int, cpus: int) -> None:
    lo, hi = sorted((gib_a, gib_b))
    small = suse_calibrate(((0, lo * G),), "arm64", ARM_4K, cpus=cpus)
    big = suse_calibrate(((0, hi * G),), "arm64", ARM_4K, cpus=cpus)
    more = suse_calibrate(((0, lo * G),), "arm64", ARM_4K, cpus=cpus + 1)
    assert small.low <= big.low and small.low <= more.low
    assert small.low >= 72 and small.high == 0


_KEYS = ("KERNEL_BASE", "KERNEL_INIT", "INIT_NET", "INIT_CACHED", "INIT_CACHED_NET", "PERCPU", "PAGESIZE",
         "SIZEOFPAGE", "USER_BASE", "USER_NET")


def _conf_text(conf: CalibrateConf, suffix: str = "") -> str:
    vals = (conf.kernel_base, conf.kernel_init, conf.init_net, conf.init_cached, conf.init_cached_net, conf.percpu,
            conf.pagesize, conf.sizeofpage, conf.user_base, conf.user_net)
    return "".join(f"{k}{suffix}={v}\n" for k, v in zip(_KEYS, vals, strict=True))


def test_parse_calibrate_conf_flavour_wins() -> None:
    # kdumptool reads KEY_<flavour> first and falls back to KEY (SizeConstants); GENERATED_ON is the build tag
    text = "# a comment\nGENERATED_ON=tumbleweed.aarch64\n" + _conf_text(ARM_4K) + _conf_text(ARM_64K, "_64kb")
    assert parse_calibrate_conf(text, "c.conf").kernel_base == 87350
    flav = parse_calibrate_conf(text, "c.conf", "64kb")
    assert (flav.kernel_base, flav.pagesize, flav.user_net) == (148734, 65536, 10816)


@pytest.mark.parametrize(("text", "where", "what"), [
    ("KERNEL_BASE=87350\nKERNEL_INIT 30384\n", "c.conf:2", "not KEY=value"),
    ("KERNEL_BASE=87350\n\nPERCPU=12k\n", "c.conf:3", "not a decimal"),
    ("KERNEL_BASE=1\nKERNEL_BAS=2\n", "c.conf:2", "unknown key"),
    ("KERNEL_BASE=1\n", "c.conf", "no value for KERNEL_INIT"),
    # found on 11-30: str.isdigit accepts "²" (int() then raised) and 5000 digits passed isdigit too
    ("KERNEL_BASE=87350\nPERCPU=²\n", "c.conf:2", "PERCPU='²' is not a decimal"),
    ("KERNEL_BASE=87350\nPERCPU=" + "9" * 5000 + "\n", "c.conf:2", "not a decimal number of at most 20"),
    ("PERCPU=١٢\n", "c.conf:1", "not a decimal"),
])
def test_malformed_calibrate_conf_names_file_and_line(text: str, where: str, what: str) -> None:
    with pytest.raises(KdumplabError) as err:
        parse_calibrate_conf(text, "c.conf")
    assert err.value.where == where and what in err.value.what


@given(st.tuples(*[st.integers(0, 10**7)] * 6), st.sampled_from((4096, 16384, 65536)), st.integers(1, 4095),
       st.integers(0, 10**7), st.integers(0, 10**7))
def test_parse_calibrate_conf_round_trip(six: tuple[int, ...], ps: int, sp: int, ub: int, un: int) -> None:
    conf = CalibrateConf(*six, ps, sp, ub, un, source="x")
    assert parse_calibrate_conf(_conf_text(conf), "x") == conf


def test_recommend_has_a_suse_candidate_checked_on_the_model() -> None:
    rec = recommend(presets.qemu_virt(8 * G), "6.1")
    suse = next(c for c in rec.candidates if c.name == "suse-calibrate")
    assert suse.cmdline == "crashkernel=471M" and suse.size == 471 * M and suse.verdict == "reserved"
    assert "calibrate.cc" in suse.source and "d807b353853b" in suse.source
    assert rec.calibration is not None and rec.calibration.low == 471


def test_recommend_x86_suse_split_reserves_both() -> None:
    m = Machine("x86 8G", (Bank(0x10_0000, 0x7ff0_0000), Bank(1 << 32, 6 * G)), arch="x86_64")
    suse = next(c for c in recommend(m, "6.12").candidates if c.name == "suse-calibrate")
    assert suse.cmdline == "crashkernel=72M,low crashkernel=502M,high" and suse.verdict == "reserved"
    assert suse.placement.startswith("low 0x") and ", main 0x" in suse.placement


def test_recommend_altra_suse_needs_the_split_with_minlow() -> None:
    # 6.1 arm64: plain crashkernel= stays below 4G, where the Altra has no room; the split uses SUSE's MinLow 72M
    rec = recommend(presets.machine("ampere-altra-2p"), "6.1")
    plain = next(c for c in rec.candidates if c.name == "suse-calibrate")
    split = next(c for c in rec.candidates if c.name == "suse-calibrate (high/low split)")
    assert plain.verdict == "failed" and split.verdict == "reserved"
    assert split.cmdline.endswith(",high crashkernel=72M,low")


def test_recommend_16k_has_no_suse_numbers() -> None:
    rec = recommend(presets.qemu_virt(8 * G), "6.1", page_size=16384)
    suse = next(c for c in rec.candidates if c.name == "suse-calibrate")
    assert suse.verdict == "n/a" and "16K" in suse.source and rec.calibration is None


def _cli(*args: str):  # noqa: ANN202
    return CliRunner().invoke(main, ["recommend", *args])


def test_cli_recommend_64g_64k_json() -> None:
    r = _cli("--machine", "qemu-virt", "--mem", "64G", "--page-size", "64K", "--json")
    # 3: Debian 6.1 with its kexec-tools 2.0.25 writes a wrapped vmcore header whatever the size (recorded cycles)
    assert r.exit_code == 3, r.output
    doc = json.loads(r.output)
    assert doc["suse_calibrate"]["low"] == 887 and doc["suse_calibrate"]["cmdline"] == "crashkernel=887M"
    names = {c["name"]: c for c in doc["candidates"]}
    assert names["kdump-utils"]["size"] == (576 + 100) * M  # 64G-:576M + 100M for 64K
    assert names["suse-calibrate"]["verdict"] == "reserved"


def test_cli_recommend_text_prints_kdumptool_lines(tmp_path: Path) -> None:
    conf = tmp_path / "calibrate.conf"
    conf.write_text(_conf_text(ARM_4K))
    r = _cli("--machine", "qemu-virt", "--kernel", "6.12", "--calibrate-conf", str(conf), "--kdump-cpus", "1")
    assert r.exit_code == 0, r.output
    # 1 CPU: 247902 - 31 * 2622 = 166620 -> dirty 166620 * 102400 // 80640 = 211580 -> hashes 211955
    #   -> memmap 211955 * 4096 // 4032 = 215319, 3364 // 64 * 64 = 3328 -> 215283
    #   required 215283 * 130 // 100 + 65536 = 279867 + 65536 = 345403 KiB -> ceil / 1024 = 338 MiB
    assert "Low: 338\n" in r.output and "suse-calibrate" in r.output


def test_cli_recommend_bad_calibrate_conf_is_one_line_exit_2(tmp_path: Path) -> None:
    conf = tmp_path / "calibrate.conf"
    conf.write_text("KERNEL_BASE=1\nPERCPU=lots\n")
    r = _cli("--machine", "qemu-virt", "--calibrate-conf", str(conf))
    assert r.exit_code == 2
    assert len(r.output.strip().splitlines()) == 1 and f"{conf}:2" in r.output
    r = _cli("--machine", "qemu-virt", "--calibrate-conf", str(tmp_path / "missing.conf"))
    assert r.exit_code == 2 and "missing.conf" in r.output


def test_suse_total_leaves_out_nomap() -> None:
    # kdumptool sums the top-level "System RAM" lines of /proc/iomem; arm64 no-map ranges are "reserved" there
    from kdumplab.machine import Reservation
    from kdumplab.recommend import _system_ram

    m = Machine("nomap", (Bank(0x4000_0000, 8 * G),), reserved=(Reservation("fw", 0x5000_0000, 16 * M, nomap=True),
                                                                 Reservation("cma", 0x6000_0000, 64 * M)))
    assert _system_ram(m) == ((0x4000_0000, 0x5000_0000), (0x5100_0000, 0x4000_0000 + 8 * G))
    assert recommend(m, "6.1").calibration.total == 8192 - 16
