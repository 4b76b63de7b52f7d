// The server's private Python environment: created once in the extension's global storage, reused after.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { buildProgress, cannotBuild, findCompilers, pipInstallArgs, planLlama, rebuildFromSourceArgs } from './install';
import { chooseInterpreter, pythonVersionOk, venvPython } from './logic';
import { SECTION, SettingKeys } from './protocol';

export class BootstrapError extends Error {}

function run(
  cmd: string,
  args: string[],
  log: vscode.LogOutputChannel,
  token?: vscode.CancellationToken,
  onLine?: (line: string) => void,
): Promise<string> {
  return new Promise((resolve, reject) => {
    log.info(`$ ${cmd} ${args.join(' ')}`);
    let out = '';
    const child = spawn(cmd, args, { env: { ...process.env, PIP_NO_INPUT: '1' } });
    const sub = token?.onCancellationRequested(() => child.kill('SIGTERM'));
    const take = (chunk: Buffer) => {
      const text = chunk.toString();
      out += text;
      for (const line of text.split(/\r?\n/)) {
        if (line.trim()) {
          log.info(line);
          onLine?.(line);
        }
      }
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.on('error', (err) => {
      sub?.dispose();
      reject(new BootstrapError(`cannot run ${cmd}: ${err.message}`));
    });
    child.on('close', (code) => {
      sub?.dispose();
      if (token?.isCancellationRequested) reject(new BootstrapError('cancelled'));
      else if (code === 0) resolve(out);
      else reject(new BootstrapError(`${path.basename(cmd)} ${args.slice(0, 3).join(' ')} failed (exit ${code}); see the Slipstream log`));
    });
  });
}

async function pythonExtensionInterpreter(): Promise<string | undefined> {
  const ext = vscode.extensions.getExtension('ms-python.python');
  if (!ext) return undefined;
  try {
    const api = ext.isActive ? ext.exports : await ext.activate();
    return api?.environments?.getActiveEnvironmentPath?.()?.path;
  } catch {
    return undefined;
  }
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

const wheelsIn = (dir: string | undefined): string[] =>
  dir && fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.whl')).map((f) => path.join(dir, f)) : [];

/**
 * The Python that runs the server. In development (the repo's .venv next to package.json) that venv
 * is used as it is; installed from a .vsix, a venv in global storage gets the bundled server wheel and
 * llama-cpp-python: the bundled prebuilt wheel where it fits (the linux-x64 .vsix: no compiler needed),
 * else a source build when compilers are on PATH, else a clear error before anything is downloaded.
 */
export async function ensureServerPython(context: vscode.ExtensionContext, log: vscode.LogOutputChannel): Promise<string> {
  const devVenv = venvPython(path.join(context.extensionPath, '.venv'), process.platform);
  if (fs.existsSync(devVenv) && fs.existsSync(path.join(context.extensionPath, 'server', '__main__.py'))) {
    log.info(`using the development environment ${devVenv}`);
    return devVenv;
  }
  const wheelsDir = path.join(context.extensionPath, 'client-vscode', 'dist', 'wheels');
  const bundled = wheelsIn(wheelsDir);
  const wheelPath = bundled.find((f) => /^slipstream-[^-]+-/.test(path.basename(f)));
  if (!wheelPath) throw new BootstrapError(`the server wheel is missing from the extension (${wheelsDir})`);
  const storage = context.globalStorageUri.fsPath;
  const venv = path.join(storage, 'venv');
  const python = venvPython(venv, process.platform);
  const marker = path.join(venv, '.slipstream-wheel');
  const stamp = bundled.map((f) => `${path.basename(f)} ${fs.statSync(f).size}`).sort().join('\n');
  if (fs.existsSync(python) && fs.existsSync(marker) && fs.readFileSync(marker, 'utf8') === stamp) {
    log.info(`reusing the server environment ${venv}`);
    return python;
  }
  const config = vscode.workspace.getConfiguration(SECTION);
  const wheelDirectory = (config.get<string>(SettingKeys.wheelDirectory) ?? '').trim();
  const choice = chooseInterpreter(config.get<string>(SettingKeys.pythonPath), await pythonExtensionInterpreter());
  log.info(`setting up the server environment with ${choice.path} (from ${choice.source})`);
  return vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: 'Slipstream: setting up the local server', cancellable: true },
    async (progress, token) => {
      const version = (await run(choice.path, ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])'], log, token)).trim();
      if (!pythonVersionOk(version)) {
        throw new BootstrapError(`${choice.path} is Python ${version}; Slipstream needs 3.10 or newer (set ${SECTION}.${SettingKeys.pythonPath})`);
      }
      const target = { platform: process.platform, arch: process.arch, python: version };
      const compilers = findCompilers(process.env, isExecutable, process.platform);
      log.info(`compilers on PATH: cc=${compilers.cc ?? 'none'} c++=${compilers.cxx ?? 'none'} cmake=${compilers.cmake ?? 'none'}`);
      const plan = planLlama({ target, bundled, wheelDirectory: wheelsIn(wheelDirectory), compilers });
      if (plan.kind === 'impossible') throw new BootstrapError(plan.message);
      log.info(`llama-cpp-python: ${plan.reason}`);
      fs.mkdirSync(storage, { recursive: true });
      progress.report({ message: 'creating a private environment…' });
      await run(choice.path, ['-m', 'venv', '--clear', venv], log, token);
      const install = async (args: string[], building: boolean) => {
        let shown = -1;
        await run(python, args, log, token, (line) => {
          const pct = building ? buildProgress(line) : undefined;
          if (pct !== undefined && pct !== shown) {
            shown = pct;
            progress.report({ message: `building llama-cpp-python from source (one time, several minutes): ${pct}%` });
          } else if (/Building wheel for llama/i.test(line)) progress.report({ message: 'building llama-cpp-python from source (one time, several minutes)…' });
          else if (/^(Collecting|Installing)/.test(line)) progress.report({ message: line.slice(0, 80) });
        });
      };
      progress.report({ message: plan.kind === 'wheel' ? 'installing the server and its dependencies…' : 'installing the server; llama-cpp-python builds from source once (several minutes)…' });
      await install(pipInstallArgs(wheelPath, plan, [wheelDirectory, wheelsDir]), plan.kind === 'source');
      // The engine must load here: a prebuilt wheel can still miss a system library (an old glibc).
      const probe = ['-c', 'import llama_cpp; print("llama-cpp-python", llama_cpp.__version__)'];
      try {
        await run(python, probe, log, token);
      } catch (err) {
        if (token.isCancellationRequested) throw err;
        if (plan.kind !== 'wheel') throw new BootstrapError('llama-cpp-python was built from source but does not load (see the Slipstream log)');
        const why = `the prebuilt llama-cpp-python (${path.basename(plan.wheel)}) does not load on this machine (see the Slipstream log)`;
        if (process.platform !== 'win32' && !(compilers.cc && compilers.cxx)) throw new BootstrapError(`${why}, and ${cannotBuild(compilers)}`);
        log.warn(`${why}: building it from source once instead`);
        await install(rebuildFromSourceArgs(plan.wheel), true);
        await run(python, probe, log, token);
      }
      fs.writeFileSync(marker, stamp);
      return python;
    },
  );
}
