// --stats-page: /_stats, one self-contained page (no external script, style or font: it must
// work with no network) that polls /_stats.json and charts what --stats-interval prints.
// Pure: the JSON comes from lib/live.ts through the App (lib/public-root.ts).

/** How often the page asks for /_stats.json. */
export const POLL_MS = 500;
/** Samples kept on the charts (one minute at POLL_MS). */
const KEEP = 120;

const SERIES = [
  ['rps', 'requests/s'],
  ['requests', 'requests in all'],
  ['open', 'open connections'],
  ['workers', 'live workers / threads'],
  ['syscalls', 'syscalls/s'],
  ['recvfrom', 'recvfrom/s'],
] as const;

export const STATS_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>zerohttpd: live stats</title>
<link rel="icon" href="data:,"><!-- no /favicon.ico request: it would count as one of the server's requests -->
<style>
  body { font: 14px system-ui, sans-serif; margin: 1.5em; color: #222; }
  h1 { font-size: 1.2em; }
  .grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(320px, 1fr)); gap: 1em; }
  figure { margin: 0; border: 1px solid #ddd; padding: .5em; }
  figcaption { display: flex; justify-content: space-between; }
  figcaption b { font-variant-numeric: tabular-nums; }
  svg { width: 100%; height: 90px; background: #fafafa; }
  polyline { fill: none; stroke: #2563eb; stroke-width: 1.5; vector-effect: non-scaling-stroke; }
  #status { color: #888; }
</style>
</head>
<body>
<h1>zerohttpd: live stats <span id="status">connecting...</span></h1>
<p>Every ${POLL_MS} ms from <a href="/_stats.json">/_stats.json</a>: counters that every process and thread of the
server adds into. This page's own requests are not counted as requests.</p>
<div class="grid">
${SERIES.map(
  ([id, label]) => `<figure id="chart-${id}"><figcaption>${label} <b id="${id}">-</b></figcaption>
<svg viewBox="0 0 ${KEEP - 1} 100" preserveAspectRatio="none"><polyline points=""/></svg></figure>`,
).join('\n')}
</div>
<script>
'use strict';
const KEEP = ${KEEP};
const series = { ${SERIES.map(([id]) => `${id}: []`).join(', ')} };
let prev = null;
function draw(id, value) {
  const h = series[id];
  h.push(value);
  if (h.length > KEEP) h.shift();
  document.getElementById(id).textContent = Number.isInteger(value) ? String(value) : value.toFixed(1);
  const max = Math.max(1, ...h);
  const line = document.querySelector('#chart-' + id + ' polyline');
  line.setAttribute('points', h.map((v, i) => (KEEP - h.length + i) + ',' + (100 - (v / max) * 95).toFixed(1)).join(' '));
  line.dataset.last = String(value);
  line.dataset.max = String(max);
}
async function tick() {
  try {
    const res = await fetch('/_stats.json', { cache: 'no-store' });
    const s = await res.json();
    const rate = (k) => (prev && s.t > prev.t ? ((s[k] - prev[k]) * 1000) / (s.t - prev.t) : 0);
    draw('rps', rate('requests'));
    draw('requests', s.requests);
    draw('open', s.open);
    draw('workers', s.workers);
    draw('syscalls', rate('syscalls'));
    draw('recvfrom', rate('recvfrom'));
    prev = s;
    document.getElementById('status').textContent = '';
  } catch (e) {
    document.getElementById('status').textContent = '(server unreachable)';
  }
  setTimeout(tick, ${POLL_MS});
}
tick();
</script>
</body>
</html>
`;
