#!/usr/bin/env node
// Entry point: registers tsx so the CLI and users' TypeScript migration files load without a
// build step, then hands over to the CLI. Exit codes follow the contract in README.md.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
const code = await main(process.argv);
// Let stdout/stderr drain, then exit even if a library left a handle open.
process.exitCode = code;
setTimeout(() => process.exit(code), 50).unref();
