#!/bin/sh
# Boot-time report. A bare QEMU boot (scxray's QEMU options and kernel, an
# initramfs whose /init powers off at once) against scxray's own boot of that
# initramfs, then against `scxray demo --headless`. It prints times and judges
# nothing: on a shared host a timing is not a test. Exits non-zero only when
# something could not be measured (no QEMU, no kernel, a run that failed).
#
# Usage: scripts/perf.sh
#   SCXRAY_KERNEL picks the kernel (else the newest cached one, fetched if
#   none); SCXRAY_ACCEL=kvm|tcg|auto the accelerator.
set -eu
cd "$(dirname "$0")/.."
PATH="$HOME/.cargo/bin:$PATH"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
log=$tmp/log
# The demo's reports go here, not into the user's report directory.
XDG_STATE_HOME=$tmp/state
export XDG_STATE_HOME

echo "scxray perf: building (release)" >&2
cargo build --release --quiet -p scxray-ui -p scxray-probes
scxray=target/release/scxray
# Every run below resolves the same kernel: $SCXRAY_KERNEL or the cache's newest.
[ -n "${SCXRAY_KERNEL:-}" ] || "$scxray" kernel fetch >/dev/null

# 1. Bare QEMU against scxray-vmm's boot() of the same initramfs (the test
#    guest: Hello, Done, power off), alternated. The measurement is an ignored
#    test so that it shares the VM tests' setup; here it must run, not skip.
echo "scxray perf: bare QEMU against scxray's boot (two runs each)" >&2
if ! SCXRAY_REQUIRE_VM=1 cargo test --release --quiet -p scxray-vmm --test qemu -- \
    --ignored --exact boot_time_against_bare_qemu --nocapture >/dev/null 2>"$log"; then
    cat "$log" >&2
    echo "scxray perf: the boot measurement failed" >&2
    exit 1
fi
sed -n '/^boot timing/,/^  ratio/p' "$log"

# 2. The whole `scxray demo --headless`: boot, load the demo scheduler, run the
#    workload, collect, power off. Same CPUs and memory as the bare boot.
# Usage: timed LABEL COMMAND...   (exit 0: survived, 1: crashed; both ran)
timed() {
    label=$1
    shift
    start=$(date +%s%N)
    status=0
    "$@" >/dev/null 2>"$log" || status=$?
    ms=$((($(date +%s%N) - start) / 1000000))
    case $status in
    0 | 1) ;;
    *)
        cat "$log" >&2
        echo "scxray perf: $label: exit $status (the run failed)" >&2
        exit 1
        ;;
    esac
    printf '  %-52s %4d.%02d s (exit %d)\n' "$label:" $((ms / 1000)) $((ms % 1000 / 10)) "$status"
}

echo "scxray demo --headless, 2 CPUs, 512 MiB:"
short="--headless --cpus 2 --memory 512 --crash none --phase-ms 100 --workers 1"
# shellcheck disable=SC2086 # $short is a list of words
timed "no crash, 3 phases of 100 ms" "$scxray" demo $short
# The demo runs TCG single-threaded (see ui/src/live_run.rs); the bare boot
# above multi-threaded. Under KVM the two lines measure the same thing.
# shellcheck disable=SC2086
timed "the same, multi-threaded TCG like the bare boot" \
    env SCXRAY_TCG_THREADS=multi "$scxray" demo $short
timed "the default demo's crash, without auto-repro" \
    "$scxray" demo --headless --cpus 2 --memory 512 --no-auto-repro
timed "the default demo, auto-repro booted after the crash" \
    env SCXRAY_PARK_REPRO=0 "$scxray" demo --headless --cpus 2 --memory 512
timed "the default demo, auto-repro parked during the run" \
    "$scxray" demo --headless --cpus 2 --memory 512
