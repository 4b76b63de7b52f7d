import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  chooseInterpreter,
  debounceFor,
  flightKey,
  KeystrokeClock,
  pythonVersionOk,
  RestartBudget,
  StreamState,
  typedAlong,
  venvPython,
} from '../src/logic';

test('interpreter: setting, then the Python extension, then python3', () => {
  assert.deepEqual(chooseInterpreter(' /opt/py/bin/python3 ', '/ext/python'), { path: '/opt/py/bin/python3', source: 'setting' });
  assert.deepEqual(chooseInterpreter('', '/ext/python'), { path: '/ext/python', source: 'python-extension' });
  assert.deepEqual(chooseInterpreter(undefined, undefined), { path: 'python3', source: 'default' });
  assert.deepEqual(chooseInterpreter('  ', ''), { path: 'python3', source: 'default' });
});

test('venv layout', () => {
  assert.equal(venvPython('/s/venv', 'linux'), '/s/venv/bin/python');
  assert.equal(venvPython('C:\\s\\venv', 'win32'), 'C:\\s\\venv\\Scripts\\python.exe');
});

test('python version check', () => {
  assert.ok(pythonVersionOk('3.11'));
  assert.ok(pythonVersionOk('3.10.4'));
  assert.ok(!pythonVersionOk('3.9'));
  assert.ok(!pythonVersionOk('2.7'));
  assert.ok(!pythonVersionOk('garbage'));
});

test('partials merge for the flight and stale ones are never shown', () => {
  const s = new StreamState();
  const key = flightKey('file:///a.py', 3, 1, 4);
  s.start(key);
  assert.equal(s.shown(key), undefined, 'nothing before the first partial');
  const base = { uri: 'file:///a.py', version: 3, position: { line: 1, character: 4 }, requestId: 7, done: false };
  assert.equal(s.apply({ ...base, text: 'ret' }), 'update');
  assert.equal(s.shown(key), 'ret');
  assert.equal(s.apply({ ...base, text: 'return x' }), 'update');
  assert.equal(s.shown(key), 'return x');
  // An older version's partial (arriving late) is stale.
  assert.equal(s.apply({ ...base, version: 2, text: 'WRONG' }), 'stale');
  // Another position is stale too.
  assert.equal(s.apply({ ...base, position: { line: 1, character: 5 }, text: 'WRONG' }), 'stale');
  assert.equal(s.shown(key), 'return x');
  assert.equal(s.shown(flightKey('file:///a.py', 4, 1, 4)), undefined, 'a newer version shows nothing from the old flight');
  s.apply({ ...base, text: 'return x + 1', done: true });
  assert.ok(s.done);
  s.start(flightKey('file:///a.py', 4, 1, 5));
  assert.equal(s.shown(key), undefined);
});

test('listeners wake on updates', () => {
  const s = new StreamState();
  let n = 0;
  const off = s.onChange(() => n++);
  s.start('k');
  s.finish('k', 'x');
  s.finish('other', 'y');
  off();
  s.start('k2');
  assert.equal(n, 2);
  assert.equal(s.text, '');
});

test('debounce: explicit triggers are immediate', () => {
  assert.equal(debounceFor(true, 300), 0);
  assert.equal(debounceFor(false, 300), 300);
  assert.equal(debounceFor(false, 99999), 2000);
  assert.equal(debounceFor(false, NaN), 75);
});

test('restart budget is bounded in a window', () => {
  const b = new RestartBudget(3, 1000);
  assert.ok(b.allow(0) && b.allow(10) && b.allow(20));
  assert.ok(!b.allow(30));
  assert.ok(b.allow(1500), 'the window slides');
});

test('adaptive debounce follows the typing rhythm within the setting', () => {
  const c = new KeystrokeClock();
  assert.equal(c.debounce(150), 150, 'the setting until enough keys were seen');
  for (const t of [0, 80, 160, 250, 330, 420]) c.key(t);
  const d = c.debounce(150);
  assert.ok(d >= 80 && d <= 90, `about the usual gap, got ${d}`);
  assert.equal(c.debounce(50), 50, 'never longer than the setting');
  const slow = new KeystrokeClock();
  for (const t of [0, 400, 800, 1200, 1600, 2000]) slow.key(t);
  assert.equal(slow.debounce(300), 300);
  const fast = new KeystrokeClock();
  for (const t of [0, 10, 20, 30, 40, 50]) fast.key(t);
  assert.equal(fast.debounce(150), 25, 'a floor for key repeat');
});

test('typing along the ghost text skips the debounce', () => {
  assert.ok(typedAlong('    x = ', 'compute(a)', '    x = com'));
  assert.ok(!typedAlong('    x = ', 'compute(a)', '    x = '), 'nothing typed yet');
  assert.ok(!typedAlong('    x = ', 'compute(a)', '    x = q'));
  assert.ok(!typedAlong('    x = ', '', '    x = c'));
  assert.ok(!typedAlong('    y = ', 'compute(a)', '    x = com'));
});
