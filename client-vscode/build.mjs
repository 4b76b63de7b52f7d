// Bundles the extension with esbuild; --tests bundles the unit tests; --wheel builds the server wheel into dist/wheels.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.dirname(here);
const args = new Set(process.argv.slice(2));

await esbuild.build({
  entryPoints: [path.join(here, 'src/extension.ts')],
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  external: ['vscode'],
  outfile: path.join(here, 'dist/extension.js'),
  sourcemap: false,
  minify: true,
  logLevel: 'warning',
});

if (args.has('--tests')) {
  const tests = fs.readdirSync(path.join(here, 'test')).filter((f) => f.endsWith('.test.ts'));
  await esbuild.build({
    entryPoints: tests.map((f) => path.join(here, 'test', f)),
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    outdir: path.join(here, 'dist/test'),
    logLevel: 'warning',
  });
}

if (args.has('--wheel')) {
  const out = path.join(here, 'dist/wheels');
  fs.rmSync(out, { recursive: true, force: true });
  const python = fs.existsSync(path.join(root, '.venv/bin/python')) ? path.join(root, '.venv/bin/python') : 'python3';
  execFileSync(python, ['-m', 'pip', 'wheel', '--no-deps', '-q', '-w', out, root], { stdio: 'inherit' });
  console.log('server wheel:', fs.readdirSync(out).join(', '));
  fs.mkdirSync(path.join(root, 'dist'), { recursive: true });
}
