// The worker's load source: host CPU (kernel counters) and memory (systeminformation), database-side load from
// pg_stat_activity and pg_stat_replication.
import { type LoadSource } from '../data/load-source';
import { sampleDatabaseLoad } from './database-load';
import { sampleHostLoad } from './host-load';

export const realLoadSource: LoadSource = {
  host: () => sampleHostLoad(),
  database: (db) => sampleDatabaseLoad(db),
};
