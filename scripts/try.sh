#!/bin/sh
# The main job: build scxray and open the bundled example crash report in the TUI.
# Usage: scripts/try.sh [REPORT]
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh
PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --quiet -p scxray-ui
exec target/release/scxray open "${1:-examples/reports/crashfifo-7.3-ktstr.txt}"
