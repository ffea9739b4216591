// Host CPU and memory for the load controller: memory from `systeminformation`, CPU from the
// kernel's counters directly (cpu-load.ts says why not through systeminformation). Cached for
// about a second: several steps (and the monitor) may ask between two batches.
import si from 'systeminformation';
import { createCpuLoadReader } from './cpu-load';

/** NaN when the platform gives no usable figure. */
export interface HostLoad {
  /** CPU busy % across all cores since the previous reading. */
  cpuPercent: number;
  /** (total − available) / total: page cache the kernel can drop does not count as used. */
  memoryPercent: number;
}

/** The two readings, in systeminformation's shapes; replaceable in tests. */
export interface HostLoadSource {
  currentLoad(): Promise<{ currentLoad: number }>;
  mem(): Promise<{ total: number; available: number }>;
}

export interface HostLoadSamplerOptions {
  /** Readings younger than this are reused. */
  ttlMs?: number;
  source?: HostLoadSource;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export interface HostLoadSampler {
  sample(): Promise<HostLoad>;
}

export const HOST_LOAD_TTL_MS = 1000;
/** CPU is measured as the change since the previous reading, and the very first reading covers
 *  everything since boot: so the first sample primes, waits, and reads again. */
const PRIME_GAP_MS = 250;

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function createHostLoadSampler(options: HostLoadSamplerOptions = {}): HostLoadSampler {
  const ttlMs = options.ttlMs ?? HOST_LOAD_TTL_MS;
  const source = options.source ?? { currentLoad: createCpuLoadReader(), mem: () => si.mem() };
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? defaultSleep;
  let cached: { at: number; value: HostLoad } | null = null;
  let inFlight: Promise<HostLoad> | null = null;
  let primed = false;

  const read = async (): Promise<HostLoad> => {
    if (!primed) {
      // Throw away the since-boot figure so the first reading describes now.
      await source.currentLoad();
      await sleep(PRIME_GAP_MS);
      primed = true;
    }
    const [load, mem] = await Promise.all([source.currentLoad(), source.mem()]);
    return {
      cpuPercent: percent(load.currentLoad),
      memoryPercent: mem.total > 0 ? percent(((mem.total - mem.available) / mem.total) * 100) : Number.NaN,
    };
  };

  return {
    async sample() {
      if (cached && now() - cached.at < ttlMs) return cached.value;
      // Concurrent callers share one reading instead of racing systeminformation's delta state.
      inFlight ??= read()
        .then((value) => {
          cached = { at: now(), value };
          return value;
        })
        .finally(() => {
          inFlight = null;
        });
      return inFlight;
    },
  };
}

let shared: HostLoadSampler | null = null;

/** Host load from the process-wide sampler (one cache per worker process). */
export function sampleHostLoad(): Promise<HostLoad> {
  shared ??= createHostLoadSampler();
  return shared.sample();
}

/** NaN for an unusable reading: the controller treats it as unknown, where 0 would claim "idle". */
function percent(value: number): number {
  if (!Number.isFinite(value)) return Number.NaN;
  return Math.min(100, Math.max(0, Math.round(value * 10) / 10));
}
