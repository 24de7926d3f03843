#!/bin/sh
# Regenerates screenshots/*.png from the real binary in a real terminal (tmux),
# rendered to PNG. Usage: scripts/screenshots.sh
set -eu
cd "$(dirname "$0")/.."
command -v tmux >/dev/null && /usr/bin/python3 -c "import PIL" 2>/dev/null && [ -f /usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf ] || {
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq tmux python3-pil fonts-dejavu-core >/dev/null
}
cargo build --release --quiet -p scxray-ui -p scxray-probes
bin="$PWD/target/release/scxray"
tmp="$(mktemp -d)"
sock=""
trap '[ -z "$sock" ] || tmux -L "$sock" kill-server 2>/dev/null || true; rm -rf "$tmp"' EXIT INT TERM
mkdir -p screenshots

# shot NAME COLS ROWS "[OPTIONS] REPORT" KEYS...
# $palette picks the terminal's own colours in the PNG: dark (default) or
# light, for the theme made for light terminals.
palette=dark
shot() {
    name=$1 cols=$2 rows=$3 report=$4
    shift 4
    # One tmux server per shot: a server that is shutting down refuses new sessions.
    sock="scxray-shots-$$-$name"
    tmux -L "$sock" new-session -d -x "$cols" -y "$rows" "TERM=xterm-256color $bin open $report"
    sleep 1
    for k in "$@"; do tmux -L "$sock" send-keys -- "$k"; sleep 0.3; done
    tmux -L "$sock" capture-pane -e -p > "$tmp/$name.txt"
    tmux -L "$sock" kill-server 2>/dev/null || true
    /usr/bin/python3 scripts/ansi2png.py "$tmp/$name.txt" "screenshots/$name.png" "$cols" "$rows" "$palette"
    echo "screenshots/$name.png"
}

example=examples/reports/crashfifo-7.3-ktstr.txt
shot open-summary 120 36 "$example"
shot open-backtrace 120 36 "$example" 2
shot open-cpu-states 120 36 "$example" 3
shot open-scheduler-log 120 36 "$example" 5

# Each theme on the same report; light on a light terminal, as it is meant.
palette=light
shot theme-light 120 36 "--theme light $example"
palette=dark
shot theme-high-contrast 120 36 "--theme high-contrast $example"

# The timeline pane (4) of a ktstr run that timed out on a stall.
shot timeline 160 44 tests/fixtures/variants/ktstr-cosmos-timed-out-stall.txt 4

# The structured auto-repro pane of a ktstr report, a function selected.
shot auto-repro 130 42 tests/fixtures/variants/ktstr-rusty-nextest-autorepro.txt r j
# scxray's own auto-repro of the demo: kernel and BPF lines, the fields.
shot auto-repro-demo 150 46 examples/reports/demo-autorepro-7.3.txt r j j j j j j j
# The failure dump of a real run, frozen at the error by the watchpoint.
shot failure-dump 150 46 examples/reports/demo-failure-dump-7.3.txt F

# The matcher workbench: type a contains pin and a regex pin.
shot workbench 140 40 "$example" w i "apply_cell_config returned" Tab "-E[A-Z]+ \\(enqueue #\\d+" Escape

# A live `scxray demo`: mid-way through the workload, then after the crash.
# Needs a cached sched_ext kernel (`scxray kernel fetch`) and qemu.
# live NAME COLS ROWS SECONDS "DEMO ARGS" KEYS...
live() {
    name=$1 cols=$2 rows=$3 wait=$4 args=$5
    shift 5
    sock="scxray-shots-$$-$name"
    tmux -L "$sock" new-session -d -x "$cols" -y "$rows" "TERM=xterm-256color XDG_STATE_HOME=$tmp $bin demo $args"
    sleep "$wait"
    for k in "$@"; do tmux -L "$sock" send-keys -- "$k"; sleep 0.3; done
    tmux -L "$sock" capture-pane -e -p > "$tmp/$name.txt"
    tmux -L "$sock" send-keys q
    sleep 1
    tmux -L "$sock" kill-server 2>/dev/null || true
    /usr/bin/python3 scripts/ansi2png.py "$tmp/$name.txt" "screenshots/$name.png" "$cols" "$rows" dark
    echo "screenshots/$name.png"
}
if command -v qemu-system-x86_64 >/dev/null && "$bin" kernel list 2>/dev/null | grep -q yes; then
    # A clean run with long phases, caught mid-way, on its timeline pane.
    live demo-running 140 40 9 "--crash none --phase-ms 4000" t
    live demo-monitor-now 140 40 10 "--crash none --phase-ms 4000" 5
    # After the crash: the backtrace with the source of the frame worth
    # reading beside it (wide layout), and the host monitor's samples
    # around the crash on the timeline.
    live demo-crashed 176 46 16 "" b
    live demo-monitor 150 44 16 "" t
else
    echo "skipping the live demo shots: needs qemu and a cached kernel (scxray kernel fetch)" >&2
fi
