import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { SECRET_KEY_ENV, modelLabel, serverSettings } from '../src/logic';
import {
  CLIENT_ONLY_SETTINGS,
  ClientCommands,
  COMMANDS,
  GetStatusRequest,
  GET_STATUS,
  INLINE_SUGGEST_TRIGGER,
  NOTIFICATIONS,
  PARTIAL,
  PartialNotification,
  REQUESTS,
  SECTION,
  SettingKeys,
  STATS,
  StatsRequest,
  STATUS,
  StatusNotification,
} from '../src/protocol';

// Bundled to client-vscode/dist/test/: the repository root is three levels up.
const pkg = JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../../package.json'), 'utf8'));
const properties: Record<string, { default: unknown }> = pkg.contributes.configuration.properties;

test('typed messages carry the declared method names', () => {
  assert.equal(PartialNotification.method, PARTIAL);
  assert.equal(StatusNotification.method, STATUS);
  assert.equal(GetStatusRequest.method, GET_STATUS);
  assert.equal(StatsRequest.method, STATS);
  const all = [...NOTIFICATIONS, ...REQUESTS, ...COMMANDS];
  assert.equal(new Set(all).size, all.length);
});

test("package.json's commands are the client's commands", () => {
  const contributed = pkg.contributes.commands.map((c: { command: string }) => c.command).sort();
  assert.deepEqual(contributed, Object.values(ClientCommands).sort());
  assert.ok(pkg.contributes.keybindings.some((k: { command: string }) => k.command === INLINE_SUGGEST_TRIGGER));
});

test('the settings the client reads are in package.json', () => {
  for (const key of [...Object.values(SettingKeys), ...CLIENT_ONLY_SETTINGS]) assert.ok(`${SECTION}.${key}` in properties, key);
});

test('the server gets the whole section, nested as VS Code gives it, with the extension storage by default', () => {
  const section = { enable: true, maxTokens: 64, threads: null, storagePath: '', debounceMs: 150, optimizer: { enabled: false, timeLimit: 30 } };
  assert.deepEqual(serverSettings(section, '/ext/storage'), { slipstream: { ...section, storagePath: '/ext/storage' } });
  assert.equal(serverSettings({ storagePath: ' /mine ' }, '/ext/storage').slipstream.storagePath, '/mine');
  assert.deepEqual(serverSettings(undefined, '/s'), { slipstream: { storagePath: '/s' } });
  assert.deepEqual(serverSettings([1], '/s'), { slipstream: { storagePath: '/s' } });
  // A key kept in SecretStorage travels in the server's environment, named here unless the user named another.
  assert.equal(serverSettings({}, '/s', true).slipstream.apiKeyEnv, SECRET_KEY_ENV);
  assert.equal(serverSettings({ apiKeyEnv: 'TEAM_KEY' }, '/s', true).slipstream.apiKeyEnv, 'TEAM_KEY');
  assert.equal(serverSettings({ apiKeyEnv: '' }, '/s', false).slipstream.apiKeyEnv, '');
  assert.equal(modelLabel({ name: 'gemma.gguf' }), 'gemma');
  assert.equal(modelLabel({ name: 'qwen', engine: 'llamacpp', endpoint: 'gpu:8012' }), 'qwen @ gpu:8012');
  assert.equal(modelLabel(null), '');
  // a copy: the server's settings never alias VS Code's (frozen) configuration objects
  const sent = serverSettings(section, '/s').slipstream;
  assert.notEqual(sent.optimizer, section.optimizer);
});
