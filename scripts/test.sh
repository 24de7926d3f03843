#!/bin/sh
# Every check: formatting, lints, all tests of the workspace (unit, property,
# end-to-end through the binary and through tmux).
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh test
PATH="$HOME/.cargo/bin:$PATH"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo test --workspace --no-fail-fast
