"""Linear-map facts per generation (arch/arm64/mm/mmu.c map_mem of each version; kernel-spec B.6, B.7)."""

from __future__ import annotations

from kdumplab import model, presets

G = 1 << 30


def lm(kernel, cmdline, **virt):
    r = model.run(model.Scenario(presets.qemu_virt(8 * G, kernel=kernel if kernel[0].isdigit() else "5.10", **virt),
                                 cmdline, kernel))
    return r.linear_map


def test_debian_rodata_full_maps_everything_with_pages():
    for k in ("5.10", "6.1", "6.12", "7.2"):
        assert lm(k, "crashkernel=512M").granularity == "pages"


def test_without_rodata_full_old_kernels_page_map_all_ram_because_the_reservation_is_deferred():
    m = lm("6.1", "rodata=on crashkernel=512M")
    assert m.granularity == "pages" and m.whole_map_pages_because_of_crash
    assert lm("6.12", "rodata=on crashkernel=512M").granularity == "blocks"


def test_protect_unprotect_only_in_5_10_and_6_1():
    assert lm("5.10", "crashkernel=512M").protect_unprotect
    assert lm("6.1", "crashkernel=512M").protect_unprotect
    assert not lm("6.12", "crashkernel=512M").protect_unprotect


def test_review_proposal_low_region_is_never_mapped():
    m = lm("proposal-2019-review", "crashkernel=1G crashkernel=128M,low")
    assert any(r.size == 128 << 20 for r in m.nomap)
