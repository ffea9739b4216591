// The canary's interval: every canaryIntervalMs, and less often while the tail count governs.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CANARY_BACKSTOP_MAX_MS, CANARY_BACKSTOP_STRETCH, canaryIntervalFor } from '../../src/core/canary-pace';

test('the canary keeps its interval until a tail baseline exists, then looks CANARY_BACKSTOP_STRETCH times less often', () => {
  assert.equal(canaryIntervalFor({ foregroundTailBaselineMs: null }, { canaryIntervalMs: 15 }), 15);
  assert.equal(canaryIntervalFor({}, { canaryIntervalMs: 15 }), 15, 'a state from before the tail count');
  assert.equal(canaryIntervalFor({ foregroundTailBaselineMs: 0 }, { canaryIntervalMs: 15 }), 15);
  assert.equal(canaryIntervalFor({ foregroundTailBaselineMs: 6.3 }, { canaryIntervalMs: 15 }), 15 * CANARY_BACKSTOP_STRETCH);
});

test('the stretched interval is capped, and never shorter than the configured one', () => {
  assert.equal(canaryIntervalFor({ foregroundTailBaselineMs: 6 }, { canaryIntervalMs: 400 }), CANARY_BACKSTOP_MAX_MS);
  assert.equal(canaryIntervalFor({ foregroundTailBaselineMs: 6 }, { canaryIntervalMs: 2000 }), 2000, 'an operator\'s slower canary stays as slow');
});
