// The live view: a per-channel table redrawn in place on a terminal (~5 Hz), one progress line a
// second otherwise. Rendering is pure (snapshot → lines); Display only decides where lines go.

export const STATES = [
  'pending',
  'scheduled',
  'wait_dependencies',
  'enqueued',
  'started',
  'done',
  'failed',
] as const;
export type ViewState = (typeof STATES)[number];
export type StateCounts = Record<ViewState, number>;

export interface ChannelView {
  name: string;
  /** Configured capacity; null = unlimited or not configured (governed by an ancestor). */
  capacity: number | null;
  note: string;
  counts: StateCounts;
  /** Jobs the stand-in is running now in this channel (sub-channels included). */
  running: number;
  peak: number;
}

export interface Snapshot {
  elapsedMs: number;
  total: number;
  /** Jobs committed so far by the producer. */
  created: number;
  rows: ChannelView[];
  ticks: { started: number; running: number };
  warnings: number;
  lastError: string | null;
}

export function emptyCounts(): StateCounts {
  return Object.fromEntries(STATES.map((state) => [state, 0])) as StateCounts;
}

const HEADERS: Record<ViewState, string> = {
  pending: 'pending',
  scheduled: 'eta>now',
  wait_dependencies: 'waiting',
  enqueued: 'enqueued',
  started: 'started',
  done: 'done',
  failed: 'failed',
};

const pad = (text: string | number, width: number) => String(text).padStart(width);

function bar(fraction: number, width: number): string {
  const filled = Math.round(Math.min(1, Math.max(0, fraction)) * width);
  return `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`;
}

export function renderTable(snapshot: Snapshot, color: boolean): string[] {
  const root = snapshot.rows[0];
  const terminal = root ? root.counts.done + root.counts.failed : 0;
  const bold = (text: string) => (color ? `\x1b[1m${text}\x1b[22m` : text);
  const dim = (text: string) => (color ? `\x1b[2m${text}\x1b[22m` : text);
  const lines = [
    bold(
      `queue-job-runner demo · ${snapshot.total} jobs · ${(snapshot.elapsedMs / 1000).toFixed(1)} s · ` +
        `ticks started ${snapshot.ticks.started}, running ${snapshot.ticks.running}`,
    ),
    `${bar(terminal / snapshot.total, 40)} ${terminal}/${snapshot.total} terminal · ${snapshot.created} created`,
    '',
    dim(
      `${'channel'.padEnd(16)} ${pad('running', 9)} ${pad('peak', 5)} ${STATES.map((s) => pad(HEADERS[s], 8)).join(' ')}  notes`,
    ),
  ];
  for (const row of snapshot.rows) {
    const running = `${row.running}/${row.capacity ?? '-'}`;
    const full = row.capacity !== null && row.running >= row.capacity;
    const runningText = pad(running, 9);
    lines.push(
      `${row.name.padEnd(16)} ${full && color ? `\x1b[33m${runningText}\x1b[39m` : runningText} ${pad(row.peak, 5)} ` +
        `${STATES.map((s) => pad(row.counts[s], 8)).join(' ')}  ${dim(row.note)}`,
    );
  }
  lines.push('');
  lines.push(
    dim(
      `runner warnings ${snapshot.warnings}${snapshot.lastError ? ` · last error: ${snapshot.lastError}` : ''}`,
    ),
  );
  return lines;
}

export function renderLine(snapshot: Snapshot): string {
  const root = snapshot.rows[0];
  const c = root?.counts ?? emptyCounts();
  const seconds = (snapshot.elapsedMs / 1000).toFixed(1).padStart(5);
  return (
    `[${seconds} s] terminal ${c.done + c.failed}/${snapshot.total} (done ${c.done}, failed ${c.failed}) · ` +
    `pending ${c.pending} · eta>now ${c.scheduled} · waiting ${c.wait_dependencies} · ` +
    `enqueued ${c.enqueued} · started ${c.started} · running ${root?.running ?? 0}/${root?.capacity ?? '-'} · ` +
    `ticks ${snapshot.ticks.started}`
  );
}

/** Where the view goes: in place on a TTY, plain lines (once a second) elsewhere, nothing when quiet. */
export class Display {
  private drawn = 0;
  private lastLine = 0;
  private readonly stream: NodeJS.WriteStream;
  private readonly mode: 'tty' | 'plain' | 'quiet';

  constructor(stream: NodeJS.WriteStream, mode: 'tty' | 'plain' | 'quiet') {
    this.stream = stream;
    this.mode = mode;
    if (mode === 'tty') stream.write('\x1b[?25l'); // hide the cursor while redrawing
  }

  show(snapshot: Snapshot, final = false): void {
    if (this.mode === 'quiet') return;
    if (this.mode === 'plain') {
      if (!final && snapshot.elapsedMs - this.lastLine < 1000) return;
      this.lastLine = snapshot.elapsedMs;
      this.stream.write(`${renderLine(snapshot)}\n`);
      return;
    }
    const lines = renderTable(snapshot, true);
    // Back to the first line drawn last time, clear to the end of the screen, draw again.
    const up = this.drawn > 0 ? `\x1b[${this.drawn}A\r\x1b[J` : '';
    this.stream.write(`${up}${lines.join('\n')}\n`);
    this.drawn = lines.length;
  }

  close(): void {
    if (this.mode === 'tty') this.stream.write('\x1b[?25h');
  }
}
