#!/usr/bin/env bash
# Issue #14, "How cost grows": a log-log chart (PNG) of each stage's wall time against the log's events, from
# benchmarks/scaling.sh's TSV, and each stage's slope (least squares of log wall on log events: 1 = linear).
#
#   benchmarks/scaling-chart.sh SCRATCH_DIR/scaling.tsv OUT.png     # prints the slopes; needs python3 and librsvg
set -euo pipefail
tsv=${1:?scaling.tsv}
png=${2:?OUT.png}
svg=${png%.png}.svg
python3 - "$tsv" "$svg" <<'PY'
import csv, math, sys
tsv, svg = sys.argv[1], sys.argv[2]
rows = [r for r in csv.DictReader((l for l in open(tsv) if not l.startswith('#')), delimiter='\t')]
stages = [s for s in dict.fromkeys(r['stage'] for r in rows) if s != 'generate']
points = {s: [(float(r['events']), float(r['wall_s'])) for r in rows if r['stage'] == s] for s in stages}
def slope(ps):
    xs, ys = [math.log10(x) for x, _ in ps], [math.log10(y) for _, y in ps]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else float('nan')
for s in stages:
    print(f"{s}: slope {slope(points[s]):.2f} over {len(points[s])} sizes")
W, H, L, R, T, B = 720, 480, 70, 150, 40, 50
allx = [x for ps in points.values() for x, _ in ps]; ally = [y for ps in points.values() for _, y in ps]
x0, x1 = math.floor(math.log10(min(allx))), math.ceil(math.log10(max(allx)))
y0, y1 = math.floor(math.log10(min(ally))), math.ceil(math.log10(max(ally)))
px = lambda x: L + (math.log10(x) - x0) / (x1 - x0) * (W - L - R)
py = lambda y: H - B - (math.log10(y) - y0) / (y1 - y0) * (H - T - B)
colours = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e']
out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
       f'<rect width="{W}" height="{H}" fill="white"/>',
       f'<text x="{L}" y="22" font-size="14">Wall time per stage against log size (log-log; dashed: linear)</text>']
for e in range(x0, x1 + 1):
    out.append(f'<line x1="{px(10**e):.1f}" y1="{T}" x2="{px(10**e):.1f}" y2="{H-B}" stroke="#ddd"/>')
    out.append(f'<text x="{px(10**e):.1f}" y="{H-B+16}" text-anchor="middle">1e{e}</text>')
for e in range(y0, y1 + 1):
    out.append(f'<line x1="{L}" y1="{py(10**e):.1f}" x2="{W-R}" y2="{py(10**e):.1f}" stroke="#ddd"/>')
    out.append(f'<text x="{L-6}" y="{py(10**e)+4:.1f}" text-anchor="end">{10**e:g} s</text>')
out.append(f'<text x="{(L+W-R)/2}" y="{H-12}" text-anchor="middle">input events</text>')
for i, s in enumerate(stages):
    c, ps = colours[i % len(colours)], sorted(points[s])
    out.append('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>' % (c, ' '.join(f'{px(x):.1f},{py(y):.1f}' for x, y in ps)))
    (xa, ya), (xb, _) = ps[0], ps[-1]  # the linear reference from the smallest size
    out.append(f'<line x1="{px(xa):.1f}" y1="{py(ya):.1f}" x2="{px(xb):.1f}" y2="{py(ya * xb / xa):.1f}" stroke="{c}" stroke-dasharray="4 4"/>')
    for x, y in ps: out.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3.5" fill="{c}"/>')
    out.append(f'<text x="{W-R+10}" y="{T+20+18*i}" fill="{c}">{s} (slope {slope(ps):.2f})</text>')
out.append('</svg>')
open(svg, 'w').write('\n'.join(out))
PY
if command -v rsvg-convert >/dev/null; then
    rsvg-convert "$svg" -o "$png"
else # librsvg's library without its command-line tool (Debian 12 ships rsvg-convert apart): render through cairo
    python3 - "$svg" "$png" <<'PY'
import ctypes, sys
rsvg, cairo = ctypes.CDLL('librsvg-2.so.2'), ctypes.CDLL('libcairo.so.2')
rsvg.rsvg_handle_new_from_file.restype = cairo.cairo_image_surface_create.restype = cairo.cairo_create.restype = ctypes.c_void_p
handle = rsvg.rsvg_handle_new_from_file(sys.argv[1].encode(), None)
if not handle: sys.exit(f"librsvg could not read {sys.argv[1]}")
surface = ctypes.c_void_p(cairo.cairo_image_surface_create(0, 720, 480))  # CAIRO_FORMAT_ARGB32, the chart's size
context = ctypes.c_void_p(cairo.cairo_create(surface))
cairo.cairo_set_source_rgb(context, ctypes.c_double(1), ctypes.c_double(1), ctypes.c_double(1)); cairo.cairo_paint(context)
rsvg.rsvg_handle_render_cairo(ctypes.c_void_p(handle), context)
if cairo.cairo_surface_write_to_png(surface, sys.argv[2].encode()) != 0: sys.exit(f"could not write {sys.argv[2]}")
PY
fi
rm -f "$svg"
echo "chart: $png"
