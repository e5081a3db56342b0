/**
 * What every command-line parser here shares: the error whose message is a sentence for the user, and the
 * "did you mean" suggestion for a mistyped flag.
 */

export class ArgsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ArgsError';
  }
}

/** Edit distance, for suggesting the flag a typo meant. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length];
}

/** " Did you mean --x?" for the closest known flag, or '' when none is close. */
export function suggestFlag(name: string, known: Iterable<string>): string {
  let best = '';
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const flag of known) {
    const d = distance(name, flag);
    if (d < bestDistance) [best, bestDistance] = [flag, d];
  }
  return bestDistance <= Math.max(2, Math.floor(name.length / 3)) ? ` Did you mean --${best}?` : '';
}
