/**
 * A retry scheduled with exponential backoff: `schedule()` runs the task after the current delay (1 s, 2 s, … up to
 * the maximum) unless one is already pending; `reset()` after a success starts over at the initial delay.
 */
export class BackoffTimer {
  private timer: NodeJS.Timeout | null = null;
  private delayMs: number;

  constructor(
    private readonly task: () => void,
    private readonly initialMs = 1_000,
    private readonly maxMs = 30_000,
  ) {
    this.delayMs = initialMs;
  }

  /** Returns the delay used, or null when a run is already pending. */
  schedule(): number | null {
    if (this.timer) return null;
    const delay = this.delayMs;
    this.delayMs = Math.min(delay * 2, this.maxMs);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.task();
    }, delay);
    return delay;
  }

  reset(): void {
    this.delayMs = this.initialMs;
  }

  cancel(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
