#!/usr/bin/env node
// Real-browser test of the `covscreen serve` web page.
//
// Starts `covscreen serve --port 0 --model <M> --token <random>` on 127.0.0.1, drives Debian's
// chromium headless through playwright-core (never a downloaded browser) and, on the page at `/`:
//   - checks the "research use, not a medical device" notice is visible on first paint;
//   - sees the model card refused without the token, types the token, sees the card;
//   - uploads a real COVID-CT PNG through the file chooser the drop zone opens on click, then
//     drops a real COVID-CT JPEG and a garbage file on the drop zone (a DataTransfer drop event);
//   - waits for the results table and compares every probability cell with what the REST API
//     answers for the same bytes (POST /v1/screen, raw body), and the garbage row with a 4xx;
//   - clicks rows: the CAM overlay <img> must load with the natural size the server draws it at
//     (the picture shrunk to at most 768 px on its long side); the error row must hide it;
//   - downloads the CSV and checks it against the table;
//   - fails on any console error, page exception or failed request the page did not expect
//     (CSP violations, 404s, script errors);
//   - saves a full-page screenshot to <out>/serve_page.png.
// Exit 0: pass; 1: fail; 77: skipped (no chromium, no playwright-core, no data set).
//
// Usage: node serve_page.mjs --bin build/covscreen [--model M] [--out DIR] [--chromium PATH]
// Environment: COVSCREEN_DATA (default <repo>/../shared/datasets).
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SKIP = 77;
const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}
const bin = path.resolve(arg('--bin', path.join(repo, 'build', 'covscreen')));
const model = path.resolve(arg('--model', path.join(repo, 'models', 'deep-ct-net-covid-ct.ckpt')));
const outDir = path.resolve(arg('--out', path.join(repo, 'build', 'browser')));
const chromiumPath = arg('--chromium', '/usr/bin/chromium');
const dataRoot = process.env.COVSCREEN_DATA || path.join(repo, '..', 'shared', 'datasets');
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

function skip(msg) {
  // COVSCREEN_REQUIRE_DATA=1 (.ci/run): a missing prerequisite is a failure (tests/test_util.h).
  const required = process.env.COVSCREEN_REQUIRE_DATA === '1';
  console.log(`${required ? 'FAIL (COVSCREEN_REQUIRE_DATA=1)' : 'SKIP'}: ${msg}`);
  process.exit(required ? 1 : SKIP);
}
class Failure extends Error {}
function check(cond, msg) {
  if (!cond) throw new Failure(msg);
  console.log(`ok: ${msg}`);
}

// ------------------------------------------------------------------ preconditions
if (!fs.existsSync(bin)) {
  console.error(`FAIL: covscreen binary not found at ${bin} (build it first)`);
  process.exit(1);
}
if (!fs.existsSync(model)) skip(`model ${model} not found`);
if (!fs.existsSync(chromiumPath)) skip(`${chromiumPath} not found (scripts/setup installs Debian's chromium)`);
let chromium;
try {
  ({ chromium } = await import('playwright-core'));
} catch (e) {
  skip(`playwright-core is not installed in ${here}/node_modules (run: npm ci --prefix tests/browser): ${e.message}`);
}
const ctDir = path.join(dataRoot, 'COVID-CT', 'Images-processed');
function firstImage(dir, ext) {
  if (!fs.existsSync(dir)) return null;
  const names = fs.readdirSync(dir).filter((n) => n.toLowerCase().endsWith(ext)).sort();
  return names.length ? path.join(dir, names[0]) : null;
}
const pngPath = firstImage(path.join(ctDir, 'CT_COVID'), '.png');
const jpgPath = firstImage(path.join(ctDir, 'CT_NonCOVID'), '.jpg');
if (!pngPath || !jpgPath)
  skip(`COVID-CT images not found under ${ctDir} (set COVSCREEN_DATA to the shared datasets folder)`);
fs.mkdirSync(outDir, { recursive: true });

// ------------------------------------------------------------------ the server
let server = null;
let serverLog = '';
const token = crypto.randomBytes(12).toString('hex');  // the page must send it as a bearer token
const auth = { Authorization: `Bearer ${token}` };
function startServer() {
  return new Promise((resolve, reject) => {
    server = spawn(bin, ['serve', '--port', '0', '--model', model, '--token', token],
      { stdio: ['ignore', 'inherit', 'pipe'] });
    const timer = setTimeout(() => reject(new Failure('covscreen serve did not report its port within 180 s')), 180000);
    server.stderr.on('data', (d) => {
      serverLog += d.toString();
      const m = /on http:\/\/127\.0\.0\.1:(\d+)\//.exec(serverLog);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    server.on('exit', (code, sig) => {
      clearTimeout(timer);
      reject(new Failure(`covscreen serve exited early (code ${code}, signal ${sig}):\n${serverLog}`));
    });
  });
}
async function stopServer() {
  if (!server || server.exitCode !== null) return server ? server.exitCode : null;
  const exited = new Promise((r) => server.once('exit', (code) => r(code)));
  server.kill('SIGTERM');
  const killer = setTimeout(() => server.kill('SIGKILL'), 20000);
  const code = await exited;
  clearTimeout(killer);
  return code;
}

// The REST API's answer for one file, as the reference the page must show.
async function apiScreen(base, file, type) {
  const r = await fetch(`${base}/v1/screen`, { method: 'POST', headers: { 'Content-Type': type, ...auth },
    body: fs.readFileSync(file) });
  const j = await r.json();
  if (r.status !== 200) throw new Failure(`API screening of ${file} answered ${r.status}: ${JSON.stringify(j)}`);
  return { classes: j.classes, ...j.results[0] };
}

// The overlay's size: the picture shrunk to at most 768 px on its long side (ServeOptions::cam_max_side).
function overlaySize(w, h, maxSide = 768) {
  const side = Math.max(w, h);
  if (side <= maxSide) return [w, h];
  const s = maxSide / side;
  return [Math.max(1, Math.floor(w * s + 0.5)), Math.max(1, Math.floor(h * s + 0.5))];
}

// ------------------------------------------------------------------ the test
async function main() {
  const port = await startServer();
  const base = `http://127.0.0.1:${port}`;
  console.log(`server on ${base}, model ${model}`);
  const refPng = await apiScreen(base, pngPath, 'image/png');
  const refJpg = await apiScreen(base, jpgPath, 'image/jpeg');
  const classes = refPng.classes;
  check(Array.isArray(classes) && classes.length >= 2, `model classes ${JSON.stringify(classes)}`);

  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'covscreen-chromium-'));
  let context = null;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: chromiumPath, headless: true, args: CHROMIUM_ARGS, acceptDownloads: true,
      viewport: { width: 1280, height: 900 }, timeout: 120000,
    });
    const page = context.pages()[0] || (await context.newPage());
    page.setDefaultTimeout(120000);

    // Everything the page did not expect is an error: console errors, exceptions, failed loads.
    const problems = [];
    let expectBadUpload = false;
    let expectUnauthorized = true;  // until the token is typed in, /v1/model answers 401
    const expected = (url, status) => (expectBadUpload && url.includes('/v1/screen') && status >= 400 && status < 500) ||
      (expectUnauthorized && url.includes('/v1/model') && status === 401);
    page.on('console', (m) => {
      if (m.type() !== 'error') return;
      const loc = (m.location() && m.location().url) || '';
      if (expectUnauthorized && loc.includes('/v1/model') && /status of 401/.test(m.text())) return;
      // The garbage upload makes the fetch answer 4xx, which chromium logs as a resource error.
      if (expectBadUpload && loc.includes('/v1/screen') && /status of 4\d\d/.test(m.text())) return;
      problems.push(`console error: ${m.text()} (${loc})`);
    });
    page.on('pageerror', (e) => problems.push(`page exception: ${e.message}`));
    page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure() && r.failure().errorText}`));
    page.on('response', (r) => {
      if (r.status() >= 400 && !expected(r.url(), r.status()))
        problems.push(`HTTP ${r.status()} for ${r.url()}`);
    });

    const resp = await page.goto(`${base}/`, { waitUntil: 'load' });
    check(resp.status() === 200, 'GET / answers 200');
    check((resp.headers()['content-security-policy'] || '').includes("default-src 'none'"), 'page has a strict CSP');

    // The notice: visible, inside the first screen, saying research use / not a medical device.
    const notice = page.locator('#notice');
    check(await notice.isVisible(), 'notice is visible');
    const noticeText = await notice.innerText();
    check(/research use/i.test(noticeText) && /not a medical device/i.test(noticeText),
      `notice says research use, not a medical device: "${noticeText}"`);
    const box = await notice.boundingBox();
    check(box && box.y >= 0 && box.y + box.height <= 900 && box.width > 200, 'notice is on the first screen');

    // Without the token the model card is refused (401); typed into the token field, it loads.
    await page.waitForFunction(() => /not available/.test(document.getElementById('model').textContent));
    check(/token/i.test(await page.locator('#model').innerText()), 'without a token the page says the card needs one');
    await page.fill('#token', token);
    await page.press('#token', 'Tab');  // "change"
    await page.waitForFunction(() => /^Model .*classes: /.test(document.getElementById('model').textContent));
    const card = await page.locator('#model').innerText();
    check(/threshold on P\(covid\): \d\.\d{3}$/.test(card), `model card line: "${card}"`);
    expectUnauthorized = false;
    const head = await page.locator('#results thead th').allInnerTexts();
    for (const c of classes) check(head.includes(`P(${c})`), `table head has P(${c}): ${JSON.stringify(head)}`);

    // 1) A real CT PNG through the file chooser the drop zone opens on click (exactly one chooser).
    let choosers = 0;
    page.on('filechooser', () => { choosers += 1; });
    const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.click('#drop')]);
    check(chooser.isMultiple(), 'the file chooser takes several files');
    await chooser.setFiles(pngPath);
    await page.waitForFunction(() => document.querySelectorAll('#results tbody tr').length >= 1 &&
      /^Screened 1 file/.test(document.getElementById('status').textContent));

    check(choosers === 1, `one click on the drop zone opened ${choosers} file chooser(s)`);

    // 2) A real CT JPEG and a garbage "PNG" dropped on the drop zone together.
    expectBadUpload = true;
    const dt = await page.evaluateHandle(([jpgB64, jpgName]) => {
      const bytes = Uint8Array.from(atob(jpgB64), (c) => c.charCodeAt(0));
      const d = new DataTransfer();
      d.items.add(new File([bytes], jpgName, { type: 'image/jpeg' }));
      d.items.add(new File([new TextEncoder().encode('this is not an image at all\n'.repeat(20))], 'garbage.png',
        { type: 'image/png' }));
      return d;
    }, [fs.readFileSync(jpgPath).toString('base64'), path.basename(jpgPath)]);
    await page.dispatchEvent('#drop', 'dragover', { dataTransfer: dt });
    check(await page.locator('#drop.over').count() === 1, 'drop zone highlights on dragover');
    await page.dispatchEvent('#drop', 'drop', { dataTransfer: dt });
    await page.waitForFunction(() => document.querySelectorAll('#results tbody tr').length >= 3 &&
      /^Screened 2 file/.test(document.getElementById('status').textContent));
    check(await page.locator('#drop.over').count() === 0, 'drop zone highlight cleared after drop');

    // The table against the API: file, P(class) to 3 decimals, decision; the garbage row is an error.
    const table = await page.$$eval('#results tbody tr', (trs) => trs.map((tr) =>
      Array.from(tr.cells).map((td) => td.textContent)));
    check(table.length === 3, `table has 3 rows: ${JSON.stringify(table)}`);
    const nc = classes.length;
    const expectRow = (row, name, ref) => {
      check(row[1] === name, `row file "${row[1]}" is ${name}`);
      classes.forEach((c, k) => {
        const want = ref.probabilities[c].toFixed(3);
        check(row[2 + k] === want, `${name}: P(${c}) shown ${row[2 + k]}, API ${want}`);
      });
      check(row[2 + nc].startsWith(ref.predicted) && row[2 + nc].includes('positive') === ref.positive,
        `${name}: decision "${row[2 + nc]}" matches the API (${ref.predicted}, positive=${ref.positive})`);
      check(row[3 + nc] === '200', `${name}: status cell 200`);
    };
    expectRow(table[0], path.basename(pngPath), refPng);
    expectRow(table[1], path.basename(jpgPath), refJpg);
    check(table[2][1] === 'garbage.png' && table[2][2 + nc].startsWith('error:') && /^4\d\d$/.test(table[2][3 + nc]),
      `garbage row is an error with a 4xx status: ${JSON.stringify(table[2])}`);
    check(table[2].slice(2, 2 + nc).every((s) => s === ''), 'garbage row shows no probabilities');

    // The CAM overlay on click: the <img> loads, at the size the server draws it.
    const camLoaded = () => page.waitForFunction(() => {
      const img = document.getElementById('cam');
      return img.style.display !== 'none' && img.complete && img.naturalWidth > 0 && img.naturalHeight > 0;
    });
    const camSize = () => page.$eval('#cam', (img) => [img.naturalWidth, img.naturalHeight]);
    const rows = page.locator('#results tbody tr');
    await rows.nth(1).click();
    await camLoaded();
    let size = await camSize();
    let want = overlaySize(refJpg.width, refJpg.height);
    check(size[0] === want[0] && size[1] === want[1], `JPEG overlay is ${size.join('x')} (want ${want.join('x')})`);
    check(await page.locator('#cam').isVisible(), 'overlay <img> is visible');
    await rows.nth(2).click();
    await page.waitForFunction(() => document.getElementById('cam').style.display === 'none');
    check(/no map/.test(await page.locator('#camcap').innerText()), 'error row hides the overlay and says why');
    await rows.nth(0).click();
    await camLoaded();
    size = await camSize();
    want = overlaySize(refPng.width, refPng.height);
    check(size[0] === want[0] && size[1] === want[1], `PNG overlay is ${size.join('x')} (want ${want.join('x')})`);
    check((await page.locator('#camcap').innerText()).includes(path.basename(pngPath)), 'caption names the file');
    check(await page.locator('#results tbody tr.sel').count() === 1, 'one selected row');
    const rendered = await page.$eval('#cam', (img) => img.getBoundingClientRect().width);
    check(rendered > 50, `overlay is rendered ${rendered.toFixed(0)} px wide`);

    // CSV download, against the table.
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#csv')]);
    const csvPath = path.join(outDir, 'serve_page.csv');
    await download.saveAs(csvPath);
    const lines = fs.readFileSync(csvPath, 'utf8').trim().split(/\r\n/);
    check(lines[0] === ['file', ...classes.map((c) => `prob_${c}`), 'predicted', 'positive', 'status', 'error',
      'typicality', 'atypical'].join(','), `CSV header ${lines[0]}`);
    check(lines.length === 4, `CSV has 3 data lines (${lines.length - 1})`);
    const f1 = lines[1].split(',');
    check(f1[0] === path.basename(pngPath) && Math.abs(Number(f1[1]) - refPng.probabilities[classes[0]]) < 1e-6,
      `CSV row 1 has the full-precision probability (${f1[1]})`);
    const typ = Number(f1[f1.length - 2]);
    check(f1[f1.length - 2] !== '' && typ >= 0 && typ <= 1 && ['0', '1'].includes(f1[f1.length - 1]),
      `CSV row 1 has the image's typicality and atypical flag (${f1.slice(-2).join(',')})`);
    check(lines[3].startsWith('garbage.png,') && /,4\d\d,/.test(lines[3]), `CSV row 3 is the error: ${lines[3]}`);

    // The notice is still on screen after screening; then the screenshot.
    check(await notice.isVisible(), 'notice still visible after screening');
    const shot = path.join(outDir, 'serve_page.png');
    await page.screenshot({ path: shot, fullPage: true });
    check(fs.statSync(shot).size > 10000, `screenshot saved to ${shot} (${fs.statSync(shot).size} bytes)`);

    check(problems.length === 0, `no unexpected console errors, exceptions or failed requests${
      problems.length ? ':\n  ' + problems.join('\n  ') : ''}`);
  } finally {
    if (context) await context.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
  const code = await stopServer();
  check(code === 0, `covscreen serve stopped cleanly on SIGTERM (exit ${code})`);
}

const guard = setTimeout(() => {
  console.error('FAIL: the browser test took longer than 400 s');
  if (server) server.kill('SIGKILL');
  process.exit(1);
}, 400000);
try {
  await main();
  clearTimeout(guard);
  console.log('PASS: serve page in headless chromium');
  process.exit(0);
} catch (e) {
  console.error(`FAIL: ${e instanceof Failure ? e.message : e.stack || e}`);
  if (serverLog) console.error(`--- covscreen serve stderr ---\n${serverLog.slice(-4000)}`);
  if (server && server.exitCode === null) server.kill('SIGKILL');
  process.exit(1);
}
