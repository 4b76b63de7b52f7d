// Slipstream's own LSP vocabulary on the client side, declared once: custom methods, notifications and
// commands with their shapes, the client's own commands and the configuration keys it reads. It mirrors
// server/methods.py (tests/test_protocol_sync.py checks that both name the same methods) and server/settings.py
// (tests/test_settings_sync.py checks package.json against it). No vscode import: the node tests load it.
import { NotificationType, RequestType } from 'vscode-languageserver-protocol';

// Notifications, server -> client.
export const PARTIAL = 'slipstream/inlineCompletionPartial'; // InlineCompletionPartial: streamed ghost text
export const STATUS = 'slipstream/status'; // Status: the model's state changed

// Requests, client -> server.
export const GET_STATUS = 'slipstream/getStatus'; // {uri?} -> Status
export const STATS = 'slipstream/stats'; // {} -> Stats
export const LIST_MODELS = 'slipstream/listModels'; // {} -> ModelList: the GGUF models on this machine

// workspace/executeCommand commands (the server's; vscode-languageclient registers them as VS Code commands).
export const ACCEPTED = 'slipstream.accepted'; // [itemId, acceptedChars?]: the client accepted a suggestion
export const OPTIMIZE_FUNCTION = 'slipstream.optimizeFunction'; // [uri, line] -> OptimizeResult
export const PROFILE = 'slipstream.profile'; // [uri, workload?] -> Profile

export const NOTIFICATIONS = [PARTIAL, STATUS] as const;
export const REQUESTS = [GET_STATUS, STATS, LIST_MODELS] as const;
export const COMMANDS = [ACCEPTED, OPTIMIZE_FUNCTION, PROFILE] as const;

// -- shapes (what goes over the wire, as sent) -------------------------------------------------------

export interface Position {
  line: number;
  character: number;
}

export interface InlineCompletionPartial {
  uri: string;
  version: number;
  position: Position;
  requestId: unknown;
  text: string;
  done: boolean;
}

export type ServerState = 'starting' | 'loading' | 'ready' | 'error' | 'disabled';

export interface ModelInfo {
  name: string;
  path: string;
  fim: boolean;
  /** Remote engines only (inference/remote.py RemoteModel.describe). */
  engine?: 'openai' | 'llamacpp';
  endpoint?: string;
  model?: string;
  fimTemplate?: string;
}

export interface Status {
  state: ServerState;
  detail?: string;
  model?: ModelInfo | null;
  enabled?: boolean;
  busy?: boolean;
  stats?: Record<string, unknown>;
  cache?: Record<string, unknown> | null;
  recent?: Array<Record<string, unknown>>;
  /** With {uri}: the server's copy of that document, or null when it has none. */
  document?: { version: number; length: number; sha256: string } | null;
}

export interface GetStatusParams {
  uri?: string;
}

/** One context class's local acceptance counters (heuristics/telemetry.py). */
export interface StatsClass {
  shown: number;
  accepted: number;
  accepted_chars: number;
  accept_rate: number | null;
  mean_accepted_chars: number | null;
  retention_30s: number | null;
  retention_120s: number | null;
  [counter: string]: number | null;
}

export interface Stats {
  enabled: boolean;
  directory?: string;
  error?: string;
  classes: Record<string, StatsClass>;
  line_factors?: Record<string, number>;
}

/** One model file found on this machine (inference/discovery.py ModelEntry). */
export interface ModelEntry {
  /** As its store names it: Ollama's name:tag, the hub's org/repo/file, LM Studio's publisher/repo/file. */
  name: string;
  /** The value for slipstream.modelPath (the bundled default's file: pick it as ''). */
  path: string;
  source: 'default' | 'huggingface' | 'lmstudio' | 'ollama' | 'folder';
  size: number;
  quantization: string | null;
  architecture: string | null;
  context_length: number | null;
  /** The vocabulary has fill-in-the-middle markers. */
  fim: boolean;
  /** Why it cannot be used; null: usable. */
  error: string | null;
}

export interface ModelList {
  models: ModelEntry[];
  notes: string[];
}

/** optimizer/pipeline.py OptimizeResult, each variant's edits replaced by a WorkspaceEdit (server/optimize.py). */
export interface OptimizeResult {
  function: string;
  inputs?: number;
  baseline?: Record<string, number>;
  variants: Array<{
    title: string;
    rule_or_model: string;
    speedup: number;
    speedup_ci: [number, number];
    mem_ratio: number;
    inputs_verified: number;
    needs_review: boolean;
    checks: number;
    edit?: unknown;
  }>;
  rejected?: Array<Record<string, string>>;
  error?: string;
  generated?: number;
  workload?: string;
  notes?: string[];
  enriched?: number;
  derived?: number; // inputs derived from the captured ones' types and shapes
  isolation?: string;
}

/** optimizer/profile.py Profile; the server sends the 20 hottest functions (with their uri) and the line count. */
export interface Profile {
  tool: string;
  workload: string;
  status: number;
  elapsed_s: number;
  lines: number;
  functions: Array<{ path: string; uri: string; name: string; line: number; cpu_percent: number; peak_mb: number }>;
  note: string;
  error: string;
}

/** The server's commands: their arguments and results. */
export interface ServerCommands {
  [ACCEPTED]: { args: [itemId: string, acceptedChars?: number]; result: null };
  [OPTIMIZE_FUNCTION]: { args: [uri: string, line: number]; result: OptimizeResult };
  [PROFILE]: { args: [uri: string, workload?: string]; result: Profile };
}

// -- typed message types for vscode-languageclient ----------------------------------------------------

export const PartialNotification = new NotificationType<InlineCompletionPartial>(PARTIAL);
export const StatusNotification = new NotificationType<Status>(STATUS);
export const GetStatusRequest = new RequestType<GetStatusParams, Status, void>(GET_STATUS);
export const StatsRequest = new RequestType<Record<string, never>, Stats, void>(STATS);
export const ListModelsRequest = new RequestType<Record<string, never>, ModelList, void>(LIST_MODELS);

// -- the client's own commands (package.json contributes.commands, checked by test/protocol.test.ts) -----

export const ClientCommands = {
  toggle: 'slipstream.toggle',
  selectModel: 'slipstream.selectModel',
  setApiKey: 'slipstream.setApiKey',
  optimizeAtCursor: 'slipstream.optimizeAtCursor',
  profileWorkload: 'slipstream.profileWorkload',
  showStats: 'slipstream.showStats',
  restart: 'slipstream.restart',
  showLogs: 'slipstream.showLogs',
  menu: 'slipstream.menu',
} as const;

/** Internal (not in the palette): the server's optimize command, run through the client to save and report. */
export const OPTIMIZE_AT = 'slipstream.optimizeAt';

/** VS Code's own command that asks the inline completion providers again. */
export const INLINE_SUGGEST_TRIGGER = 'editor.action.inlineSuggest.trigger';
/** VS Code's own command that hides the inline suggestion (before a re-trigger: see streaming.ts). */
export const INLINE_SUGGEST_HIDE = 'editor.action.inlineSuggest.hide';

// -- configuration ----------------------------------------------------------------------------------

/** The language client's id (its trace setting would be `slipstream.trace.server`). */
export const CLIENT_ID = 'slipstream';

/** package.json's configuration section: every setting is `slipstream.<key>`; the client sends it all. */
export const SECTION = 'slipstream';

/** Settings the client alone reads; they are not server settings (server/settings.py SPEC must not name them). */
export const CLIENT_ONLY_SETTINGS = ['pythonPath', 'wheelDirectory', 'debounceMs'] as const;

/** The keys (within SECTION) the client reads or writes itself. */
export const SettingKeys = {
  enable: 'enable',
  modelPath: 'modelPath',
  storagePath: 'storagePath',
  optimizerWorkload: 'optimizer.workload',
  pythonPath: 'pythonPath',
  wheelDirectory: 'wheelDirectory',
  debounceMs: 'debounceMs',
} as const;
