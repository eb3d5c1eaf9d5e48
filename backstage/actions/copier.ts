/*
 * Scaffolder action `paved:copier`: renders the Paved Road template with copier
 * into the task workspace. Register it in the Backstage backend as a module:
 *
 *   // packages/backend/src/index.ts
 *   backend.add(import('./modules/paved-copier'));   // this file's module below
 *
 * and name the template in app-config.yaml (server-side: the form cannot choose it):
 *
 *   paved:
 *     templateUrl: https://git.example.com/platform/paved-road.git
 *     templateRef: v2.1.0        # optional; default: the latest release tag
 *
 * The scaffolder host needs Python with copier installed at the version the
 * template pins (pyproject.toml), e.g. `pipx install copier==9.19.1`, and git.
 *
 * It runs exactly (pavedCopier.ts):
 *   copier copy --trust --defaults --quiet [--vcs-ref=REF] --data-file=<values.json> <paved.templateUrl> <workspace>/<targetPath>
 * with an allowlisted environment (PATH, HOME, locale, TMPDIR, CA files: no backend token).
 * `--trust` because the template has migrations (copier "unsafe"); only the configured
 * template ever runs with it. The form's answers are data in values.json, and
 * `paved_road_git_url` is the configured URL whatever the form sent.
 * When copier fails, the task fails with copier's message as one line (for a
 * bad answer: the validator's message naming the field), not a traceback;
 * the full output stays in the task log.
 */
import { coreServices, createBackendModule } from '@backstage/backend-plugin-api';
import {
  createTemplateAction,
  scaffolderActionsExtensionPoint,
} from '@backstage/plugin-scaffolder-node';
import { copierErrorLine } from './copierError';
import { PavedCopierSettings, runPavedCopier } from './pavedCopier';

export function createCopierAction(settings: PavedCopierSettings) {
  return createTemplateAction({
    id: 'paved:copier',
    description: 'Render the configured copier template (the Paved Road) into the workspace',
    schema: {
      input: {
        targetPath: (z) => z.string().default('./').describe('Directory inside the workspace'),
        values: (z) => z.record(z.string(), z.any()).describe('Answers to the template questions'),
      },
    },
    async handler(ctx) {
      const { code, stderr } = await runPavedCopier(settings, ctx.input, ctx.workspacePath, (line) =>
        ctx.logger.info(line),
      );
      if (code !== 0) throw new Error(`copier: ${copierErrorLine(stderr, code)}`);
    },
  });
}

export default createBackendModule({
  pluginId: 'scaffolder',
  moduleId: 'paved-copier',
  register(env) {
    env.registerInit({
      deps: { scaffolder: scaffolderActionsExtensionPoint, config: coreServices.rootConfig },
      async init({ scaffolder, config }) {
        scaffolder.addActions(
          createCopierAction({
            templateUrl: config.getString('paved.templateUrl'),
            templateRef: config.getOptionalString('paved.templateRef'),
          }),
        );
      },
    });
  },
});
