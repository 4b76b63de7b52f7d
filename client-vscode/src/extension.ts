// Slipstream for VS Code: starts the local Python language server and shows its streamed ghost text.
import * as vscode from 'vscode';
import {
  CloseAction,
  type CloseHandlerResult,
  DidChangeConfigurationNotification,
  ErrorAction,
  type ErrorHandlerResult,
  LanguageClient,
  type LanguageClientOptions,
  type ServerOptions,
  State,
  TransportKind,
} from 'vscode-languageclient/node';
import { BootstrapError, ensureServerPython } from './bootstrap';
import { RestartBudget, SECRET_KEY_ENV, serverSettings } from './logic';
import { selectModel } from './models';
import {
  CLIENT_ID,
  ClientCommands,
  GetStatusRequest,
  OPTIMIZE_AT,
  OPTIMIZE_FUNCTION,
  PartialNotification,
  PROFILE,
  SECTION,
  type ServerCommands,
  SettingKeys,
  type Stats,
  StatsRequest,
  StatusNotification,
} from './protocol';
import { StatusBar } from './status';
import { StreamingInline } from './streaming';

let client: LanguageClient | undefined;
let streaming: StreamingInline | undefined;

const SECRET = 'slipstream.apiKey'; // the SecretStorage entry of "Set API Key…"
let secretKey = false; // the server was started with the stored key in its environment

/** The whole `slipstream` section, as the server gets it at start and on every change. */
function currentSettings(context: vscode.ExtensionContext): Record<string, Record<string, unknown>> {
  return serverSettings(vscode.workspace.getConfiguration().get(SECTION), context.globalStorageUri.fsPath, secretKey);
}

const config = (scope?: vscode.Uri) => vscode.workspace.getConfiguration(SECTION, scope);

/** Runs a server command (registered by the language client), typed by protocol.ts. */
function serverCommand<K extends keyof ServerCommands>(name: K, ...args: ServerCommands[K]['args']) {
  return vscode.commands.executeCommand<ServerCommands[K]['result'] | undefined>(name, ...args);
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const log = vscode.window.createOutputChannel('Slipstream', { log: true });
  const status = new StatusBar();
  context.subscriptions.push(log, status);
  const restarts = new RestartBudget(5, 3 * 60_000);

  const start = async (): Promise<void> => {
    status.set({ state: 'starting' });
    let python: string;
    try {
      python = await ensureServerPython(context, log);
    } catch (err) {
      const message = err instanceof BootstrapError ? err.message : String(err);
      log.error(`server setup failed: ${message}`);
      status.set({ state: 'error', detail: message });
      const pick = await vscode.window.showErrorMessage(`Slipstream could not set up its server: ${message}`, 'Show Logs', 'Retry');
      if (pick === 'Show Logs') log.show();
      if (pick === 'Retry') await start();
      return;
    }
    const key = await context.secrets.get(SECRET);
    secretKey = !!key;
    const env: NodeJS.ProcessEnv = { ...process.env, PYTHONUNBUFFERED: '1' };
    if (key) env[SECRET_KEY_ENV] = key; // never in settings, never logged: the server reads it by its name
    const serverOptions: ServerOptions = {
      command: python,
      args: ['-m', 'slipstream.server'],
      transport: TransportKind.stdio, // vscode-languageclient appends --stdio
      options: { env },
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: [{ language: 'python' }],
      outputChannel: log,
      // The whole section at start and on every change (the library alone would send it without storagePath).
      synchronize: { configurationSection: SECTION },
      initializationOptions: currentSettings(context),
      middleware: {
        workspace: {
          didChangeConfiguration: async () => {
            await lc.sendNotification(DidChangeConfigurationNotification.type, { settings: currentSettings(context) });
          },
        },
        provideInlineCompletionItems: (document, position, ctx, token) => streaming?.provide(document, position, ctx, token),
        // The server's "Optimize" actions and lenses run its command directly; in VS Code they go through
        // our command instead, which saves the file first and reports the result.
        provideCodeActions: async (document, range, ctx, token, next) =>
          (await next(document, range, ctx, token))?.map((a) => {
            if ('command' in a && a.command && typeof a.command === 'object') a.command = viaClient(a.command);
            return a;
          }),
        provideCodeLenses: async (document, token, next) =>
          (await next(document, token))?.map((lens) => {
            if (lens.command) lens.command = viaClient(lens.command);
            return lens;
          }),
      },
      errorHandler: {
        error: (): ErrorHandlerResult => ({ action: ErrorAction.Continue }),
        closed: (): CloseHandlerResult => {
          if (restarts.allow(Date.now())) {
            void vscode.window.showWarningMessage(`Slipstream: the server stopped; restarting (${restarts.count}/5).`);
            return { action: CloseAction.Restart };
          }
          status.set({ state: 'error', detail: 'the server keeps crashing' });
          return { action: CloseAction.DoNotRestart, message: 'Slipstream: the server crashed 5 times in 3 minutes; see the log. Use "Slipstream: Restart Server" to try again.' };
        },
      },
    };
    const lc = new LanguageClient(CLIENT_ID, 'Slipstream', serverOptions, clientOptions);
    client = lc;
    streaming = new StreamingInline(lc, () => config().get<number>(SettingKeys.debounceMs, 150), log);
    streaming.onLatency = (ms) => status.latency(ms);
    streaming.onBusy = (busy) => status.busy(busy);
    lc.onDidChangeState((e) => {
      if (e.newState === State.Stopped) status.set({ state: 'stopped' });
    });
    context.subscriptions.push(
      vscode.workspace.onDidChangeTextDocument((e) => {
        if (e.document.languageId === 'python' && e.contentChanges.length) streaming?.clock.key(Date.now());
      }),
      lc.onNotification(PartialNotification, (p) => streaming?.onPartial(p)),
      lc.onNotification(StatusNotification, (s) => status.set(s)),
    );
    await lc.start();
    log.info('Slipstream server started');
    try {
      status.set(await lc.sendRequest(GetStatusRequest, {}));
    } catch {
      // the status notifications will follow
    }
  };

  const stop = async (): Promise<void> => {
    streaming?.cancel();
    const c = client;
    client = undefined;
    if (c) await c.stop().catch(() => undefined);
  };

  const optimizeAt = async (uri: string, line: number) => {
    if (!client) return;
    if (!hasServerCommand(OPTIMIZE_FUNCTION)) {
      void vscode.window.showInformationMessage('Slipstream: this server version has no optimizer yet.');
      return;
    }
    const document = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri);
    if (document?.isDirty) await document.save(); // the optimizer runs the code on disk
    const result = await serverCommand(OPTIMIZE_FUNCTION, uri, line);
    if (result?.variants?.length) {
      const best = result.variants[0];
      const how = best.needs_review ? 'review and apply it from the lightbulb (a preview opens first)' : 'apply it from the lightbulb';
      void vscode.window.showInformationMessage(`Slipstream: ${best.title.replace(/^Apply (faster|model) variant — /, '')} — ${how} (${result.variants.length} variant(s)).`);
    } else {
      void vscode.window.showInformationMessage(`Slipstream: no faster variant for ${result?.function ?? 'this function'}${result?.error ? `: ${result.error}` : ''}.`);
    }
  };
  const hasServerCommand = (name: keyof ServerCommands): boolean =>
    !!client?.initializeResult?.capabilities.executeCommandProvider?.commands.includes(name);

  context.subscriptions.push(
    vscode.commands.registerCommand(ClientCommands.toggle, async () => {
      const c = config();
      await c.update(SettingKeys.enable, !c.get<boolean>(SettingKeys.enable, true), vscode.ConfigurationTarget.Global);
    }),
    vscode.commands.registerCommand(ClientCommands.selectModel, () => selectModel(vscode, client, log)),
    vscode.commands.registerCommand(ClientCommands.setApiKey, async () => {
      const key = await vscode.window.showInputBox({
        prompt: 'API key for the remote engine (kept in VS Code\'s secret storage; empty removes it)',
        password: true,
        ignoreFocusOut: true,
      });
      if (key === undefined) return;
      if (key.trim()) await context.secrets.store(SECRET, key.trim());
      else await context.secrets.delete(SECRET);
      await stop(); // the key reaches the server in its environment: a new one
      await start();
    }),
    vscode.commands.registerCommand(ClientCommands.optimizeAtCursor, async () => {
      const editor = vscode.window.activeTextEditor;
      if (editor) await optimizeAt(editor.document.uri.toString(), editor.selection.active.line);
    }),
    vscode.commands.registerCommand(OPTIMIZE_AT, optimizeAt),
    vscode.commands.registerCommand(ClientCommands.profileWorkload, async () => {
      const editor = vscode.window.activeTextEditor;
      if (!client || !editor) return;
      if (!hasServerCommand(PROFILE)) {
        void vscode.window.showInformationMessage('Slipstream: this server version has no profiler yet.');
        return;
      }
      const configured = config(editor.document.uri).get<string>(SettingKeys.optimizerWorkload, '');
      const workload = await vscode.window.showInputBox({
        prompt: 'Workload to profile: a pytest node id, a script, or -m module (empty: the tests that import this file)',
        value: configured,
      });
      if (workload === undefined) return;
      if (editor.document.isDirty) await editor.document.save(); // the profiler runs the code on disk
      // The server's command (registered by the language client): inlay hints and code lenses follow.
      const result = await serverCommand(PROFILE, editor.document.uri.toString(), workload);
      if (!result) return;
      if (result.error) {
        void vscode.window.showWarningMessage(`Slipstream: profiling failed: ${result.error}`);
        return;
      }
      const top = result.functions.slice(0, 3).map((f) => `${f.name} ${f.cpu_percent.toFixed(0)} %`).join(', ');
      void vscode.window.showInformationMessage(`Slipstream (${result.tool}): ${top || 'no hot functions in the workspace'}${result.note ? ` — ${result.note}` : ''}`);
    }),
    vscode.commands.registerCommand(ClientCommands.showStats, async () => {
      if (!client) return;
      const stats = await client.sendRequest(StatsRequest, {});
      const doc = await vscode.workspace.openTextDocument({ content: statsMarkdown(stats), language: 'markdown' });
      await vscode.window.showTextDocument(doc, { preview: true });
    }),
    vscode.commands.registerCommand(ClientCommands.restart, async () => {
      await stop();
      await start();
    }),
    vscode.commands.registerCommand(ClientCommands.showLogs, () => log.show()),
    vscode.commands.registerCommand(ClientCommands.menu, async () => {
      const items = [
        ['Toggle Completions', ClientCommands.toggle],
        ['Select Model…', ClientCommands.selectModel],
        ['Set API Key…', ClientCommands.setApiKey],
        ['Optimize Function at Cursor', ClientCommands.optimizeAtCursor],
        ['Profile…', ClientCommands.profileWorkload],
        ['Show Completion Stats', ClientCommands.showStats],
        ['Restart Server', ClientCommands.restart],
        ['Show Logs', ClientCommands.showLogs],
      ].map(([label, command]) => ({ label, command }));
      const pick = await vscode.window.showQuickPick(items, { placeHolder: 'Slipstream' });
      if (pick) await vscode.commands.executeCommand(pick.command);
    }),
    vscode.workspace.onDidChangeConfiguration(async (e) => {
      if (e.affectsConfiguration(`${SECTION}.${SettingKeys.pythonPath}`) || e.affectsConfiguration(`${SECTION}.${SettingKeys.wheelDirectory}`)) {
        const pick = await vscode.window.showInformationMessage('Slipstream: restart the server to use the new Python settings?', 'Restart');
        if (pick === 'Restart') await vscode.commands.executeCommand(ClientCommands.restart);
      }
    }),
    { dispose: () => void stop() },
  );
  console.log('[slipstream] activated');
  await start();
}

export async function deactivate(): Promise<void> {
  streaming?.cancel();
  if (client) await client.stop().catch(() => undefined);
}

/** A server "optimize" command, pointed at the client's command that saves and reports; others unchanged. */
export function viaClient(command: vscode.Command): vscode.Command {
  return command.command === OPTIMIZE_FUNCTION ? { ...command, command: OPTIMIZE_AT } : command;
}

function statsMarkdown(s: Stats): string {
  const pct = (v: number | null | undefined) => (v === null || v === undefined ? '—' : `${Math.round(v * 100)} %`);
  const rows = Object.entries(s.classes).map(
    ([cls, r]) => `| ${cls} | ${r.shown} | ${r.accepted} | ${pct(r.accept_rate)} | ${r.mean_accepted_chars ?? '—'} | ${pct(r.retention_30s)} | ${pct(r.retention_120s)} |`,
  );
  return [
    '# Slipstream completion stats (local only)',
    '',
    s.enabled ? `Stored in \`${s.directory}\`; never sent anywhere.` : 'Local statistics are off (slipstream.telemetry).',
    '',
    '| context | shown | accepted | rate | mean chars | kept 30 s | kept 2 min |',
    '|---|---|---|---|---|---|---|',
    ...rows,
    '',
    ...Object.entries(s.line_factors ?? {}).map(([cls, f]) => `Adapted: multi-line suggestions in ${cls} shortened to ${Math.round(f * 100)} % of maxLines.`),
  ].join('\n');
}
