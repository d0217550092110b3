"""Kernel profiles: one place per kernel build, the older tables as views of it, and the TOML form."""

from __future__ import annotations

import dataclasses

import pytest

from kdumplab import crashview, kexec, policy, presets, profiles
from kdumplab.errors import KdumplabError
from kdumplab.lab import setup
from kdumplab.presets import q35
from kdumplab.tools import options

ALL = profiles.all_profiles()


def test_every_kernel_is_one_profile() -> None:
    """The policy rows the model runs, the images, the lab's kernels and the crash side all come from profiles."""
    names = {arch: [p.name for p in ALL if p.arch == arch] for arch in ("arm64", "x86_64")}
    assert names["arm64"] == ["5.10", "6.1", "6.12", "7.2", "6.12-16k", "proposal-2019-v5", "proposal-2019-review",
                              "5.10-control"]
    assert names["x86_64"] == ["5.10", "6.1", "6.12", "7.2"]
    for arch in ("arm64", "x86_64"):
        assert list(policy.POLICY_NAMES(arch)) == names[arch]
    assert set(presets.DEBIAN_IMAGES) == set(names["arm64"])
    assert set(q35.X86_IMAGES) == set(names["x86_64"])
    assert set(options.lab_kernels()) == set(names["arm64"])
    assert dict(setup.KERNEL_SUITES) == {"5.10": "bullseye", "6.1": "bookworm", "6.12": "trixie", "7.2": "sid",
                                         "6.12-16k": "trixie"}
    assert set(presets.LAB_IMAGES) == {"5.10-control", "proposal-2019-v5", "proposal-2019-review"}


@pytest.mark.parametrize("prof", ALL, ids=lambda p: f"{p.arch}-{p.name}")
def test_profile_fills_its_policy_row(prof: profiles.KernelProfile) -> None:
    row = policy.for_kernel(prof.name, prof.arch)
    base = policy.reservation_rows(prof.arch)[prof.policy]
    assert base.early is None and row.early == prof.early
    assert (row.page_size, row.kernel_release) == (prof.page_size, prof.release)
    assert row.features == base.features and row.grammar == base.grammar
    if prof.arch == "arm64":
        assert kexec.KERNEL_KEXEC[row.kexec_generation] is prof.kexec
        assert crashview.CRASH_KERNELS[row.kexec_generation] is prof.crash
    else:  # x86's kexec and crash facts are keyed by kernel name
        from kdumplab import crashview_x86, kexec_x86  # noqa: PLC0415

        assert row.kexec_generation == ""
        assert kexec_x86.X86_KERNELS[prof.name] is prof.kexec
        assert crashview_x86.X86_CRASH_KERNELS[prof.name] is prof.crash


@pytest.mark.parametrize("prof", ALL, ids=lambda p: f"{p.arch}-{p.name}")
def test_toml_round_trip(prof: profiles.KernelProfile) -> None:
    text = profiles.profile_to_toml(prof, ("a header",))
    back = profiles.profile_from_toml(text, "x.toml")
    assert back == prof
    assert back.citations == prof.citations


def _text(**changes: str) -> str:
    text = profiles.profile_to_toml(dataclasses.replace(profiles.get("6.1"), name="my-6.1"))
    for old, new in changes.items():
        assert old in text
        text = text.replace(old, new, 1)
    return text


@pytest.mark.parametrize(("change", "where"), [
    ({"[early]": "[erly]"}, "x.toml [erly]"),
    ({"node_data = ": "node_dat = "}, "x.toml [early].node_dat"),
    ({'policy = "6.1"': 'policy = "6.3"'}, "x.toml [profile] policy"),
    ({"page_size = 4096": "page_size = 8192"}, "x.toml [profile] page_size"),
    ({"stext = 0x10000": 'stext = "0x10000"'}, "x.toml [image].stext"),
    ({"schema = 1": "schema = 9"}, "x.toml [profile] schema"),
    ({'name = "my-6.1"': 'name = "a/b"'}, "x.toml [profile] name"),
    ({"[profile]": "[profile"}, "x.toml"),
])
def test_bad_profile_is_one_clear_error(change: dict[str, str], where: str) -> None:
    with pytest.raises(KdumplabError) as err:
        profiles.profile_from_toml(_text(**change), "x.toml")
    assert err.value.where == where
    assert "\n" not in err.value.one_line()


def test_profile_file_is_a_kernel(tmp_path) -> None:  # noqa: ANN001 - pytest fixture
    """A profile file given as --kernel runs the model as the kernel it describes (here 6.1 under a new name)."""
    from kdumplab import model  # noqa: PLC0415

    path = tmp_path / "my-6.1.toml"
    path.write_text(_text())
    row = policy.for_kernel(str(path))
    assert row.name == "my-6.1" and row.early == policy.for_kernel("6.1").early
    assert policy.for_kernel(str(path)) is row  # read once
    with pytest.raises(KdumplabError, match="built-in kernel"):
        profiles.register(profiles.get("6.1"))
    mine = model.run(model.Scenario(presets.qemu_virt(8 << 30, kernel="my-6.1"), "crashkernel=1G,high",
                                    kernel=str(path), kexec_tools="2.0.25"))
    ref = model.run(model.Scenario(presets.qemu_virt(8 << 30, kernel="6.1"), "crashkernel=1G,high",
                                   kernel="6.1", kexec_tools="2.0.25"))
    assert mine.policy.name == "my-6.1"
    assert mine.outcome.regions == ref.outcome.regions and mine.iomem_text == ref.iomem_text
    assert mine.crash_view == ref.crash_view
    with pytest.raises(KdumplabError, match="no such profile file"):
        policy.for_kernel(str(tmp_path / "missing.toml"))


def test_report_and_compare_say_what_was_measured() -> None:
    """The 2019 designs' rows carry what their real kernels showed: compare's text and the HTML report."""
    from kdumplab import model  # noqa: PLC0415
    from kdumplab.tools import compare, report  # noqa: PLC0415

    machine = presets.qemu_virt(8 << 30, kernel="proposal-2019-v5")
    rows = {r.policy: r for r in compare.compare(machine, "crashkernel=512M,high")}
    assert "vmcore_init" in rows["proposal-2019-v5"].measured
    assert rows["6.1"].measured == ""
    page, _ = report.build(model.Scenario(machine, "crashkernel=512M,high", "proposal-2019-v5"))
    notes = page.split('<ul id="measured">', 1)[1].split("</ul>", 1)[0]
    assert notes.count("<li>") == 3 and "proposal-2019-review" in notes and "Crash kernel (low)" in notes


def test_lab_page_table_constant_is_the_kernel_mapping() -> None:
    """The lab kernels' pt_extra_pages (5, measured in every lab boot) from Debian 5.10.223 arch/arm64/mm/mmu.c:
    map_mem's PUD table for the linear map, and map_kernel's PUD and PMD tables for KIMAGE_VADDR plus one PTE
    table per 2 MiB of the image (its five segments are 64 KiB aligned, none covers a whole 2 MiB)."""
    for name in ("5.10-control", "proposal-2019-v5", "proposal-2019-review"):
        prof = profiles.get(name)
        assert prof.image.stext < prof.image.end and prof.image.load_address % (2 << 20) == 0
        pte_tables = -(-prof.image.end // (2 << 20))
        assert prof.early.pt_extra_pages == 1 + 1 + 1 + pte_tables


def test_a_file_without_newer_keys_takes_its_policys_kernel(tmp_path) -> None:  # noqa: ANN001
    """Keys a profile file leaves out (written before the field existed) are its policy's built-in kernel's,
    never the dataclass default; an [early] key that is missing reads as 6.1's."""
    import re  # noqa: PLC0415

    text = re.sub(r"\[late\]\n(?:[^\[]*\n)", "", _text()).replace("numa_distance = true\n", "")
    assert "[late]" not in text and "numa_distance" not in text
    prof = profiles.profile_from_toml(text, "old.toml")
    ref = profiles.get("6.1")
    assert prof.early == ref.early and prof.late == ref.late


def test_verify_recorded_as_a_profile_file(tmp_path) -> None:  # noqa: ANN001
    """verify --recorded DIR --kernel FILE judges the recorded boots as the file's kernel."""
    import shutil  # noqa: PLC0415

    from click.testing import CliRunner  # noqa: PLC0415

    from kdumplab.cli import main  # noqa: PLC0415

    boots = sorted((__import__("pathlib").Path(__file__).parent / "data" / "boots").glob("6.1-mem-*"))[:3]
    for b in boots:
        shutil.copytree(b, tmp_path / "rec" / b.name)
    path = tmp_path / "mine.toml"
    path.write_text(_text().replace('name = "my-6.1"', 'name = "verify-6.1"'))
    out = CliRunner().invoke(main, ["verify", "--recorded", str(tmp_path / "rec"), "--kernel", str(path)])
    assert out.exit_code == 0, out.output
    assert f"{len(boots)} of {len(boots)} cases agree" in out.output
