// Workflow entry points registered on the worker. Deterministic code only: no Node built-ins, no
// IO (enforced by lint). All IO happens in activities.
export { migration } from './migration';
export { rollback } from './rollback';
export { runner } from './runner';
