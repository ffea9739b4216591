import { type ResolvedConfig } from '../../config/resolve-config';
import { type ExitCode } from '../exit-codes';
import { type Output } from '../output';

export async function demoCommand(_config: ResolvedConfig, _options: { rows: number }, _out: Output): Promise<ExitCode> {
  throw new Error('demo: not written yet');
}
