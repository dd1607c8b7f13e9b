/**
 * Seeds and case counts of the decoder fuzzer. Every run prints its seed; `CELERIAC_FUZZ_SEED`
 * replays it. Each case draws from its own PRNG derived from (seed, case number), so one failing
 * case is replayed alone with `CELERIAC_FUZZ_SEED=<seed> CELERIAC_FUZZ_CASE=<n>`.
 */
import { type Rng, fullTier, rng } from '../../chaos/lib/prng.ts';

export type { Rng };

/** Cases of the fast tier (inside `npm test`). */
export const FAST_CASES = 100_000;
/** Cases of the full tier (`CELERIAC_CHAOS_FULL=1`, `npm run test:chaos -- --full`). */
export const FULL_CASES = 1_000_000;

/** The run's seed: `CELERIAC_FUZZ_SEED` (decimal or 0x-hex) when set, else random; printed. */
export function fuzzSeed(name: string): number {
  const env = process.env.CELERIAC_FUZZ_SEED;
  const seed = env !== undefined && env !== '' ? Number(env) >>> 0 : (Math.random() * 2 ** 32) >>> 0;
  console.log(`[fuzz] ${name} seed=${seed} (reproduce with CELERIAC_FUZZ_SEED=${seed})`);
  return seed;
}

/** How many cases to run: `CELERIAC_FUZZ_CASES` when set, else the full or the fast tier's count. */
export function caseCount(): number {
  const env = process.env.CELERIAC_FUZZ_CASES;
  if (env !== undefined && env !== '') return Math.max(1, Number.parseInt(env, 10));
  return fullTier() ? FULL_CASES : FAST_CASES;
}

/** The single case to replay (`CELERIAC_FUZZ_CASE`), or undefined to run them all. */
export function onlyCase(): number | undefined {
  const env = process.env.CELERIAC_FUZZ_CASE;
  return env !== undefined && env !== '' ? Number.parseInt(env, 10) : undefined;
}

/** The PRNG of case `n` of the run seeded with `seed` (independent of every other case). */
export function caseRng(seed: number, n: number): Rng {
  let h = (seed ^ Math.imul(n + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return rng((h ^ (h >>> 16)) >>> 0);
}

/** `n` random bytes. */
export function randomBytes(r: Rng, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (r.next() * 256) | 0;
  return out;
}

export { fullTier, rng };
