// The progress line on stderr: which target, which size, what phase, seconds left. Redrawn in
// place once a second on a terminal; one line per phase change when stderr is a file or pipe.

export interface ProgressStep {
  readonly index: number; // 1-based
  readonly count: number;
  readonly label: string;
}

export class Progress {
  #stream = process.stderr;
  #tty = process.stderr.isTTY === true;
  #timer: NodeJS.Timeout | undefined;
  #step: ProgressStep | undefined;
  #phase = '';
  #phaseEndsAt = 0;
  #runEndsAt = 0;
  #secondsPerStep: number;

  constructor(secondsPerStep: number) {
    this.#secondsPerStep = secondsPerStep;
  }

  /**
   * Step `index` of `count` enters `phase`, which lasts `phaseSeconds` (0 when unknown, e.g.
   * start-up); `stepSecondsLeft` is what remains of the step from now, this phase included.
   */
  update(step: ProgressStep, phase: string, phaseSeconds: number, stepSecondsLeft: number): void {
    const now = Date.now();
    this.#step = step;
    this.#phase = phase;
    this.#phaseEndsAt = now + phaseSeconds * 1000;
    // Whole-run estimate: the rest of this step plus every step not started yet.
    this.#runEndsAt = now + (stepSecondsLeft + (step.count - step.index) * this.#secondsPerStep) * 1000;
    if (this.#tty) {
      this.#draw();
      this.#timer ??= setInterval(() => this.#draw(), 1000).unref();
    } else {
      this.#stream.write(`${this.#line()}\n`);
    }
  }

  /** Prints a message on its own line without garbling the progress line. */
  note(message: string): void {
    this.clear();
    this.#stream.write(`${message}\n`);
    if (this.#tty && this.#step !== undefined) this.#draw();
  }

  clear(): void {
    if (this.#tty) this.#stream.write('\r\x1b[2K');
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.clear();
    this.#step = undefined;
  }

  #draw(): void {
    this.#stream.write(`\r\x1b[2K${this.#line()}`);
  }

  #line(): string {
    const step = this.#step!;
    const now = Date.now();
    const phaseLeft = Math.max(0, Math.ceil((this.#phaseEndsAt - now) / 1000));
    const runLeft = Math.max(0, Math.ceil((this.#runEndsAt - now) / 1000));
    const phase = phaseLeft > 0 ? `${this.#phase}, ${phaseLeft} s left` : this.#phase;
    return `[${step.index}/${step.count}] ${step.label}: ${phase} (run ~${formatSeconds(runLeft)} left)`;
  }
}

function formatSeconds(total: number): string {
  const m = Math.floor(total / 60);
  const s = total % 60;
  return m > 0 ? `${m}m${String(s).padStart(2, '0')}s` : `${s}s`;
}
