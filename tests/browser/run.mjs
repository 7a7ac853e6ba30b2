// The exchange as a publisher's Prebid Server, proved in a real browser.
//
// 1. bundles Prebid.js (pinned in package.json) with esbuild, as a publisher would;
// 2. starts the exchange binary with the sample config (sample campaigns, the sample
//    geolocation database that maps loopback) on a free loopback port;
// 3. serves a test page from another origin (another port) and opens it in headless
//    Chromium (the system package) driven by puppeteer-core;
// 4. checks: the bid arrives, Prebid sets hb_* targeting, the ad renders, the billing
//    notice Prebid fires (price macro unfilled) is counted, the exchange's cookie is set,
//    and a no-fill page logs no error.
//
// Run by tests/browser/run (which installs what is missing). Environment: EXCHANGE_BIN
// (default target/debug/exchange), CHROMIUM (default /usr/bin/chromium), SCREENSHOT (a
// path to copy the filled page's screenshot to, e.g. docs/prebid-browser-test.png).

import { build } from 'esbuild';
import puppeteer from 'puppeteer-core';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync, copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
const out = path.join(here, 'out');
const targetDir = process.env.CARGO_TARGET_DIR || path.join(repo, 'target');
const exchangeBin = process.env.EXCHANGE_BIN || path.join(targetDir, 'debug', 'exchange');
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';

let failures = 0;
function check(ok, what, detail = '') {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}${ok || !detail ? '' : `\n     ${detail}`}`);
  if (!ok) failures += 1;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function get(url) {
  const response = await fetch(url);
  return { status: response.status, text: await response.text() };
}

/** The sample config with its relative paths made absolute and no store file. */
function sampleConfig(port) {
  const configs = path.join(repo, 'configs');
  let text = readFileSync(path.join(configs, 'exchange.toml'), 'utf8');
  const swaps = [
    ['public_url = "http://127.0.0.1:8080"', `public_url = "http://127.0.0.1:${port}"`],
    ['"campaigns.json"', JSON.stringify(path.join(configs, 'campaigns.json'))],
    ['"models/ltv.json"', JSON.stringify(path.join(configs, 'models/ltv.json'))],
    ['"lexicon.toml"', JSON.stringify(path.join(configs, 'lexicon.toml'))],
    ['"semantic/zh-vectors.bin"', JSON.stringify(path.join(configs, 'semantic/zh-vectors.bin'))],
    ['"geo/sample.mmdb"', JSON.stringify(path.join(configs, 'geo/sample.mmdb'))],
    ['"publishers.toml"', JSON.stringify(path.join(configs, 'publishers.toml'))],
    ['"ads-txt"', JSON.stringify(path.join(configs, 'ads-txt'))],
    ['"ivt/datacenter.txt"', JSON.stringify(path.join(configs, 'ivt/datacenter.txt'))],
    // Headless Chromium says "HeadlessChrome": a bot the sample refuses; this page is a person.
    ['crawler = "refuse"', 'crawler = "flag"'],
    ['path = "../data/exchange.db"', 'path = ""'],
    ['database = "../data/affiliate.db"', 'database = "affiliate.db"'],
  ];
  for (const [from, to] of swaps) {
    if (!text.includes(from)) throw new Error(`configs/exchange.toml no longer has ${from}`);
    text = text.replace(from, to);
  }
  return text;
}

async function startExchange() {
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'exchange-browser-'));
  const config = path.join(dir, 'exchange.toml');
  writeFileSync(config, sampleConfig(port));
  const child = spawn(exchangeBin, ['--config', config, '--listen', `127.0.0.1:${port}`], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, RUST_LOG: 'warn' },
  });
  let log = '';
  child.stderr.on('data', (chunk) => { log += chunk; });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 300; i += 1) {
    if (child.exitCode !== null) throw new Error(`the exchange exited: ${log}`);
    try {
      if ((await get(`${url}/readyz`)).status === 200) return { child, url, dir };
    } catch { /* not listening yet */ }
    await sleep(100);
  }
  child.kill();
  throw new Error(`the exchange did not get ready in 30 s: ${log}`);
}

function metric(text, series) {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line ? Number(line.split(' ')[1]) : 0;
}

/** Serves the test page (per `?slot=WxH`) and the Prebid.js bundle from its own origin. */
function pageServer(exchangeUrl, bundle) {
  const template = readFileSync(path.join(here, 'page.html'), 'utf8');
  const server = http.createServer((request, response) => {
    const url = new URL(request.url, 'http://page');
    if (url.pathname === '/prebid.js') {
      response.writeHead(200, { 'content-type': 'text/javascript' });
      response.end(bundle);
    } else if (url.pathname === '/') {
      const [w, h] = (url.searchParams.get('slot') || '300x250').split('x').map(Number);
      const units = [{
        code: 'div-1',
        mediaTypes: { banner: { sizes: [[w, h]] } },
        bids: [{ bidder: 'exchange', params: {} }],
      }];
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      response.end(template.replace('__EXCHANGE__', exchangeUrl)
        .replace('__AD_UNITS__', JSON.stringify(units)));
    } else {
      response.writeHead(204);
      response.end();
    }
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${server.address().port}` }));
  });
}

/** A stand-in for creative images (their CDN hosts are not reachable from a test). */
function placeholder(url) {
  const label = new URL(url).pathname.split('/').slice(-3).join('/');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="300" height="250">
<rect width="100%" height="100%" fill="#ffe8d6"/><rect x="8" y="8" width="284" height="234" fill="none" stroke="#e8590c" stroke-width="4"/>
<text x="150" y="110" font-family="sans-serif" font-size="22" text-anchor="middle" fill="#c2410c">creative image</text>
<text x="150" y="145" font-family="monospace" font-size="12" text-anchor="middle" fill="#7c2d12">${label}</text></svg>`;
}

/** Opens `url`, waits for Prebid's answer; what the page saw. */
async function visit(browser, url, exchangeUrl) {
  const page = await browser.newPage();
  await page.setViewport({ width: 720, height: 640 });
  const errors = [];
  const warnings = [];
  const auctions = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
    if (message.type() === 'warn') warnings.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
  page.on('response', (response) => {
    if (response.url().startsWith(`${exchangeUrl}/openrtb2/auction`)) {
      auctions.push({ status: response.status(), headers: response.headers() });
    }
  });
  await page.setRequestInterception(true);
  page.on('request', (request) => {
    const host = new URL(request.url()).hostname;
    if (host === '127.0.0.1') return request.continue();
    if (request.resourceType() === 'image') {
      return request.respond({ status: 200, contentType: 'image/svg+xml', body: placeholder(request.url()) });
    }
    return request.respond({ status: 204, body: '' });
  });
  await page.goto(url, { waitUntil: 'load' });
  await page.waitForFunction(() => window.result !== null, { timeout: 20000 });
  const result = await page.evaluate(() => window.result);
  const prebidErrors = () => page.evaluate(() => window.prebidErrors);
  return { page, result, errors, warnings, auctions, prebidErrors };
}

async function main() {
  mkdirSync(out, { recursive: true });
  const bundled = await build({
    entryPoints: [path.join(here, 'entry.js')],
    bundle: true,
    format: 'iife',
    write: false,
    logLevel: 'warning',
  });
  const bundle = bundled.outputFiles[0].text;
  console.log(`Prebid.js bundled: ${bundle.length} bytes`);

  const exchange = await startExchange();
  const site = await pageServer(exchange.url, bundle);
  const profile = mkdtempSync(path.join(os.tmpdir(), 'chromium-profile-'));
  const browser = await puppeteer.launch({
    executablePath: chromiumPath,
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      `--user-data-dir=${profile}`,
    ],
  });
  try {
    // A page whose slot the sample campaigns fill.
    const filled = await visit(browser, `${site.url}/?slot=300x250`, exchange.url);
    const { result } = filled;
    const bid = result.bids[0];
    check(result.bids.length >= 1, 'a bid arrives', JSON.stringify(result));
    check(bid && bid.bidder === 'exchange' && bid.cpm > 0 && bid.width === 300 && bid.height === 250,
      'the bid is under the exchange\'s bidder code, priced and sized', JSON.stringify(bid));
    check(bid && bid.adomain.length > 0 && bid.creativeId, 'Prebid kept adomain and crid', JSON.stringify(bid));
    const keys = (result.targeting || {})['div-1'] || {};
    check(keys.hb_bidder === 'exchange' && Number(keys.hb_pb) > 0 && keys.hb_adid === bid?.adId
      && keys.hb_size === '300x250', 'hb_* targeting is set', JSON.stringify(keys));
    const auction = filled.auctions[0] || {};
    check(auction.status === 200 && auction.headers?.['access-control-allow-origin'] === site.url,
      'the auction answered 200 with CORS for the page\'s origin', JSON.stringify(auction));
    // The creative renders in the slot (Prebid's renderer may nest frames).
    let rendered = null;
    for (let i = 0; i < 100 && !rendered; i += 1) {
      for (const frame of filled.page.frames().filter((f) => f !== filled.page.mainFrame())) {
        // The creative's own image (not the win pixel Prebid adds beside it).
        rendered = rendered || await frame.evaluate(() => {
          const img = [...document.images].find((i) => !i.src.includes('/notice/'));
          return img && img.complete && img.naturalWidth > 0 ? img.src : null;
        }).catch(() => null);
      }
      if (!rendered) await sleep(100);
    }
    check(Boolean(rendered), 'the ad renders (its image loaded in the slot\'s frame)', String(rendered));
    // The billing notice Prebid fires on render, with the price macro unfilled, is counted.
    let billed = 0;
    for (let i = 0; i < 50 && billed < 1; i += 1) {
      billed = metric((await get(`${exchange.url}/metrics`)).text, 'exchange_notices_received_total{event="billing"}');
      if (billed < 1) await sleep(100);
    }
    check(billed >= 1, 'the billing notice is counted', `billing notices: ${billed}`);
    const rejected = metric((await get(`${exchange.url}/metrics`)).text,
      'exchange_notices_rejected_total{reason="bad_price"}');
    check(rejected === 0, 'no billing notice was refused for its price', `bad_price: ${rejected}`);
    const enriched = metric((await get(`${exchange.url}/metrics`)).text,
      'exchange_requests_enriched_total{field="geo"}');
    check(enriched >= 1, 'the page\'s loopback address was located (sample geo database)', `geo: ${enriched}`);
    const mismatched = metric((await get(`${exchange.url}/metrics`)).text,
      'exchange_requests_marked_total{mark="source_mismatch"}');
    check(mismatched === 0, 'the page is a registered source of its publisher (sample registry)',
      `source_mismatch: ${mismatched}`);
    const cookies = await filled.page.cookies(exchange.url);
    check(cookies.some((c) => c.name === 'exchange_uid' && /^[0-9a-f]{32}$/.test(c.value)),
      'the exchange\'s user-id cookie is set', JSON.stringify(cookies));
    const filledErrors = [...filled.errors, ...await filled.prebidErrors()];
    check(filledErrors.length === 0, 'the filled page logs no error', filledErrors.join('\n     '));
    const shot = path.join(out, 'prebid-page.png');
    await filled.page.screenshot({ path: shot, fullPage: true });
    console.log(`screenshot: ${shot}`);
    if (process.env.SCREENSHOT) {
      copyFileSync(shot, path.resolve(repo, process.env.SCREENSHOT));
      console.log(`copied to ${process.env.SCREENSHOT}`);
    }

    // A page whose slot nothing fills: 200 with an empty seatbid, and no error.
    const empty = await visit(browser, `${site.url}/?slot=1x1`, exchange.url);
    check(empty.result.bids.length === 0, 'the no-fill page gets no bid', JSON.stringify(empty.result));
    check(empty.auctions[0]?.status === 200, 'the no-fill answer is 200', JSON.stringify(empty.auctions));
    const emptyErrors = [...empty.errors, ...await empty.prebidErrors()];
    check(emptyErrors.length === 0, 'the no-fill page logs no error', emptyErrors.join('\n     '));
    for (const warning of [...filled.warnings, ...empty.warnings]) console.log(`     (warning) ${warning}`);
  } finally {
    await browser.close();
    site.server.close();
    exchange.child.kill('SIGTERM');
    rmSync(profile, { recursive: true, force: true });
    rmSync(exchange.dir, { recursive: true, force: true });
  }
  if (failures > 0) {
    console.log(`browser test: ${failures} check(s) failed`);
    process.exit(1);
  }
  console.log('browser test: all checks passed');
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
