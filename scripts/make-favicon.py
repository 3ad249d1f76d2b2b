#!/usr/bin/env python3
"""Draws static/favicon.png (32x32, RGBA): the peerlab mark, two peers joined by a link on a rounded blue
square. A small bitmap on purpose: Chromium's media controls take a page's favicon as the artwork of a
page that plays sound and rasterize a vector icon at 512x512, a megabyte per page sent through the
browser's main thread (docs/bench-log/2026-12-05-mesh-round-10.md). Standard library only."""
import struct
import sys
import zlib

SIZE, SAMPLES = 32, 8  # pixels per side; sub-samples per pixel side (anti-aliasing)
BLUE, WHITE = (0x2F, 0x5B, 0xD3), (0xFF, 0xFF, 0xFF)


def inside_rounded_square(x, y, r=7.0):
    cx = min(max(x, r), SIZE - r)
    cy = min(max(y, r), SIZE - r)
    return 0 <= x <= SIZE and 0 <= y <= SIZE and (x - cx) ** 2 + (y - cy) ** 2 <= r * r


def is_white(x, y):
    peers = any((x - px) ** 2 + (y - 16) ** 2 <= 4.5 ** 2 for px in (10, 22))
    link = 14.5 <= x <= 17.5 and 14.75 <= y <= 17.25
    return peers or link


def pixel(i, j):
    covered = white = 0
    for a in range(SAMPLES):
        for b in range(SAMPLES):
            x, y = i + (a + 0.5) / SAMPLES, j + (b + 0.5) / SAMPLES
            if inside_rounded_square(x, y):
                covered += 1
                white += is_white(x, y)
    n = SAMPLES * SAMPLES
    if covered == 0:
        return (0, 0, 0, 0)
    rgb = tuple(round((w * white + c * (covered - white)) / covered) for w, c in zip(WHITE, BLUE))
    return rgb + (round(255 * covered / n),)


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(rows):
    raw = b"".join(b"\0" + bytes(v for px in row for v in px) for row in rows)
    header = struct.pack(">IIBBBBB", SIZE, SIZE, 8, 6, 0, 0, 0)  # 8-bit RGBA
    idat = zlib.compress(raw, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else "static/favicon.png"
    with open(out, "wb") as f:
        f.write(png([[pixel(i, j) for i in range(SIZE)] for j in range(SIZE)]))
