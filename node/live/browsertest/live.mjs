// Drives herd's live view in Debian's chromium for node/live/browser_test.go.
// Usage: node live.mjs <page url> <artifacts dir> [watch|regions]
// It talks to the Go test in JSON lines: it prints {"step": ...} and reads
// {"cmd": ...} on stdin, so the test can act on the herd between steps.
import { chromium } from 'playwright-core';
import readline from 'node:readline';
import path from 'node:path';

const [url, outDir] = process.argv.slice(2);
if (!url || !outDir) {
  console.error('usage: node live.mjs <url> <artifacts dir>');
  process.exit(2);
}
const say = (o) => console.log(JSON.stringify(o));
const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
async function expect(cmd) {
  const { value, done } = await lines.next();
  if (done) throw new Error(`stdin closed, expected ${cmd}`);
  const m = JSON.parse(value);
  if (m.cmd !== cmd) throw new Error(`got ${value}, expected ${cmd}`);
  return m;
}

const browser = await chromium.launch({
  executablePath: process.env.HERD_CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1600, height: 900 }, deviceScaleFactor: 1 });
  const problems = [];
  page.on('pageerror', (e) => problems.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()}`));
  // Every request must go to the node itself: nothing from the network.
  const origin = new URL(url).origin;
  page.on('request', (r) => { if (!r.url().startsWith(origin)) problems.push(`off-node request: ${r.url()}`); });

  await page.goto(url);
  const hello = await expect('expect');
  if (process.argv[4] === 'watch') {
    // Just keep the page open until stdin closes (for the benchmark).
    await page.waitForFunction((n) => document.querySelectorAll('.node[data-state="up"]').length === n, hello.nodes);
    say({ step: 'ready' });
    while (!(await lines.next()).done);
    const frames = await page.evaluate(() => Number(document.body.dataset.frames || 0));
    say({ step: 'done', frames, problems });
    await browser.close();
    process.exit(0);
  }
  if (process.argv[4] === 'regions') {
    await regions(page, hello, problems);
    await browser.close();
    process.exit(0);
  }
  await page.waitForSelector('svg#map[data-loaded="true"]');
  await page.waitForFunction(({ n, e }) =>
    document.querySelectorAll('.node[data-state="up"]').length === n &&
    document.querySelectorAll('.edge[data-state="up"]').length === e, { n: hello.nodes, e: hello.edges });
  // Record every hop element as it is added (each lives for a moment).
  await page.evaluate(() => {
    window.__hops = [];
    new MutationObserver((muts) => {
      for (const m of muts) for (const n of m.addedNodes) {
        if (n.classList && n.classList.contains('hop')) window.__hops.push({ ...n.dataset });
      }
    }).observe(document.querySelector('.hops'), { childList: true });
  });
  say({ step: 'ready', self: await page.textContent('#self') });

  // An IAMAT: its hops are drawn, and its client lights up on the map.
  const iamat = await expect('iamat');
  // Wait for the origin's own hop: nodes publish their flood summaries on
  // their own ticks, so relays may be drawn before it.
  await page.waitForFunction((o) => window.__hops.some((h) => h.origin === o && h.from === o), iamat.origin);
  const dotSel = `circle.client[data-client="${iamat.client}"]`;
  await page.waitForSelector(dotSel);
  const dot = await page.$eval(dotSel, (c) => ({
    cx: +c.getAttribute('cx'), cy: +c.getAttribute('cy'), lat: +c.dataset.lat, lon: +c.dataset.lon,
    origin: c.dataset.origin, w: c.ownerSVGElement.viewBox.baseVal.width, h: c.ownerSVGElement.viewBox.baseVal.height,
  }));
  const want = await page.evaluate(async ([lon, lat]) => (await import('./live/static/map.js')).project(lon, lat), [iamat.lon, iamat.lat]);
  const hops = await page.evaluate((o) => window.__hops.filter((h) => h.origin === o), iamat.origin);
  say({ step: 'seen', hops, dot, want });

  // During a flood: a screenshot.
  await expect('flood');
  await page.waitForFunction(() => document.querySelectorAll('circle.client').length >= 20);
  await page.waitForTimeout(1200); // let a few ticks of hops be in flight
  const flood = path.join(outDir, 'live-flood.png');
  await page.screenshot({ path: flood });
  say({ step: 'screenshot', path: flood, clients: await page.$$eval('circle.client', (c) => c.length), hops: await page.$$eval('.hop', (h) => h.length), labels: await page.$$eval('.hop text', (h) => h.map((t) => t.textContent)) });

  // A route cut by herd chaos: drawn cut, in its own colour and dashes,
  // not down; healed, up again.
  const cut = await expect('cut');
  const edgeOf = (a, b) => `.edge[data-a="${a}"][data-b="${b}"], .edge[data-a="${b}"][data-b="${a}"]`;
  const t1 = Date.now();
  await page.waitForSelector(`:is(${edgeOf(cut.a, cut.b)})[data-state="cut"]`);
  const cutMs = Date.now() - t1;
  await page.waitForTimeout(400); // the stroke's transition
  const style = await page.$eval(`${edgeOf(cut.a, cut.b)}`, (e) => {
    const cs = getComputedStyle(e.querySelector('line'));
    return { stroke: cs.stroke, dash: cs.strokeDasharray };
  });
  // How a route that is down would be drawn, for comparison.
  const downStyle = await page.evaluate(() => {
    const svg = document.querySelector('.edge').ownerSVGElement;
    const g = document.createElementNS('http://www.w3.org/2000/svg', 'g');
    g.setAttribute('class', 'edge');
    g.dataset.state = 'down';
    const l = document.createElementNS('http://www.w3.org/2000/svg', 'line');
    g.appendChild(l);
    svg.appendChild(g);
    const cs = getComputedStyle(l);
    const r = { stroke: cs.stroke, dash: cs.strokeDasharray };
    g.remove();
    return r;
  });
  await page.waitForSelector('#log li.cut');
  // The far end, no longer heard from here, is drawn cut off, not down.
  await page.waitForSelector(`.node[data-name="${cut.b}"][data-state="cut"]`);
  const cutShot = path.join(outDir, 'live-cut.png');
  await page.screenshot({ path: cutShot });
  say({ step: 'cut', ms: cutMs, style, downStyle, path: cutShot });
  await expect('healed');
  await page.waitForSelector(`:is(${edgeOf(cut.a, cut.b)})[data-state="up"]`);
  say({ step: 'healed' });

  // A node stops: it is drawn down, and so are its routes.
  const stopped = await expect('stopped');
  const t0 = Date.now();
  await page.waitForSelector(`.node[data-name="${stopped.node}"][data-state="down"]`);
  const ms = Date.now() - t0;
  await page.waitForFunction((n) => [...document.querySelectorAll('.edge')]
    .filter((e) => e.dataset.a === n || e.dataset.b === n)
    .every((e) => e.dataset.state !== 'up'), stopped.node);
  // The log line says why it is down (a goodbye, no route, silence).
  const why = await (await page.waitForFunction((n) => {
    const li = [...document.querySelectorAll('#log li.down')].find((l) => l.textContent.includes(n));
    return li && (li.dataset.why || '?');
  }, stopped.node)).jsonValue();
  const down = path.join(outDir, 'live-down.png');
  await page.screenshot({ path: down });
  say({ step: 'down', ms, why, path: down, problems });
} finally {
  await browser.close();
}
process.exit(0); // stdin's reader would keep the process alive

// regions checks a herd of several regions: every region is drawn with
// its nodes inside its outline, a gateway edge joins every two regions and
// is drawn up, every node and edge too; then a region goes away and the
// gateway edges into it are drawn down while the others stay up.
async function regions(page, hello, problems) {
  await page.waitForFunction(({ n, e, r, g }) =>
    document.querySelectorAll('.node[data-state="up"]').length === n &&
    document.querySelectorAll('.edge[data-state="up"]').length === e &&
    document.querySelectorAll('.region').length === r &&
    document.querySelectorAll('.gateway[data-state="up"]').length === g,
  { n: hello.nodes, e: hello.edges, r: hello.regions, g: hello.gateways });
  // Each node is drawn inside its own region's outline and no other.
  const placed = await page.evaluate(() => {
    const centre = (el) => { const b = el.getBoundingClientRect(); return [b.x + b.width / 2, b.y + b.height / 2]; };
    const out = {};
    const regions = [...document.querySelectorAll('.region')].map((r) => {
      const c = r.querySelector('circle');
      return { name: r.dataset.region, at: centre(c), radius: c.getBoundingClientRect().width / 2 };
    });
    for (const n of document.querySelectorAll('.node')) {
      const at = centre(n.querySelector('.disc'));
      out[n.dataset.name] = { region: n.dataset.region,
        inside: regions.filter((r) => Math.hypot(at[0] - r.at[0], at[1] - r.at[1]) < r.radius).map((r) => r.name) };
    }
    return out;
  });
  const gateways = await page.$$eval('.gateway', (gs) => gs.map((g) => ({ a: g.dataset.a, b: g.dataset.b, state: g.dataset.state })));
  const shot = path.join(outDir, 'live-regions.png');
  await page.screenshot({ path: shot });
  say({ step: 'regions', placed, gateways, path: shot, problems });

  const gone = await expect('stopped');
  await page.waitForFunction((r) => [...document.querySelectorAll('.gateway')]
    .filter((g) => g.dataset.a === r || g.dataset.b === r).every((g) => g.dataset.state === 'down'), gone.region);
  const after = await page.$$eval('.gateway', (gs) => gs.map((g) => ({ a: g.dataset.a, b: g.dataset.b, state: g.dataset.state })));
  const down = path.join(outDir, 'live-regions-down.png');
  await page.screenshot({ path: down });
  say({ step: 'down', gateways: after, path: down, problems });
}
