// CPU busy % across all cores since the previous call, from the kernel's per-core counters that
// os.cpus() reads (/proc/stat on Linux) — the figure systeminformation's currentLoad() computes.
// Not through systeminformation: on Linux its currentLoad() also runs
// `sh -c 'cat /proc/stat | grep cpu'` with execSync on every call, which blocks the worker's event
// loop (the canary sampler's timers with it) and starts three processes a second on cores the
// database may share; beside B2's foreground on two cores that showed up in its tail latency.
import os from 'node:os';

export interface CpuTimes {
  busy: number;
  total: number;
}

/** Summed over cores. Steal and guest time are not in os.cpus(); idle is idle. */
export function cpuTimes(cpus: Pick<os.CpuInfo, 'times'>[] = os.cpus()): CpuTimes {
  let busy = 0;
  let total = 0;
  for (const { times } of cpus) {
    const all = times.user + times.nice + times.sys + times.idle + times.irq;
    total += all;
    busy += all - times.idle;
  }
  return { busy, total };
}

/** Busy % between two readings; NaN when no time passed (the controller reads NaN as unknown). */
export function busyPercent(previous: CpuTimes, current: CpuTimes): number {
  const total = current.total - previous.total;
  if (!(total > 0)) return Number.NaN;
  return ((current.busy - previous.busy) / total) * 100;
}

/** A currentLoad() in systeminformation's shape: the first call covers everything since boot. */
export function createCpuLoadReader(read: () => CpuTimes = cpuTimes): () => Promise<{ currentLoad: number }> {
  let previous: CpuTimes = { busy: 0, total: 0 };
  return async () => {
    const current = read();
    const currentLoad = busyPercent(previous, current);
    previous = current;
    return { currentLoad };
  };
}
