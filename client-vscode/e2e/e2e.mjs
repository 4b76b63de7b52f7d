// Real VS Code (code-server 4.100.3) in headless Chromium: install the .vsix, let it set up its server,
// type a partial line, wait for the model's ghost text, accept it with Tab, save, check the file.
// Usage: node client-vscode/e2e/e2e.mjs VSIX   env: E2E_DIR, ARTIFACTS, WHEEL_DIR, PYTHON, KEEP_STORAGE
// Adapted from shared/recipes/code-server-e2e (its gotchas: U+00A0 spaces, no default Alt+\ binding,
// open files by double-clicking the explorer row, kill only our process group, loopback only).
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';

const VSIX = path.resolve(process.argv[2] || 'dist/slipstream-0.1.0.vsix');
const E2E = process.env.E2E_DIR || `${os.homedir()}/.cache/slipstream/e2e`;
const ART = path.resolve(process.env.ARTIFACTS || 'e2e-artifacts');
const WHEELS = process.env.WHEEL_DIR || `${os.homedir()}/.cache/slipstream/wheels`;
const PYTHON = process.env.PYTHON || 'python3';
const { chromium } = createRequire(`${E2E}/pw/`)('playwright-core');
const ENTRY = `${E2E}/srv/node_modules/code-server/out/node/entry.js`;
const RUN = `${E2E}/runs/${Date.now()}`;
const WS = `${RUN}/ws`;
// The server's venv lives in the user data dir's global storage; KEEP_STORAGE reuses one between runs.
const UD = process.env.KEEP_STORAGE ? `${E2E}/ud-kept` : `${RUN}/ud`;
const EXT = `${RUN}/exts`;
fs.mkdirSync(WS, { recursive: true });
fs.mkdirSync(`${UD}/User`, { recursive: true });
fs.mkdirSync(ART, { recursive: true });
const START = 'def total_price(items):\n    return sum(item.price for item in items)\n\n\ndef report(items):\n';
fs.writeFileSync(`${WS}/shop.py`, START);
fs.writeFileSync(`${UD}/User/settings.json`, JSON.stringify({
  'workbench.startupEditor': 'none', 'security.workspace.trust.enabled': false, 'telemetry.telemetryLevel': 'off',
  'extensions.autoUpdate': false, 'extensions.autoCheckUpdates': false, 'workbench.tips.enabled': false,
  'slipstream.wheelDirectory': WHEELS, 'slipstream.pythonPath': PYTHON, 'slipstream.debounceMs': 50,
}, null, 1));
fs.writeFileSync(`${RUN}/config.yaml`, 'auth: none\n'); // else code-server writes ~/.config/code-server/config.yaml

const T0 = Date.now();
const t = {};
const mark = (k) => console.log(`[${(t[k] = (Date.now() - T0) / 1000).toFixed(1)}s] ${k}`);
const freePort = () => new Promise((resolve) => { const s = net.createServer(); s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); }); });

execFileSync('node', [ENTRY, '--config', `${RUN}/config.yaml`, '--user-data-dir', UD, '--extensions-dir', EXT,
  '--install-extension', VSIX], { stdio: 'inherit' });
mark('vsix installed');
const PORT = await freePort();
const cs = spawn('node', [ENTRY, '--config', `${RUN}/config.yaml`, '--auth', 'none', '--bind-addr', `127.0.0.1:${PORT}`,
  '--disable-telemetry', '--disable-update-check', '--disable-workspace-trust', '--user-data-dir', UD,
  '--extensions-dir', EXT, WS], { detached: true, stdio: ['ignore', fs.openSync(`${RUN}/cs.log`, 'w'), 'inherit'] });

let browser;
let page;
let ok = false;
const shot = async (name) => page?.screenshot({ path: `${ART}/${name}.png` }).catch(() => {});
try {
  while ((await fetch(`http://127.0.0.1:${PORT}/`, { redirect: 'manual' }).catch(() => ({}))).status !== 302) {
    if (Date.now() - T0 > 60000) throw new Error('code-server did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  mark('code-server up');
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu',
    '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.setDefaultTimeout(60000);
  let activated = false;
  page.on('console', (m) => { if (!activated && m.text().includes('[slipstream] activated')) { activated = true; mark('extension activated'); } });
  await page.goto(`http://127.0.0.1:${PORT}/?folder=${WS}`);
  await page.waitForSelector('.monaco-workbench');
  mark('workbench loaded');
  await page.locator('.explorer-folders-view .monaco-list-row', { hasText: 'shop.py' }).dblclick();
  const lines = (ghost) => page.evaluate((ghost) => {
    const v = document.querySelector('.editor-instance .view-lines')?.cloneNode(true);
    if (!v) return [];
    if (!ghost) v.querySelectorAll('[class*="ghost-text"]').forEach((e) => e.remove());
    return [...v.querySelectorAll('.view-line')].map((l) => l.textContent.replace(/\u00a0/g, ' '));
  }, ghost);
  await page.waitForFunction(() => document.querySelector('.editor-instance .view-lines')?.textContent.includes('total_price'));
  mark('shop.py open');
  // The status bar says when the server is set up and the model is loaded (first run: the venv is created).
  const status = page.locator('[id="slipstream.slipstream.slipstream.status"], .statusbar-item', { hasText: 'Slipstream' }).first();
  for (;;) {
    const s = (await status.textContent({ timeout: 1000 }).catch(() => '')) || '';
    if (/gemma/i.test(s)) break;
    if (/error/i.test(s)) { await shot('status-error'); throw new Error(`status bar: ${s}`); }
    if (Date.now() - T0 > 480000) { await shot('status-timeout'); throw new Error(`server not ready: ${s}`); }
    await page.waitForTimeout(500);
  }
  mark(`status bar ready: ${(await status.textContent()).trim()}`);
  await shot('ready');
  // Type a partial line at the end of the file, like a user: the editor auto-closes the paren.
  await page.locator('.editor-instance .view-lines').click();
  await page.keyboard.press('Control+End');
  await page.keyboard.type('    total = total_price(', { delay: 40 });
  let ghost = null;
  for (let i = 0; i < 8 && !ghost; i++) {
    ghost = await page.waitForSelector('.ghost-text-decoration, .ghost-text', { timeout: 5000 }).catch(() => null);
    if (!ghost) await page.keyboard.press('Alt+Backslash'); // explicit trigger: immediate
  }
  if (!ghost) { await shot('no-ghost'); throw new Error('ghost text not shown'); }
  const ghostText = (await ghost.textContent()).replace(/\u00a0/g, ' ');
  mark(`ghost text visible: ${JSON.stringify(ghostText)}`);
  await page.waitForTimeout(300); // let streaming finish so the screenshot shows the whole suggestion
  const shownLines = await lines(true);
  console.log('line with ghost text:', JSON.stringify(shownLines[shownLines.length - 1]));
  await shot('ghost');
  await page.keyboard.press('Tab');
  await page.waitForTimeout(300);
  await page.keyboard.press('Control+S');
  let saved = '';
  for (let i = 0; i < 100; i++) {
    saved = fs.readFileSync(`${WS}/shop.py`, 'utf8');
    if (saved !== START && saved.includes(ghostText.trim())) break;
    await page.waitForTimeout(100);
  }
  await shot('accepted');
  const last = saved.trimEnd().split('\n').pop();
  console.log('saved last line:', JSON.stringify(last));
  if (!saved.includes('    total = total_price(')) throw new Error('the typed text is not in the file');
  if (!saved.includes(ghostText.trim())) throw new Error(`the accepted suggestion is not in the file: ${JSON.stringify(saved)}`);
  const opens = (last.match(/\(/g) || []).length;
  const closes = (last.match(/\)/g) || []).length;
  if (closes > opens) throw new Error(`a doubled closing bracket after accepting: ${JSON.stringify(last)}`);
  mark('accepted and saved');
  // Crash: kill the server process. The extension restarts it (bounded retries), says so, and ghost
  // text comes back.
  const pattern = `${UD}.*-m slipstream.server`;
  const pids = () => { try { return execFileSync('pgrep', ['-f', pattern], { encoding: 'utf8' }).trim().split('\n').filter(Boolean); } catch { return []; } };
  const before = pids();
  if (!before.length) throw new Error('no server process found to kill');
  execFileSync('kill', ['-KILL', ...before]);
  mark(`server killed (pid ${before.join(',')})`);
  await page.waitForFunction(() => /server stopped; restarting/.test(document.querySelector('.notifications-toasts')?.textContent || ''), null, { timeout: 60000 });
  mark('restart notification shown');
  await shot('restarted-notification');
  for (;;) {
    const now = pids().filter((p) => !before.includes(p));
    const s = (await status.textContent({ timeout: 1000 }).catch(() => '')) || '';
    if (now.length && /gemma/i.test(s)) { mark(`server back (pid ${now.join(',')}): ${s.trim()}`); break; }
    if (Date.now() - T0 > 600000) { await shot('restart-timeout'); throw new Error(`server did not come back: ${s}`); }
    await page.waitForTimeout(300);
  }
  await page.keyboard.press('End');
  await page.keyboard.press('Enter');
  await page.keyboard.type('count = len(', { delay: 40 }); // the editor keeps the indentation
  let again = null;
  for (let i = 0; i < 8 && !again; i++) {
    again = await page.waitForSelector('.ghost-text-decoration, .ghost-text', { timeout: 5000 }).catch(() => null);
    if (!again) await page.keyboard.press('Alt+Backslash');
  }
  if (!again) { await shot('no-ghost-after-restart'); throw new Error('no ghost text after the restart'); }
  mark(`ghost text after restart: ${JSON.stringify((await again.textContent()).replace(/\u00a0/g, ' '))}`);
  await shot('ghost-after-restart');
  ok = true;
} catch (e) {
  console.error('ERROR', e.message);
  await shot('error');
} finally {
  await browser?.close().catch(() => {});
  try { process.kill(-cs.pid, 'SIGTERM'); } catch {}
  console.log(ok ? 'E2E PASS' : 'E2E FAIL', JSON.stringify(t), RUN);
  process.exit(ok ? 0 : 1);
}
