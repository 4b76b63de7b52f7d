import * as vscode from 'vscode';
import { modelLabel } from './logic';
import { ClientCommands, type Status } from './protocol';

/** The server's status, or "stopped" when the client has no server running. */
export type ServerStatus = Omit<Status, 'state'> & { state: Status['state'] | 'stopped' };

const STATUS_BAR_ITEM = 'slipstream.status'; // the status bar item's id (not a protocol method)

/** Loading model / ready / generating / error, the model's name and the last latency; a click opens the menu. */
export class StatusBar implements vscode.Disposable {
  private item = vscode.window.createStatusBarItem(STATUS_BAR_ITEM, vscode.StatusBarAlignment.Right, 100);
  private status: ServerStatus = { state: 'starting' };
  private lastMs: number | undefined;
  private generating = false;

  constructor() {
    this.item.name = 'Slipstream';
    this.item.command = ClientCommands.menu;
    this.render();
    this.item.show();
  }

  set(status: ServerStatus): void {
    this.status = { ...this.status, ...status };
    if (status.model === undefined && status.state !== 'ready') this.status.model = this.status.model ?? null;
    this.render();
  }

  latency(ms: number): void {
    this.lastMs = ms;
    this.render();
  }

  busy(busy: boolean): void {
    this.generating = busy;
    this.render();
  }

  private render(): void {
    const s = this.status;
    const model = modelLabel(s.model);
    let text: string;
    switch (s.state) {
      case 'ready':
        text = this.generating ? `$(sync~spin) Slipstream · ${model}` : `$(sparkle) Slipstream · ${model}${this.lastMs !== undefined ? ` · ${this.lastMs} ms` : ''}`;
        break;
      case 'loading':
        text = '$(loading~spin) Slipstream: loading model';
        break;
      case 'disabled':
        text = `$(circle-slash) Slipstream (off) · ${model}`;
        break;
      case 'error':
        text = '$(error) Slipstream: error';
        break;
      case 'stopped':
        text = '$(debug-stop) Slipstream: stopped';
        break;
      default:
        text = '$(loading~spin) Slipstream: starting';
    }
    this.item.text = text;
    this.item.tooltip = [`Slipstream — ${s.state}`, model && `model: ${s.model?.path}${s.model?.fim ? ' (fill-in-the-middle)' : ''}`, s.detail]
      .filter(Boolean)
      .join('\n');
    this.item.backgroundColor = s.state === 'error' ? new vscode.ThemeColor('statusBarItem.errorBackground') : undefined;
  }

  dispose(): void {
    this.item.dispose();
  }
}
