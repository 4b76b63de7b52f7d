import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  buildProgress,
  findCompilers,
  findOnPath,
  parseWheelName,
  pipInstallArgs,
  planLlama,
  rebuildFromSourceArgs,
  type Target,
  wheelFits,
} from '../src/install';

// The wheel the linux-x64 .vsix bundles (scripts/build-llama-wheel.sh) and the server wheel next to it.
const BUNDLED_DIR = '/ext/client-vscode/dist/wheels';
const LLAMA = `${BUNDLED_DIR}/llama_cpp_python-0.3.36+cpuvariants-py3-none-linux_x86_64.whl`;
const SERVER = `${BUNDLED_DIR}/slipstream-0.1.0-py3-none-any.whl`;
const LINUX: Target = { platform: 'linux', arch: 'x64', python: '3.11' };
const GCC = { cc: '/usr/bin/cc', cxx: '/usr/bin/c++', cmake: '/usr/bin/cmake' };
const NONE = {};

test('wheel names', () => {
  assert.deepEqual(parseWheelName(LLAMA), {
    file: LLAMA, name: 'llama_cpp_python', version: '0.3.36+cpuvariants', python: ['py3'], abi: ['none'], platform: ['linux_x86_64'],
  });
  assert.equal(parseWheelName('/w/Llama_Cpp.Python-0.3.1-1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl')?.name, 'llama_cpp_python');
  assert.deepEqual(parseWheelName('x-1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl')?.platform, ['manylinux_2_17_x86_64', 'manylinux2014_x86_64']);
  for (const bad of ['llama_cpp_python-0.3.36.tar.gz', 'a-b-c.whl', 'README.md']) assert.equal(parseWheelName(bad), undefined, bad);
});

test('does a wheel fit the platform and Python?', () => {
  const table: Array<[string, Target, boolean]> = [
    ['x-1-py3-none-linux_x86_64.whl', LINUX, true],
    ['x-1-py3-none-linux_x86_64.whl', { ...LINUX, python: '3.13' }, true],
    ['x-1-py3-none-linux_x86_64.whl', { ...LINUX, arch: 'arm64' }, false],
    ['x-1-py3-none-linux_x86_64.whl', { platform: 'darwin', arch: 'arm64', python: '3.11' }, false],
    ['x-1-py3-none-linux_x86_64.whl', { platform: 'win32', arch: 'x64', python: '3.11' }, false],
    ['x-1-py2-none-linux_x86_64.whl', LINUX, false],
    ['x-1-cp311-cp311-manylinux_2_17_x86_64.whl', LINUX, true],
    ['x-1-cp311-cp311-manylinux_2_17_x86_64.whl', { ...LINUX, python: '3.12' }, false],
    ['x-1-cp310-abi3-manylinux2014_x86_64.whl', { ...LINUX, python: '3.12' }, true],
    ['x-1-cp312-abi3-manylinux2014_x86_64.whl', LINUX, false],
    ['x-1-cp311-cp311-musllinux_1_2_x86_64.whl', LINUX, false],
    ['x-1-cp311-cp311-manylinux_2_17_aarch64.whl', { ...LINUX, arch: 'arm64' }, true],
    ['x-1-py3-none-macosx_11_0_arm64.whl', { platform: 'darwin', arch: 'arm64', python: '3.12' }, true],
    ['x-1-py3-none-macosx_10_9_universal2.whl', { platform: 'darwin', arch: 'x64', python: '3.12' }, true],
    ['x-1-py3-none-macosx_11_0_arm64.whl', { platform: 'darwin', arch: 'x64', python: '3.12' }, false],
    ['x-1-py3-none-win_amd64.whl', { platform: 'win32', arch: 'x64', python: '3.11' }, true],
    ['x-1-py3-none-win_amd64.whl', { platform: 'win32', arch: 'arm64', python: '3.11' }, false],
    ['x-1-py3-none-any.whl', { platform: 'freebsd', arch: 'x64', python: '3.11' }, true],
  ];
  for (const [file, target, fits] of table) {
    assert.equal(wheelFits(parseWheelName(file)!, target), fits, `${file} on ${JSON.stringify(target)}`);
  }
});

test('the bundled wheel is preferred: no compiler needed', () => {
  for (const compilers of [NONE, GCC]) {
    const plan = planLlama({ target: LINUX, bundled: [SERVER, LLAMA], wheelDirectory: [], compilers });
    assert.deepEqual(plan, { kind: 'wheel', wheel: LLAMA, source: 'bundled', reason: 'the bundled prebuilt llama-cpp-python 0.3.36+cpuvariants (no compiler needed)' });
  }
  // A wheel directory without a llama-cpp-python wheel (the other dependencies only) keeps the bundled one.
  const plan = planLlama({ target: LINUX, bundled: [SERVER, LLAMA], wheelDirectory: ['/air/numpy-2.2.0-cp311-cp311-manylinux_2_17_x86_64.whl'], compilers: NONE });
  assert.equal(plan.kind === 'wheel' && plan.wheel, LLAMA);
});

test("a fitting wheel in slipstream.wheelDirectory wins (the user's explicit choice); one that does not fit is ignored", () => {
  const own = '/air/llama_cpp_python-0.3.36-cp311-cp311-linux_x86_64.whl';
  assert.deepEqual(planLlama({ target: LINUX, bundled: [SERVER, LLAMA], wheelDirectory: [own], compilers: NONE }), {
    kind: 'wheel', wheel: own, source: 'wheelDirectory', reason: 'llama-cpp-python 0.3.36 from the wheel directory',
  });
  const arm = '/air/llama_cpp_python-0.3.36-py3-none-linux_aarch64.whl';
  const plan = planLlama({ target: LINUX, bundled: [SERVER, LLAMA], wheelDirectory: [arm], compilers: NONE });
  assert.equal(plan.kind === 'wheel' && plan.source, 'bundled');
});

test('no fitting wheel: a source build when compilers are on PATH', () => {
  const mac: Target = { platform: 'darwin', arch: 'arm64', python: '3.12' };
  const plan = planLlama({ target: mac, bundled: [SERVER, LLAMA], wheelDirectory: [], compilers: GCC });
  assert.equal(plan.kind, 'source');
  assert.match(plan.kind === 'source' ? plan.reason : '', /^the bundled llama-cpp-python wheel \(linux_x86_64\) does not fit darwin-arm64, Python 3\.12: building it from source once with \/usr\/bin\/cc and \/usr\/bin\/c\+\+/);
  // The universal .vsix (no llama-cpp-python inside) on Linux: today's path.
  const universal = planLlama({ target: LINUX, bundled: [SERVER], wheelDirectory: [], compilers: { cc: '/usr/bin/gcc', cxx: '/usr/bin/g++' } });
  assert.equal(universal.kind, 'source');
  assert.match(universal.kind === 'source' ? universal.reason : '', /no prebuilt llama-cpp-python for linux-x64.*cmake is not on PATH: the build fetches it/);
  // Windows: the build finds Visual Studio by itself.
  assert.equal(planLlama({ target: { platform: 'win32', arch: 'x64', python: '3.11' }, bundled: [SERVER, LLAMA], wheelDirectory: [], compilers: NONE }).kind, 'source');
});

test('neither a fitting wheel nor a compiler: a clear error that says what to install', () => {
  const table: Array<[string[], Target, object, RegExp]> = [
    [[SERVER], LINUX, NONE, /^this extension has no prebuilt llama-cpp-python for linux-x64, Python 3\.11, and building it from source needs a C compiler \(cc, gcc or clang\) and a C\+\+ compiler \(c\+\+, g\+\+ or clang\+\+\) on PATH, which were not found/],
    [[SERVER, LLAMA], { ...LINUX, arch: 'arm64' }, NONE, /^the bundled llama-cpp-python wheel \(linux_x86_64\) does not fit linux-arm64, Python 3\.11, and building/],
    [[SERVER], LINUX, { cc: '/usr/bin/cc', cmake: '/usr/bin/cmake' }, /needs a C\+\+ compiler \(c\+\+, g\+\+ or clang\+\+\) on PATH, which was not found/],
  ];
  for (const [bundled, target, compilers, expected] of table) {
    const plan = planLlama({ target, bundled, wheelDirectory: [], compilers });
    assert.equal(plan.kind, 'impossible');
    const message = plan.kind === 'impossible' ? plan.message : '';
    assert.match(message, expected);
    assert.match(message, /sudo apt install build-essential cmake/);
    assert.match(message, /slipstream\.wheelDirectory/);
    assert.throws(() => pipInstallArgs(SERVER, plan, []), { message });
  }
});

test('pip arguments: the planned wheel by name and --only-binary; a source build verbose', () => {
  const wheel = planLlama({ target: LINUX, bundled: [SERVER, LLAMA], wheelDirectory: [], compilers: NONE });
  assert.deepEqual(pipInstallArgs(SERVER, wheel, ['', BUNDLED_DIR]), [
    '-m', 'pip', 'install', '--disable-pip-version-check', '--progress-bar', 'off', '--find-links', BUNDLED_DIR,
    '--only-binary', 'llama-cpp-python', SERVER, LLAMA,
  ]);
  const air = pipInstallArgs(SERVER, wheel, [' /air ', BUNDLED_DIR]);
  assert.deepEqual(air.slice(6, 10), ['--find-links', '/air', '--find-links', BUNDLED_DIR], 'the wheel directory first');
  const source = pipInstallArgs(SERVER, planLlama({ target: LINUX, bundled: [SERVER], wheelDirectory: [], compilers: GCC }), ['/air']);
  assert.deepEqual(source.slice(-2), ['--verbose', SERVER]);
  assert.ok(!source.includes('--only-binary'));
  assert.deepEqual(rebuildFromSourceArgs(LLAMA).slice(-4), ['--no-deps', '--no-binary', 'llama-cpp-python', 'llama-cpp-python==0.3.36']);
});

test('compilers are looked up on PATH ($CC / $CXX first)', () => {
  const files = new Set(['/usr/bin/gcc', '/usr/bin/g++', '/usr/bin/cmake', '/opt/llvm/bin/clang', '/e2e/bin/python3', '/e2e/bin/node']);
  const exe = (f: string) => files.has(f);
  assert.equal(findOnPath(['cc', 'gcc'], '/nope:/usr/bin/', exe, 'linux'), '/usr/bin/gcc');
  assert.equal(findOnPath(['cc'], '/usr/bin', exe, 'linux'), undefined);
  assert.deepEqual(findCompilers({ PATH: '/usr/local/bin:/usr/bin' }, exe, 'linux'), { cc: '/usr/bin/gcc', cxx: '/usr/bin/g++', cmake: '/usr/bin/cmake' });
  // The e2e's first start: a PATH with only python3 and node.
  assert.deepEqual(findCompilers({ PATH: '/e2e/bin' }, exe, 'linux'), { cc: undefined, cxx: undefined, cmake: undefined });
  assert.deepEqual(findCompilers({}, exe, 'linux'), { cc: undefined, cxx: undefined, cmake: undefined });
  // $CC as a name or a path (with flags after it), as the build reads it.
  assert.equal(findCompilers({ PATH: '/usr/bin:/opt/llvm/bin', CC: 'clang -O2' }, exe, 'linux').cc, '/opt/llvm/bin/clang');
  assert.equal(findCompilers({ PATH: '/e2e/bin', CC: '/usr/bin/gcc' }, exe, 'linux').cc, '/usr/bin/gcc');
  assert.equal(findCompilers({ PATH: '/usr/bin', CXX: 'icpx' }, exe, 'linux').cxx, undefined, '$CXX is what the build uses');
  const win = new Set(['C:\\Tools\\cmake.exe']);
  assert.equal(findOnPath(['cmake'], 'C:\\Windows;C:\\Tools\\', (f) => win.has(f), 'win32'), 'C:\\Tools\\cmake.exe');
});

test('source build progress from CMake and Ninja lines', () => {
  const table: Array<[string, number | undefined]> = [
    ['[ 45%] Building C object vendor/llama.cpp/ggml/src/CMakeFiles/ggml-base.dir/ggml.c.o', 45],
    ['  [100%] Linking CXX shared library bin/libllama.so', 100],
    ['[12/400] Building CXX object ...', 3],
    ['[400/400] Linking CXX shared library ...', 100],
    ['Building wheel for llama-cpp-python (pyproject.toml): started', undefined],
    ['-- Configuring done [ok]', undefined],
    ['[0/0] nothing', undefined],
  ];
  for (const [line, pct] of table) assert.equal(buildProgress(line), pct, line);
});
