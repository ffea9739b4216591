// CPU busy % from per-core counters: the difference between two readings, summed over cores.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { busyPercent, cpuTimes, createCpuLoadReader, type CpuTimes } from '../../src/activities/load/cpu-load';

const core = (user: number, sys: number, idle: number) => ({ times: { user, nice: 0, sys, idle, irq: 0 } });

test('busy and total are summed over cores; idle is the only time not busy', () => {
  assert.deepEqual(cpuTimes([core(100, 50, 850), core(300, 0, 700)]), { busy: 450, total: 2000 });
});

test('busy % is the change between two readings, not the totals since boot', () => {
  const before = cpuTimes([core(1000, 0, 9000), core(1000, 0, 9000)]);
  const after = cpuTimes([core(1100, 0, 9100), core(1000, 50, 9150)]); // 150 busy of 400
  assert.equal(busyPercent(before, after), 37.5);
  assert.ok(Number.isNaN(busyPercent(after, after)), 'no time passed: unknown, not 0 % idle');
});

test('the reader keeps its previous reading: the first call covers everything since boot', async () => {
  const readings: CpuTimes[] = [{ busy: 10, total: 100 }, { busy: 60, total: 200 }, { busy: 60, total: 300 }];
  const read = createCpuLoadReader(() => readings.shift()!);
  assert.equal((await read()).currentLoad, 10);
  assert.equal((await read()).currentLoad, 50);
  assert.equal((await read()).currentLoad, 0);
});

test('the real counters give a percentage', async () => {
  const read = createCpuLoadReader();
  await read();
  for (let i = 0; i < 2e6; i++) Math.sqrt(i); // some time passes
  const { currentLoad } = await read();
  assert.ok(Number.isNaN(currentLoad) || (currentLoad >= 0 && currentLoad <= 100), `got ${currentLoad}`);
});
