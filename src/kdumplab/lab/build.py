"""Cross-build the lab's own arm64 kernels (issue 13): the 2019 designs as real kernels.

Three kernels come from one source (Debian's ``linux-source-5.10``) and one small config
(``kernel-patches/lab.config`` over ``allnoconfig``), built with Debian's ``gcc-aarch64-linux-gnu``:

- ``5.10-control``: the base patch only (crash kernel reserved in ``arm64_memblock_init`` again, as
  in 5.2-5.10 without DMA zones, so the linear map is built around it);
- ``proposal-2019-v5``: base + the series as posted in May 2019 (rebased);
- ``proposal-2019-review``: base + v7 of the series (Dec 2019), which took up the review.

Each Image is cached under ``<cache>/build/images/<key>/`` where the key hashes the source package,
every patch file, the config fragment and the compiler version, so a rebuild happens only when one of
them changes. One work tree is shared by the variants: before a variant's patches are applied, the files
the previous variant patched are copied back from the pristine tree (with a new mtime), so ``make``
recompiles what changed and little else. ``built.json`` lists the finished Images; ``setup.load_lab``
offers them as kernels next to the Debian ones.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kdumplab.errors import KdumplabError
from kdumplab.lab import run as runmod
from kdumplab.lab.setup import cache_dir

__all__ = ["VARIANTS", "KEXEC_VARIANTS", "Variant", "patch_dir", "build", "build_kexec", "built_kernels",
           "built_kexec_tools", "build_key", "config_lines"]

SOURCE_PACKAGE = "linux-source-5.10"
CROSS = "aarch64-linux-gnu-"


@dataclass(frozen=True, slots=True)
class Variant:
    """One lab kernel: its name (= the policy its boots test) and the patch series applied, in order."""

    name: str
    series: tuple[str, ...]
    description: str


VARIANTS: dict[str, Variant] = {v.name: v for v in (
    Variant("5.10-control", ("base",), "5.10.223 + early crashkernel reservation (base patch only)"),
    Variant("proposal-2019-v5", ("base", "v5"), "base + 'support reserving crashkernel above 4G' (May 2019)"),
    Variant("proposal-2019-review", ("base", "review"), "base + v7 of the series (Dec 2019), after the review"),
)}


def patch_dir() -> Path:
    """``kernel-patches/`` of this checkout (or ``$KDUMPLAB_PATCHES``)."""
    env = os.environ.get("KDUMPLAB_PATCHES")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / "kernel-patches"


def _series_files(variant: Variant, patches: Path) -> list[Path]:
    files: list[Path] = []
    for s in variant.series:
        d = patches / s
        got = sorted(d.glob("*.patch"))
        if not got:
            raise KdumplabError(str(d), "no *.patch files", "the kernel patches live in kernel-patches/<series>/")
        files += got
    return files


def config_lines(fragment: str) -> list[tuple[str, str]]:
    """``CONFIG_X=value`` lines of the fragment (comments skipped) as (name, value)."""
    out = []
    for n, line in enumerate(fragment.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r"(CONFIG_[A-Z0-9_]+)=(\S+)", line)
        if not m:
            raise KdumplabError(f"lab.config:{n}", f"not a CONFIG_X=value line: {line!r}")
        out.append((m.group(1), m.group(2)))
    return out


def _check_config(dotconfig: str, wanted: list[tuple[str, str]]) -> list[str]:
    """Options of the fragment that kconfig did not keep (a dependency missing)."""
    have: dict[str, str] = {}
    for line in dotconfig.splitlines():
        m = re.fullmatch(r"(CONFIG_[A-Z0-9_]+)=(.*)", line)
        if m:
            have[m.group(1)] = m.group(2)
        m = re.fullmatch(r"# (CONFIG_[A-Z0-9_]+) is not set", line)
        if m:
            have[m.group(1)] = "n"
    return [f"{k}={v} (got {have.get(k, 'absent')})" for k, v in wanted
            if have.get(k, "n" if v == "n" else None) != v]


def image_facts(system_map: str, image_header: bytes) -> dict[str, int]:
    """The numbers ``presets.LAB_IMAGES`` needs, from System.map and the Image header (offsets from _text).

    The arm64 Image header (Documentation/arm64/booting.rst): text_offset at byte 8, image_size at 16,
    both little-endian 64-bit."""
    syms: dict[str, int] = {}
    for line in system_map.splitlines():
        parts = line.split()
        if len(parts) == 3:
            syms.setdefault(parts[2], int(parts[0], 16))
    text = syms["_text"]
    out = {"text_offset": int.from_bytes(image_header[8:16], "little"),
           "image_size": int.from_bytes(image_header[16:24], "little")}
    for key, sym in (("stext", "_stext"), ("init_begin", "__init_begin"), ("sdata", "_sdata"), ("end", "_end"),
                     ("init_pg_dir", "init_pg_dir"), ("init_pg_end", "init_pg_end")):
        out[key] = syms[sym] - text
    return out


def build_key(source_sha: str, patch_files: list[Path], config: bytes, compiler: str) -> str:
    h = hashlib.sha256()
    h.update(source_sha.encode() + b"\0" + compiler.encode() + b"\0")
    h.update(hashlib.sha256(config).digest())
    for p in patch_files:
        h.update(p.name.encode() + b"\0" + hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


def _root() -> Path:
    d = cache_dir() / "build"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _source(log: Callable[[str], None]) -> tuple[str, str, Path]:
    """(version, sha256, pristine tree) of linux-source-5.10, downloaded and unpacked once."""
    root = _root()
    show = runmod.run(["apt-cache", "show", SOURCE_PACKAGE], timeout=120, check=False).stdout.decode()
    first = show.split("\n\n")[0]
    ver = re.search(r"^Version: (\S+)", first, re.M)
    sha = re.search(r"^SHA256: (\w+)", first, re.M)
    if not ver or not sha:
        raise KdumplabError(SOURCE_PACKAGE, "apt knows no such package", "run `kdumplab lab setup` (bullseye sources)")
    version, want = ver.group(1), sha.group(1)
    deb = root / f"{SOURCE_PACKAGE}_{version}_all.deb"
    if not deb.is_file():
        with tempfile.TemporaryDirectory(dir=root) as tmp:
            runmod.run(["apt-get", "download", f"{SOURCE_PACKAGE}={version}"], timeout=1200, cwd=Path(tmp))
            got = list(Path(tmp).glob("*.deb"))
            if len(got) != 1:
                raise KdumplabError(SOURCE_PACKAGE, "apt-get download gave no .deb")
            got[0].replace(deb)
    digest = hashlib.sha256(deb.read_bytes()).hexdigest()
    if digest != want:
        deb.unlink()
        raise KdumplabError(str(deb), f"sha256 {digest} but apt says {want}", "run the build again")
    upstream = version.split("-")[0]
    tree = root / "src" / f"linux-{upstream}"
    if not tree.is_dir():
        log(f"unpacking {deb.name}")
        tmp = Path(tempfile.mkdtemp(dir=root, prefix=".unpack-"))
        try:
            runmod.run(["dpkg-deb", "-x", deb, tmp], timeout=600)
            runmod.run(["tar", "-xaf", tmp / "usr/src/linux-source-5.10.tar.xz", "-C", tmp], timeout=1200)
            (root / "src").mkdir(exist_ok=True)
            (tmp / "linux-source-5.10").replace(tree)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return version, digest, tree


def _compiler() -> str:
    done = runmod.run([CROSS + "gcc", "--version"], timeout=60)
    return done.stdout.decode().splitlines()[0].strip()


def _touched(patch: Path) -> list[str]:
    return re.findall(r"^\+\+\+ b/(\S+)", patch.read_text(errors="replace"), re.M)


def _prepare_work(pristine: Path, work: Path, patch_files: list[Path], log: Callable[[str], None]) -> None:
    """Bring the shared work tree to pristine + ``patch_files``."""
    stamp = work / ".kdumplab-applied.json"
    if not work.is_dir():
        log(f"copying the source tree to {work}")
        work.parent.mkdir(parents=True, exist_ok=True)
        tmp = work.with_name(work.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        runmod.run(["cp", "-a", pristine, tmp], timeout=1200)
        tmp.replace(work)
        stamp.write_text("[]")
    previous = json.loads(stamp.read_text()) if stamp.is_file() else None
    if previous is None:
        raise KdumplabError(str(work), "work tree in an unknown state", f"remove {work} and build again")
    for rel in previous:
        src = pristine / rel
        dst = work / rel
        if src.is_file():
            shutil.copyfile(src, dst)  # new mtime: make rebuilds it
        else:
            dst.unlink(missing_ok=True)
    # every file these patches may touch, written first: a patch that fails half-way is undone next time
    touched = sorted({rel for p in patch_files for rel in _touched(p)})
    stamp.write_text(json.dumps(touched))
    for p in patch_files:
        done = runmod.run(["patch", "-p1", "--forward", "--batch", "--no-backup-if-mismatch", "-i", p],
                          timeout=120, check=False, cwd=work)
        if done.returncode != 0:
            raise KdumplabError(str(p), "does not apply: " + done.stdout.decode(errors="replace").strip()[-300:])


def built_kernels() -> dict[str, dict[str, str]]:
    """The finished lab kernels, shaped like ``manifest.json``'s ``kernels`` entries."""
    f = cache_dir() / "build" / "built.json"
    if not f.is_file():
        return {}
    data = json.loads(f.read_text())
    return {name: e for name, e in data.items() if Path(e["vmlinuz"]).is_file()}


def _record(name: str, entry: dict, file_name: str = "built.json") -> None:
    """Add ``name`` to the cache's list of finished builds (the file lands whole)."""
    f = _root() / file_name
    data = json.loads(f.read_text()) if f.is_file() else {}
    data[name] = entry
    tmp = f.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    tmp.replace(f)


def build(name: str, *, jobs: int = 2, log: Callable[[str], None] = print,
          timeout: float = 4 * 3600) -> dict[str, str]:
    """Build (or find in the cache) the variant ``name``; returns its ``built.json`` entry."""
    if name not in VARIANTS:
        raise KdumplabError("--variant", f"unknown variant {name!r}", "one of " + ", ".join(VARIANTS))
    variant = VARIANTS[name]
    patches = patch_dir()
    fragment = patches / "lab.config"
    if not fragment.is_file():
        raise KdumplabError(str(fragment), "missing", "the lab kernel config lives in kernel-patches/lab.config")
    wanted = config_lines(fragment.read_text())
    files = _series_files(variant, patches)
    version, sha, pristine = _source(log)
    compiler = _compiler()
    key = build_key(sha, files, fragment.read_bytes(), compiler)
    out_dir = _root() / "images" / key[:16]
    image = out_dir / "Image"
    if image.is_file() and (out_dir / "build.json").is_file():
        entry = json.loads((out_dir / "build.json").read_text())
        _record(name, entry)
        log(f"{name}: cached {image}")
        return entry
    work = _root() / "work" / pristine.name
    obj = _root() / "out" / pristine.name
    obj.mkdir(parents=True, exist_ok=True)
    _prepare_work(pristine, work, files, log)
    make = ["make", "-C", work, f"O={obj}", "ARCH=arm64", f"CROSS_COMPILE={CROSS}"]
    runmod.run([*make, f"KCONFIG_ALLCONFIG={fragment}", "allnoconfig"], timeout=600)
    missing = _check_config((obj / ".config").read_text(), wanted)
    if missing:
        raise KdumplabError(str(fragment), "kconfig dropped: " + ", ".join(missing))
    log(f"{name}: building in {obj} (nice -n 10, -j{jobs})")
    t0 = time.monotonic()
    env = {"KBUILD_BUILD_USER": "kdumplab", "KBUILD_BUILD_HOST": "lab",
           "KBUILD_BUILD_TIMESTAMP": "2019-12-23", "KBUILD_BUILD_VERSION": "1"}
    done = runmod.run(["nice", "-n", "10", *make, f"-j{jobs}", "Image"], timeout=timeout, check=False, env=env)
    wall = time.monotonic() - t0
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).decode(errors="replace").strip().splitlines()[-15:]
        (_root() / f"{name}.failed.log").write_bytes(done.stdout + done.stderr)
        raise KdumplabError(name, "kernel build failed:\n" + "\n".join(tail))
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / ".Image.tmp"
    shutil.copyfile(obj / "arch/arm64/boot/Image", tmp)
    tmp.replace(image)
    shutil.copyfile(obj / ".config", out_dir / "config")
    release = (obj / "include/config/kernel.release").read_text().strip()
    shutil.copyfile(obj / "System.map", out_dir / "System.map")
    facts = image_facts((obj / "System.map").read_text(), image.read_bytes()[:64])
    entry = {
        "package": f"{SOURCE_PACKAGE}+kdumplab", "version": f"{version}+{name}", "suite": "bullseye",
        "sha256": hashlib.sha256(image.read_bytes()).hexdigest(), "vmlinuz": str(image),
        "variant": name, "release": release, "source_sha256": sha, "compiler": compiler, "key": key,
        "patches": [f"{p.parent.name}/{p.name}" for p in files],
        "patch_sha256": [hashlib.sha256(p.read_bytes()).hexdigest() for p in files],
        "config_sha256": hashlib.sha256(fragment.read_bytes()).hexdigest(),
        "image_size": str(image.stat().st_size), "build_wall_s": f"{wall:.0f}",
        "image_facts": {k: hex(v) for k, v in facts.items()},
    }
    (out_dir / "build.json").write_text(json.dumps(entry, indent=1, sort_keys=True) + "\n")
    _record(name, entry)
    log(f"{name}: {image} ({image.stat().st_size} bytes, {wall:.0f} s)")
    return entry


# ---------------------------------------------------------------- kexec-tools, both sides

KEXEC_SOURCE = ("bookworm", "kexec-tools", "1:2.0.25-3+deb12u3")
"""Debian's kexec-tools source used for the lab builds. The bullseye 2.0.20 source (``1:2.0.20-2.1``) is
listed in the Sources index but its files are 404 on this machine's mirror, so the companion patch of
v6/v7 is rebased onto 2.0.25 (see kernel-patches/README.md)."""

KEXEC_VARIANTS: dict[str, Variant] = {v.name: v for v in (
    Variant("2.0.25-lab", (), "Debian 2.0.25 source, cross-built static, unpatched (the control of the patched one)"),
    Variant("2.0.25-lowmem", ("kexec-tools",),
            "2.0.25 + 'arm64: kdump: add another DT property to crash dump kernel's dtb' (v6/v7 companion)"),
)}


def _apt_src_args(root: Path) -> list[str]:
    """apt options for a private deb-src list and state under the cache: the machine's apt is not touched."""
    lists = root / "lists"
    (lists / "partial").mkdir(parents=True, exist_ok=True)
    (root / "cache" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
    src = root / "sources.list"
    src.write_text(f"deb-src http://deb.debian.org/debian {KEXEC_SOURCE[0]} main\n")
    return ["-o", f"Dir::Etc::SourceList={src}", "-o", "Dir::Etc::SourceParts=/nonexistent",
            "-o", f"Dir::State::Lists={lists}", "-o", f"Dir::Cache={root / 'cache'}", "-o", "Debug::NoLocking=1"]


def _kexec_source(log: Callable[[str], None]) -> tuple[str, Path]:
    """(dsc sha256, unpacked pristine source) of Debian's kexec-tools, fetched with apt-get source."""
    root = _root() / "kexec-src"
    root.mkdir(parents=True, exist_ok=True)
    suite, pkg, version = KEXEC_SOURCE
    upstream = version.split(":")[-1].split("-")[0]
    tree = root / f"kt-{upstream}"
    dsc = root / f"{pkg}_{version.split(':')[-1]}.dsc"
    if not dsc.is_file() or not tree.is_dir():
        args = _apt_src_args(root)
        runmod.run(["apt-get", *args, "update"], timeout=600)
        runmod.run(["apt-get", *args, "source", "--download-only", f"{pkg}={version}"], timeout=600, cwd=root)
        tmp = root / f".unpack-{upstream}"
        shutil.rmtree(tmp, ignore_errors=True)
        runmod.run(["dpkg-source", "-x", dsc, tmp], timeout=600, cwd=root)
        shutil.rmtree(tree, ignore_errors=True)
        tmp.replace(tree)
        log(f"kexec-tools source {version} ({suite}) unpacked")
    return hashlib.sha256(dsc.read_bytes()).hexdigest(), tree


def built_kexec_tools() -> dict[str, dict]:
    """The lab-built kexec-tools, shaped like ``manifest.json``'s ``kexec_tools`` entries."""
    f = cache_dir() / "build" / "built-kexec.json"
    if not f.is_file():
        return {}
    data = json.loads(f.read_text())
    return {name: e for name, e in data.items() if Path(e["binary"]).is_file()}


def build_kexec(name: str, *, log: Callable[[str], None] = print) -> dict:
    """Cross-build (static, arm64) one kexec-tools variant; cached by source, patches and compiler."""
    if name not in KEXEC_VARIANTS:
        raise KdumplabError("--kexec-variant", f"unknown kexec-tools variant {name!r}",
                            "one of " + ", ".join(KEXEC_VARIANTS))
    variant = KEXEC_VARIANTS[name]
    files = _series_files(variant, patch_dir()) if variant.series else []
    dsc_sha, pristine = _kexec_source(log)
    compiler = _compiler()
    key = build_key(dsc_sha, files, b"--host=aarch64-linux-gnu --without-zlib --without-lzma --without-xen -static",
                    compiler)
    out_dir = _root() / "kexec" / key[:16]
    binary = out_dir / "kexec"
    if not (binary.is_file() and (out_dir / "build.json").is_file()):
        work = _root() / "kexec-work" / name
        shutil.rmtree(work, ignore_errors=True)
        work.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(pristine, work, symlinks=True)
        for p in files:
            done = runmod.run(["patch", "-p1", "--forward", "--batch", "-i", p], timeout=120, check=False, cwd=work)
            if done.returncode != 0:
                raise KdumplabError(str(p), "does not apply: " + done.stdout.decode(errors="replace")[-300:])
        t0 = time.monotonic()
        runmod.run(["sh", "./configure", "--host=aarch64-linux-gnu", "--without-zlib", "--without-lzma",
                    "--without-xen", "LDFLAGS=-static"], timeout=600, cwd=work)
        runmod.run(["nice", "-n", "10", "make", "-j2"], timeout=1800, cwd=work)
        out_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(work / "build/sbin/kexec", out_dir / ".kexec.tmp")
        (out_dir / ".kexec.tmp").chmod(0o755)
        (out_dir / ".kexec.tmp").replace(binary)
        entry = {
            "package": "kexec-tools+kdumplab", "version": f"{KEXEC_SOURCE[2]}+{name}", "suite": KEXEC_SOURCE[0],
            "sha256": hashlib.sha256(binary.read_bytes()).hexdigest(), "binary": str(binary), "interp": None,
            "files": {}, "variant": name, "compiler": compiler, "dsc_sha256": dsc_sha,
            "patches": [f"{p.parent.name}/{p.name}" for p in files],
            "patch_sha256": [hashlib.sha256(p.read_bytes()).hexdigest() for p in files],
            "build_wall_s": f"{time.monotonic() - t0:.0f}",
        }
        (out_dir / "build.json").write_text(json.dumps(entry, indent=1, sort_keys=True) + "\n")
        shutil.rmtree(work, ignore_errors=True)
    entry = json.loads((out_dir / "build.json").read_text())
    _record(name, entry, "built-kexec.json")
    log(f"kexec-tools {name}: {binary}")
    return entry
