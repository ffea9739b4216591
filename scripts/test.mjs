// `npm test` entry. Plain JavaScript on purpose: on a fresh clone node_modules (and so tsx) may
// not exist yet, so this file installs dependencies first and only then hands over to the
// TypeScript harness (scripts/test-run.ts), passing arguments through and returning its exit code.
import { spawnSync, spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

function mtime(file) {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return undefined;
  }
}

// npm writes node_modules/.package-lock.json after every install: if the lockfile is newer than
// it, dependencies changed since the last install.
const lockfile = path.join(repo, 'package-lock.json');
const installedMarker = path.join(repo, 'node_modules', '.package-lock.json');
const hasLock = existsSync(lockfile);
const installed = mtime(installedMarker);
const stale = !existsSync(path.join(repo, 'node_modules')) || installed === undefined || (hasLock && (mtime(lockfile) ?? 0) > installed);

if (stale) {
  const args = hasLock ? ['ci'] : ['install'];
  console.log(`[test] dependencies missing or out of date: npm ${args[0]}`);
  const result = spawnSync(npm, args, { cwd: repo, stdio: 'inherit', shell: process.platform === 'win32' });
  if (result.status !== 0) {
    console.error(`[test] npm ${args[0]} failed (${result.error?.message ?? `exit code ${result.status}`})`);
    process.exit(result.status || 1);
  }
}

// The Web UI test drives the system Chromium (Debian's `chromium` package; playwright-core brings
// no browser). As root we install it, like everything else `npm test` needs; otherwise that test
// fails and says how to install it. Only when the Web UI test is among the files to run.
// STOCKRX_CHROMIUM_PATH (read by test/helpers/browser.ts) names another browser: nothing to install.
const CHROMIUM = process.env.STOCKRX_CHROMIUM_PATH || '/usr/bin/chromium';
const INSTALL_HINT = 'apt-get update && apt-get install -y --no-install-recommends chromium';
const webUiTest = path.join(repo, 'test', 'integration', 'web-ui.test.ts');
const targets = process.argv.slice(2).filter((arg) => !arg.startsWith('-'));
const runsWebUiTest =
  targets.length === 0 ||
  targets.some((target) => {
    const full = path.resolve(repo, target);
    return full === webUiTest || webUiTest.startsWith(full + path.sep);
  });
const canInstall = process.platform === 'linux' && !process.env.STOCKRX_CHROMIUM_PATH && process.getuid?.() === 0;
if (runsWebUiTest && !existsSync(CHROMIUM) && !canInstall) {
  console.error(`[test] ${CHROMIUM} is missing and cannot be installed from here: the Web UI test will fail. As root: ${INSTALL_HINT}`);
} else if (runsWebUiTest && !existsSync(CHROMIUM)) {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const apt = (args) => {
    console.log(`[test] ${CHROMIUM} is missing (the Web UI test needs it): apt-get ${args.join(' ')}`);
    return spawnSync('apt-get', args, { stdio: 'inherit', env });
  };
  const update = apt(['update']);
  const install = update.status === 0 ? apt(['install', '-y', '--no-install-recommends', 'chromium']) : update;
  if (install.status !== 0) {
    // Not fatal: every other test can still run; the Web UI test reports the missing browser.
    console.error(`[test] could not install chromium (${install.error?.message ?? `exit code ${install.status}`}); the Web UI test will fail`);
  }
}

const child = spawn(process.execPath, ['--import', 'tsx', path.join('scripts', 'test-run.ts'), ...process.argv.slice(2)], {
  cwd: repo,
  stdio: 'inherit',
});
// Ctrl-C reaches the child through the terminal's process group; the harness tears down and
// exits, and we mirror its exit. Ignore the signal here so we outlive it to report that code.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    if (signal !== 'SIGINT') child.kill(signal);
  });
}
child.on('exit', (code, signal) => {
  process.exit(code ?? (signal === 'SIGINT' ? 130 : signal === 'SIGTERM' ? 143 : 1));
});
