/**
 * A progress bar on stderr for long CLI operations (dlq replay, purge). On a terminal it redraws one
 * line at most 10 times a second; otherwise it prints a line at every 10 % so logs stay short.
 */
export class ProgressBar {
  readonly #label: string;
  readonly #tty: boolean;
  readonly #out: NodeJS.WriteStream;
  #lastDraw = 0;
  #lastDecile = -1;
  #total = 0;
  #done = 0;
  readonly #started = Date.now();

  constructor(label: string, out: NodeJS.WriteStream = process.stderr) {
    this.#label = label;
    this.#out = out;
    this.#tty = out.isTTY === true;
  }

  /** Report progress: `done` of `total` items. */
  update(done: number, total: number): void {
    this.#done = done;
    this.#total = total;
    const now = Date.now();
    if (this.#tty) {
      if (now - this.#lastDraw < 100 && done < total) return;
      this.#lastDraw = now;
      this.#out.write(`\r${this.#line()}`);
      return;
    }
    const decile = total === 0 ? 10 : Math.floor((done / total) * 10);
    if (decile !== this.#lastDecile) {
      this.#lastDecile = decile;
      this.#out.write(`${this.#line()}\n`);
    }
  }

  /** Finish the bar (a final line with the elapsed time). */
  done(summary?: string): void {
    const secs = ((Date.now() - this.#started) / 1000).toFixed(1);
    const text = summary ?? `${this.#label}: ${this.#done}/${this.#total}`;
    this.#out.write(`${this.#tty ? '\r\u001b[2K' : ''}${text} in ${secs}s\n`);
  }

  #line(): string {
    const width = 30;
    const ratio = this.#total === 0 ? 1 : Math.min(1, this.#done / this.#total);
    const full = Math.round(ratio * width);
    return `${this.#label} [${'#'.repeat(full)}${'.'.repeat(width - full)}] ${this.#done}/${this.#total} ${Math.floor(ratio * 100)}%`;
  }
}
