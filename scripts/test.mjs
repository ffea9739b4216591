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
