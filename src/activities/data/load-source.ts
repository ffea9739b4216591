// Where a data step's load samples come from. Injected into the activities so tests can raise
// "load" with a fake source; the worker uses the real one (host load + pg_stat_activity).
import { type Db } from '../../db/connect';

export interface HostLoad {
  cpuPercent: number;
  memoryPercent: number;
}

export interface DatabaseLoad {
  activeBackends: number;
  lockWaiters: number;
  replicaLagMs: number | null;
}

export interface LoadSource {
  host(): Promise<HostLoad>;
  database(db: Db): Promise<DatabaseLoad>;
}
