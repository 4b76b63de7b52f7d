// How the server's private environment gets llama-cpp-python (pure: no vscode import, no file system).
//
// Guarantees:
//  - A llama-cpp-python wheel bundled with the extension (the platform .vsix, e.g. linux-x64) is installed
//    when its tags fit this platform and Python; pip is then told --only-binary for it, so it never falls
//    back to a source build behind the user's back. A fitting wheel in slipstream.wheelDirectory (the
//    user's explicit choice) wins over the bundled one.
//  - No fitting wheel: a source build, only when a C and a C++ compiler are on PATH (cmake is fetched from
//    the package index by the build when missing); otherwise a clear error that says what to install,
//    before anything was created or downloaded.
//  - A source build shows its progress (CMake's "[ 45%]" / Ninja's "[12/345]" lines) as a percentage.

export const LLAMA_DIST = 'llama_cpp_python';

export interface WheelName {
  file: string;
  name: string;
  version: string;
  python: string[];
  abi: string[];
  platform: string[];
}

/** PEP 427 file name: name-version(-build)?-python-abi-platform.whl; tags may be dotted sets. */
export function parseWheelName(file: string): WheelName | undefined {
  const base = file.split(/[\\/]/).pop() ?? file;
  if (!base.endsWith('.whl')) return undefined;
  const parts = base.slice(0, -4).split('-');
  if (parts.length !== 5 && parts.length !== 6) return undefined;
  const [name, version] = parts;
  const [python, abi, platform] = parts.slice(-3).map((t) => t.split('.'));
  return { file, name: name.toLowerCase().replace(/[-.]+/g, '_'), version, python, abi, platform };
}

export interface Target {
  /** process.platform */
  platform: string;
  /** process.arch */
  arch: string;
  /** The interpreter's "3.11" */
  python: string;
}

/** The wheel platform tags' machine names for a Node platform and arch. */
function machineNames(platform: string, arch: string): string[] {
  if (platform === 'linux') return { x64: ['x86_64'], arm64: ['aarch64'], ia32: ['i686'] }[arch] ?? [arch];
  if (platform === 'darwin') return { x64: ['x86_64', 'universal2'], arm64: ['arm64', 'universal2'] }[arch] ?? [arch];
  if (platform === 'win32') return { x64: ['amd64'], arm64: ['arm64'], ia32: ['win32'] }[arch] ?? [arch];
  return [arch];
}

function platformTagFits(tag: string, target: Target): boolean {
  if (tag === 'any') return true;
  const machines = machineNames(target.platform, target.arch);
  if (target.platform === 'linux') {
    // glibc Linux: linux_* and manylinux*; musllinux wheels need musl.
    const m = /^(?:linux|manylinux1|manylinux2010|manylinux2014|manylinux_\d+_\d+)_(.+)$/.exec(tag);
    return !!m && machines.includes(m[1]);
  }
  if (target.platform === 'darwin') {
    const m = /^macosx_\d+_\d+_(.+)$/.exec(tag);
    return !!m && machines.includes(m[1]);
  }
  if (target.platform === 'win32') return tag === (target.arch === 'ia32' ? 'win32' : `win_${machines[0]}`);
  return false;
}

function pythonTagFits(python: string[], abi: string[], version: string): boolean {
  const m = /^(\d+)\.(\d+)/.exec(version);
  if (!m) return false;
  const [major, minor] = [Number(m[1]), Number(m[2])];
  return python.some((p) => {
    if (p === `py${major}` || p === `py${major}${minor}`) return abi.includes('none');
    const cp = /^cp(\d)(\d+)$/.exec(p);
    if (!cp || Number(cp[1]) !== major) return false;
    if (abi.includes('abi3')) return Number(cp[2]) <= minor; // stable ABI: that version or newer
    return Number(cp[2]) === minor && (abi.includes('none') || abi.includes(`cp${major}${minor}`));
  });
}

/** Would pip install this wheel on ``target``? (Its tags against the platform, machine and Python.) */
export function wheelFits(wheel: WheelName, target: Target): boolean {
  return wheel.platform.some((t) => platformTagFits(t, target)) && pythonTagFits(wheel.python, wheel.abi, target.python);
}

/** The first llama-cpp-python wheel among ``files`` that fits ``target``, and the ones that do not. */
export function llamaWheel(files: string[], target: Target): { fits?: WheelName; others: WheelName[] } {
  const wheels = files.map(parseWheelName).filter((w): w is WheelName => !!w && w.name === LLAMA_DIST);
  return { fits: wheels.find((w) => wheelFits(w, target)), others: wheels.filter((w) => !wheelFits(w, target)) };
}

export interface Compilers {
  cc?: string;
  cxx?: string;
  cmake?: string;
}

export const C_COMPILERS = ['cc', 'gcc', 'clang'];
export const CXX_COMPILERS = ['c++', 'g++', 'clang++'];

/** The first of ``names`` that is an executable on ``pathVar``, as a full path. */
export function findOnPath(names: string[], pathVar: string | undefined, isExecutable: (file: string) => boolean, platform: string): string | undefined {
  const sep = platform === 'win32' ? ';' : ':';
  const slash = platform === 'win32' ? '\\' : '/';
  const exts = platform === 'win32' ? ['.exe', '.cmd', '.bat', ''] : [''];
  for (const name of names) {
    if (name.includes('/') || name.includes('\\')) {
      if (isExecutable(name)) return name;
      continue;
    }
    for (const dir of (pathVar ?? '').split(sep).filter(Boolean)) {
      for (const ext of exts) {
        const file = `${dir.replace(/[\\/]+$/, '')}${slash}${name}${ext}`;
        if (isExecutable(file)) return file;
      }
    }
  }
  return undefined;
}

/** The compilers a source build would use: $CC / $CXX when set (as the build itself does), else the usual names. */
export function findCompilers(env: Record<string, string | undefined>, isExecutable: (file: string) => boolean, platform: string): Compilers {
  const path = env.PATH ?? env.Path;
  const first = (v: string | undefined) => (v && v.trim() ? [v.trim().split(/\s+/)[0]] : undefined);
  return {
    cc: findOnPath(first(env.CC) ?? C_COMPILERS, path, isExecutable, platform),
    cxx: findOnPath(first(env.CXX) ?? CXX_COMPILERS, path, isExecutable, platform),
    cmake: findOnPath(['cmake'], path, isExecutable, platform),
  };
}

export type LlamaPlan =
  | { kind: 'wheel'; wheel: string; source: 'bundled' | 'wheelDirectory'; reason: string }
  | { kind: 'source'; reason: string }
  | { kind: 'impossible'; message: string };

export interface PlanInput {
  target: Target;
  /** Wheels bundled with the extension (full paths). */
  bundled: string[];
  /** Wheels in slipstream.wheelDirectory (full paths), if set. */
  wheelDirectory: string[];
  compilers: Compilers;
}

const describe = (t: Target) => `${t.platform}-${t.arch}, Python ${t.python}`;

/** Which llama-cpp-python to install: a fitting wheel (the user's, then the bundled one), else a source build if it can run. */
export function planLlama(input: PlanInput): LlamaPlan {
  const { target } = input;
  const own = llamaWheel(input.wheelDirectory, target);
  if (own.fits) return { kind: 'wheel', wheel: own.fits.file, source: 'wheelDirectory', reason: `llama-cpp-python ${own.fits.version} from the wheel directory` };
  const bundled = llamaWheel(input.bundled, target);
  if (bundled.fits) return { kind: 'wheel', wheel: bundled.fits.file, source: 'bundled', reason: `the bundled prebuilt llama-cpp-python ${bundled.fits.version} (no compiler needed)` };
  const why = bundled.others.length
    ? `the bundled llama-cpp-python wheel (${bundled.others.map((w) => w.platform.join('.')).join(', ')}) does not fit ${describe(target)}`
    : `this extension has no prebuilt llama-cpp-python for ${describe(target)}`;
  if (target.platform === 'win32' || (input.compilers.cc && input.compilers.cxx)) {
    // Windows: the build finds Visual Studio by itself (its compiler is usually not on PATH).
    const tools = target.platform === 'win32' ? 'Visual Studio C++ build tools' : `${input.compilers.cc} and ${input.compilers.cxx}`;
    const cmake = input.compilers.cmake || target.platform === 'win32' ? '' : '; cmake is not on PATH: the build fetches it from the package index';
    return { kind: 'source', reason: `${why}: building it from source once with ${tools} (several minutes)${cmake}` };
  }
  return { kind: 'impossible', message: `${why}, and ${cannotBuild(input.compilers)}` };
}

/** What a source build lacks and what to do about it (the compilers were not found on PATH). */
export function cannotBuild(compilers: Compilers): string {
  const missing = [!compilers.cc && 'a C compiler (cc, gcc or clang)', !compilers.cxx && 'a C++ compiler (c++, g++ or clang++)'].filter(Boolean).join(' and ');
  return (
    `building it from source needs ${missing} on PATH, which ${missing.includes(' and ') ? 'were' : 'was'} not found. ` +
    'Install build tools (Debian/Ubuntu: sudo apt install build-essential cmake; Fedora: sudo dnf install gcc-c++ cmake; ' +
    'macOS: xcode-select --install), or put a llama-cpp-python wheel for this machine in the slipstream.wheelDirectory setting, ' +
    'then run "Slipstream: Restart Server".'
  );
}

/**
 * pip arguments that install the server wheel with the planned llama-cpp-python. A fitting wheel is named
 * on the command line (pip then uses exactly it) and --only-binary keeps pip from building one instead;
 * the wheel directory and the bundled folder are searched before the index for every other dependency.
 */
export function pipInstallArgs(serverWheel: string, plan: LlamaPlan, findLinks: string[]): string[] {
  const args = ['-m', 'pip', 'install', '--disable-pip-version-check', '--progress-bar', 'off'];
  for (const dir of findLinks) if (dir.trim()) args.push('--find-links', dir.trim());
  if (plan.kind === 'wheel') args.push('--only-binary', 'llama-cpp-python', serverWheel, plan.wheel);
  else if (plan.kind === 'source') args.push('--verbose', serverWheel); // the build's own lines: progress and a useful log
  else throw new Error(plan.message);
  return args;
}

/**
 * pip arguments that replace an installed prebuilt llama-cpp-python that does not load here with a
 * source build of the same public version (its local label, e.g. +cpuvariants, dropped).
 */
export function rebuildFromSourceArgs(prebuiltWheel: string): string[] {
  const version = parseWheelName(prebuiltWheel)?.version.split('+')[0];
  if (!version) throw new Error(`not a wheel file name: ${prebuiltWheel}`);
  return ['-m', 'pip', 'install', '--disable-pip-version-check', '--progress-bar', 'off', '--verbose', '--force-reinstall', '--no-deps',
    '--no-binary', 'llama-cpp-python', `llama-cpp-python==${version}`];
}

/** A source build's progress from one of its output lines: CMake's "[ 45%] ..." or Ninja's "[12/345] ...". */
export function buildProgress(line: string): number | undefined {
  const pct = /^\s*\[\s*(\d{1,3})%\]/.exec(line);
  if (pct) return Math.min(100, Number(pct[1]));
  const steps = /^\s*\[(\d+)\/(\d+)\]/.exec(line);
  if (steps && Number(steps[2]) > 0) return Math.round((100 * Number(steps[1])) / Number(steps[2]));
  return undefined;
}
