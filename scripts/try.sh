#!/bin/sh
# The main job: build scxray, then `scxray demo`: fetch Debian's sched_ext
# kernel if none is cached, boot it, crash the demo scheduler, show it live.
# Usage: scripts/try.sh [DEMO OPTIONS]   (e.g. --crash stall, --headless)
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh
PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --quiet -p scxray-ui -p scxray-probes
exec target/release/scxray demo "$@"
