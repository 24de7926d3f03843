#!/usr/bin/python3
"""Renders a tmux `capture-pane -e -p` dump (text with SGR colour codes) to a PNG.

Usage: ansi2png.py CAPTURE.txt OUT.png COLS ROWS [dark|light]

The last argument is the terminal's own palette (default colours), so a theme
made for light terminals is shown on one.
"""
import re
import sys

from PIL import Image, ImageDraw, ImageFont

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"
BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf"
BASE16 = [
    (0x1d, 0x1f, 0x21), (0xcc, 0x44, 0x44), (0x5f, 0xb3, 0x5f), (0xd7, 0xaf, 0x5f),
    (0x5f, 0x87, 0xd7), (0xaf, 0x5f, 0xaf), (0x5f, 0xaf, 0xaf), (0xc5, 0xc8, 0xc6),
    (0x66, 0x66, 0x66), (0xff, 0x66, 0x66), (0x87, 0xd7, 0x87), (0xff, 0xd7, 0x5f),
    (0x87, 0xaf, 0xff), (0xd7, 0x87, 0xd7), (0x87, 0xd7, 0xd7), (0xff, 0xff, 0xff),
]
DEFAULTS = {
    "dark": ((0xd0, 0xd0, 0xd0), (0x12, 0x14, 0x18)),
    "light": ((0x1d, 0x1f, 0x21), (0xfa, 0xfa, 0xf7)),
}
DEFAULT_FG, DEFAULT_BG = DEFAULTS["dark"]
SGR = re.compile(r"\x1b\[([0-9;:]*)m")


def color256(n):
    if n < 16:
        return BASE16[n]
    if n < 232:
        n -= 16
        steps = [0, 95, 135, 175, 215, 255]
        return (steps[n // 36], steps[(n // 6) % 6], steps[n % 6])
    v = 8 + (n - 232) * 10
    return (v, v, v)


def apply(params, st):
    codes = [int(p) if p else 0 for p in re.split("[;:]", params)] if params else [0]
    i = 0
    while i < len(codes):
        c = codes[i]
        if c == 0:
            st.update(fg=None, bg=None, bold=False, rev=False)
        elif c == 1:
            st["bold"] = True
        elif c == 22:
            st["bold"] = False
        elif c == 7:
            st["rev"] = True
        elif c == 27:
            st["rev"] = False
        elif 30 <= c <= 37:
            st["fg"] = BASE16[c - 30]
        elif 90 <= c <= 97:
            st["fg"] = BASE16[c - 90 + 8]
        elif 40 <= c <= 47:
            st["bg"] = BASE16[c - 40]
        elif 100 <= c <= 107:
            st["bg"] = BASE16[c - 100 + 8]
        elif c == 39:
            st["fg"] = None
        elif c == 49:
            st["bg"] = None
        elif c in (38, 48) and i + 1 < len(codes):
            key = "fg" if c == 38 else "bg"
            if codes[i + 1] == 5 and i + 2 < len(codes):
                st[key] = color256(codes[i + 2])
                i += 2
            elif codes[i + 1] == 2 and i + 4 < len(codes):
                st[key] = tuple(codes[i + 2:i + 5])
                i += 4
        i += 1


def main():
    global DEFAULT_FG, DEFAULT_BG
    src, out, cols, rows = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    DEFAULT_FG, DEFAULT_BG = DEFAULTS[sys.argv[5] if len(sys.argv) > 5 else "dark"]
    font, bold = ImageFont.truetype(FONT, 15), ImageFont.truetype(BOLD, 15)
    cw = int(font.getlength("M"))
    ch = 19
    img = Image.new("RGB", (cols * cw + 16, rows * ch + 16), DEFAULT_BG)
    draw = ImageDraw.Draw(img)
    st = dict(fg=None, bg=None, bold=False, rev=False)
    lines = open(src, encoding="utf-8", errors="replace").read().split("\n")[:rows]
    for y, line in enumerate(lines):
        x = 0
        pos = 0
        for m in list(SGR.finditer(line)) + [None]:
            chunk = line[pos:m.start()] if m else line[pos:]
            for chr_ in chunk:
                fg, bg = st["fg"] or DEFAULT_FG, st["bg"] or DEFAULT_BG
                if st["rev"]:
                    fg, bg = bg, fg
                px, py = 8 + x * cw, 8 + y * ch
                draw.rectangle([px, py, px + cw - 1, py + ch - 1], fill=bg)
                draw.text((px, py + 1), chr_, font=bold if st["bold"] else font, fill=fg)
                x += 1
            if m:
                apply(m.group(1), st)
                pos = m.end()
    img.save(out)


if __name__ == "__main__":
    main()
