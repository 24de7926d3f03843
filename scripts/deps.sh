#!/bin/sh
# Installs what scxray's build and tests need, only when missing. Idempotent.
# Usage: scripts/deps.sh [test]   ("test" adds the packages only tests need)
# System packages come from the machine's own apt configuration.
set -eu

need_apt=""
command -v cc >/dev/null 2>&1 || need_apt="$need_apt gcc libc6-dev"
command -v curl >/dev/null 2>&1 || need_apt="$need_apt curl ca-certificates"
# probes/: the demo BPF scheduler needs clang 19; the vendored libbpf needs
# libelf, zlib, pkg-config and make. qemu runs the test guests; apt-get and
# dpkg-deb (always there on Debian) fetch the sched_ext kernel.
command -v clang-19 >/dev/null 2>&1 || need_apt="$need_apt clang-19"
[ -e /usr/include/libelf.h ] || need_apt="$need_apt libelf-dev"
[ -e /usr/include/zlib.h ] || need_apt="$need_apt zlib1g-dev"
command -v pkg-config >/dev/null 2>&1 || need_apt="$need_apt pkg-config"
command -v make >/dev/null 2>&1 || need_apt="$need_apt make"
command -v qemu-system-x86_64 >/dev/null 2>&1 || need_apt="$need_apt qemu-system-x86"
if [ "${1:-}" = test ]; then
    # tmux drives the TUI end-to-end tests; time measures peak memory; cpio
    # cross-checks the initramfs writer; bpftool and llvm regenerate vmlinux.h.
    command -v tmux >/dev/null 2>&1 || need_apt="$need_apt tmux"
    [ -x /usr/bin/time ] || need_apt="$need_apt time"
    command -v cpio >/dev/null 2>&1 || need_apt="$need_apt cpio"
    command -v llvm-objcopy-19 >/dev/null 2>&1 || need_apt="$need_apt llvm-19"
    command -v bpftool >/dev/null 2>&1 || [ -x /usr/sbin/bpftool ] || need_apt="$need_apt bpftool"
    command -v zstd >/dev/null 2>&1 || need_apt="$need_apt zstd"
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
