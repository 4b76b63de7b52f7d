// The server's private Python environment: created once in the extension's global storage, reused after.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { chooseInterpreter, pipInstallArgs, pythonVersionOk, venvPython } from './logic';
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

/**
 * The Python that runs the server. In development (the repo's .venv next to package.json) that venv
 * is used as it is; installed from a .vsix, a venv in global storage gets the bundled server wheel.
 */
export async function ensureServerPython(context: vscode.ExtensionContext, log: vscode.LogOutputChannel): Promise<string> {
  const devVenv = venvPython(path.join(context.extensionPath, '.venv'), process.platform);
  if (fs.existsSync(devVenv) && fs.existsSync(path.join(context.extensionPath, 'server', '__main__.py'))) {
    log.info(`using the development environment ${devVenv}`);
    return devVenv;
  }
  const wheelsDir = path.join(context.extensionPath, 'client-vscode', 'dist', 'wheels');
  const wheel = fs.existsSync(wheelsDir) ? fs.readdirSync(wheelsDir).find((f) => f.endsWith('.whl')) : undefined;
  if (!wheel) throw new BootstrapError(`the server wheel is missing from the extension (${wheelsDir})`);
  const wheelPath = path.join(wheelsDir, wheel);
  const storage = context.globalStorageUri.fsPath;
  const venv = path.join(storage, 'venv');
  const python = venvPython(venv, process.platform);
  const marker = path.join(venv, '.slipstream-wheel');
  const stamp = `${wheel} ${fs.statSync(wheelPath).size}`;
  if (fs.existsSync(python) && fs.existsSync(marker) && fs.readFileSync(marker, 'utf8') === stamp) {
    log.info(`reusing the server environment ${venv}`);
    return python;
  }
  const config = vscode.workspace.getConfiguration(SECTION);
  const choice = chooseInterpreter(config.get<string>(SettingKeys.pythonPath), await pythonExtensionInterpreter());
  log.info(`setting up the server environment with ${choice.path} (from ${choice.source})`);
  return vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: 'Slipstream: setting up the local server', cancellable: true },
    async (progress, token) => {
      const version = await run(choice.path, ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])'], log, token);
      if (!pythonVersionOk(version)) {
        throw new BootstrapError(`${choice.path} is Python ${version.trim()}; Slipstream needs 3.10 or newer (set ${SECTION}.${SettingKeys.pythonPath})`);
      }
      fs.mkdirSync(storage, { recursive: true });
      progress.report({ message: 'creating a private environment…' });
      await run(choice.path, ['-m', 'venv', '--clear', venv], log, token);
      progress.report({ message: 'installing the server and its dependencies (llama-cpp-python may build from source once: several minutes)…' });
      await run(python, pipInstallArgs(wheelPath, config.get<string>(SettingKeys.wheelDirectory)), log, token, (line) => {
        if (/Building wheel for llama/i.test(line)) progress.report({ message: 'building llama-cpp-python (one time, several minutes)…' });
        else if (/^(Collecting|Installing)/.test(line)) progress.report({ message: line.slice(0, 80) });
      });
      fs.writeFileSync(marker, stamp);
      return python;
    },
  );
}
