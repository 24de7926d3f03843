#!/bin/sh
# Installs what scxray's build and tests need, only when missing. Idempotent.
# Usage: scripts/deps.sh [test]   ("test" adds the packages only tests need)
set -eu

need_apt=""
command -v cc >/dev/null 2>&1 || need_apt="$need_apt gcc libc6-dev"
command -v curl >/dev/null 2>&1 || need_apt="$need_apt curl ca-certificates"
if [ "${1:-}" = test ]; then
    command -v tmux >/dev/null 2>&1 || need_apt="$need_apt tmux"
    command -v /usr/bin/time >/dev/null 2>&1 || need_apt="$need_apt time"
fi

if [ -n "$need_apt" ]; then
    echo "scxray: installing system packages:$need_apt" >&2
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $need_apt >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null 2>&1; then
    echo "scxray: installing the Rust toolchain with rustup" >&2
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal -c clippy,rustfmt
fi
