#!/usr/bin/env bash
# Byte-identity outputs of the model, for speed work and the compiled build: the `kdumplab` on PATH (activate
# the venv of the build you test) writes `verify --recorded tests/data --json` and 25 sweep JSONs into OUTDIR.
# Run it from the tree's root for two builds and `diff -r` the two directories: it must print nothing.
#   bash bench/identity.sh OUTDIR
# .ci/compiled runs it for the pure and the mypyc-compiled build. Not a test: it takes 1.5-3 minutes.
set -u
out=${1:?usage: bench/identity.sh OUTDIR}
mkdir -p "$out"
kdumplab verify --recorded tests/data --json > "$out/verify.json" 2>/dev/null
echo "verify rc=$?" > "$out/rc.txt"
i=0
for line in "crashkernel=512M" "crashkernel=1G-4G:192M,4G-64G:256M,64G-:512M" \
        "crashkernel=2G,high crashkernel=128M,low" "crashkernel=256M,high" "crashkernel=1G cma=256M" \
        "crashkernel=0M-2G:128M,2G-6G:256M,6G-:768M rodata=full"; do
    for kt in none 2.0.20 2.0.25 2.0.32; do
        i=$((i + 1))
        kdumplab sweep --cmdline "$line" --mem 1G..200G --step 254M --kexec-tools $kt --jobs 1 --json \
            > "$out/sweep$i.json" 2>/dev/null
        echo "sweep$i rc=$?" >> "$out/rc.txt"
    done
done
kdumplab sweep --cmdline "crashkernel=1G-4G:192M,4G-64G:256M,64G-:512M" --mem 128M..8G --step 2M --jobs 1 \
    --json > "$out/sweep-fine.json" 2>/dev/null
echo "fine rc=$?" >> "$out/rc.txt"
