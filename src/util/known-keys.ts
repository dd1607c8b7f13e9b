/**
 * Unknown option keys: a misspelt option (`{ concurency: 4 }`) must not be accepted and ignored.
 * Pure helpers; the option resolvers throw with the message.
 */

/** Edit distance between two short strings (insert, delete, replace, swap of neighbours). */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = d[i] as number[];
      const prev = d[i - 1] as number[];
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min((prev[j] as number) + 1, (row[j - 1] as number) + 1, (prev[j - 1] as number) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) row[j] = Math.min(row[j] as number, ((d[i - 2] as number[])[j - 2] as number) + 1);
    }
  }
  return (d[a.length] as number[])[b.length] as number;
}

/** The known key closest to `key` (case-insensitive, or at most 2 edits away), if any. */
export function closestKey(key: string, known: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = k.toLowerCase() === key.toLowerCase() ? 0 : distance(key, k);
    if (d < bestD) {
      best = k;
      bestD = d;
    }
  }
  return bestD <= Math.min(2, Math.floor(key.length / 3)) || bestD === 0 ? best : undefined;
}

/**
 * The message for the first key of `o` that is not in `known`, or undefined when all are known.
 * `hints` say what to do instead for keys users bring from elsewhere (Celery, older docs).
 * @example unknownKeyMessage({ concurency: 4 }, KEYS, 'worker options')
 * // 'worker options.concurency is not an option (did you mean "concurrency"?); the options are: ...'
 */
export function unknownKeyMessage(o: object, known: ReadonlySet<string>, what: string, hints: Readonly<Record<string, string>> = {}): string | undefined {
  for (const key of Object.keys(o)) {
    if (known.has(key)) continue;
    const hint = Object.hasOwn(hints, key) ? hints[key] : undefined;
    if (hint) return `${what}.${key} is not an option: ${hint}`;
    const near = closestKey(key, known);
    return `${what}.${key} is not an option${near ? ` (did you mean "${near}"?)` : ''}; the options are: ${[...known].join(', ')}`;
  }
  return undefined;
}
