// chart.js: a small step chart in inline SVG, for prices over time.

const NS = 'http://www.w3.org/2000/svg';

function svg(tag, attrs = {}, text) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

// stepChart draws points [{t: unix ms, v: number}] as a step line (a
// price holds until the next epoch sets another), up to now. format labels
// the y axis. The SVG scales to its container's width.
export function stepChart(points, {format = String, label = ''} = {}) {
  const W = 640, H = 220, L = 70, R = 12, T = 14, B = 28;
  const root = svg('svg', {viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': label});
  if (!points.length) {
    root.append(svg('text', {x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'axis'}, 'No prices yet'));
    return root;
  }
  const now = Date.now();
  const t0 = points[0].t, t1 = Math.max(now, points[points.length - 1].t + 1);
  let lo = Math.min(...points.map((p) => p.v)), hi = Math.max(...points.map((p) => p.v));
  if (hi === lo) { hi = hi * 1.1 || 1; lo = lo * 0.9; }
  const pad = (hi - lo) * 0.1;
  lo = Math.max(0, lo - pad); hi += pad;
  const x = (t) => L + (t - t0) / (t1 - t0) * (W - L - R);
  const y = (v) => T + (1 - (v - lo) / (hi - lo)) * (H - T - B);
  for (let i = 0; i <= 4; i++) {
    const v = lo + (hi - lo) * i / 4;
    root.append(svg('line', {x1: L, x2: W - R, y1: y(v), y2: y(v), class: 'grid'}));
    root.append(svg('text', {x: L - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'axis'}, format(v)));
  }
  for (const [t, anchor] of [[t0, 'start'], [t1, 'end']]) {
    root.append(svg('text', {x: x(t), y: H - 8, 'text-anchor': anchor, class: 'axis'},
      new Date(t).toLocaleString([], {month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit'})));
  }
  let d = '';
  points.forEach((p, i) => {
    d += i === 0 ? `M${x(p.t)},${y(p.v)}` : `H${x(p.t)}V${y(p.v)}`;
  });
  d += `H${x(t1)}`;
  const area = d + `V${y(lo)}H${x(t0)}Z`;
  root.append(svg('path', {d: area, class: 'area'}));
  root.append(svg('path', {d, class: 'line'}));
  for (const p of points) {
    const c = svg('circle', {cx: x(p.t), cy: y(p.v), r: 3, class: 'dot'});
    c.append(svg('title', {}, `${new Date(p.t).toLocaleString()}: ${format(p.v)}`));
    root.append(c);
  }
  return root;
}
