// Hand-drawn SVG charts: a bar list and a time-series line chart with
// zoom (drag across the plot, or choose a range) and series selection.
import { h, s } from './dom.js';

const COLORS = ['#1f5fbf', '#b3261e', '#1b7a3a', '#8a4b00', '#6b3fa0', '#00677f', '#7a5c00', '#a0005a'];

// bars draws labelled horizontal bars: items is [[label, value], ...];
// colors, when given, maps a label to its colour.
export function bars(title, items, colors) {
  const max = Math.max(1, ...items.map((x) => x[1]));
  const rowH = 26, w = 320, labelW = 130;
  const svg = s('svg', { viewBox: `0 0 ${w} ${Math.max(1, items.length) * rowH}`, role: 'img', 'aria-label': `${title}: ` + items.map(([k, v]) => `${k} ${v}`).join(', ') || 'none', class: 'bars' },
    items.map(([k, v], i) => s('g', { transform: `translate(0 ${i * rowH})` },
      s('text', { x: 0, y: 17, class: 'lbl' }, k),
      s('rect', { x: labelW, y: 4, height: 18, width: Math.max(1, (w - labelW - 50) * v / max), fill: (colors && colors[k]) || COLORS[i % COLORS.length] }),
      s('text', { x: labelW + (w - labelW - 50) * v / max + 6, y: 17, class: 'val' }, v))));
  return svg;
}

// series groups API points ({device_id, metric, time, value}) by metric.
export function series(points) {
  const out = new Map();
  for (const p of points) {
    if (!out.has(p.metric)) out.set(p.metric, []);
    out.get(p.metric).push([Date.parse(p.time), p.value]);
  }
  return out;
}

// lineChart draws the selected series between from and to (ms); onZoom
// is called with a new [from, to] when the user drags across the plot.
export function lineChart(data, selected, from, to, onZoom) {
  const W = 720, H = 260, L = 56, R = 12, T = 12, B = 28;
  let lo = Infinity, hi = -Infinity, n = 0, t0 = Infinity, t1 = -Infinity;
  for (const name of selected) for (const [t, v] of data.get(name) || []) {
    if (t < from || t >= to) continue;
    lo = Math.min(lo, v); hi = Math.max(hi, v); n++;
    t0 = Math.min(t0, t); t1 = Math.max(t1, t);
  }
  if (!n) return h('p', { class: 'empty', 'data-points': 0 }, 'No samples in this range.');
  // The time axis spans the samples of the range, not the empty rest.
  from = t0; to = Math.max(t1, t0 + 1000);
  if (lo === hi) { lo -= 1; hi += 1; }
  const x = (t) => L + (t - from) / (to - from) * (W - L - R);
  const y = (v) => T + (hi - v) / (hi - lo) * (H - T - B);
  const grid = [0, 0.5, 1].map((f) => {
    const v = lo + (hi - lo) * f;
    return s('g', {}, s('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), class: 'grid' }),
      s('text', { x: L - 6, y: y(v) + 4, class: 'axis', 'text-anchor': 'end' }, +v.toPrecision(4)));
  });
  const ticks = [0, 0.5, 1].map((f) => {
    const t = from + (to - from) * f;
    return s('text', { x: x(t), y: H - 8, class: 'axis', 'text-anchor': f === 0 ? 'start' : f === 1 ? 'end' : 'middle' },
      new Date(t).toISOString().slice(11, 19));
  });
  const lines = selected.map((name, i) => {
    const pts = (data.get(name) || []).filter(([t]) => t >= from && t <= to);
    const color = COLORS[[...data.keys()].indexOf(name) % COLORS.length];
    return s('g', { 'data-series': name, 'data-points': pts.length },
      s('polyline', { points: pts.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(' '), fill: 'none', stroke: color, 'stroke-width': 2 }),
      pts.map(([t, v]) => s('circle', { cx: x(t).toFixed(1), cy: y(v).toFixed(1), r: 2.5, fill: color, class: 'pt' }, s('title', {}, `${name} ${v} at ${new Date(t).toISOString()}`))));
  });
  const sel = s('rect', { y: T, height: H - T - B, class: 'sel', width: 0, x: 0 });
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', class: 'chart', 'data-points': n,
    'aria-label': `Telemetry ${selected.join(', ')}: ${n} samples from ${new Date(from).toISOString()} to ${new Date(to).toISOString()}` },
  grid, ticks, lines, sel);
  // Drag to zoom: the pointer's x maps back to time.
  let start = null;
  const tAt = (ev) => {
    const r = svg.getBoundingClientRect();
    const px = (ev.clientX - r.left) / r.width * W;
    return from + (Math.min(Math.max(px, L), W - R) - L) / (W - L - R) * (to - from);
  };
  svg.addEventListener('pointerdown', (ev) => { start = tAt(ev); svg.setPointerCapture(ev.pointerId); });
  svg.addEventListener('pointermove', (ev) => {
    if (start === null) return;
    const a = x(start), b = x(tAt(ev));
    sel.setAttribute('x', Math.min(a, b)); sel.setAttribute('width', Math.abs(b - a));
  });
  svg.addEventListener('pointerup', (ev) => {
    if (start === null) return;
    const end = tAt(ev), a = Math.min(start, end), b = Math.max(start, end);
    start = null;
    if (b - a > (to - from) / 100) onZoom([a, b]);
    else sel.setAttribute('width', 0);
  });
  return svg;
}
