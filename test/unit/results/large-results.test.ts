/** Large results (ADR 0012) on the memory:// transport, with small limits so the test is quick. */
import { randomUUID } from 'node:crypto';
import { describe } from 'node:test';
import { largeResultScenarios } from '../../helpers/large-result-scenarios.ts';

describe('large results on memory://', () => {
  largeResultScenarios(() => ({ broker: `memory://big-${randomUUID()}`, maxPayloadBytes: 64 * 1024, maxResultBytes: 1024 * 1024 }), {
    big: 200 * 1024,
    tooBig: 2 * 1024 * 1024,
  });
});
