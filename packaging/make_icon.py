"""Draw the application icon (``ultrasound_reader/gui/icon.png``, 256x256 RGBA) with Pillow.

The committed PNG is what the window and the frozen application use; rerun this only
to change it: ``python packaging/make_icon.py [OUT.png]``.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

SIZE = 256
OUT = Path(__file__).resolve().parents[1] / "ultrasound_reader" / "gui" / "icon.png"


def draw(size: int = SIZE) -> Image.Image:
    s = 4  # supersampling
    n = size * s
    img = Image.new("RGBA", (n, n), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    d.rounded_rectangle((0, 0, n - 1, n - 1), radius=n // 6, fill=(22, 34, 52, 255))
    # the sector of a curvilinear probe, apex at the top
    apex = (n / 2, n * 0.10)
    r0, r1, half = n * 0.10, n * 0.82, math.radians(38)
    pts = [(apex[0] + r * math.sin(a), apex[1] + r * math.cos(a))
           for r, angles in ((r1, [-half + 2 * half * k / 40 for k in range(41)]),
                             (r0, [half - 2 * half * k / 40 for k in range(41)]))
           for a in angles]
    d.polygon(pts, fill=(58, 72, 84, 255))
    # speckle bands
    for k in range(9):
        rr = r0 + (r1 - r0) * (k + 0.5) / 9
        box = (apex[0] - rr, apex[1] - rr, apex[0] + rr, apex[1] + rr)
        g = 110 + 12 * (k % 3)
        d.arc(box, 90 - math.degrees(half) + 3, 90 + math.degrees(half) - 3, fill=(g, g + 6, g + 10, 255),
              width=max(2, n // 90))
    # a dark round lesion with a bright rim, the thing the app reads
    c, rl = (n * 0.53, n * 0.56), n * 0.13
    d.ellipse((c[0] - rl, c[1] - rl, c[0] + rl, c[1] + rl), fill=(20, 26, 32, 255), outline=(235, 200, 90, 255),
              width=n // 40)
    img = img.filter(ImageFilter.GaussianBlur(s / 2))
    return img.resize((size, size), Image.LANCZOS)


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT
    draw().save(out, optimize=True)
    print(f"{out}: {out.stat().st_size} bytes")
