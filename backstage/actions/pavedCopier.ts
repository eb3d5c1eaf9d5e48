/*
 * What the `paved:copier` action does, without Backstage imports, so that it runs as is under
 * Node's type stripping (tests/catalog/test_backstage_security.py runs it with a hostile form
 * and a real copier).
 *
 * Trust boundary (docs/security.md): the template that runs with `copier copy --trust` is the
 * one the Backstage operator configured (`paved.templateUrl` in app-config.yaml), never a form
 * value. The form's answers are data: they go to copier in a --data-file, and the template URL
 * answer (`paved_road_git_url`) is set from the configuration, whatever the form sent. copier
 * runs with a minimal environment: no backend token or other secret of the backend process.
 */
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** A release tag (or branch) name: never an option, never a path. */
const REF = /^[A-Za-z0-9][A-Za-z0-9._\/+-]{0,127}$/;
/** The only variables copier (and the git it starts) gets from the backend's environment. */
const PASSED_ENV = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TMPDIR', 'TZ', 'SSL_CERT_FILE', 'SSL_CERT_DIR'];
/** The answer that names the template: set from the configuration, never taken from the form. */
export const TEMPLATE_URL_ANSWER = 'paved_road_git_url';

export interface PavedCopierSettings {
  /** `paved.templateUrl`: the canonical template's git URL (server-side configuration). */
  templateUrl: string;
  /** `paved.templateRef`: the tag to render (default: copier's latest release tag). */
  templateRef?: string;
}

export interface PavedCopierInput {
  targetPath?: string;
  values: Record<string, unknown>;
  [other: string]: unknown; // anything else a (hand-written) task sends is ignored, `url` included
}

/** The directory copier renders into; refuses anything outside the workspace (a sibling too). */
export function targetInside(workspacePath: string, targetPath: string | undefined): string {
  const root = path.resolve(workspacePath);
  const target = path.resolve(root, targetPath ?? './');
  const rel = path.relative(root, target);
  if (rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) {
    throw new Error(`targetPath must stay inside the workspace (got '${targetPath}')`);
  }
  return target;
}

/** The environment of the copier child: an allowlist, so no token of the backend reaches it. */
export function childEnv(parent: Record<string, string | undefined>): Record<string, string> {
  const env: Record<string, string> = { GIT_TERMINAL_PROMPT: '0' };
  for (const name of PASSED_ENV) {
    const value = parent[name];
    if (value !== undefined) env[name] = value;
  }
  return env;
}

/** copier's arguments; the URL and ref come from the settings only. */
export function copierArgs(settings: PavedCopierSettings, dataFile: string, target: string): string[] {
  const url = settings.templateUrl;
  if (!url || url.startsWith('-')) throw new Error(`paved.templateUrl must be a git URL (got '${url}')`);
  const args = ['copy', '--trust', '--defaults', '--quiet'];
  if (settings.templateRef !== undefined) {
    if (!REF.test(settings.templateRef)) {
      throw new Error(`paved.templateRef must be a tag name such as v1.2.0 (got '${settings.templateRef}')`);
    }
    args.push(`--vcs-ref=${settings.templateRef}`);
  }
  args.push(`--data-file=${dataFile}`, url, target);
  return args;
}

/** The answers copier gets: the form's values without unset ones, the template URL from the settings. */
export function answers(settings: PavedCopierSettings, values: Record<string, unknown>): Record<string, unknown> {
  const kept = Object.fromEntries(
    Object.entries(values ?? {}).filter(([, v]) => v !== undefined && v !== null),
  );
  return { ...kept, [TEMPLATE_URL_ANSWER]: settings.templateUrl };
}

export interface CopierOutcome {
  code: number | null;
  stderr: string;
}

/** Render the configured template into the workspace. Resolves with copier's exit code and stderr. */
export async function runPavedCopier(
  settings: PavedCopierSettings,
  input: PavedCopierInput,
  workspacePath: string,
  log: (line: string) => void,
  parentEnv: Record<string, string | undefined> = process.env,
): Promise<CopierOutcome> {
  const target = targetInside(workspacePath, input.targetPath);
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'paved-copier-'));
  const dataFile = path.join(dir, 'values.json'); // JSON is YAML: copier reads it as is
  try {
    await fs.writeFile(dataFile, JSON.stringify(answers(settings, input.values)), { mode: 0o600 });
    const args = copierArgs(settings, dataFile, target);
    return await new Promise<CopierOutcome>((resolve, reject) => {
      const child = spawn('copier', args, { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv(parentEnv) });
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => log(chunk.toString().trimEnd()));
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        log(chunk.toString().trimEnd());
      });
      child.on('error', (err) => reject(new Error(`copier could not start: ${err.message}`)));
      child.on('close', (code) => resolve({ code, stderr }));
    });
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}
