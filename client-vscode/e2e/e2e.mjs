// Real VS Code (code-server 4.100.3) in headless Chromium, driven like a user, with the real default model:
//  0. first start: the .vsix installed into a fresh profile (empty global storage) with no C/C++ compiler and
//     no cmake on the PATH code-server and the extension see; the extension sets up its server from the
//     bundled wheels (no source build) and the first ghost text must come within FIRST_GHOST_S (90 s) of
//     the install command;
//  1. typing: type a line character by character, see the model's ghost text appear on its own (no
//     Alt+\ or any other trigger), accept it with Tab, and check the exact line in the editor and on disk;
//  2. optimizing: click "Optimize this function" in the lightbulb of a slow recursive function, see the
//     "Apply faster variant" action it leads to, apply it, save, and check the exact file (and that it is fast);
//  3. crash: kill the server process, see the extension restart it (with a notification) and ghost text
//     come back, again without a trigger.
// Usage: node client-vscode/e2e/e2e.mjs VSIX
//   env: E2E_DIR, ARTIFACTS, PYTHON, KEEP_STORAGE, WHEEL_DIR (sets slipstream.wheelDirectory: the air-gapped
//   path), E2E_COMPILERS=visible (keep the compilers on PATH: the first start's time with them),
//   E2E_FRESH_HOME=1 (code-server gets an empty HOME: no pip cache, the default model not yet assembled,
//   as on a machine that never had Slipstream), FIRST_GHOST_S (the first start's bound, default 90),
//   E2E_EXPECT_SOURCE_BUILD=1 (a .vsix without the
//   prebuilt llama-cpp-python: the first start builds it, so only the status wait bounds it),
//   E2E_EXPECT_SETUP_ERROR=1 (the universal .vsix with the compilers hidden: only the no-compiler-error
//   scenario runs: the setup stops at once with the error that says what to install, having created nothing).
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
const WHEELS = process.env.WHEEL_DIR || '';
// The interpreter itself (not a pyenv shim or a link that needs PATH), for the pythonPath setting.
const PYTHON = execFileSync(process.env.PYTHON || 'python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).trim();
const HIDE_COMPILERS = process.env.E2E_COMPILERS !== 'visible';
const FIRST_GHOST_S = Number(process.env.FIRST_GHOST_S || 90);
const SOURCE_BUILD = process.env.E2E_EXPECT_SOURCE_BUILD === '1';
const SETUP_ERROR = process.env.E2E_EXPECT_SETUP_ERROR === '1';
const { chromium } = createRequire(`${E2E}/pw/`)('playwright-core');
const ENTRY = `${E2E}/srv/node_modules/code-server/out/node/entry.js`;
const RUN = `${E2E}/runs/${Date.now()}`;
const WS = `${RUN}/ws`;
// The server's venv lives in the user data dir's global storage; KEEP_STORAGE reuses one between runs.
const UD = process.env.KEEP_STORAGE ? `${E2E}/ud-kept` : `${RUN}/ud`;
const EXT = `${RUN}/exts`;

// The workspace. shop.py is where the user types; series.py has a slow pure recursion that the
// optimizer's cache-pure-recursion rule makes fast, and test_series.py is its workload (by default the
// workspace's tests that import the module).
const SHOP = 'def total_price(cart):\n    return sum(item.price for item in cart)\n\n\n'
  + 'def total_weight(cart):\n    return sum(item.weight for item in cart)\n\n\ndef total_tax(cart):\n';
const SERIES = 'def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n';
const TEST_SERIES = 'from series import fib\n\n\ndef test_fib():\n    assert [fib(n) for n in (10, 18, 20)] == [55, 2584, 6765]\n';
// Typed at the end of shop.py. The default model (greedy) follows the file's pattern with a suggestion
// that is nowhere in the file, so the line below can only come from accepting it. (Found by trying the
// server: its suggestion at every prefix of the line continues to the same text, so it does not depend on
// when, while the user types, the extension asks.)
const TYPED = '    return sum(';
const SUGGESTION = 'item.tax for item in cart';
const ACCEPTED = `${TYPED}${SUGGESTION})`; // the editor auto-closed the paren; the suggestion goes inside it
// What applying the verified variant makes of series.py (the rule's minimal edit: the import, the two blank
// lines PEP 8 wants before a top-level def, and the decorator).
const SERIES_FAST = `import functools\n\n\n@functools.cache\n${SERIES}`;
const FIB_300 = '222232244629420445529739893461909967206666939096499764990979600';
if (SHOP.includes(SUGGESTION) || SHOP.includes(ACCEPTED)) throw new Error('the suggestion must not already be in the file');

fs.mkdirSync(WS, { recursive: true });
fs.mkdirSync(`${UD}/User`, { recursive: true });
fs.mkdirSync(ART, { recursive: true });
for (const f of fs.readdirSync(ART)) if (f.endsWith('.png')) fs.rmSync(`${ART}/${f}`); // no stale screenshots
fs.writeFileSync(`${WS}/shop.py`, SHOP);
fs.writeFileSync(`${WS}/series.py`, SERIES);
fs.writeFileSync(`${WS}/test_series.py`, TEST_SERIES);
// Default Slipstream settings (debounce included), except which Python (and, air-gapped, a wheel directory).
fs.writeFileSync(`${UD}/User/settings.json`, JSON.stringify({
  'workbench.startupEditor': 'none', 'security.workspace.trust.enabled': false, 'telemetry.telemetryLevel': 'off',
  'extensions.autoUpdate': false, 'extensions.autoCheckUpdates': false, 'workbench.tips.enabled': false,
  'files.autoSave': 'off', // as in desktop VS Code (code-server's default saves after a delay)
  'slipstream.pythonPath': PYTHON, ...(WHEELS ? { 'slipstream.wheelDirectory': WHEELS } : {}),
}, null, 1));

// A machine without build tools: code-server (and so the extension and every process it starts) gets a PATH
// of one folder with links to every program on this PATH except C/C++ compilers and build tools.
const COMPILER = /^(cc|c\+\+|c89|c99|cpp|gcc|g\+\+|clang|clang\+\+|cmake|ccmake|cpack|ctest|ninja|make|gmake|tcc|icx|icpx)([-.\d]*)$|gcc|g\+\+|clang|^x86_64-linux-gnu-/;
const env = { ...process.env };
if (process.env.E2E_FRESH_HOME === '1') {
  env.HOME = `${RUN}/home`;
  delete env.XDG_CACHE_HOME;
  delete env.PIP_CACHE_DIR;
  fs.mkdirSync(env.HOME, { recursive: true });
  console.log(`fresh HOME for code-server and the extension: ${env.HOME}`);
}
if (HIDE_COMPILERS) {
  const bin = `${RUN}/bin`;
  fs.mkdirSync(bin, { recursive: true });
  const hidden = new Set();
  for (const dir of (process.env.PATH || '').split(':').filter(Boolean)) {
    let names = [];
    try { names = fs.readdirSync(dir); } catch { continue; }
    for (const name of names) {
      const file = `${dir}/${name}`;
      if (COMPILER.test(name)) { hidden.add(name); continue; }
      if (fs.existsSync(`${bin}/${name}`)) continue; // the first on PATH wins, as in a lookup
      try { fs.accessSync(file, fs.constants.X_OK); if (!fs.statSync(file).isFile()) continue; } catch { continue; }
      fs.symlinkSync(file, `${bin}/${name}`);
    }
  }
  env.PATH = bin;
  delete env.CC;
  delete env.CXX;
  // code-server (like desktop VS Code) would give the extension host the PATH of a login shell instead
  // (/etc/profile puts /usr/bin back); VSCODE_CLI=1 makes it keep this environment as given.
  env.VSCODE_CLI = '1';
  const found = execFileSync('sh', ['-c', 'for t in cc c++ gcc g++ clang clang++ cmake make ninja; do command -v $t; done; true'], { env, encoding: 'utf8' }).trim();
  if (found) throw new Error(`compilers still reachable on the test PATH: ${found}`);
  console.log(`compilers hidden from the extension: PATH=${bin} (${fs.readdirSync(bin).length} programs; not linked: ${[...hidden].sort().join(' ')})`);
} else {
  console.log(`compilers visible: ${execFileSync('sh', ['-c', 'command -v cc c++ cmake; true'], { encoding: 'utf8' }).trim().split('\n').join(' ')}`);
}
fs.writeFileSync(`${RUN}/config.yaml`, 'auth: none\n'); // else code-server writes ~/.config/code-server/config.yaml

const T0 = Date.now();
const t = {};
const mark = (k) => console.log(`[${(t[k] = (Date.now() - T0) / 1000).toFixed(1)}s] ${k}`);
const freePort = () => new Promise((resolve) => { const s = net.createServer(); s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); }); });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

execFileSync(process.execPath, [ENTRY, '--config', `${RUN}/config.yaml`, '--user-data-dir', UD, '--extensions-dir', EXT,
  '--install-extension', VSIX], { stdio: 'inherit', env });
mark('vsix installed');
const PORT = await freePort();
const cs = spawn(process.execPath, [ENTRY, '--config', `${RUN}/config.yaml`, '--auth', 'none', '--bind-addr', `127.0.0.1:${PORT}`,
  '--disable-telemetry', '--disable-update-check', '--disable-workspace-trust', '--user-data-dir', UD,
  '--extensions-dir', EXT, WS], { detached: true, env, stdio: ['ignore', fs.openSync(`${RUN}/cs.log`, 'w'), 'inherit'] });

let browser;
let page;
const failures = [];
const shot = async (name) => page?.screenshot({ path: `${ART}/${name}.png` }).catch(() => {});
class Failure extends Error {}
const fail = async (name, message) => { await shot(name); throw new Failure(message); };
const log = (msg) => console.log(`  [${((Date.now() - T0) / 1000).toFixed(2)}s] ${msg}`);

// Poll ``probe`` until it returns something truthy, for at most ``ms`` (bounded waits: the machine may be loaded).
const until = async (ms, probe, every = 250) => {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > end) return null;
    await sleep(every);
  }
};
// Each scenario runs even when an earlier one failed; the run passes only if all of them do.
const scenario = async (name, fn) => {
  try {
    await fn();
    mark(`PASS ${name}`);
  } catch (e) {
    failures.push(`${name}: ${e.message}`);
    console.error(`FAIL ${name}: ${e.message}`);
    if (!(e instanceof Failure)) await shot(`error-${name}`);
    await page?.keyboard.press('Escape').catch(() => {});
  }
};

try {
  while ((await fetch(`http://127.0.0.1:${PORT}/`, { redirect: 'manual' }).catch(() => ({}))).status !== 302) {
    if (Date.now() - T0 > 60000) throw new Error('code-server did not start');
    await sleep(100);
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

  // The active editor's lines, in order, with or without the ghost text rendered in them.
  const lines = (ghost) => page.evaluate((ghost) => {
    const v = document.querySelector('.editor-group-container .editor-instance .view-lines')?.cloneNode(true);
    if (!v) return [];
    if (!ghost) v.querySelectorAll('[class*="ghost-text"]').forEach((e) => e.remove());
    return [...v.querySelectorAll('.view-line')]
      .sort((a, b) => parseFloat(a.style.top) - parseFloat(b.style.top))
      .map((l) => l.textContent.replace(/\u00a0/g, ' '));
  }, ghost);
  const lastLine = async () => (await lines(false)).at(-1);
  const ghostText = () => page.evaluate(() => [...document.querySelectorAll('.editor-group-container .view-lines [class*="ghost-text"]')]
    .map((e) => e.textContent).join('').replace(/\u00a0/g, ' '));
  const open = async (name) => {
    await page.locator('.explorer-folders-view .monaco-list-row', { hasText: name }).first().dblclick();
    await page.waitForFunction((name) => document.querySelector('.tab.active')?.textContent.includes(name), name);
    await page.waitForTimeout(300);
  };
  const toasts = () => page.evaluate(() => [...document.querySelectorAll('.notifications-toasts .notification-toast .notification-list-item-message')]
    .map((e) => e.textContent.replace(/\u00a0/g, ' ')));
  const readFile = (name) => fs.readFileSync(`${WS}/${name}`, 'utf8');
  // Save with Ctrl+S and wait (10 s at most) for the file on disk to change from ``before``.
  const save = async (name, before) => {
    await page.keyboard.press('Control+S');
    return (await until(10000, () => readFile(name) !== before, 100)) ? readFile(name) : before;
  };
  // Typing like a person: one key at a time, with uneven gaps (deterministic, 80–170 ms).
  const GAPS = [110, 85, 140, 95, 120, 170, 90, 130, 80, 150];
  const typeLikeAUser = async (text) => {
    for (let i = 0; i < text.length; i++) {
      await page.keyboard.type(text[i]);
      await page.waitForTimeout(GAPS[i % GAPS.length]);
    }
  };
  const status = page.locator('[id="slipstream.slipstream.slipstream.status"], .statusbar-item', { hasText: 'Slipstream' }).first();
  const statusText = async () => ((await status.textContent({ timeout: 1000 }).catch(() => '')) || '').trim();
  const generating = async () => /spin/.test(await status.innerHTML({ timeout: 1000 }).catch(() => ''));
  // After typing, press nothing: wait (45 s at most: the first request after a (re)start evaluates the whole
  // prompt; the machine may be loaded) for ghost text to appear by itself, then for it to settle: the same
  // text for 1.5 s with the status bar no longer generating.
  const ghostBySelf = async () => {
    let last = '';
    let since = Date.now();
    const settled = await until(45000, async () => {
      const g = await ghostText();
      if (g !== last) { last = g; since = Date.now(); log(`ghost text: ${JSON.stringify(g)}`); }
      if (g.trim() && t['first ghost text'] === undefined) mark('first ghost text');
      return g.trim() && Date.now() - since >= 1500 && !(await generating()) ? g : null;
    }, 200);
    return { settled, last };
  };

  await open('shop.py');
  await page.waitForFunction(() => document.querySelector('.editor-instance .view-lines')?.textContent.includes('total_price'));
  mark('shop.py open');
  // No fitting prebuilt wheel and no compiler: an error at once (not minutes into a failing build) that says
  // what to install, shown as a notification and in the status bar; no environment was created.
  if (SETUP_ERROR) await scenario('no-compiler-error', async () => {
    const s = await until(60000, async () => { const v = await statusText(); return /error/i.test(v) ? v : null; }, 250);
    if (!s) await fail('0-no-error', `no error in the status bar within 60 s: ${await statusText()}`);
    const message = await until(10000, async () => (await toasts()).find((m) => /could not set up its server/.test(m)), 250);
    await shot('0-setup-error');
    if (!message) await fail('0-no-message', `no error notification: ${JSON.stringify(await toasts())}`);
    for (const want of [/no prebuilt llama-cpp-python for linux-x64/, /needs a C compiler \(cc, gcc or clang\) and a C\+\+ compiler/, /build-essential/, /slipstream\.wheelDirectory/]) {
      if (!want.test(message)) await fail('0-unclear', `the message lacks ${want}: ${message}`);
    }
    if (fs.existsSync(`${UD}/User/globalStorage/slipstream.slipstream/venv`)) await fail('0-venv', 'a server environment was created anyway');
    console.log('error notification:', JSON.stringify(message));
    mark('setup error shown, nothing created');
  });
  // The status bar says when the server is set up and the model is loaded (first run: the venv is created).
  while (!SETUP_ERROR) {
    const s = await statusText();
    if (/gemma/i.test(s)) break;
    if (/error/i.test(s)) await fail('status-error', `status bar: ${s}`);
    if (Date.now() - T0 > (SOURCE_BUILD ? 1800000 : 480000)) await fail('status-timeout', `server not ready: ${s}`);
    await page.waitForTimeout(500);
  }
  if (!SETUP_ERROR) mark(`status bar ready: ${await statusText()}`);
  if (!SETUP_ERROR) await shot('1-ready');

  // ---- 1. Typing: ghost text without any trigger, accepted with Tab, the exact line. ---------------------------
  if (!SETUP_ERROR) await scenario('typing', async () => {
    await page.locator('.editor-group-container .view-lines').click();
    await page.keyboard.press('Control+End');
    await typeLikeAUser(TYPED);
    mark(`typed ${JSON.stringify(TYPED)}`);
    const typedLine = `${TYPED})`; // the editor closed the paren after the cursor
    const { settled, last } = await ghostBySelf();
    if (!settled) await fail('2-no-ghost', `no ghost text settled by itself within 45 s of typing ${JSON.stringify(TYPED)} (last seen: ${JSON.stringify(last)})`);
    mark(`ghost text appeared without a trigger: ${JSON.stringify(settled)}`);
    console.log('line with ghost text:', JSON.stringify((await lines(true)).at(-1)));
    await shot('2-ghost');
    const before = await lastLine();
    if (before !== typedLine) await fail('2-unexpected', `before Tab the line is ${JSON.stringify(before)}, not ${JSON.stringify(typedLine)}`);
    if (settled !== SUGGESTION) {
      const why = SUGGESTION.startsWith(settled) ? ' (a prefix of it: the editor kept showing an early streamed part)' : '';
      await fail('2-wrong-ghost', `the ghost text is ${JSON.stringify(settled)}, not the model's suggestion ${JSON.stringify(SUGGESTION)}${why}`);
    }
    await page.keyboard.press('Tab');
    const accepted = await until(5000, async () => { const l = await lastLine(); return l !== typedLine && l; }, 100);
    await shot('3-accepted');
    if (accepted !== ACCEPTED) await fail('3-wrong-line', `after Tab the line is ${JSON.stringify(accepted)}, not ${JSON.stringify(ACCEPTED)}`);
    mark(`accepted with Tab: ${JSON.stringify(accepted)}`);
    const saved = await save('shop.py', SHOP);
    if (saved !== `${SHOP}${ACCEPTED}`) await fail('3-wrong-file', `shop.py after Tab and save: ${JSON.stringify(saved)}`);
    mark('saved: shop.py is the file plus the accepted line');
  });

  // ---- 0. First start: from the bundled wheels (no build), ghost text within FIRST_GHOST_S of the install. ----
  // (Not with KEEP_STORAGE: that reuses an environment set up before.)
  if (!process.env.KEEP_STORAGE && !SETUP_ERROR) await scenario('first-start', async () => {
    const logs = [];
    const walk = (dir) => { for (const e of fs.readdirSync(dir, { withFileTypes: true })) { if (e.isDirectory()) walk(`${dir}/${e.name}`); else if (e.name === 'Slipstream.log') logs.push(`${dir}/${e.name}`); } };
    walk(`${UD}/logs`);
    const text = logs.map((f) => fs.readFileSync(f, 'utf8')).join('\n');
    if (!text) await fail('0-no-log', `no Slipstream log under ${UD}/logs`);
    const line = (re) => text.split('\n').find((l) => re.test(l))?.replace(/^\S+ \S+ /, '') ?? '(none)';
    console.log('extension saw:', line(/compilers on PATH:/));
    console.log('extension chose:', line(/llama-cpp-python: /));
    console.log('engine loaded:', line(/load_backend: loaded CPU backend/), '|', line(/^\S+ \S+ \[info\] llama-cpp-python \d/));
    if (HIDE_COMPILERS && !/compilers on PATH: cc=none c\+\+=none cmake=none/.test(text)) await fail('0-compilers-seen', `the extension found compilers: ${line(/compilers on PATH:/)}`);
    if (SOURCE_BUILD) {
      if (!/Building wheel for llama/i.test(text)) await fail('0-no-build', 'expected a source build of llama-cpp-python');
    } else {
      // Air-gapped (WHEEL_DIR): a llama-cpp-python wheel in the wheel directory is the user's choice and wins.
      const prebuilt = WHEELS ? /llama-cpp-python: (the bundled prebuilt llama-cpp-python|llama-cpp-python \S+ from the wheel directory)/ : /llama-cpp-python: the bundled prebuilt llama-cpp-python/;
      if (!prebuilt.test(text)) await fail('0-not-prebuilt', `not installed from a prebuilt wheel: ${line(/llama-cpp-python: /)}`);
      if (/Building wheel for llama/i.test(text)) await fail('0-built', 'llama-cpp-python was built from source');
      const first = t['first ghost text'];
      if (first === undefined) await fail('0-no-ghost', 'no ghost text at all');
      if (first > FIRST_GHOST_S) await fail('0-slow', `the first ghost text came ${first.toFixed(1)} s after the install command, over ${FIRST_GHOST_S} s`);
    }
    mark(`first start: ghost text ${t['first ghost text']?.toFixed(1)} s after the install command (bound ${SOURCE_BUILD ? 'none: source build' : `${FIRST_GHOST_S} s`}; compilers ${HIDE_COMPILERS ? 'hidden' : 'visible'})`);
  });

  // ---- 2. "Optimize this function" from the lightbulb, then the verified variant it offers, applied. ---------
  if (!SETUP_ERROR) await scenario('optimize', async () => {
    await open('series.py');
    // Click into a line, then give the editor time to ask for code actions there (it waits 250 ms after a
    // cursor move; a lightbulb clicked before the answer shows actions that the answer then disposes: VS Code
    // reports "Actual command not found"). A person takes longer than this 1 s to reach the lightbulb.
    const clickLine = async (text) => {
      await page.locator('.editor-group-container .view-lines .view-line', { hasText: text }).first().click();
      await page.waitForTimeout(1000);
    };
    // The lightbulb: in the gutter (a glyph margin decoration) when there is room, else a content widget.
    const lightbulb = page.locator('.editor-group-container').locator('.lightBulbWidget, [class*="codicon-light-bulb"], [class*="codicon-lightbulb"]')
      .filter({ visible: true }).first();
    const menu = page.locator('.action-widget');
    const menuRows = () => menu.locator('.monaco-list-row').allTextContents().catch(() => []);
    // Like a user: move the mouse onto the row, then click (the menu's pointer block goes on the first move).
    const clickMenuItem = async (text) => {
      const box = await menu.locator('.monaco-list-row', { hasText: text }).first().boundingBox();
      await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2, { steps: 5 });
      await page.waitForTimeout(200);
      await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
    };
    // Click the lightbulb (it shows where the cursor is once the server answered textDocument/codeAction)
    // and return the menu's titles; null when there is no lightbulb or menu within 10 s.
    const lightbulbMenu = async () => {
      if (!(await lightbulb.waitFor({ state: 'visible', timeout: 10000 }).then(() => true, () => false))) return null;
      await lightbulb.click();
      if (!(await menu.waitFor({ state: 'visible', timeout: 5000 }).then(() => true, () => false))) return null;
      await page.waitForTimeout(300);
      return menuRows();
    };
    await clickLine('return n if n < 2');
    const first = await lightbulbMenu();
    if (!first) {
      const found = await page.evaluate(() => [...document.querySelectorAll('[class*="ight"]')].filter((e) => /light.?bulb/i.test(e.className)).map((e) => e.outerHTML.slice(0, 200)));
      await fail('4-no-lightbulb', `no lightbulb (or no menu) with the cursor inside fib: ${JSON.stringify(found)}`);
    }
    console.log('lightbulb actions:', JSON.stringify(first));
    await shot('4-lightbulb-optimize');
    if (!first.some((t) => t.includes('Optimize this function'))) await fail('4-no-optimize', `the lightbulb menu has no "Optimize this function": ${JSON.stringify(first)}`);
    await clickMenuItem('Optimize this function');
    mark('clicked "Optimize this function" in the lightbulb');
    // The optimizer runs the workspace's tests, captures fib's inputs, checks and times variants in its
    // sandbox: 5–20 s here, more on a loaded machine. Bounded wait: 180 s.
    await page.waitForTimeout(2000);
    await shot('5-optimizing');
    const message = await until(180000, async () => (await toasts()).find((s) => /Slipstream: .*(faster|no faster variant)/.test(s)), 500);
    await shot('6-optimized-message');
    if (!message) await fail('6-optimize-timeout', `no result message within 180 s: ${JSON.stringify(await toasts())}`);
    if (/no faster variant/.test(message)) {
      // The default workload is the workspace's tests, run with pytest in the server's own environment.
      let pytest = '';
      try { execFileSync(`${UD}/User/globalStorage/slipstream.slipstream/venv/bin/python`, ['-c', 'import pytest'], { stdio: 'ignore' }); } catch {
        pytest = ' (the server environment the extension set up has no pytest, which running the workspace\'s tests needs)';
      }
      await fail('6-no-variant', `the optimizer found no variant: ${message}${pytest}`);
    }
    mark(`message: ${JSON.stringify(message)}`);
    // Back into the function, as a user would: the lightbulb now offers the variant (a few tries, 30 s at most:
    // the editor asks for code actions again when the cursor moves).
    let titles = null;
    const offered = await until(30000, async () => {
      await page.keyboard.press('Escape');
      await clickLine('def fib(n)');
      await clickLine('return n if n < 2');
      titles = await lightbulbMenu();
      return titles?.find((t) => t.includes('Apply faster variant'));
    }, 500);
    console.log('lightbulb actions:', JSON.stringify(titles));
    await shot('7-lightbulb-variant');
    if (!offered) await fail('7-no-variant-action', `the lightbulb does not offer "Apply faster variant": ${JSON.stringify(titles)}`);
    // optimizer/pipeline.py title_for: the speedup (and at grown sizes), a memory change, where the inputs came from.
    const speed = String.raw`[\d.]+× (?:faster|on your tests' inputs(?:, [\d.]+× at \d+× size)+)(?:, [−+]\d+ % memory)?`;
    const kinds = String.raw`(?:: \d+ captured(?:, \d+ from type hints)?(?:, \d+ derived)?)?(?: \+ \d+ grown)?`;
    const title = new RegExp(String.raw`^Apply faster variant — ${speed} \(verified on \d+ inputs${kinds}\)$`);
    if (!title.test(offered.trim())) await fail('7-variant-title', `unexpected title ${JSON.stringify(offered)}`);
    mark(`lightbulb offers ${JSON.stringify(offered.trim())}`);
    const modelVariants = titles.filter((t) => t.includes('Apply model variant'));
    if (modelVariants.length) console.log('model variants offered too (applied only after a preview; not applied here):', JSON.stringify(modelVariants));
    await clickMenuItem('Apply faster variant');
    // A rule variant is proven equivalent: it applies directly, with no refactor preview to confirm.
    const applied = await until(10000, async () => (await lines(false)).join('\n').includes('@functools.cache'), 200);
    await shot('8-variant-applied');
    if (!applied) await fail('8-not-applied', `the variant was not applied: ${JSON.stringify(await lines(false))}`);
    if (await page.locator('.refactor-preview, [id="workbench.view.bulkEdit"]').first().isVisible().catch(() => false)) {
      await fail('8-preview', 'a rule variant opened the refactor preview');
    }
    const saved = await save('series.py', SERIES);
    if (saved !== SERIES_FAST) await fail('8-wrong-file', `series.py after applying and saving: ${JSON.stringify(saved)}`);
    // And it is the fast one: fib(300) the naive way would not finish in this lifetime.
    const value = execFileSync(PYTHON, ['-c', 'from series import fib; print(fib(300))'], { cwd: WS, encoding: 'utf8', timeout: 20000 }).trim();
    if (value !== FIB_300) await fail('8-wrong-value', `fib(300) = ${value}`);
    mark('saved: series.py is fib with @functools.cache (fib(300) at once)');
  });

  // ---- 3. Crash: kill the server; the extension restarts it and ghost text comes back by itself. -------------
  if (!SETUP_ERROR) await scenario('crash-restart', async () => {
    await open('shop.py');
    const pattern = `${UD}.*-m slipstream.server`;
    const pids = () => { try { return execFileSync('pgrep', ['-f', pattern], { encoding: 'utf8' }).trim().split('\n').filter(Boolean); } catch { return []; } };
    const old = pids();
    if (!old.length) await fail('9-no-server', 'no server process found to kill');
    execFileSync('kill', ['-KILL', ...old]);
    mark(`server killed (pid ${old.join(',')})`);
    const notified = await until(60000, async () => (await toasts()).some((s) => /server stopped; restarting/.test(s)), 250);
    await shot('9-restart-notification');
    if (!notified) await fail('9-no-restart-notification', `no restart notification within 60 s: ${JSON.stringify(await toasts())}`);
    mark('restart notification shown');
    const back = await until(120000, async () => {
      const now = pids().filter((p) => !old.includes(p));
      const s = await statusText();
      return now.length && /gemma/i.test(s) ? `pid ${now.join(',')}: ${s}` : null;
    }, 300);
    if (!back) await fail('9-restart-timeout', `the server did not come back within 120 s: ${await statusText()}`);
    mark(`server back (${back})`);
    // A new function at the end of the file: two blank lines, its header, then its body (the editor indents it).
    await page.locator('.editor-group-container .view-lines').click();
    await page.keyboard.press('Control+End');
    for (let i = 0; i < 3; i++) await page.keyboard.press('Enter');
    for (let i = 0; i < 8 && (await lastLine()); i++) await page.keyboard.press('Backspace'); // the auto-indent
    await typeLikeAUser('def total_cost(cart):\n');
    await typeLikeAUser('return sum(');
    const line = await lastLine();
    if (line !== '    return sum()') await fail('10-unexpected', `the typed line is ${JSON.stringify(line)}`);
    const { settled, last } = await ghostBySelf();
    await shot('10-ghost-after-restart');
    if (!settled) await fail('10-no-ghost-after-restart', `no ghost text settled by itself after the restart (last seen: ${JSON.stringify(last)})`);
    mark(`ghost text after restart, without a trigger: ${JSON.stringify(settled)}`);
  });
} catch (e) {
  failures.push(e.message);
  console.error('ERROR', e.message);
  await shot('error');
} finally {
  await browser?.close().catch(() => {});
  try { process.kill(-cs.pid, 'SIGTERM'); } catch {}
  // The run's private server environment is about 500 MB: drop it, keep the logs and the workspace.
  if (!process.env.KEEP_STORAGE) fs.rmSync(`${UD}/User/globalStorage/slipstream.slipstream/venv`, { recursive: true, force: true });
  if (env.HOME !== process.env.HOME) fs.rmSync(env.HOME, { recursive: true, force: true }); // a pip cache and the model: ~0.5 GB
  const ok = failures.length === 0;
  console.log(ok ? 'E2E PASS' : `E2E FAIL (${failures.length}):\n  ${failures.join('\n  ')}`);
  console.log(JSON.stringify(t), RUN);
  fs.writeFileSync(`${ART}/timings.json`, JSON.stringify({ ok, failures, run: RUN, compilers: HIDE_COMPILERS ? 'hidden' : 'visible', freshHome: env.HOME !== process.env.HOME, seconds: t }, null, 1));
  process.exit(ok ? 0 : 1);
}
