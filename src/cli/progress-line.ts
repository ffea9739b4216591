import { type MigrationProgress } from '../workflows/definitions';

/** One human line per progress change of a migration or rollback. */
export function describeProgress(p: MigrationProgress): string {
  const step = p.current ? ` ${p.mode === 'up' && p.status === 'running' ? `step ${p.current.stepIndex + 1}/${p.stepCount}: ` : ''}${p.current.label}` : '';
  switch (p.status) {
    case 'running':
      return `  ${p.migrationId}:${step}`;
    case 'compensating':
      return `  ${p.migrationId}: compensating${step}${p.error ? ` (because ${p.error})` : ''}`;
    case 'compensation_failed':
      return `  ${p.migrationId}: COMPENSATION FAILED${step}: ${p.error ?? ''}`;
    default:
      return `  ${p.migrationId}: ${p.status}${step}`;
  }
}
