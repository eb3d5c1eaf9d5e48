// Runs, with Renovate's own modules from the installed `renovate` package, the
// part of a branch update that its local platform skips (`--platform=local`
// stops after the lookup), the way lib/workers/repository/update/branch/
// get-updated.ts does it for a branch:
//   - turn the CLI's lookup results (its report's packageFiles) into the
//     branches it would open (workers/repository/updates/branchify.ts; the
//     report itself lists branches only after a non-dry run);
//   - resolve the repository config (defaults <- .github/renovate.json, presets
//     resolved) and apply its packageRules to each dependency given;
//   - clone the repository, run the copier manager's updateArtifacts (the
//     `copier update` command line it builds from allowScripts/ignoreScripts);
//   - apply the dockerfile manager's autoReplace to a base-image dependency.
//
// usage: node renovate_branch.mjs REQUEST.json   (last stdout line: JSON result)
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const req = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const mod = (rel) => import(pathToFileURL(join(req.renovateRoot, 'dist', rel)).href);

const logger = await mod('logger/index.js');
await logger.init?.();
const { GlobalConfig } = await mod('config/global.js');
const { getConfig } = await mod('config/defaults.js');
const { resolveConfigPresets } = await mod('config/presets/index.js');
const { mergeChildConfig } = await mod('config/utils.js');
const { applyDatasourceDefaultConfig, getManagerConfig } = await mod('config/index.js');
const { applyPackageRules } = await mod('util/package-rules/index.js');
const packageCache = await mod('util/cache/package/index.js');
const git = await mod('util/git/index.js');
const copier = await mod('modules/manager/copier/artifacts.js');
const { doAutoReplace } = await mod('workers/repository/update/branch/auto-replace.js');
const { branchifyUpgrades } = await mod('workers/repository/updates/branchify.js');

// The admin (global) config, as a self-hosted Renovate gets it.
GlobalConfig.set({ ...req.globalConfig, localDir: req.localDir, cacheDir: req.cacheDir, binarySource: 'global' });
await packageCache.init({ cacheDir: req.cacheDir });

const { config: repoConfig } = await resolveConfigPresets(mergeChildConfig(getConfig(), req.repoConfig));

// One update's config, built as lib/workers/repository/updates/flatten.ts
// builds it (manager config <- dependency <- update, then packageRules); a
// branch of one update carries exactly this config (updates/generate.ts).
async function resolve(dep) {
  let config = mergeChildConfig(getManagerConfig(repoConfig, dep.manager), dep);
  config = await applyDatasourceDefaultConfig(config);
  config = await applyPackageRules(config, 'datasource-merge');
  if (config.updateType) config = mergeChildConfig(config, config[config.updateType]);
  return applyPackageRules(config, 'update-type-merge');
}

const result = { resolved: [] };
for (const dep of req.resolve ?? []) {
  const c = await resolve(dep);
  result.resolved.push({
    manager: dep.manager, depName: dep.depName, packageFile: dep.packageFile, depType: dep.depType ?? null,
    enabled: c.enabled, groupName: c.groupName ?? null, pinDigests: c.pinDigests ?? false,
    rangeStrategy: c.rangeStrategy, separateMajorMinor: c.separateMajorMinor, ignoreScripts: c.ignoreScripts,
  });
}

mkdirSync(req.localDir, { recursive: true });
await git.initRepo({ url: req.repoUrl, defaultBranch: 'main' });
await git.syncGit();

if (req.packageFiles) {
  const { branches } = await branchifyUpgrades({ ...repoConfig, repoIsOnboarded: true, errors: [], warnings: [] }, req.packageFiles);
  result.branches = branches.map((b) => ({
    branchName: b.branchName,
    upgrades: b.upgrades.map((u) => ({
      manager: u.manager, packageFile: u.packageFile, depName: u.depName,
      newValue: u.newValue ?? null, newDigest: u.newDigest ?? null, updateType: u.updateType,
    })),
  }));
}

if (req.copierDep) {
  const config = await resolve({ ...req.copierDep, manager: 'copier' });
  result.copierIgnoreScripts = config.ignoreScripts;
  result.copier = await copier.updateArtifacts({
    packageFileName: req.copierDep.packageFile,
    updatedDeps: [req.copierDep],
    newPackageFileContent: '',
    config,
  });
}

if (req.dockerDep) {
  const content = readFileSync(join(req.dockerDep.localFile), 'utf8');
  const upgrade = await resolve({ ...req.dockerDep, manager: 'dockerfile' });
  try {
    result.dockerfile = { content: await doAutoReplace(upgrade, content, false) };
  } catch (err) {
    result.dockerfile = { error: err.message };
  }
}
console.log(JSON.stringify(result));
