"""The lab under damage and signals (issue 12): moved caches, broken manifests, damaged kernel images,
SIGTERM/SIGHUP during a boot, and a lost run's log in $TMPDIR. Fake QEMU (a shell script); no real boot."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from kdumplab.errors import KdumplabError
from kdumplab.lab import setup
from kdumplab.lab.kimage import check_image, image_sha256
from kdumplab.lab.setup import load_lab

IMAGE = bytes(56) + b"ARM\x64" + bytes(8)


def _cache(root: Path) -> Path:
    """A cache with one kernel and busybox unpacked, and its manifest as setup writes it."""
    tree = root / "trees" / "linux-image-6.1_6.1.192-3" / "boot"
    tree.mkdir(parents=True)
    (tree / "vmlinuz-6.1").write_bytes(IMAGE)
    (root / "trees" / "bb" / "bin").mkdir(parents=True)
    (root / "trees" / "bb" / "bin" / "busybox").write_bytes(b"bb")
    image = tree / "vmlinuz-6.1"
    manifest = {"kernels": {"6.1": {"package": "linux-image-6.1", "version": "6.1.192-3", "vmlinuz": str(image),
                                    "image_sha256": image_sha256(image)}},
                "busybox": {"package": "busybox-static", "version": "1", "path": str(root / "trees/bb/bin/busybox")},
                "kexec_tools": {"2.0.25": {"binary": str(root / "trees/kt/sbin/kexec"),
                                           "files": {"/lib/libc.so.6": str(root / "trees/libc/libc.so.6")}}},
                "firmware": {"seabios": {"path": "/usr/share/seabios/bios-256k.bin"}}}
    setup._write_json(root / "manifest.json", manifest)
    return root


def test_manifest_paths_are_relative_and_a_moved_cache_works(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # found on 11-30: manifest.json held absolute paths, so a moved or copied cache silently used the old one
    old = _cache(tmp_path / "old")
    text = (old / "manifest.json").read_text()
    assert str(old) not in text and '"trees/bb/bin/busybox"' in text
    assert '"/usr/share/seabios/bios-256k.bin"' in text  # a host file stays absolute
    new = tmp_path / "new"
    shutil.copytree(old, new)
    shutil.rmtree(old)
    monkeypatch.setenv("KDUMPLAB_CACHE", str(new))
    lab = load_lab()
    assert lab.kernels["6.1"]["vmlinuz"] == str(new / "trees/linux-image-6.1_6.1.192-3/boot/vmlinuz-6.1")
    assert lab.busybox == new / "trees/bb/bin/busybox"
    assert lab.kexec_tools["2.0.25"]["files"]["/lib/libc.so.6"] == str(new / "trees/libc/libc.so.6")


def test_old_absolute_manifest_is_migrated_or_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    new = _cache(tmp_path / "new")
    m = json.loads((new / "manifest.json").read_text())
    m["busybox"]["path"] = "/somewhere/else/.cache/kdumplab/trees/bb/bin/busybox"  # what old setups wrote
    (new / "manifest.json").write_text(json.dumps(m))
    monkeypatch.setenv("KDUMPLAB_CACHE", str(new))
    assert load_lab().busybox == new / "trees/bb/bin/busybox"  # the same tree is here: migrated
    m["busybox"]["path"] = "/somewhere/else/.cache/kdumplab/trees/gone/bin/busybox"
    (new / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(KdumplabError, match=r"outside this cache .* is not here"):
        load_lab()


@pytest.mark.parametrize(("text", "says"), [
    ('{"kernels": {"6.1": {"package": "p"', "unreadable lab manifest"),         # truncated
    ("[1, 2]", "not a JSON object"),
    ("{}", "no kernels or busybox"),                                            # key-less
    ('{"kernels": {"6.1": {"package": "p", "version": 5, "vmlinuz": "v"}}, "busybox": {"path": "b"}}',
     "kernel 6.1: no version"),                                                 # wrong type
    ('{"kernels": {}, "busybox": {"path": 3}}', "busybox: no path"),
    ('{"kernels": {}, "busybox": {"path": "b"}, "kexec_tools": []}', "not tables"),
    ("\xff\xfe", "not UTF-8"),
])
def test_broken_manifest_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, says: str) -> None:
    # found on 11-30: a truncated or key-less manifest.json gave a traceback
    monkeypatch.setenv("KDUMPLAB_CACHE", str(tmp_path))
    (tmp_path / "manifest.json").write_bytes(text.encode("latin-1"))
    with pytest.raises(KdumplabError) as e:
        load_lab()
    assert says in e.value.one_line() and "manifest.json" in e.value.where


def test_setup_rewrites_an_unreadable_manifest(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text('{"kernels": ')
    said: list[str] = []
    cache = setup.Cache(tmp_path, said.append)
    assert cache.manifest == {} and "writing it afresh" in said[0]


@pytest.mark.parametrize(("data", "arch", "says"), [
    (b"", "arm64", "not an arm64 kernel Image"),
    (b"MZ" + bytes(100), "arm64", "not an arm64 kernel Image"),
    (IMAGE, "x86_64", "not an x86 bzImage"),
])
def test_damaged_kernel_image_names_the_file(tmp_path: Path, data: bytes, arch: str, says: str) -> None:
    path = tmp_path / "vmlinuz"
    path.write_bytes(data)
    with pytest.raises(KdumplabError, match=says) as e:
        check_image(path, arch)
    assert e.value.where == str(path)


def test_image_sha256_recorded_at_setup_catches_damage_past_the_header(tmp_path: Path) -> None:
    path = tmp_path / "vmlinuz"
    path.write_bytes(IMAGE + b"good")
    sha = image_sha256(path)
    check_image(path, "arm64", sha)
    path.write_bytes(IMAGE + b"bad!")
    with pytest.raises(KdumplabError, match="differs from the sha256 recorded"):
        check_image(path, "arm64", sha)
    (tmp_path / "gz").write_bytes(b"\x1f\x8b" + bytes(10))  # QEMU takes a gzip-compressed Image too
    check_image(tmp_path / "gz", "arm64")


def test_setup_sees_a_damaged_tree_and_unpacks_it_again(tmp_path: Path) -> None:
    # found on 11-30: `lab setup` did not repair a corrupted unpacked kernel
    tree = tmp_path / "trees" / "k"
    (tree / "boot").mkdir(parents=True)
    (tree / "boot" / "vmlinuz-6.1").write_bytes(IMAGE + b"good")
    f = setup.Fetched("linux-image-6.1", "6.1.192-3", "bookworm", "debsha", tree)
    arm = setup.ARCHES["arm64"]
    image, sha = setup._checked_image(f, arm, None)
    assert image == tree / "boot" / "vmlinuz-6.1"
    old = {"package": f.package, "version": f.version, "image_sha256": sha}
    assert setup._checked_image(f, arm, old)[0] == image                  # unchanged: kept
    (tree / "boot" / "vmlinuz-6.1").write_bytes(IMAGE + b"bad!")
    assert setup._checked_image(f, arm, old)[0] is None                   # damaged: unpack again
    assert setup._checked_image(f, arm, {**old, "version": "other"})[0] == image  # a new version: no record
    said: list[str] = []
    cache = setup.Cache(tmp_path, said.append)
    cache.unpack_again(f)
    assert not tree.exists() and "unpacking it again" in said[0]


def test_lost_run_log_never_follows_a_planted_symlink(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # found on 11-30: a lost run wrote the fixed name $TMPDIR/kdumplab-lost-serial.log, following a symlink
    from kdumplab.lab.cli import _lost

    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    (scratch / "kdumplab-lost-serial.log").symlink_to(victim)
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    with pytest.raises(KdumplabError) as e:
        _lost("boot", "no markers", "serial text", None, "kdumplab-lost-serial.log")
    assert victim.read_text() == "precious\n"
    saved = Path(e.value.hint.split("serial log in ")[1])
    assert saved.parent == scratch and saved.read_text() == "serial text" and not saved.is_symlink()
    assert saved.stat().st_mode & 0o777 == 0o600


_DRIVER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from kdumplab.lab.qemu import BootSpec, boot
    from kdumplab.lab.setup import Lab
    tmp = Path(sys.argv[1])
    lab = Lab({"6.1": {"package": "p", "version": "v", "vmlinuz": str(tmp / "vmlinuz")}}, tmp / "busybox")
    try:
        boot(BootSpec("6.1", "8G"), lab=lab, timeout=60)
    except KeyboardInterrupt as e:
        print("interrupted", type(e).__name__, flush=True)
        sys.exit(130)
""")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_kill_qemu_and_remove_the_scratch_dir(tmp_path: Path, sig: int) -> None:
    # found on 11-30: SIGTERM or SIGHUP left QEMU running (re-parented, past its timeout) and the scratch
    # directory behind; now they unwind like Ctrl-C
    bindir, scratch = tmp_path / "bin", tmp_path / "scratch"
    bindir.mkdir()
    scratch.mkdir()
    pidfile = tmp_path / "qemu.pid"
    fake = bindir / "qemu-system-aarch64"
    fake.write_text("#!/bin/sh\n"
                    'if [ "$1" = --version ]; then echo "QEMU emulator version 7.2.99 (fake)"; exit 0; fi\n'
                    f"sleep 60 & echo $! > {pidfile}\necho '=== KDUMPLAB BEGIN'\nwait\n")
    fake.chmod(0o755)
    (tmp_path / "vmlinuz").write_bytes(IMAGE)
    (tmp_path / "busybox").write_bytes(b"bb")
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", "TMPDIR": str(scratch)}
    proc = subprocess.Popen([sys.executable, "-c", _DRIVER, str(tmp_path)], env=env, stdout=subprocess.PIPE,
                            text=True)
    try:
        for _ in range(200):
            if pidfile.exists() and pidfile.read_text().strip():
                break
            time.sleep(0.05)
        assert pidfile.exists(), "the fake QEMU never started"
        assert [p.name for p in scratch.iterdir()][0].startswith("kdumplab-boot-")
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 130 and "interrupted Terminated" in out
        sleeper = Path(f"/proc/{int(pidfile.read_text())}/stat")
        time.sleep(0.2)
        assert not sleeper.exists() or sleeper.read_text().split(") ")[1][0] in "ZX"
        assert list(scratch.iterdir()) == [], "the scratch directory was left behind"
    finally:  # whatever failed, leave no driver and no fake QEMU behind
        if proc.poll() is None:
            proc.kill()
        if pidfile.exists() and pidfile.read_text().strip():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(os.getpgid(int(pidfile.read_text())), signal.SIGKILL)


@pytest.mark.parametrize(("text", "says"), [
    ('[[case]]\nname = "a"\nkernel = "6.1"\n', "case 1 (a): no mem"),                        # missing mem
    ("case = 1\n", "case = 1 is not a list"),
    ('[[case]]\nname = "a"\nkernel = "6.1"\nmem = "8G"\nnuma = 5\n', "numa = 5 must be a list of strings"),
    ('[[case]]\nname = "a"\nkernel = "6.1"\nmem = "8G"\ncmdline = "\xe9"\n', "not UTF-8"),   # latin-1
    ('[[case]]\nname = "a"\nkernel = "6.1"\nmem = "8Q"\n', "case 1 (a): mem: "),             # a bad value
    ('[[case]]\nname = "a"\nkernel = "6.1"\nmem = 8\n', "mem = 8 must be a string"),
    ('[[case]]\nname = "a"\nkernel = "6.1"\nmem = "8G"\nrepeat = true\n', "repeat = True must be an integer"),
    ("case = [1]\n", "case 1: is int 1, not a table"),
    ('[[case]]\nkernel = "6.1"\nmem = "8G"\nbogus = 1\n', "unknown keys bogus"),
])
def test_bad_suite_names_the_file_and_the_case(tmp_path: Path, text: str, says: str) -> None:
    # found on 11-30: suite cases with a missing mem, case = 1, numa = 5 or latin-1 gave tracebacks, and a bad
    # mem did not name the suite or the case
    from click.testing import CliRunner

    from kdumplab.cli import main

    suite = tmp_path / "s.toml"
    suite.write_bytes(text.encode("latin-1"))
    r = CliRunner().invoke(main, ["verify", "--suite", str(suite)])
    assert r.exit_code == 2 and len(r.stderr.splitlines()) == 1, r.stderr
    assert str(suite) in r.stderr and says in r.stderr


def _recorded(tmp_path: Path, kind: str) -> Path:
    src = sorted(Path(__file__).parents[1].joinpath("data", kind).iterdir())[0]
    dst = tmp_path / "rec" / src.name
    shutil.copytree(src, dst)
    return dst


@pytest.mark.parametrize(("field", "value", "says"), [
    ("mem", 5, "field mem = 5 is not str"),
    ("crash_log", [1, 2], "field crash_log = (1, 2) is not"),
    ("kexec_crash_size", "512M", "field kexec_crash_size"),
    ("numa", 5, "not an Observation"),
    ("crash_regions", [{"name": "Crash kernel"}], "not an Observation"),
    ("provenance", None, "not an Observation"),
    ("mem", "8Q", "not a size"),
])
def test_recording_with_a_wrong_type_names_the_recording(tmp_path: Path, field: str, value: object,
                                                          says: str) -> None:
    # found on 11-30: a recording JSON with a field of the wrong type gave a traceback, and verify --recorded
    # errors named case.json or an option, never the recording
    from click.testing import CliRunner

    from kdumplab.cli import main

    rec = _recorded(tmp_path, "boots")
    d = json.loads((rec / "case.json").read_text())
    d[field] = value
    (rec / "case.json").write_text(json.dumps(d))
    r = CliRunner().invoke(main, ["verify", "--recorded", str(rec.parent)])
    assert r.exit_code == 2 and len(r.stderr.splitlines()) == 1, r.stderr
    assert f"kdumplab: {rec}: cannot read this recording" in r.stderr and says in r.stderr


@pytest.mark.parametrize(("path", "value"), [(("panicked",), "yes"), (("kexec", "rc"), "0"),
                                             (("kexec", "segments"), [{"mem": "0x1", "memsz": 1, "bufsz": 1}]),
                                             (("first", "mem"), 8)])
def test_cycle_with_a_wrong_type_is_one_line(tmp_path: Path, path: tuple[str, ...], value: object) -> None:
    from kdumplab.lab.cycle import load_cycle

    rec = _recorded(tmp_path, "cycles")
    d = json.loads((rec / "cycle.json").read_text())
    node = d
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    (rec / "cycle.json").write_text(json.dumps(d))
    with pytest.raises(KdumplabError) as e:
        load_cycle(rec)
    assert e.value.where == str(rec / "cycle.json") and path[-1] in e.value.what
