// Streamed ghost text: VS Code's inline API is request/response, so the provider answers with the text
// received so far and re-triggers inline suggest as more arrives. The LSP request is sent once per
// (document version, position) and is not cancelled by those re-triggers, only by a newer flight.
import * as vscode from 'vscode';
import {
  InlineCompletionRequest,
  InlineCompletionTriggerKind,
  type InlineCompletionItem as LspItem,
  type InlineCompletionParams,
  type LanguageClient,
} from 'vscode-languageclient/node';
import { debounceFor, flightKey, KeystrokeClock, StreamState, typedAlong } from './logic';
import { INLINE_SUGGEST_HIDE, INLINE_SUGGEST_TRIGGER, type InlineCompletionPartial } from './protocol';

interface Flight {
  key: string;
  uri: string;
  version: number;
  position: vscode.Position;
  cts: vscode.CancellationTokenSource;
  items?: LspItem[];
  started: number;
}

export class StreamingInline {
  readonly state = new StreamState();
  readonly clock = new KeystrokeClock();
  private flight: Flight | undefined;
  private lastShown: { uri: string; linePrefix: string; text: string } | undefined;
  private retriggerTimer: NodeJS.Timeout | undefined;
  onLatency: (ms: number) => void = () => {};
  onBusy: (busy: boolean) => void = () => {};

  constructor(
    private client: LanguageClient,
    private debounceMs: () => number,
    private log: vscode.LogOutputChannel,
  ) {}

  async provide(
    document: vscode.TextDocument,
    position: vscode.Position,
    context: vscode.InlineCompletionContext,
    token: vscode.CancellationToken,
  ): Promise<vscode.InlineCompletionItem[] | undefined> {
    const key = flightKey(document.uri.toString(), document.version, position.line, position.character);
    let flight = this.flight;
    if (!flight || flight.key !== key) {
      const invoked = context.triggerKind === vscode.InlineCompletionTriggerKind.Invoke;
      const linePrefix = document.lineAt(position.line).text.slice(0, position.character);
      const last = this.lastShown;
      const along = !!last && last.uri === document.uri.toString() && typedAlong(last.linePrefix, last.text, linePrefix);
      // Typing along the ghost text: the server answers from it without the model, so ask at once.
      const wait = invoked || along ? 0 : this.clock.debounce(debounceFor(false, this.debounceMs()));
      if (wait > 0) {
        await new Promise((r) => setTimeout(r, wait));
        if (token.isCancellationRequested) return undefined; // typed on: never asked the server
      }
      flight = this.start(document, position, key, invoked);
    }
    if (!this.state.shown(key) && !flight.items) {
      await this.waitForText(key, token);
    }
    if (this.flight !== flight || document.version !== flight.version) return undefined;
    const linePrefix = document.lineAt(position.line).text.slice(0, position.character);
    if (flight.items) {
      if (flight.items[0]) this.lastShown = { uri: flight.uri, linePrefix, text: textOf(flight.items[0]) };
      return flight.items.map((it) => this.toVscode(it, position));
    }
    const text = this.state.shown(key);
    if (text) this.lastShown = { uri: flight.uri, linePrefix, text };
    return text ? [new vscode.InlineCompletionItem(text, new vscode.Range(position, position))] : undefined;
  }

  onPartial(p: InlineCompletionPartial): void {
    if (this.state.apply(p) !== 'update' || !this.flight) return;
    if (this.flight.started) {
      this.onLatency(Date.now() - this.flight.started);
      this.flight.started = 0;
    }
    this.retrigger(this.flight); // the final text too: the editor may still show an earlier, shorter one
  }

  cancel(): void {
    this.flight?.cts.cancel();
    this.flight = undefined;
  }

  private start(document: vscode.TextDocument, position: vscode.Position, key: string, invoked: boolean): Flight {
    this.flight?.cts.cancel(); // $/cancelRequest for the older flight
    const flight: Flight = {
      key,
      uri: document.uri.toString(),
      version: document.version,
      position,
      cts: new vscode.CancellationTokenSource(),
      started: Date.now(),
    };
    this.flight = flight;
    this.state.start(key);
    this.onBusy(true);
    const params: InlineCompletionParams = {
      textDocument: { uri: flight.uri },
      position: { line: position.line, character: position.character },
      context: { triggerKind: invoked ? InlineCompletionTriggerKind.Invoked : InlineCompletionTriggerKind.Automatic },
    };
    this.client
      .sendRequest(InlineCompletionRequest.type, params, flight.cts.token)
      .then(
        (result) => {
          const items = Array.isArray(result) ? result : (result?.items ?? []);
          flight.items = items;
          const first = items[0] ? textOf(items[0]) : '';
          const shownBefore = this.state.shown(key);
          this.state.finish(key, first);
          if (this.flight === flight && (shownBefore !== first || items.length > 1)) this.retrigger(flight);
        },
        (err) => {
          // Superseded (ContentModified), cancelled, or the server is restarting: nothing to show.
          if (this.flight === flight) {
            flight.items = [];
            this.state.finish(key, '');
          }
          this.log.debug(`inline completion ended: ${err?.message ?? err}`);
        },
      )
      .finally(() => {
        if (this.flight === flight) this.onBusy(false);
        if (flight.started) this.onLatency(Date.now() - flight.started);
      });
    return flight;
  }

  private waitForText(key: string, token: vscode.CancellationToken): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        off();
        sub.dispose();
        resolve();
      };
      const off = this.state.onChange(() => {
        if (this.state.key !== key || this.state.text || this.state.done) done();
      });
      const sub = token.onCancellationRequested(done);
    });
  }

  /** Ask VS Code to query again, if the editor still shows the flight's document version and position.
   * Only the latest request counts (a newer partial replaces a pending one). VS Code treats a second
   * trigger at the same position and version as already answered and does not ask the provider again
   * (seen in code-server 4.100: the ghost text froze at its first streamed part), so the shown
   * suggestion is hidden first. */
  private retrigger(flight: Flight): void {
    if (this.retriggerTimer) clearTimeout(this.retriggerTimer);
    this.retriggerTimer = setTimeout(() => {
      this.retriggerTimer = undefined;
      const editor = vscode.window.activeTextEditor;
      if (!editor || this.flight !== flight) return;
      if (editor.document.uri.toString() !== flight.uri || editor.document.version !== flight.version) return;
      if (!editor.selection.active.isEqual(flight.position)) return;
      void vscode.commands
        .executeCommand(INLINE_SUGGEST_HIDE)
        .then(() => vscode.commands.executeCommand(INLINE_SUGGEST_TRIGGER));
    }, 30);
  }

  private toVscode(item: LspItem, position: vscode.Position): vscode.InlineCompletionItem {
    const range = item.range
      ? new vscode.Range(item.range.start.line, item.range.start.character, item.range.end.line, item.range.end.character)
      : new vscode.Range(position, position);
    const out = new vscode.InlineCompletionItem(textOf(item), range);
    if (item.command) out.command = { title: item.command.title, command: item.command.command, arguments: item.command.arguments };
    return out;
  }
}

function textOf(item: LspItem): string {
  return typeof item.insertText === 'string' ? item.insertText : item.insertText.value;
}
