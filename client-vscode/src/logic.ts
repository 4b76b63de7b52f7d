// Pure client logic (no vscode import), unit-tested with node's test runner.
import { type InlineCompletionPartial, SECTION } from './protocol';

export interface InterpreterChoice {
  path: string;
  source: 'setting' | 'python-extension' | 'default';
}

/** The setting wins, then the Python extension's active interpreter, then python3 on PATH. */
export function chooseInterpreter(setting: string | undefined, pythonExtension: string | undefined): InterpreterChoice {
  if (setting && setting.trim()) return { path: setting.trim(), source: 'setting' };
  if (pythonExtension && pythonExtension.trim()) return { path: pythonExtension.trim(), source: 'python-extension' };
  return { path: 'python3', source: 'default' };
}

export function venvPython(venvDir: string, platform: string): string {
  return platform === 'win32' ? `${venvDir}\\Scripts\\python.exe` : `${venvDir}/bin/python`;
}

/** Parses "3.11" style output; the server needs 3.10 or newer. */
export function pythonVersionOk(output: string): boolean {
  const m = /(\d+)\.(\d+)/.exec(output);
  if (!m) return false;
  const major = Number(m[1]);
  const minor = Number(m[2]);
  return major > 3 || (major === 3 && minor >= 10);
}

export function flightKey(uri: string, version: number, line: number, character: number): string {
  return `${uri}@${version}:${line}:${character}`;
}

/**
 * The streamed text of the one request in flight. Text for any other document version or position is
 * stale and never shown; a partial that does not match the flight is ignored.
 */
export class StreamState {
  key: string | undefined;
  text = '';
  done = false;
  private listeners: Array<() => void> = [];

  start(key: string): void {
    this.key = key;
    this.text = '';
    this.done = false;
    this.wake();
  }

  apply(p: InlineCompletionPartial): 'update' | 'stale' {
    const key = flightKey(p.uri, p.version, p.position.line, p.position.character);
    if (key !== this.key) return 'stale';
    this.text = p.text;
    this.done = this.done || p.done;
    this.wake();
    return 'update';
  }

  finish(key: string, text: string): void {
    if (key !== this.key) return;
    this.text = text;
    this.done = true;
    this.wake();
  }

  /** The text to show for ``key`` now, or undefined when it is not the flight's or nothing came yet. */
  shown(key: string): string | undefined {
    return key === this.key && this.text ? this.text : undefined;
  }

  onChange(fn: () => void): () => void {
    this.listeners.push(fn);
    return () => {
      this.listeners = this.listeners.filter((f) => f !== fn);
    };
  }

  private wake(): void {
    for (const fn of [...this.listeners]) fn();
  }
}

/** Automatic triggers wait for the typist; an explicit trigger (Alt+\) is immediate. */
export function debounceFor(invoked: boolean, settingMs: number): number {
  if (invoked) return 0;
  return Math.max(0, Math.min(2000, Number.isFinite(settingMs) ? settingMs : 75));
}

/** Bounded restarts: at most ``max`` within ``windowMs``. */
export class RestartBudget {
  private times: number[] = [];
  constructor(private max = 5, private windowMs = 3 * 60_000) {}
  allow(now: number): boolean {
    this.times = this.times.filter((t) => now - t < this.windowMs);
    if (this.times.length >= this.max) return false;
    this.times.push(now);
    return true;
  }
  get count(): number {
    return this.times.length;
  }
}

/**
 * Adaptive debounce (as Tabby does): wait about as long as the user's usual gap between keys (the 75th
 * percentile of the recent ones), so a request goes out when they pause, not in the middle of a word.
 * Never longer than the setting; the setting alone until a few keystrokes were seen.
 */
export class KeystrokeClock {
  private times: number[] = [];
  constructor(private size = 16) {}

  key(now: number): void {
    this.times.push(now);
    if (this.times.length > this.size) this.times.shift();
  }

  debounce(settingMs: number, floorMs = 25): number {
    const gaps: number[] = [];
    for (let i = 1; i < this.times.length; i++) {
      const gap = this.times[i] - this.times[i - 1];
      if (gap < 2000) gaps.push(gap); // a long pause is not a typing gap
    }
    const max = debounceFor(false, settingMs);
    if (gaps.length < 4) return max;
    gaps.sort((a, b) => a - b);
    const p75 = gaps[Math.min(gaps.length - 1, Math.floor(0.75 * gaps.length))];
    return Math.max(Math.min(floorMs, max), Math.min(max, Math.round(p75)));
  }
}

/** Did the user just type along the ghost text on screen? Then the server answers from it at once. */
export function typedAlong(shownLinePrefix: string, shownText: string, linePrefixNow: string): boolean {
  if (!shownText || !linePrefixNow.startsWith(shownLinePrefix)) return false;
  const typed = linePrefixNow.slice(shownLinePrefix.length);
  return typed.length > 0 && shownText.startsWith(typed);
}

/**
 * What the server is sent at start (initializationOptions) and on every change (workspace/didChangeConfiguration):
 * the whole `slipstream` section as VS Code nests it (`optimizer: {...}`); the server ignores the client-only keys.
 * An empty storagePath means the extension's own storage directory.
 */
export function serverSettings(section: unknown, extensionStorage: string, secretKey = false): Record<string, Record<string, unknown>> {
  const all: Record<string, unknown> =
    section && typeof section === 'object' && !Array.isArray(section) ? JSON.parse(JSON.stringify(section)) : {};
  const configured = typeof all.storagePath === 'string' ? all.storagePath.trim() : '';
  const out: Record<string, unknown> = { ...all, storagePath: configured || extensionStorage };
  // A key from "Set API Key…" (SecretStorage) reaches the server only in its environment, under SECRET_KEY_ENV;
  // an apiKeyEnv the user set names another variable and wins.
  if (secretKey && !(typeof all.apiKeyEnv === 'string' && all.apiKeyEnv.trim())) out.apiKeyEnv = SECRET_KEY_ENV;
  return { [SECTION]: out };
}

/** The server's environment variable that carries the key kept in VS Code's SecretStorage. */
export const SECRET_KEY_ENV = 'SLIPSTREAM_API_KEY';

/** Where a status shows the model: its name, and the server's host for a remote engine. */
export function modelLabel(model: { name?: string; engine?: string; endpoint?: string } | null | undefined): string {
  const name = model?.name ? model.name.replace(/\.gguf$/, '') : '';
  return model?.engine && model.engine !== 'local' && model.endpoint ? `${name} @ ${model.endpoint}` : name;
}
