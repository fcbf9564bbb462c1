// The herd graph: nodes on a circle (in a herd of several regions, each
// region's nodes on a circle of their own, the regions around the centre,
// joined by gateway edges coloured by gateway state), configured neighbor
// edges coloured by route state, and flood hops animated along them.

const NS = 'http://www.w3.org/2000/svg';
const W = 760, H = 600, CX = W / 2, CY = H / 2 + 4;
const HOP_MS = 650;
const LABEL_GAP_MS = 450; // at most one count label per direction this often
const MAX_HOPS = 240;

function el(name, attrs, parent) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (parent) parent.appendChild(e);
  return e;
}

export function fmtRate(v) {
  if (v >= 9950) return (v / 1000).toFixed(0) + 'k';
  if (v >= 1000) return (v / 1000).toFixed(1) + 'k';
  if (v >= 10 || v === 0) return v.toFixed(0);
  return v.toFixed(1);
}

export function fmtCount(v) { return Number(v).toLocaleString('en-US'); }

export class HerdGraph {
  constructor(svg, hello, colorOf) {
    this.svg = svg;
    this.colorOf = colorOf;
    this.tick = hello.tick || 100;
    this.nodes = new Map();
    this.edges = new Map();
    const defs = el('defs', {}, svg);
    const f = el('filter', { id: 'glow', x: '-100%', y: '-100%', width: '300%', height: '300%' }, defs);
    el('feGaussianBlur', { stdDeviation: 2.2, result: 'b' }, f);
    const m = el('feMerge', {}, f);
    el('feMergeNode', { in: 'b' }, m); el('feMergeNode', { in: 'SourceGraphic' }, m);

    const regions = hello.regions || [];
    const gRegions = el('g', { class: 'regions' }, svg);
    this.gateways = new Map();
    if (regions.length > 1) {
      this.layoutRegions(regions, gRegions);
    } else {
      const n = hello.nodes.length;
      const R = n <= 1 ? 0 : Math.min(205, 70 + 27 * n);
      hello.nodes.forEach((name, i) => {
        const a = -Math.PI / 2 + (2 * Math.PI * i) / Math.max(n, 1);
        this.nodes.set(name, { name, x: CX + R * Math.cos(a), y: CY + R * Math.sin(a), a });
      });
    }
    const gEdges = el('g', { class: 'edges' }, svg);
    this.gHops = el('g', { class: 'hops' }, svg);
    const gNodes = el('g', { class: 'nodes' }, svg);
    for (const [a, b] of hello.edges) {
      const A = this.nodes.get(a), B = this.nodes.get(b);
      const g = el('g', { class: 'edge', 'data-a': a, 'data-b': b, 'data-state': 'unknown', 'data-hops': 0 }, gEdges);
      el('line', { x1: A.x, y1: A.y, x2: B.x, y2: B.y }, g);
      // The rate label sits beside the edge's middle, on the outer side.
      const mx = (A.x + B.x) / 2, my = (A.y + B.y) / 2;
      let nx = -(B.y - A.y), ny = B.x - A.x;
      const nl = Math.hypot(nx, ny) || 1;
      if (nx * (mx - CX) + ny * (my - CY) < 0) { nx = -nx; ny = -ny; }
      const label = el('text', { x: mx + nx / nl * 14, y: my + ny / nl * 14 + 4 }, g);
      this.edges.set(key(a, b), { g, label, hops: 0, recent: 0, lastLabel: {} });
    }
    for (const node of this.nodes.values()) this.drawNode(node, gNodes, hello.self);
  }

  // layoutRegions puts each region's nodes on a small circle, the regions
  // on a circle around the centre, and draws each region's outline and
  // a gateway edge between every two regions (under the neighbor edges).
  layoutRegions(regions, parent) {
    const k = regions.length;
    const most = Math.max(...regions.map((r) => r.nodes.length));
    const rr = most <= 1 ? 0 : Math.min(90, 24 + 16 * most); // nodes around a region's centre
    const hull = rr + 46;
    const RR = Math.min(Math.min(W, H) / 2 - hull - 8, Math.max(hull * 1.25, 70 + 45 * k));
    const centres = regions.map((r, i) => {
      const a = -Math.PI / 2 + (2 * Math.PI * i) / k;
      return { name: r.name, x: CX + RR * Math.cos(a), y: CY + RR * Math.sin(a), a };
    });
    const gGw = el('g', { class: 'gateways' }, parent);
    for (let i = 0; i < k; i++) {
      for (let j = i + 1; j < k; j++) {
        const A = centres[i], B = centres[j];
        const dx = B.x - A.x, dy = B.y - A.y, len = Math.hypot(dx, dy) || 1;
        const g = el('g', { class: 'gateway', 'data-a': A.name, 'data-b': B.name, 'data-state': 'unknown' }, gGw);
        el('line', { x1: A.x + dx / len * hull, y1: A.y + dy / len * hull, x2: B.x - dx / len * hull, y2: B.y - dy / len * hull }, g);
        const t = el('text', { x: (A.x + B.x) / 2, y: (A.y + B.y) / 2 - 6 }, g);
        t.textContent = 'gateway';
        this.gateways.set(key(A.name, B.name), g);
      }
    }
    regions.forEach((r, i) => {
      const c = centres[i];
      const g = el('g', { class: 'region', 'data-region': r.name, transform: `translate(${c.x},${c.y})` }, parent);
      el('circle', { r: hull }, g);
      const label = el('text', { y: c.y < CY ? -hull - 6 : hull + 16 }, g);
      label.textContent = r.name;
      const n = r.nodes.length;
      r.nodes.forEach((name, j) => {
        // Spread around the region's centre, none facing the drawing's
        // centre; each stats card sits outward from its region's centre.
        const a = c.a + (n % 2 === 0 ? Math.PI / n : 0) + (2 * Math.PI * j) / Math.max(n, 1);
        this.nodes.set(name, { name, region: r.name, x: c.x + rr * Math.cos(a), y: c.y + rr * Math.sin(a), a });
      });
    });
    const legend = document.querySelector('.legend');
    if (legend && !legend.querySelector('.l-gw')) {
      const span = document.createElement('span');
      span.innerHTML = '<i class="l-gw"></i>gateway between regions (colour = state)';
      legend.appendChild(span);
    }
  }

  drawNode(node, parent, self) {
    const color = this.colorOf(node.name);
    const g = el('g', { class: 'node', 'data-name': node.name, 'data-state': 'unknown', transform: `translate(${node.x},${node.y})` }, parent);
    if (node.region) g.dataset.region = node.region;
    el('circle', { class: 'halo', r: 44 }, g);
    if (node.name === self) {
      g.setAttribute('data-self', '');
      el('circle', { class: 'self-ring', r: 40 }, g);
    }
    el('circle', { class: 'disc', r: 33, stroke: color }, g);
    const name = el('text', { class: 'name', y: -3 }, g); name.textContent = node.name;
    node.records = el('text', { class: 'records', y: 14 }, g);
    // The stats card sits outward from the centre, inside the drawing.
    const cw = 168, ch = 62;
    const ox = Math.cos(node.a), oy = Math.sin(node.a);
    let cx = ox * 50 + (ox > 0.3 ? 0 : ox < -0.3 ? -cw : -cw / 2);
    let cy = oy * 46 + (oy > 0.3 ? 0 : oy < -0.3 ? -ch : -ch / 2);
    if (Math.abs(ox) <= 0.3) cy = oy < 0 ? -48 - ch : 48;
    cx = Math.max(4 - node.x, Math.min(W - 4 - cw - node.x, cx));
    cy = Math.max(4 - node.y, Math.min(H - 4 - ch - node.y, cy));
    const card = el('g', { class: 'card', transform: `translate(${cx},${cy})` }, g);
    el('rect', { width: cw, height: ch, rx: 6 }, card);
    node.lines = [0, 1, 2].map((i) => el('text', { x: 9, y: 18 + i * 17 }, card));
    node.badge = el('text', { class: 'badge', x: 0, y: -42, 'text-anchor': 'middle' }, g);
    node.g = g;
  }

  update(frame) {
    for (const nv of frame.nodes) {
      const node = this.nodes.get(nv.name);
      if (!node) continue;
      node.g.dataset.state = nv.state;
      node.g.dataset.records = nv.stats.records;
      node.records.textContent = nv.state === 'unknown' ? '' : fmtCount(nv.stats.records) + ' rec';
      const r = nv.rates;
      if (nv.state === 'down') {
        node.lines[0].textContent = 'DOWN';
        node.lines[1].textContent = nv.age >= 0 ? `silent ${(nv.age / 1000).toFixed(1)} s` : 'never heard';
        node.lines[2].textContent = '';
      } else if (nv.state === 'cut') {
        node.lines[0].textContent = 'CUT OFF (herd chaos)';
        node.lines[1].textContent = nv.age >= 0 ? `not heard for ${(nv.age / 1000).toFixed(1)} s` : 'never heard';
        node.lines[2].textContent = '';
      } else if (nv.state === 'unknown') {
        node.lines.forEach((t) => (t.textContent = ''));
        node.lines[0].textContent = 'waiting…';
      } else {
        setLine(node.lines[0], 'IAMAT ', fmtRate(r.iamat) + '/s', '  WHATSAT ', fmtRate(r.whatsat) + '/s');
        setLine(node.lines[1], 'flood in ', fmtRate(r.floodIn) + '/s', '  out ', fmtRate(r.floodOut) + '/s');
        setLine(node.lines[2], 'records ', fmtCount(nv.stats.records), '  repairs ', fmtCount(nv.stats.repairs));
      }
    }
    for (const ev of frame.edges) {
      const e = this.edges.get(key(ev.a, ev.b));
      if (e) e.g.dataset.state = ev.state;
    }
    for (const gv of frame.gateways || []) {
      const g = this.gateways.get(key(gv.a, gv.b));
      if (g) g.dataset.state = gv.state;
    }
    for (const e of this.edges.values()) e.recent *= 0.9;
    // One packet per direction per frame: the biggest origins' dots, the
    // total as the count.
    const byDir = new Map();
    for (const h of frame.hops) {
      const k = h.from + '>' + h.to;
      if (!byDir.has(k)) byDir.set(k, []);
      byDir.get(k).push(h);
    }
    for (const hs of byDir.values()) {
      hs.sort((a, b) => b.records - a.records);
      const total = hs.reduce((s, h) => s + h.records, 0);
      hs.slice(0, 3).forEach((h, i) => this.hop(h, i, i === 0 ? total : 0));
    }
    for (const e of this.edges.values()) {
      e.label.textContent = e.recent >= 0.5 ? fmtRate(e.recent * 0.1 * 1000 / this.tick) + ' rec/s' : '';
    }
  }

  repair(name, n) {
    const node = this.nodes.get(name);
    if (!node) return;
    node.badge.textContent = `repaired +${fmtCount(n)}`;
    node.badge.classList.remove('show'); void node.badge.getBBox(); node.badge.classList.add('show');
  }

  // hop animates one aggregated hop: a dot from sender to receiver, sized
  // and labelled by how many records it stands for.
  hop(h, rank, total) {
    const A = this.nodes.get(h.from), B = this.nodes.get(h.to);
    const e = this.edges.get(key(h.from, h.to));
    if (!A || !B) return;
    if (e) {
      e.hops += h.records; e.recent += h.records;
      e.g.dataset.hops = e.hops;
    }
    if (this.gHops.childElementCount >= MAX_HOPS) return;
    const color = this.colorOf(h.origin);
    const g = el('g', { class: 'hop', 'data-from': h.from, 'data-to': h.to, 'data-origin': h.origin, 'data-count': h.records }, this.gHops);
    el('circle', { r: Math.min(8, 3 + Math.log2(h.records) * 0.8), fill: color }, g);
    const now = performance.now();
    if (e && total > 1 && !(now - (e.lastLabel[h.from] || 0) < LABEL_GAP_MS)) {
      e.lastLabel[h.from] = now;
      const t = el('text', { x: 8, y: -6 }, g);
      t.textContent = '×' + (total < 1000 ? String(total) : fmtRate(total));
    }
    // Lanes: each direction on its own side, origins a little apart.
    const dx = B.x - A.x, dy = B.y - A.y, len = Math.hypot(dx, dy) || 1;
    const off = 5 + rank * 4;
    const px = -dy / len * off, py = dx / len * off;
    const start = now;
    const step = (t1) => {
      const t = Math.min(1, (t1 - start) / HOP_MS);
      const s = t * t * (3 - 2 * t);
      const fade = Math.min(1, Math.min(s, 1 - s) * 8); // taper at both ends
      g.setAttribute('transform', `translate(${A.x + dx * s + px * fade},${A.y + dy * s + py * fade})`);
      g.style.opacity = t > 0.85 ? (1 - t) / 0.15 : 1;
      if (t < 1) requestAnimationFrame(step); else g.remove();
    };
    g.setAttribute('transform', `translate(${A.x},${A.y})`);
    requestAnimationFrame(step);
  }
}

function setLine(t, k1, v1, k2, v2) {
  t.textContent = '';
  for (const [s, cls] of [[k1, 'k'], [v1, ''], [k2, 'k'], [v2, '']]) {
    const span = document.createElementNS(NS, 'tspan');
    if (cls) span.setAttribute('class', cls);
    span.textContent = s;
    t.appendChild(span);
  }
}

function key(a, b) { return a < b ? a + '\u0000' + b : b + '\u0000' + a; }

