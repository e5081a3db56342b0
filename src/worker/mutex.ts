/**
 * One-at-a-time execution for the worker's trainer calls. The trainer is not re-entrant: two calls that
 * interleave at their awaits (a mask-ratio change rebuilding the model while a snapshot reads it back, a
 * step while another step runs) tear down each other's buffers, and GPU error scopes, a per-device stack,
 * would be attributed to the wrong call. Every trainer-touching method runs inside `run`.
 */
export class AsyncMutex {
  private tail: Promise<void> = Promise.resolve();
  private holders = 0;

  /** Whether a call holds the lock or waits for it. */
  get busy(): boolean {
    return this.holders > 0;
  }

  /** Runs `work` after every earlier call has settled; its result or rejection is passed through. */
  run<T>(work: () => Promise<T>): Promise<T> {
    this.holders++;
    const result = this.tail.then(work);
    // The next call waits for this one whatever its outcome; a rejection belongs to this caller only.
    this.tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result.finally(() => {
      this.holders--;
    });
  }
}
