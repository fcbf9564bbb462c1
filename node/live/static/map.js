// World map: Natural Earth projection of the embedded land outline, and
// recent client locations as dots.

const NS = 'http://www.w3.org/2000/svg';
const W = 1000, H = 520;
const XMAX = Math.PI * 0.8707;
const SCALE = W / (2 * XMAX) * 0.985;

// Natural Earth I projection (Šavrič, Jenny, Patterson, Petrovič, Hurni).
export function project(lon, lat) {
  const l = lon * Math.PI / 180, p = lat * Math.PI / 180;
  const p2 = p * p, p4 = p2 * p2;
  const x = l * (0.8707 - 0.131979 * p2 + p4 * (-0.013791 + p4 * (0.003971 * p2 - 0.001529 * p4)));
  const y = p * (1.007226 + p2 * (0.015085 + p4 * (-0.044475 + 0.028874 * p2 - 0.005916 * p4)));
  return [W / 2 + x * SCALE, H / 2 - y * SCALE];
}

function el(name, attrs, parent) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (parent) parent.appendChild(e);
  return e;
}

function pathOf(points) {
  let d = '';
  let prev = null;
  points.forEach(([lon, lat], i) => {
    const [x, y] = project(lon, lat);
    // A ring that crosses the antimeridian (Chukotka, Fiji) jumps from one
    // edge of the map to the other: start a new subpath there instead of
    // drawing a line across the whole world.
    const jump = prev !== null && Math.abs(lon - prev) > 180;
    d += (i && !jump ? 'L' : 'M') + x.toFixed(1) + ',' + y.toFixed(1);
    prev = lon;
  });
  return d;
}

const MAX_CLIENTS = 400;
const FADE_MS = 120000;

export class WorldMap {
  constructor(svg, colorOf) {
    this.svg = svg;
    this.colorOf = colorOf;
    this.clients = new Map(); // name -> {el, at}
    // The outline of the sphere, then a 30° graticule.
    const rim = [];
    for (let lat = -90; lat <= 90; lat += 2) rim.push([-180, lat]);
    for (let lat = 90; lat >= -90; lat -= 2) rim.push([180, lat]);
    el('path', { class: 'sphere', d: pathOf(rim) + 'Z' }, svg);
    const grat = el('g', { class: 'graticule' }, svg);
    for (let lon = -150; lon <= 150; lon += 30) {
      const pts = []; for (let lat = -90; lat <= 90; lat += 3) pts.push([lon, lat]);
      el('path', { d: pathOf(pts) }, grat);
    }
    for (let lat = -60; lat <= 60; lat += 30) {
      const pts = []; for (let lon = -180; lon <= 180; lon += 3) pts.push([lon, lat]);
      el('path', { d: pathOf(pts) }, grat);
    }
    this.land = el('path', { class: 'land' }, svg);
    this.dots = el('g', { class: 'clients' }, svg);
    this.fx = el('g', {}, svg);
    setInterval(() => this.fade(), 1000);
  }

  async load(url) {
    const world = await (await fetch(url)).json();
    let d = '';
    for (const ring of world.rings) {
      let lon = 0, lat = 0; const pts = [];
      for (let i = 0; i < ring.length; i += 2) {
        lon += ring[i]; lat += ring[i + 1];
        pts.push([lon * world.unit, lat * world.unit]);
      }
      d += pathOf(pts) + 'Z';
    }
    this.land.setAttribute('d', d);
    this.svg.dataset.loaded = 'true';
  }

  // add shows a client at its newest location.
  add(c) {
    const [x, y] = project(c.lon, c.lat);
    let entry = this.clients.get(c.client);
    if (!entry) {
      entry = { el: el('circle', { class: 'client', r: 3.6 }, this.dots) };
      this.clients.set(c.client, entry);
      if (this.clients.size > MAX_CLIENTS) {
        const [oldest, e] = this.clients.entries().next().value;
        e.el.remove(); this.clients.delete(oldest);
      }
    } else {
      // Move to the end: the Map keeps insertion order, oldest first.
      this.clients.delete(c.client); this.clients.set(c.client, entry);
      this.dots.appendChild(entry.el);
    }
    entry.at = performance.now();
    const color = this.colorOf(c.origin);
    Object.assign(entry.el.dataset, { client: c.client, origin: c.origin, lat: c.lat, lon: c.lon });
    entry.el.setAttribute('cx', x.toFixed(1));
    entry.el.setAttribute('cy', y.toFixed(1));
    entry.el.setAttribute('fill', color);
    entry.el.style.opacity = 1;
    return [x, y, color];
  }

  // ping draws an expanding ring and a caption for a few new clients.
  ping(c, x, y, color, caption) {
    if (this.fx.childElementCount > 24) return;
    const ring = el('circle', { class: 'ping', cx: x, cy: y, r: 3, stroke: color }, this.fx);
    setTimeout(() => ring.remove(), 1700);
    if (caption) {
      const t = el('text', { class: 'caption', x: x + 9, y: y - 7 }, this.fx);
      t.textContent = `${c.client} · ${c.lat.toFixed(2)}, ${c.lon.toFixed(2)} · via ${c.origin}`;
      if (x > W * 0.7) { t.setAttribute('x', x - 9); t.setAttribute('text-anchor', 'end'); }
      setTimeout(() => t.remove(), 3000);
    }
  }

  fade() {
    const now = performance.now();
    for (const e of this.clients.values()) {
      e.el.style.opacity = Math.max(0.25, 1 - (now - e.at) / FADE_MS).toFixed(2);
    }
  }
}
