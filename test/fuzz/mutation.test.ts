/**
 * Mutation fuzzer over real envelopes (docs/reliability.md, "Decoder fuzzing"): 1e5 cases in
 * `npm test`, 1e6 with `CELERIAC_CHAOS_FULL=1`. Every decoding entry point a worker or a client uses
 * on bytes from the network must return a well-formed value or throw a DecodeError, within 100 ms,
 * without growing the RSS by 200 MB and without touching a prototype.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { seedPool } from './lib/generators.ts';
import { describeFailure, runFuzz } from './lib/harness.ts';
import { caseCount, fuzzSeed, onlyCase, rng } from './lib/seed.ts';

const MAX_RSS_GROWTH_MB = 200;

test('mutated envelopes, control messages and result records decode or throw DecodeError, fast, with bounded memory', () => {
  const seed = fuzzSeed('mutation');
  const cases = caseCount();
  const only = onlyCase();
  const protoBefore = Object.getOwnPropertyNames(Object.prototype).sort().join();
  const arrayProtoBefore = Object.getOwnPropertyNames(Array.prototype).sort().join();
  const pool = seedPool(rng(seed), 240);

  const report = runFuzz(seed, pool, cases, { only, progressEvery: cases >= 1_000_000 ? 100_000 : undefined });

  const entries = Object.entries(report.byEntry)
    .map(([e, s]) => `${e} ${s.ok} ok/${s.rejected} rejected`)
    .join(', ');
  console.log(
    `[fuzz] mutation seed=${seed}: ${report.cases} cases in ${(report.wallMs / 1000).toFixed(1)} s, max case ${report.maxCaseMs.toFixed(1)} ms ` +
      `(case ${report.slowest?.n}, ${report.slowest?.entry}, ${report.slowest?.bytes} bytes), ` +
      `rss growth ${report.rssGrowthMb.toFixed(0)} MB, ${report.failures.length} failures; ${entries}`,
  );
  assert.deepEqual(report.failures.map((f) => describeFailure(seed, f)), [], 'every case returns a well-formed value or throws a DecodeError within 100 ms');
  assert.ok(report.rssGrowthMb < MAX_RSS_GROWTH_MB, `RSS grew by ${report.rssGrowthMb.toFixed(0)} MB (limit ${MAX_RSS_GROWTH_MB})`);
  assert.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype was not polluted');
  assert.equal(Object.getOwnPropertyNames(Object.prototype).sort().join(), protoBefore, 'Object.prototype is unchanged');
  assert.equal(Object.getOwnPropertyNames(Array.prototype).sort().join(), arrayProtoBefore, 'Array.prototype is unchanged');
  if (only === undefined) {
    // Both outcomes must be reached, or the fuzzer tests nothing: most mutations are rejected, some decode.
    for (const e of ['decodeTask', 'msgpack.decode', 'json.decode', 'decodeSniffed', 'decodeControlRequest', 'decodeControlReply']) {
      assert.ok(report.byEntry[e], `entry point ${e} was exercised`);
    }
    assert.ok((report.byEntry.decodeTask?.ok ?? 0) > 0 && (report.byEntry.decodeTask?.rejected ?? 0) > 0, 'decodeTask both accepted and rejected inputs');
  }
});
