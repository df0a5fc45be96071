import type { IO } from './io.ts';

// A one-line activity indicator for waits of a few seconds. Drawn on stderr only, and only
// when stderr is a terminal (never on stdout, never into a log file or a CI transcript).

export interface Spinner {
  /** Erases the line; safe to call more than once. */
  stop(): void;
}

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const INTERVAL_MS = 100;
const CLEAR_LINE = '\r\u001b[2K';

export function startSpinner(io: IO, text: string, options: { now?: () => number } = {}): Spinner {
  if (!io.stderrIsTTY || io.quiet) return { stop: () => undefined };
  const now = options.now ?? Date.now;
  const started = now();
  let frame = 0;
  const draw = () => {
    const seconds = Math.floor((now() - started) / 1000);
    io.stderr.write(`${CLEAR_LINE}${io.err.cyan(FRAMES[frame % FRAMES.length])} ${text}${seconds > 0 ? io.err.dim(` ${seconds}s`) : ''}`);
    frame += 1;
  };
  draw();
  const timer = setInterval(draw, INTERVAL_MS);
  // A spinner must never keep the process alive by itself.
  timer.unref();
  let stopped = false;
  return {
    stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      io.stderr.write(CLEAR_LINE);
    },
  };
}
