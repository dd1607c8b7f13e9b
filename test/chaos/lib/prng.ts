/**
 * Seeded fault schedules. Every scenario draws its random choices (which worker, when, how long)
 * from one PRNG seeded by `CELERIAC_CHAOS_SEED` when set, else a fresh random seed; the seed is
 * printed at the start of the scenario so a failing run can be repeated exactly (the faults, not
 * the OS scheduling, are reproduced).
 */

/** A seeded pseudo-random source (mulberry32). */
export interface Rng {
  readonly seed: number;
  /** Uniform in [0, 1). */
  next(): number;
  /** Integer in [min, max] (inclusive). */
  int(min: number, max: number): number;
  /** One element of `items`. */
  pick<T>(items: readonly T[]): T;
  /** True with probability `p`. */
  chance(p: number): boolean;
}

/** Build a PRNG from a 32-bit seed. */
export function rng(seed: number): Rng {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    seed: seed >>> 0,
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    pick: (items) => {
      if (items.length === 0) throw new Error('pick from an empty list');
      return items[Math.floor(next() * items.length)] as (typeof items)[number];
    },
    chance: (p) => next() < p,
  };
}

/**
 * The PRNG of scenario `name`: seeded from `CELERIAC_CHAOS_SEED` (decimal) when set, otherwise at
 * random. Prints `[chaos] <name> seed=<n>` so the run can be reproduced.
 */
export function scenarioRng(name: string): Rng {
  const env = process.env.CELERIAC_CHAOS_SEED;
  const seed = env !== undefined && env !== '' ? Number.parseInt(env, 10) >>> 0 : (Math.random() * 2 ** 32) >>> 0;
  console.log(`[chaos] ${name} seed=${seed} (reproduce with CELERIAC_CHAOS_SEED=${seed})`);
  return rng(seed);
}

/** True in the full tier (`CELERIAC_CHAOS_FULL=1`, `npm run test:chaos -- --full`). */
export function fullTier(): boolean {
  return process.env.CELERIAC_CHAOS_FULL === '1';
}
