// "Slipstream: Select Model…": the GGUF models the server finds on this machine (slipstream/listModels) in a
// quick pick; picking one sets slipstream.modelPath (user settings), and the server loads it without a restart.
// The items are built by pure functions (tested in test/models.test.ts); `vscode` is imported for its types
// only and handed in by extension.ts, so the node tests load this module.
import type * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';
import { ListModelsRequest, type ModelEntry, type ModelList, SECTION, SettingKeys } from './protocol';

/** A quick pick item, and what picking it does. */
export interface ModelPick {
  label: string;
  description?: string;
  detail?: string;
  alwaysShow?: boolean;
  /** What slipstream.modelPath becomes ('' is the bundled default); undefined: not a model to pick. */
  modelPath?: string;
  /** Why the model cannot be used (a broken entry). */
  problem?: string;
  /** The "Browse…" entry: choose a file instead. */
  browse?: boolean;
}

export type PickOutcome = { kind: 'set'; modelPath: string } | { kind: 'browse' } | { kind: 'explain'; message: string };

const SOURCE_LABELS: Record<ModelEntry['source'], string> = {
  default: 'bundled',
  huggingface: 'Hugging Face',
  lmstudio: 'LM Studio',
  ollama: 'Ollama',
  folder: 'folder',
};

/** 1536 -> "1.5 KiB", 253113024 -> "241 MiB": as `slipstream models` prints sizes. */
export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  let size = bytes / 1024;
  for (const unit of ['KiB', 'MiB', 'GiB', 'TiB']) {
    if (size < 1024 || unit === 'TiB') return size < 10 ? `${size.toFixed(1)} ${unit}` : `${Math.round(size)} ${unit}`;
    size /= 1024;
  }
  return `${bytes} B`; // not reached
}

/** Whether `m` is the model slipstream.modelPath names now (empty: the bundled default). */
export function isCurrent(m: ModelEntry, currentPath: string): boolean {
  const current = currentPath.trim();
  return m.source === 'default' ? current === '' || (m.path !== '' && current === m.path) : current !== '' && current === m.path;
}

/** The quick pick: the bundled default first, usable models in the server's order, broken ones after, then Browse…. */
export function modelPicks(models: readonly ModelEntry[], currentPath: string): ModelPick[] {
  const usable: ModelPick[] = [];
  const broken: ModelPick[] = [];
  let defaultPick: ModelPick | undefined;
  for (const m of models) {
    const current = isCurrent(m, currentPath);
    const source = SOURCE_LABELS[m.source] ?? m.source;
    if (m.error) {
      broken.push({
        label: `$(warning) ${m.name}`,
        description: [m.size ? formatSize(m.size) : undefined, source, 'cannot be used'].filter(Boolean).join(' · '),
        detail: m.error,
        problem: m.error,
      });
      continue;
    }
    const pick: ModelPick = {
      label: `${current ? '$(check) ' : ''}${m.name}`,
      description: [formatSize(m.size), m.quantization ?? 'unknown quantization', m.fim ? 'FIM yes' : 'FIM no', source, current ? 'current' : undefined]
        .filter(Boolean)
        .join(' · '),
      detail: m.path,
      modelPath: m.source === 'default' ? '' : m.path,
    };
    if (m.source === 'default' && !defaultPick) defaultPick = pick;
    else usable.push(pick);
  }
  // The bundled default is always offered: picking it clears slipstream.modelPath, whatever the server found.
  defaultPick ??= {
    label: `${currentPath.trim() === '' ? '$(check) ' : ''}Bundled default (Gemma 3 270M)`,
    description: currentPath.trim() === '' ? 'bundled · current' : 'bundled',
    modelPath: '',
  };
  return [defaultPick, ...usable, ...broken, { label: '$(folder-opened) Browse for a GGUF file…', alwaysShow: true, browse: true }];
}

/** What picking `pick` does. */
export function pickOutcome(pick: ModelPick): PickOutcome {
  if (pick.browse) return { kind: 'browse' };
  if (pick.modelPath !== undefined) return { kind: 'set', modelPath: pick.modelPath };
  const name = pick.label.replace(/^\$\([^)]*\)\s*/, '');
  return { kind: 'explain', message: `Slipstream: ${name} cannot be used: ${pick.problem ?? 'unknown problem'}` };
}

/** The command: ask the server, show the pick, set slipstream.modelPath globally (the server reloads on the change). */
export async function selectModel(api: typeof vscode, client: LanguageClient | undefined, log?: vscode.LogOutputChannel): Promise<void> {
  const config = api.workspace.getConfiguration(SECTION);
  let list: ModelList | undefined;
  if (client?.isRunning()) {
    try {
      list = await api.window.withProgress({ location: api.ProgressLocation.Window, title: 'Slipstream: looking for models…' }, () =>
        client.sendRequest(ListModelsRequest, {}),
      );
    } catch (err) {
      log?.warn(`listing models failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  for (const note of list?.notes ?? []) log?.info(`models: ${note}`);
  const picks = modelPicks(list?.models ?? [], config.get<string>(SettingKeys.modelPath, ''));
  const pick = await api.window.showQuickPick(picks, {
    title: 'Slipstream: Select Model',
    placeHolder: list ? 'A GGUF model on this machine (FIM yes: true fill-in-the-middle prompts)' : 'The server is not running: the bundled default, or browse for a file',
    matchOnDescription: true,
    matchOnDetail: true,
  });
  if (!pick) return;
  const outcome = pickOutcome(pick);
  let modelPath: string | undefined;
  if (outcome.kind === 'explain') {
    void api.window.showWarningMessage(outcome.message);
  } else if (outcome.kind === 'browse') {
    const picked = await api.window.showOpenDialog({ canSelectMany: false, filters: { 'GGUF models': ['gguf'] }, openLabel: 'Use this model' });
    modelPath = picked?.[0]?.fsPath;
  } else {
    modelPath = outcome.modelPath;
  }
  if (modelPath !== undefined) await config.update(SettingKeys.modelPath, modelPath, api.ConfigurationTarget.Global);
}
