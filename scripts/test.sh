#!/bin/sh
# Every check: formatting, lints, all tests of the workspace (unit, property,
# end-to-end through the binary, through tmux and in real VMs).
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh test
PATH="$HOME/.cargo/bin:$PATH"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
# The VM tests need the guest binaries and a sched_ext kernel (cached outside
# the repo, in ~/.cache/scxray): here they must run, not skip.
cargo build --quiet -p scxray-ui -p scxray-probes
target/debug/scxray kernel fetch >/dev/null
target/debug/scxray kernel fetch --debug-info >/dev/null
# Its KVM modules: vmm/tests/kvm_nested.rs boots Linux on the own VMM on a KVM
# inside QEMU's TCG, the one way to see that here.
target/debug/scxray kernel fetch --kvm-modules >/dev/null
# This machine's nested KVM runs the own VMM's tiny guests (not Linux): required too.
SCXRAY_REQUIRE_VM=1 SCXRAY_REQUIRE_KVM_TINY=1 cargo test --workspace --no-fail-fast
