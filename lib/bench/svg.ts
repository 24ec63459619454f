// A small SVG line chart writer: req/s against concurrency, one line per architecture.
// Plain SVG 1.1 with a legend, axes and ticks; opens in any browser.

export interface Series {
  name: string;
  /** Measured points; y null = the cell failed (drawn as a cross on the x axis). */
  points: { x: number; y: number | null }[];
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  logX?: boolean;
  width?: number;
  height?: number;
}

export const PALETTE = [
  '#1f77b4',
  '#d62728',
  '#2ca02c',
  '#ff7f0e',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#17becf',
  '#7f7f7f',
  '#bcbd22',
];

export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** 1, 2, 5 x 10^k steps giving about `target` ticks from 0 to at least max. */
export function niceTicks(max: number, target = 6): number[] {
  if (!(max > 0)) return [0, 1];
  const raw = max / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const ticks: number[] = [];
  for (let v = 0; v < max + step * 0.999; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

function logTicks(min: number, max: number): number[] {
  const ticks: number[] = [];
  for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v >= min * 0.999 && v <= max * 1.001) ticks.push(v);
    }
  }
  return ticks;
}

const fmt = (v: number) =>
  Math.abs(v) >= 10_000 ? `${Number((v / 1000).toPrecision(3))}k` : v.toLocaleString('en-US');
const r2 = (v: number) => Math.round(v * 100) / 100;

/** The plot geometry, also written into the SVG so readers (and tests) can map pixels back to data. */
export interface Geometry {
  left: number;
  top: number;
  right: number;
  bottom: number;
  xMin: number;
  xMax: number;
  yMax: number;
  logX: boolean;
}

export function geometry(series: Series[], o: ChartOptions): Geometry {
  const width = o.width ?? 860,
    height = o.height ?? 500;
  const xs = series.flatMap((s) => s.points.map((p) => p.x)).filter((x) => x > 0);
  const ys = series.flatMap((s) => s.points.map((p) => p.y ?? 0));
  let xMin = xs.length ? Math.min(...xs) : 1,
    xMax = xs.length ? Math.max(...xs) : 10;
  if (xMin === xMax) {
    xMin = o.logX ? xMin / 2 : Math.max(0, xMin - 1);
    xMax = o.logX ? xMax * 2 : xMax + 1;
  }
  if (!o.logX) xMin = 0;
  const yTicks = niceTicks(Math.max(1, ...ys));
  return {
    left: 80,
    top: 50,
    right: width - 170,
    bottom: height - 60,
    xMin,
    xMax,
    yMax: yTicks[yTicks.length - 1],
    logX: !!o.logX,
  };
}

export function xPixel(g: Geometry, x: number): number {
  const t = g.logX
    ? (Math.log10(x) - Math.log10(g.xMin)) / (Math.log10(g.xMax) - Math.log10(g.xMin))
    : (x - g.xMin) / (g.xMax - g.xMin);
  return r2(g.left + t * (g.right - g.left));
}

export function yPixel(g: Geometry, y: number): number {
  return r2(g.bottom - (y / g.yMax) * (g.bottom - g.top));
}

export function lineChart(series: Series[], o: ChartOptions): string {
  const width = o.width ?? 860,
    height = o.height ?? 500;
  const g = geometry(series, o);
  const out: string[] = [];
  out.push(`<?xml version="1.0" encoding="UTF-8"?>`);
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="12">`,
  );
  out.push(`<title>${escapeXml(o.title)}</title>`);
  out.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`);
  out.push(
    `<text x="${width / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(o.title)}</text>`,
  );
  // grid and y ticks
  out.push(`<g id="y-axis" stroke="#000000">`);
  for (const v of niceTicks(Math.max(1, ...series.flatMap((s) => s.points.map((p) => p.y ?? 0))))) {
    const y = yPixel(g, v);
    out.push(`<line x1="${g.left}" y1="${y}" x2="${g.right}" y2="${y}" stroke="#e5e5e5"/>`);
    out.push(`<line x1="${g.left - 5}" y1="${y}" x2="${g.left}" y2="${y}"/>`);
    out.push(`<text x="${g.left - 8}" y="${y + 4}" text-anchor="end" stroke="none">${fmt(v)}</text>`);
  }
  out.push(`</g>`);
  // x ticks: decades (log) or nice steps (linear)
  out.push(`<g id="x-axis" stroke="#000000">`);
  const xTicks = g.logX ? logTicks(g.xMin, g.xMax) : niceTicks(g.xMax, 8).filter((v) => v >= g.xMin);
  for (const v of xTicks) {
    const x = xPixel(g, v);
    out.push(`<line x1="${x}" y1="${g.bottom}" x2="${x}" y2="${g.bottom + 5}"/>`);
    out.push(`<text x="${x}" y="${g.bottom + 18}" text-anchor="middle" stroke="none">${fmt(v)}</text>`);
  }
  out.push(`<line x1="${g.left}" y1="${g.bottom}" x2="${g.right}" y2="${g.bottom}"/>`);
  out.push(`<line x1="${g.left}" y1="${g.top}" x2="${g.left}" y2="${g.bottom}"/>`);
  out.push(`</g>`);
  out.push(
    `<text x="${(g.left + g.right) / 2}" y="${height - 18}" text-anchor="middle">${escapeXml(o.xLabel)}${g.logX ? ' (log scale)' : ''}</text>`,
  );
  out.push(
    `<text x="20" y="${(g.top + g.bottom) / 2}" text-anchor="middle" transform="rotate(-90 20 ${(g.top + g.bottom) / 2})">${escapeXml(o.yLabel)}</text>`,
  );
  // data
  out.push(
    `<g id="plot" data-left="${g.left}" data-top="${g.top}" data-right="${g.right}" data-bottom="${g.bottom}" data-x-min="${g.xMin}" data-x-max="${g.xMax}" data-y-max="${g.yMax}" data-x-scale="${g.logX ? 'log' : 'linear'}">`,
  );
  series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length];
    const ok = s.points.filter((p) => p.y !== null);
    const pts = ok.map((p) => `${xPixel(g, p.x)},${yPixel(g, p.y!)}`).join(' ');
    out.push(`<g class="series" data-name="${escapeXml(s.name)}" stroke="${color}" fill="${color}">`);
    if (ok.length)
      out.push(`<polyline data-series="${escapeXml(s.name)}" points="${pts}" fill="none" stroke-width="2"/>`);
    for (const p of s.points) {
      const x = xPixel(g, p.x);
      if (p.y === null) {
        const y = g.bottom;
        out.push(
          `<path class="failed" d="M${x - 5},${y - 5}L${x + 5},${y + 5}M${x - 5},${y + 5}L${x + 5},${y - 5}" stroke-width="2"><title>${escapeXml(s.name)} c=${p.x}: failed</title></path>`,
        );
      } else {
        out.push(
          `<circle cx="${x}" cy="${yPixel(g, p.y)}" r="3"><title>${escapeXml(s.name)} c=${p.x}: ${Math.round(p.y)} req/s</title></circle>`,
        );
      }
    }
    out.push(`</g>`);
  });
  out.push(`</g>`);
  // legend
  out.push(`<g id="legend">`);
  series.forEach((s, i) => {
    const y = g.top + 10 + i * 22;
    const color = PALETTE[i % PALETTE.length];
    out.push(
      `<line x1="${g.right + 20}" y1="${y}" x2="${g.right + 44}" y2="${y}" stroke="${color}" stroke-width="2"/>`,
    );
    out.push(`<circle cx="${g.right + 32}" cy="${y}" r="3" fill="${color}"/>`);
    out.push(`<text x="${g.right + 50}" y="${y + 4}">${escapeXml(s.name)}</text>`);
  });
  const fy = g.top + 10 + series.length * 22 + 6;
  out.push(
    `<path d="M${g.right + 27},${fy - 5}L${g.right + 37},${fy + 5}M${g.right + 27},${fy + 5}L${g.right + 37},${fy - 5}" stroke="#555555" stroke-width="2"/>`,
  );
  out.push(`<text x="${g.right + 50}" y="${fy + 4}">failed cell</text>`);
  out.push(`</g>`);
  out.push(`</svg>`);
  return out.join('\n') + '\n';
}
