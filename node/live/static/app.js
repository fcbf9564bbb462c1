// herd live view: connects to this node's event stream and draws frames.
import { HerdGraph, fmtRate, fmtCount } from './graph.js';
import { WorldMap } from './map.js';

const PALETTE = ['#4cc9f0', '#f72585', '#ffd166', '#9b5de5', '#06d6a0', '#ff8c42', '#a0c4ff', '#e9ff70', '#ff70a6', '#70d6ff'];
const colors = new Map();
const colorOf = (name) => colors.get(name) || '#ffffff';

const $ = (id) => document.getElementById(id);
let graph = null;
let map = null;
let hello = null;
const hopRates = [];

function log(kind, text, why) {
  const li = document.createElement('li');
  li.className = kind;
  li.dataset.kind = kind;
  if (why) li.dataset.why = why;
  const t = document.createElement('time');
  t.textContent = new Date().toLocaleTimeString('en-GB', { hour12: false }) + '.' + String(Date.now() % 1000).padStart(3, '0');
  li.append(t, text);
  const ol = $('log');
  ol.prepend(li);
  while (ol.childElementCount > 16) ol.lastChild.remove();
}

function onHello(h) {
  const first = hello === null;
  hello = h;
  $('self').textContent = h.self;
  document.body.dataset.self = h.self;
  if (!first) return; // a reconnect: the topology is the same
  h.nodes.forEach((n, i) => colors.set(n, PALETTE[i % PALETTE.length]));
  graph = new HerdGraph($('graph'), h, colorOf);
  map = new WorldMap($('map'), colorOf);
  map.load('live/static/world.json').catch((e) => log('info', 'world outline: ' + e));
  log('info', `watching ${h.nodes.length} nodes, ${h.edges.length} edges from ${h.self}`);
}

function onFrame(f) {
  if (!graph) return;
  graph.update(f);
  f.clients.forEach((c, i) => {
    const [x, y, color] = map.add(c);
    if (i < 4) map.ping(c, x, y, color, i === 0 && f.clients.length <= 3);
  });
  for (const ev of f.events) {
    switch (ev.kind) {
      case 'down': log('down', ev.why === 'stopped' ? `● ${ev.node} stopped` : `● ${ev.node} is down (${ev.why})`, ev.why); break;
      case 'up': log('up', `● ${ev.node} is back`); break;
      case 'cut': log('cut', `✕ route ${ev.a} – ${ev.b} cut`); break;
      case 'healed': log('healed', `✓ route ${ev.a} – ${ev.b} healed`); break;
      case 'repair': log('repair', `⟳ ${ev.node} repaired ${fmtCount(ev.n)} records`); graph.repair(ev.node, ev.n); break;
    }
  }
  // Header totals.
  const up = f.nodes.filter((n) => n.state === 'up');
  const sum = (k) => up.reduce((s, n) => s + n.rates[k], 0);
  $('t-records').textContent = fmtCount(Math.max(0, ...f.nodes.map((n) => n.stats.records)));
  $('t-iamat').textContent = fmtRate(sum('iamat'));
  $('t-whatsat').textContent = fmtRate(sum('whatsat'));
  hopRates.push(f.hops.reduce((s, h) => s + h.records, 0));
  if (hopRates.length > 1000 / (hello.tick || 100)) hopRates.shift(); // one second
  const tick = hello.tick || 100;
  $('t-flood').textContent = fmtRate(hopRates.reduce((a, b) => a + b, 0) / (hopRates.length * tick / 1000));
  $('t-up').textContent = `${up.length}/${f.nodes.length}`;
  document.body.dataset.frames = String(Number(document.body.dataset.frames || 0) + 1);
}

function connect() {
  const es = new EventSource('live/events');
  const conn = $('conn');
  es.addEventListener('open', () => { conn.dataset.state = 'live'; conn.lastChild.textContent = 'live'; });
  es.addEventListener('error', () => { conn.dataset.state = 'lost'; conn.lastChild.textContent = 'reconnecting'; });
  es.addEventListener('hello', (e) => onHello(JSON.parse(e.data)));
  es.addEventListener('frame', (e) => onFrame(JSON.parse(e.data)));
}

connect();
