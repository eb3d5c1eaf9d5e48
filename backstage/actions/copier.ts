/*
 * Scaffolder action `paved:copier`: renders the Paved Road template with copier
 * into the task workspace. Register it in the Backstage backend as a module:
 *
 *   // packages/backend/src/index.ts
 *   backend.add(import('./modules/paved-copier'));   // this file's module below
 *
 * The scaffolder host needs Python with copier installed at the version the
 * template pins (pyproject.toml), e.g. `pipx install copier==9.19.1`, and git.
 *
 * It runs exactly:
 *   copier copy --trust --defaults --quiet [--vcs-ref REF] --data-file <values.yml> URL <workspace>/<targetPath>
 * which is what tests/catalog/test_backstage_template.py runs with the form's
 * values. `--trust` because the template has migrations (copier "unsafe").
 * When copier fails, the task fails with copier's message as one line (for a
 * bad answer: the validator's message naming the field), not a traceback;
 * the full output stays in the task log.
 */
import { createBackendModule } from '@backstage/backend-plugin-api';
import {
  createTemplateAction,
  scaffolderActionsExtensionPoint,
} from '@backstage/plugin-scaffolder-node';
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { copierErrorLine } from './copierError';

/** Run copier; resolve on exit 0, else reject with copier's message as one line. */
function runCopier(args: string[], logger: { info(msg: string): void }): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('copier', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => logger.info(chunk.toString().trimEnd()));
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      logger.info(chunk.toString().trimEnd());
    });
    child.on('error', (err) => reject(new Error(`copier could not start: ${err.message}`)));
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`copier: ${copierErrorLine(stderr, code)}`)),
    );
  });
}

export function createCopierAction() {
  return createTemplateAction({
    id: 'paved:copier',
    description: 'Render a copier template (the Paved Road) into the workspace',
    schema: {
      input: {
        url: (z) => z.string().describe('Git URL of the copier template'),
        ref: (z) => z.string().optional().describe('Template tag to render (default: the latest release tag)'),
        targetPath: (z) => z.string().default('./').describe('Directory inside the workspace'),
        values: (z) => z.record(z.string(), z.any()).describe('Answers to the template questions'),
      },
    },
    async handler(ctx) {
      const target = path.resolve(ctx.workspacePath, ctx.input.targetPath ?? './');
      if (!target.startsWith(path.resolve(ctx.workspacePath))) {
        throw new Error(`targetPath must stay inside the workspace (got '${ctx.input.targetPath}')`);
      }
      // Unset (undefined) answers are dropped so copier applies its own defaults
      // and `when:` conditions.
      const values = Object.fromEntries(
        Object.entries(ctx.input.values).filter(([, v]) => v !== undefined && v !== null),
      );
      const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'paved-copier-'));
      const dataFile = path.join(dir, 'values.json'); // JSON is YAML: copier reads it as is
      await fs.writeFile(dataFile, JSON.stringify(values));
      const args = ['copy', '--trust', '--defaults', '--quiet'];
      if (ctx.input.ref) args.push('--vcs-ref', ctx.input.ref);
      args.push('--data-file', dataFile, ctx.input.url, target);
      try {
        await runCopier(args, ctx.logger);
      } finally {
        await fs.rm(dir, { recursive: true, force: true });
      }
    },
  });
}

export default createBackendModule({
  pluginId: 'scaffolder',
  moduleId: 'paved-copier',
  register(env) {
    env.registerInit({
      deps: { scaffolder: scaffolderActionsExtensionPoint },
      async init({ scaffolder }) {
        scaffolder.addActions(createCopierAction());
      },
    });
  },
});
