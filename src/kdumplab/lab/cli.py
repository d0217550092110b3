"""`kdumplab lab ...` commands: options in, lab functions called, results rendered. No logic here."""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING, Any

import click

from kdumplab.errors import KdumplabError
from kdumplab.tools.options import CMDLINE_HELP, MachineArgs, lab_arch, lab_kernel, lab_mem, machine_options

if TYPE_CHECKING:
    from pathlib import Path


class _Path(click.Path):
    """``click.Path(path_type=pathlib.Path)`` that imports pathlib when a value is read, not when a command's
    help is shown (tests/test_cli_start.py)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from pathlib import Path

        return Path(super().convert(value, param, ctx))


_LAB_CMDLINE = CMDLINE_HELP + (" The lab adds console=ttyAMA0 (x86: ttyS0) panic=-1 when they are absent, and "
                               "says so.")


@click.group(epilog="Example: kdumplab lab boot --kernel 6.12 --mem 4G --cmdline 'crashkernel=1G'")
def lab() -> None:
    """Boot real Debian kernels under QEMU and record what they reserve."""


@lab.command("setup", epilog="Example: sudo kdumplab lab setup (adds Debian arm64/amd64 apt sources, pinned low; "
             "needs root unless --no-apt)")
@click.option("--no-apt", is_flag=True, help="Skip apt steps (sources, update, installs); cache only.")
@click.option("--no-kexec", is_flag=True, help="Skip kexec-tools and its libraries.")
@click.option("--arch", "arches", multiple=True, type=click.Choice(["arm64", "x86_64"]),
              help="Guest architectures to fetch (repeatable; default: all).")
def setup_cmd(no_apt: bool, no_kexec: bool, arches: tuple[str, ...]) -> None:
    """Install QEMU, add the arm64/amd64 suites (pinned low) and fill the cache. Idempotent."""
    from kdumplab.lab.setup import ARCHES, setup

    arches = arches or tuple(ARCHES)
    manifest = setup(lambda s: click.echo(s, err=True), apt=not no_apt, kexec=not no_kexec, arches=arches)
    for arch in arches:
        part = manifest if arch == "arm64" else manifest[arch]
        for gen, k in part["kernels"].items():  # type: ignore[index]
            click.echo(f"{arch} kernel {gen}: {k['package']} {k['version']}")
        click.echo(f"{arch} busybox: {part['busybox']['version']}")  # type: ignore[index]
        for v, k in part.get("kexec_tools", {}).items():  # type: ignore[union-attr]
            click.echo(f"{arch} kexec-tools {v}: {k['version']} ({len(k['files'])} libraries)")
        for name, f in part.get("firmware", {}).items():  # type: ignore[union-attr]
            click.echo(f"{arch} firmware {name}: {f['version']} sha256 {f['sha256']}")
    click.echo(f"setup took {manifest['setup_wall_s']} s")


def _lost(what: str, why: str | None, serial: str, saved: Path | None, fallback: str) -> None:
    """One line naming where the serial log of a lost run is: where it was saved, else a new file named
    after ``fallback`` in $TMPDIR (mkstemp: a fresh name, created exclusively with mode 600, so a planted
    symlink or an old file is never followed or truncated)."""
    if saved is None:
        import tempfile  # noqa: PLC0415

        stem, _, suffix = fallback.rpartition(".")
        fd, name = tempfile.mkstemp(prefix=f"{stem}-", suffix=f".{suffix}")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(serial)
        from pathlib import Path

        saved = Path(name)
    raise KdumplabError(f"lab {what}", f"lab lost the {what}: {why}", f"serial log in {saved}")


def _spec(margs: MachineArgs, cmdline: str):  # noqa: ANN202
    """The BootSpec of the shared machine options; says on stderr what the lab adds to the command line."""
    from kdumplab.lab.qemu import BootSpec, lab_append
    from kdumplab.ranges import format_size

    mem, numa = lab_mem(margs)
    arch = lab_arch(margs)
    spec = BootSpec(lab_kernel(margs.kernel), mem, cmdline, numa, arch, margs.firmware or "", margs.cpu or "",
                    None if margs.dma_window is None else format_size(margs.dma_window), smp=margs.smp or 1)
    added = lab_append(cmdline, spec.board.console)[1]
    if added:
        click.echo(f"lab: added {' '.join(added)} to the command line (the lab needs them)", err=True)
    return spec


@lab.command("boot", epilog="Example: kdumplab lab boot --kernel 6.12 --mem 4G --cmdline 'crashkernel=1G'")
@machine_options(kernel=None, kernel_required=True, lab=True)
@click.option("--cmdline", default="", help=_LAB_CMDLINE)
@click.option("--initrd-extra", type=_Path(exists=True, file_okay=False), default=None,
              help="A directory whose tree is added to the initramfs root.")
@click.option("--timeout", default=120.0, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.option("--save", "save_dir", type=_Path(file_okay=False), default=None,
              help="Write case.json and serial.log here.")
@click.option("--rng", is_flag=True, help="Add -device virtio-rng-pci: under UEFI the firmware then has an RNG "
              "and the arm64 EFI stub places the kernel at a random address.")
def boot_cmd(margs: MachineArgs, cmdline: str, initrd_extra: Path | None,
             timeout: float, as_json: bool, save_dir: Path | None, rng: bool) -> None:
    """Boot one real kernel and print what it reserved."""
    import dataclasses

    from kdumplab.lab.initramfs import Initramfs
    from kdumplab.lab.qemu import boot, default_initrd, save
    from kdumplab.lab.setup import load_lab

    spec = dataclasses.replace(_spec(margs, cmdline), rng=rng)
    lab_ = load_lab(spec.arch)
    extra = Initramfs().with_tree("", initrd_extra) if initrd_extra else None
    with _progress(f"booting {spec.kernel} under QEMU", as_json):
        result = boot(spec, lab=lab_, initrd=default_initrd(lab_, extra), timeout=timeout)
    if save_dir is not None:
        save(result, save_dir)
    if result.observation is None:
        _lost("boot", result.lost, result.serial, save_dir / "serial.log" if save_dir else None,
              "kdumplab-lost-serial.log")
    obs = result.observation
    if as_json:
        click.echo(obs.to_json(), nl=False)
        return
    click.echo(f"kernel {obs.provenance.kernel_package} {obs.provenance.kernel_version}, -m {obs.mem}"
               f"{' numa ' + ','.join(obs.numa) if obs.numa else ''}, {obs.provenance.wall_s} s")
    click.echo(f"cmdline: {obs.cmdline}")
    for r in obs.crash_regions:
        click.echo(f"region {r.start:x}-{r.end - 1:x} : {r.name}   (in {r.parent})")
    if not obs.crash_regions:
        click.echo("no Crash kernel region in /proc/iomem")
    for line in obs.crash_log:
        click.echo(f"log: {line}")
    click.echo(f"kexec_crash_size: {obs.kexec_crash_size}  MemTotal: {obs.memtotal_kb} kB")


@contextlib.contextmanager
def _progress(what: str, quiet: bool):  # noqa: ANN202
    """A spinner with the elapsed time on stderr while the lab runs, only on a terminal and never with --json."""
    import sys

    if quiet or not sys.stderr.isatty():
        yield
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn(what), TimeElapsedColumn(), console=Console(stderr=True),
                  transient=True) as progress:
        progress.add_task(what, total=None)
        yield


@lab.command("suite", epilog="Example: kdumplab lab suite tests/data/suites/smoke.toml --jobs 1")
@click.argument("suite_file", type=_Path(exists=True, dir_okay=False))
@click.option("--jobs", type=int, default=None, help="QEMUs at once (default: number of cores).")
@click.option("--record", type=_Path(file_okay=False), default=None,
              help="Record each case as DIR/<name>/{case.json,serial.log}.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary instead of a table.")
def suite_cmd(suite_file: Path, jobs: int | None, record: Path | None, as_json: bool) -> None:
    """Boot every case of a TOML suite file."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from kdumplab.lab.suite import load_suite, run_suite

    cases = load_suite(suite_file)
    console = Console(stderr=True)
    summary = {}
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as progress:
        task = progress.add_task("booting", total=len(cases))

        def step(case, result) -> None:  # type: ignore[no-untyped-def]
            obs = result.observation
            summary[case.name] = {
                "lost": result.lost,
                "regions": [f"{r.start:x}-{r.end - 1:x}" for r in obs.crash_regions] if obs else None,
                "wall_s": obs.provenance.wall_s if obs else None,
            }
            mark = "LOST" if obs is None else f"{len(obs.crash_regions)} region(s)"
            progress.console.print(f"{case.name}: {mark}")
            progress.advance(task)

        run_suite(cases, jobs or os.cpu_count() or 1, record, step)
    if as_json:
        import json

        click.echo(json.dumps(summary, indent=1, sort_keys=True))
    lost = [n for n, s in summary.items() if s["lost"]]
    click.echo(f"{len(cases) - len(lost)}/{len(cases)} observed, {len(lost)} lost" +
               (": " + ", ".join(sorted(lost)) if lost else ""))
    if lost:
        raise SystemExit(1)


@lab.command("cycle", epilog="Example: kdumplab lab cycle --kernel 6.1 --kexec-tools 2.0.25 --mem 4G")
@machine_options(kernel=None, kernel_required=True, lab=True)
@click.option("--kexec-tools", "kexec_tools", required=True,
              type=click.Choice(["2.0.20", "2.0.25", "2.0.29", "2.0.32", "2.0.25-lab", "2.0.25-lowmem"]))
@click.option("--cmdline", default="crashkernel=512M", show_default=True, help=_LAB_CMDLINE)
@click.option("--checks", is_flag=True, help="Let purgatory verify the segments' SHA-256 (no -i; ~7 s slower).")
@click.option("--timeout", default=300.0, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.option("--save", "save_dir", type=_Path(file_okay=False), default=None,
              help="Write cycle.json and serial.log.gz here.")
@click.option("--file-load", "-s", "file_load", is_flag=True,
              help="kexec -s: kexec_file_load (the kernel places the segments; Debian amd64 only).")
def cycle_cmd(margs: MachineArgs, kexec_tools: str, cmdline: str, checks: bool,
              timeout: float, as_json: bool, save_dir: Path | None, file_load: bool) -> None:
    """A full kdump cycle: boot, real `kexec -p`, panic, and what the crash kernel sees."""
    from kdumplab.lab.cycle import CycleSpec, run_cycle, save_cycle
    from kdumplab.tools.verify_cycle import real_elfcorehdr, real_usable_ranges

    boot_spec = _spec(margs, cmdline)
    mem = boot_spec.mem
    spec = CycleSpec(boot_spec, kexec_tools, no_checks=not checks, file_load=file_load)
    with _progress(f"kdump cycle of {boot_spec.kernel} with kexec-tools {kexec_tools} under QEMU", as_json):
        result = run_cycle(spec, timeout=timeout)
    if save_dir is not None:
        save_cycle(result, save_dir)
    if result.cycle is None:
        _lost("cycle", result.lost, result.serial, save_dir / "serial.log.gz" if save_dir else None,
              "kdumplab-lost-cycle.log")
    cyc = result.cycle
    if as_json:
        click.echo(cyc.to_json(), nl=False)
        return
    first = cyc.first
    click.echo(f"kernel {first.provenance.kernel_version}, kexec-tools {cyc.kexec.package_version}, -m {mem}, "
               f"{first.provenance.wall_s} s")
    for r in first.crash_regions:
        click.echo(f"region {r.start:x}-{r.end - 1:x} : {r.name}")
    click.echo(f"kexec: {cyc.kexec.argv}")
    click.echo(f"  exit {cyc.kexec.rc}, kexec_crash_loaded {int(cyc.kexec.loaded)}")
    for s in cyc.kexec.segments:
        click.echo(f"  segment {s.mem:#x} + {s.memsz:#x}")
    if not cyc.kexec.loaded:
        tail = [x for x in cyc.kexec.output.splitlines() if x.strip()][-1:]
        click.echo(f"  no crash kernel loaded; kexec-tools said: {tail[0] if tail else '(nothing)'}")
    cap = cyc.capture
    if cap is None:
        return
    click.echo("crash kernel:")
    click.echo("  usable-memory-range: " + ", ".join(f"{a:#x}-{b:#x}" for a, b in real_usable_ranges(cyc)))
    hdr = real_elfcorehdr(cyc)
    click.echo(f"  elfcorehdr: {hdr[0]:#x} + {hdr[1]:#x}" if hdr else "  elfcorehdr: none")
    from kdumplab.ranges import iec
    from kdumplab.verdict import vmcore_text

    vmcore = vmcore_text(cap.vmcore_size) if cap.vmcore_size is not None else "/proc/vmcore: not read"
    click.echo(f"  MemTotal: {iec(cap.memtotal_kb << 10)} ({cap.memtotal_kb} kB); {vmcore}")


@lab.command("build", epilog="Example: nice kdumplab lab build --variant proposal-2019-v5 --jobs 2")
@click.option("--variant", "variants", multiple=True,
              type=click.Choice(["5.10-control", "proposal-2019-v5", "proposal-2019-review"]),
              help="Lab kernel(s) to build (default: all three).")
@click.option("--kexec-tools/--no-kexec-tools", "with_kexec", default=True, show_default=True,
              help="Also cross-build kexec-tools 2.0.25, unpatched and with the v6/v7 companion patch.")
@click.option("--jobs", default=2, show_default=True, help="make -j (the build runs under nice -n 10).")
def build_cmd(variants: tuple[str, ...], with_kexec: bool, jobs: int) -> None:
    """Cross-build the 2019 designs as arm64 kernels from Debian's linux-source-5.10 (issue 13).

    Cached by the hash of source, patches (kernel-patches/), config and compiler; takes tens of minutes
    per kernel on two cores, so run it in the background."""
    from kdumplab.lab import build

    def log(s: str) -> None:
        click.echo(s, err=True)

    if with_kexec:
        for name in build.KEXEC_VARIANTS:
            e = build.build_kexec(name, log=log)
            click.echo(f"kexec-tools {name}: {e['binary']}")
    for name in variants or tuple(build.VARIANTS):
        e = build.build(name, jobs=jobs, log=log)
        click.echo(f"{name}: {e['vmlinuz']} ({int(e['image_size']) / 2**20:.1f} MiB, {e['build_wall_s']} s)")


@lab.command("calibrate", epilog="Example: kdumplab lab calibrate --image ~/Image --policy 6.12 --name my-6.12 "
             "--out my-6.12.toml; then kdumplab plan --kernel my-6.12.toml --mem 16G --cmdline crashkernel=1G")
@click.option("--image", "image", required=True, type=_Path(exists=True, dir_okay=False),
              help="The arm64 kernel Image (or Debian's vmlinuz) to profile.")
@click.option("--policy", default=None, help="The reservation policy it follows (a generation such as 6.12, or "
              "5.10-control, proposal-2019-v5, proposal-2019-review); default: from its version banner.")
@click.option("--name", default=None, help="The kernel's name in the profile (default: its release).")
@click.option("--system-map", type=_Path(exists=True, dir_okay=False), default=None,
              help="Its System.map (default: System.map or System.map-RELEASE beside the Image, if there is one): "
              "exact section offsets.")
@click.option("--out", type=_Path(dir_okay=False), default=None,
              help="Write the profile here (default: NAME.toml).")
@click.option("--keep-logs", type=_Path(file_okay=False), default=None,
              help="Keep the two boots' serial logs in this directory.")
@click.option("--timeout", default=300.0, show_default=True, help="Seconds per boot.")
def calibrate_cmd(image: Path, policy: str | None, name: str | None, system_map: Path | None, out: Path | None,
                  keep_logs: Path | None, timeout: float) -> None:
    """Boot an arm64 Image with memblock=debug (two bounded boots, one QEMU at a time) and write its kernel
    profile: image facts, early allocations, the reservation policy it follows. Every command takes the
    file as --kernel PROFILE."""
    from kdumplab.calibrate import read_image_header
    from kdumplab.inputfile import read_bytes
    from kdumplab.lab.calibrate import calibrate_image
    from kdumplab.policy import for_kernel

    header = read_image_header(read_bytes(image, 512 << 20, str(image)), str(image))
    if policy is None:
        if not header.release:
            raise KdumplabError("--policy", f"{image} has no version banner to take the policy from",
                                "give --policy")
        from kdumplab import profiles

        row = for_kernel(header.release).name  # a kernel's name (6.12-16k); its profile names the policy
        policy = profiles.get(row).policy if profiles.get(row) is not None else row
        click.echo(f"calibrate: policy {policy} (from the banner {header.release})", err=True)
    name = name or header.release or image.stem
    if system_map is None:  # lab build keeps System.map beside the Image; Debian's /boot has a System.map-RELEASE
        # that only says the real one is in the -dbg package (no symbols): such a file is not used
        system_map = next((p for p in (image.parent / "System.map", image.parent / f"System.map-{header.release}")
                           if p.is_file() and " _text\n" in p.read_text(errors="replace")), None)
    prof, text = calibrate_image(image, policy, name, system_map=system_map, timeout=timeout, keep=keep_logs,
                                 log=lambda s: click.echo(s, err=True))
    if out is None:
        from pathlib import Path

        out = Path(f"{name}.toml")
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(text)
    tmp.replace(out)
    e = prof.early
    click.echo(f"{out}: kernel {prof.name}, policy {prof.policy}, {prof.page_size >> 10}K pages, image_size "
               f"{prof.image.image_size:#x}, Kernel code to {prof.image.init_begin:#x}, data "  # type: ignore[union-attr]
               f"{prof.image.sdata:#x}-{prof.image.end:#x}; DT {e.dt_unflatten} B, node data {e.node_data:#x}, "  # type: ignore[union-attr]
               f"page tables {e.pt_extra_pages:+d}, vmemmap tables {e.vmemmap_pt_pages}")
