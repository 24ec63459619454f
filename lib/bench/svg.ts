// A small SVG line-chart writer: values against concurrency, one line per series, either one
// chart (lineChart) or small multiples, one small panel per metric sharing one legend
// (smallMultiples). Plain SVG 1.1 with axes, ticks and units; opens in any browser.

export interface Series {
  name: string;
  /** Measured points; y null = the cell failed (drawn as a cross on the x axis). Leave out unknown values. */
  points: { x: number; y: number | null }[];
}

/** One panel: its title, axis labels (with units) and scales. */
export interface PanelOptions {
  title: string;
  xLabel: string;
  /** The quantity and its unit, e.g. `requests per second (req/s)`. */
  yLabel: string;
  /** The unit in a point's tooltip (`c=100: 2,345 req/s`). */
  unit?: string;
  /** Written as data-metric on the panel, for readers of the SVG. */
  metric?: string;
  logX?: boolean;
  logY?: boolean;
}

export interface ChartOptions extends PanelOptions {
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

/** Ticks at 1, 2, 5 x 10^k from min to max; only the powers of ten when the range spans more than 3 decades. */
export function logTicks(min: number, max: number): number[] {
  const ticks: number[] = [];
  const lo = Math.floor(Math.log10(min)),
    hi = Math.ceil(Math.log10(max));
  const mantissas = hi - lo > 3 ? [1] : [1, 2, 5];
  for (let e = lo; e <= hi; e++) {
    for (const m of mantissas) {
      const v = Number((m * 10 ** e).toPrecision(12));
      if (v >= min * 0.999 && v <= max * 1.001) ticks.push(v);
    }
  }
  return ticks;
}

/** A tick label: 2,000, 10k, 1M. */
const fmt = (v: number) =>
  Math.abs(v) >= 1e6
    ? `${Number((v / 1e6).toPrecision(3))}M`
    : Math.abs(v) >= 10_000
      ? `${Number((v / 1000).toPrecision(3))}k`
      : v.toLocaleString('en-US');
const r2 = (v: number) => Math.round(v * 100) / 100;
/** A value for a tooltip: whole numbers from 100 up, three significant digits below. */
const fmtValue = (v: number) => (v >= 100 ? Math.round(v).toLocaleString('en-US') : String(Number(v.toPrecision(3))));

/** The plot geometry, also written into the SVG so readers (and tests) can map pixels back to data. */
export interface Geometry {
  left: number;
  top: number;
  right: number;
  bottom: number;
  xMin: number;
  xMax: number;
  /** 0 on a linear y axis; the power of ten at or below the smallest value on a log one. */
  yMin: number;
  yMax: number;
  logX: boolean;
  logY: boolean;
}

/** The plot area's pixels inside a panel or chart of the given size, placed at (x0, y0). */
interface Frame {
  x0: number;
  y0: number;
  width: number;
  height: number;
  /** Room kept right of the plot (the one-chart legend). */
  rightPad: number;
}

const values = (series: Series[]) =>
  series.flatMap((s) => s.points.map((p) => p.y)).filter((y): y is number => y !== null && y > 0);
const linearTicks = (series: Series[]) => niceTicks(Math.max(1, ...values(series)));

function plotGeometry(series: Series[], o: PanelOptions, f: Frame): Geometry {
  const xs = series.flatMap((s) => s.points.map((p) => p.x)).filter((x) => x > 0);
  let xMin = xs.length ? Math.min(...xs) : 1,
    xMax = xs.length ? Math.max(...xs) : 10;
  if (xMin === xMax) {
    xMin = o.logX ? xMin / 2 : Math.max(0, xMin - 1);
    xMax = o.logX ? xMax * 2 : xMax + 1;
  }
  if (!o.logX) xMin = 0;
  const ys = values(series);
  let yMin = 0,
    yMax: number;
  if (o.logY) {
    yMin = 10 ** Math.floor(Math.log10(ys.length ? Math.min(...ys) : 1));
    yMax = 10 ** Math.ceil(Math.log10(ys.length ? Math.max(...ys) : 10));
    if (yMax <= yMin) yMax = yMin * 10;
  } else {
    yMax = linearTicks(series).slice(-1)[0];
  }
  const compact = f.height < 400;
  return {
    left: f.x0 + (compact ? 62 : 80),
    top: f.y0 + (compact ? 30 : 50),
    right: f.x0 + f.width - f.rightPad,
    bottom: f.y0 + f.height - (compact ? 44 : 60),
    xMin,
    xMax,
    yMin,
    yMax: Number(yMax.toPrecision(12)),
    logX: !!o.logX,
    logY: !!o.logY,
  };
}

/** The geometry of a one-panel chart (lineChart) of these series. */
export function geometry(series: Series[], o: ChartOptions): Geometry {
  return plotGeometry(series, o, { x0: 0, y0: 0, width: o.width ?? 860, height: o.height ?? 500, rightPad: 170 });
}

export function xPixel(g: Geometry, x: number): number {
  const t = g.logX
    ? (Math.log10(x) - Math.log10(g.xMin)) / (Math.log10(g.xMax) - Math.log10(g.xMin))
    : (x - g.xMin) / (g.xMax - g.xMin);
  return r2(g.left + t * (g.right - g.left));
}

export function yPixel(g: Geometry, y: number): number {
  const t = g.logY ? Math.log10(y / g.yMin) / Math.log10(g.yMax / g.yMin) : (y - g.yMin) / (g.yMax - g.yMin);
  return r2(g.bottom - t * (g.bottom - g.top));
}

/** Whether a point can be drawn on this axis (log axes have no place for 0). */
const plottable = (g: Geometry, y: number) => !g.logY || y > 0;

/** One panel: title, grid, ticks, axis labels and the series' lines, in a <g class="panel">. */
function panel(series: Series[], colors: string[], o: PanelOptions, f: Frame, compact: boolean): string[] {
  const g = plotGeometry(series, o, f);
  const out: string[] = [];
  out.push(`<g class="panel"${o.metric ? ` data-metric="${escapeXml(o.metric)}"` : ''}>`);
  out.push(
    `<text class="panel-title" x="${r2((g.left + g.right) / 2)}" y="${f.y0 + (compact ? 18 : 24)}" text-anchor="middle" font-size="${compact ? 13 : 15}" font-weight="bold">${escapeXml(o.title)}</text>`,
  );
  out.push(`<g class="y-axis" data-scale="${g.logY ? 'log' : 'linear'}" stroke="#000000">`);
  const yTicks = g.logY ? logTicks(g.yMin, g.yMax) : linearTicks(series);
  for (const v of yTicks) {
    const y = yPixel(g, v);
    out.push(`<line x1="${g.left}" y1="${y}" x2="${g.right}" y2="${y}" stroke="#e5e5e5"/>`);
    out.push(`<line x1="${g.left - 5}" y1="${y}" x2="${g.left}" y2="${y}"/>`);
    out.push(
      `<text class="tick" data-value="${v}" x="${g.left - 8}" y="${y + 4}" text-anchor="end" stroke="none">${fmt(v)}</text>`,
    );
  }
  out.push(`</g>`);
  out.push(`<g class="x-axis" data-scale="${g.logX ? 'log' : 'linear'}" stroke="#000000">`);
  const xTicks = g.logX ? logTicks(g.xMin, g.xMax) : niceTicks(g.xMax, compact ? 5 : 8).filter((v) => v >= g.xMin);
  for (const v of xTicks) {
    const x = xPixel(g, v);
    out.push(`<line x1="${x}" y1="${g.bottom}" x2="${x}" y2="${g.bottom + 5}"/>`);
    out.push(
      `<text class="tick" data-value="${v}" x="${x}" y="${g.bottom + 18}" text-anchor="middle" stroke="none">${fmt(v)}</text>`,
    );
  }
  out.push(`<line x1="${g.left}" y1="${g.bottom}" x2="${g.right}" y2="${g.bottom}"/>`);
  out.push(`<line x1="${g.left}" y1="${g.top}" x2="${g.left}" y2="${g.bottom}"/>`);
  out.push(`</g>`);
  const scale = (log: boolean) => (log ? ', log scale' : '');
  out.push(
    `<text class="x-label" x="${r2((g.left + g.right) / 2)}" y="${g.bottom + (compact ? 36 : 42)}" text-anchor="middle">${escapeXml(o.xLabel)}${scale(g.logX)}</text>`,
  );
  const yl = f.x0 + (compact ? 14 : 20),
    ym = r2((g.top + g.bottom) / 2);
  out.push(
    `<text class="y-label" x="${yl}" y="${ym}" text-anchor="middle" transform="rotate(-90 ${yl} ${ym})">${escapeXml(o.yLabel)}${scale(g.logY)}</text>`,
  );
  out.push(
    `<g class="plot" data-left="${g.left}" data-top="${g.top}" data-right="${g.right}" data-bottom="${g.bottom}" data-x-min="${g.xMin}" data-x-max="${g.xMax}" data-y-min="${g.yMin}" data-y-max="${g.yMax}" data-x-scale="${g.logX ? 'log' : 'linear'}" data-y-scale="${g.logY ? 'log' : 'linear'}">`,
  );
  const unit = o.unit ? ` ${o.unit}` : '';
  series.forEach((s, i) => {
    const color = colors[i];
    const ok = s.points.filter((p): p is { x: number; y: number } => p.y !== null && plottable(g, p.y));
    const pts = ok.map((p) => `${xPixel(g, p.x)},${yPixel(g, p.y)}`).join(' ');
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
      } else if (plottable(g, p.y)) {
        out.push(
          `<circle cx="${x}" cy="${yPixel(g, p.y)}" r="3"><title>${escapeXml(s.name)} c=${p.x}: ${fmtValue(p.y)}${unit}</title></circle>`,
        );
      }
    }
    out.push(`</g>`);
  });
  out.push(`</g>`);
  out.push(`</g>`);
  return out;
}

/** The legend: one entry per series name, and the failed-cell cross only when some cell failed. */
function legend(names: string[], colors: string[], anyFailed: boolean, x: number, y0: number): string[] {
  const out = [`<g id="legend">`];
  names.forEach((name, i) => {
    const y = y0 + i * 22;
    out.push(`<line x1="${x}" y1="${y}" x2="${x + 24}" y2="${y}" stroke="${colors[i]}" stroke-width="2"/>`);
    out.push(`<circle cx="${x + 12}" cy="${y}" r="3" fill="${colors[i]}"/>`);
    out.push(`<text x="${x + 30}" y="${y + 4}">${escapeXml(name)}</text>`);
  });
  if (anyFailed) {
    const fy = y0 + names.length * 22 + 6;
    out.push(
      `<path class="failed-key" d="M${x + 7},${fy - 5}L${x + 17},${fy + 5}M${x + 7},${fy + 5}L${x + 17},${fy - 5}" stroke="#555555" stroke-width="2"/>`,
    );
    out.push(`<text x="${x + 30}" y="${fy + 4}">failed cell</text>`);
  }
  out.push(`</g>`);
  return out;
}

function svgOpen(width: number, height: number, title: string): string[] {
  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="12">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`,
  ];
}

const anyFailed = (series: Series[]) => series.some((s) => s.points.some((p) => p.y === null));

/** One chart with its legend on the right. */
export function lineChart(series: Series[], o: ChartOptions): string {
  const width = o.width ?? 860,
    height = o.height ?? 500;
  const colors = series.map((_, i) => PALETTE[i % PALETTE.length]);
  const frame = { x0: 0, y0: 0, width, height, rightPad: 170 };
  const g = plotGeometry(series, o, frame);
  const out = svgOpen(width, height, o.title);
  out.push(...panel(series, colors, o, frame, false));
  out.push(
    ...legend(
      series.map((s) => s.name),
      colors,
      anyFailed(series),
      g.right + 20,
      g.top + 10,
    ),
  );
  out.push(`</svg>`);
  return out.join('\n') + '\n';
}

export interface SmallMultiplesOptions {
  title: string;
  /** Panels per row (default 2). */
  columns?: number;
  panelWidth?: number;
  panelHeight?: number;
}

/**
 * Small multiples: one small chart per metric, side by side, sharing the x axis's meaning, the
 * series' colours and one legend (the failed-cell key only when a cell failed in some panel).
 * Every panel should list the same series in the same order.
 */
export function smallMultiples(
  panels: { options: PanelOptions; series: Series[] }[],
  o: SmallMultiplesOptions,
): string {
  const columns = o.columns ?? 2,
    pw = o.panelWidth ?? 420,
    ph = o.panelHeight ?? 290;
  const names = [...new Set(panels.flatMap((p) => p.series.map((s) => s.name)))];
  const colorOf = new Map(names.map((n, i) => [n, PALETTE[i % PALETTE.length]]));
  const rows = Math.ceil(panels.length / columns);
  const head = 40,
    legendWidth = 190;
  const width = columns * pw + legendWidth,
    height = head + rows * ph;
  const out = svgOpen(width, height, o.title);
  out.push(
    `<text x="${(columns * pw) / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(o.title)}</text>`,
  );
  panels.forEach((p, k) => {
    const frame = {
      x0: (k % columns) * pw,
      y0: head + Math.floor(k / columns) * ph,
      width: pw,
      height: ph,
      rightPad: 20,
    };
    out.push(
      ...panel(
        p.series,
        p.series.map((s) => colorOf.get(s.name)!),
        p.options,
        frame,
        true,
      ),
    );
  });
  out.push(
    ...legend(
      names,
      names.map((n) => colorOf.get(n)!),
      panels.some((p) => anyFailed(p.series)),
      columns * pw + 10,
      head + 40,
    ),
  );
  out.push(`</svg>`);
  return out.join('\n') + '\n';
}
