import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatSize, isCurrent, modelPicks, pickOutcome } from '../src/models';
import type { ModelEntry } from '../src/protocol';

const entry = (over: Partial<ModelEntry>): ModelEntry => ({
  name: 'm',
  path: '/m.gguf',
  source: 'folder',
  size: 1024,
  quantization: 'Q4_K_M',
  architecture: 'llama',
  context_length: 4096,
  fim: false,
  error: null,
  ...over,
});

const bundled = entry({ name: 'bundled default (gemma-3-270m-q4_k_m.gguf)', path: '/cache/gemma.gguf', source: 'default', size: 253113024 });
const qwen = entry({ name: 'qwen2.5-coder:1.5b', path: '/ollama/blobs/sha256-ab', source: 'ollama', size: 986061632, fim: true });
const hub = entry({ name: 'Qwen/Qwen2.5-Coder-0.5B-GGUF/q8.gguf', path: '/hub/q8.gguf', source: 'huggingface', quantization: null });
const broken = entry({ name: 'half.gguf', path: '/dl/half.gguf', size: 0, quantization: null, error: 'truncated: the file has 10 bytes' });

test('sizes read like the command line table', () => {
  for (const [bytes, text] of [
    [0, '0 B'],
    [1023, '1023 B'],
    [1536, '1.5 KiB'],
    [113696, '111 KiB'],
    [253113024, '241 MiB'],
    [4683073536, '4.4 GiB'],
    [16 * 1024 ** 4, '16 TiB'],
  ] as const) {
    assert.equal(formatSize(bytes), text);
  }
});

test('the current model: an empty modelPath is the bundled default', () => {
  for (const [m, current, expected] of [
    [bundled, '', true],
    [bundled, '  ', true],
    [bundled, '/cache/gemma.gguf', true],
    [bundled, '/other.gguf', false],
    [qwen, '/ollama/blobs/sha256-ab', true],
    [qwen, '', false],
    [entry({ source: 'default', path: '' }), '/x.gguf', false],
  ] as const) {
    assert.equal(isCurrent(m, current), expected, `${m.name} with ${JSON.stringify(current)}`);
  }
});

test('the pick list: default first, models with size, quantization, FIM and source, broken ones after, then Browse', () => {
  const picks = modelPicks([broken, bundled, qwen, hub], '/ollama/blobs/sha256-ab');
  assert.deepEqual(
    picks.map((p) => p.label),
    ['bundled default (gemma-3-270m-q4_k_m.gguf)', '$(check) qwen2.5-coder:1.5b', 'Qwen/Qwen2.5-Coder-0.5B-GGUF/q8.gguf', '$(warning) half.gguf', '$(folder-opened) Browse for a GGUF file…'],
  );
  assert.equal(picks[0].description, '241 MiB · Q4_K_M · FIM no · bundled');
  assert.equal(picks[0].modelPath, '', 'picking the bundled default clears modelPath');
  assert.equal(picks[1].description, '940 MiB · Q4_K_M · FIM yes · Ollama · current');
  assert.equal(picks[1].modelPath, '/ollama/blobs/sha256-ab');
  assert.equal(picks[1].detail, '/ollama/blobs/sha256-ab');
  assert.equal(picks[2].description, '1.0 KiB · unknown quantization · FIM no · Hugging Face');
  assert.equal(picks[3].modelPath, undefined, 'a broken model is not set');
  assert.equal(picks[3].detail, 'truncated: the file has 10 bytes');
  assert.equal(picks[3].description, 'folder · cannot be used');
});

test('the bundled default is offered even when the server listed nothing (not running, or an older server)', () => {
  const picks = modelPicks([], '');
  assert.equal(picks.length, 2);
  assert.deepEqual(picks[0], { label: '$(check) Bundled default (Gemma 3 270M)', description: 'bundled · current', modelPath: '' });
  assert.equal(modelPicks([], '/x.gguf')[0].label, 'Bundled default (Gemma 3 270M)');
  assert.ok(picks[1].browse);
});

test('what a pick does: set the path, browse, or explain why not', () => {
  const [def, q, , bad, browse] = modelPicks([bundled, qwen, hub, broken], '');
  assert.deepEqual(pickOutcome(def), { kind: 'set', modelPath: '' });
  assert.deepEqual(pickOutcome(q), { kind: 'set', modelPath: '/ollama/blobs/sha256-ab' });
  assert.deepEqual(pickOutcome(browse), { kind: 'browse' });
  assert.deepEqual(pickOutcome(bad), { kind: 'explain', message: 'Slipstream: half.gguf cannot be used: truncated: the file has 10 bytes' });
});
