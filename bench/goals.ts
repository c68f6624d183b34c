/**
 * Measured ratios beside their goals: each bench returns `Goal`s, and `npm run bench` prints
 * them together at the end (`bytes 0.89x (goal <= 1.00x) met`).
 */
import { spawnSync } from 'node:child_process';
import os from 'node:os';

export interface Goal {
  /** What was measured, e.g. `tile bytes vs libvips, photo-5000x3000`. */
  name: string;
  value: number;
  /** How the value and the target are printed: a ratio (`x`), µs, MB, a share (%) or ms. */
  unit: 'x' | 'us' | 'MB' | '%' | 'ms';
  /** The value must be at most (`<=`) or at least (`>=`) the target; `report`: no goal of its own, shown beside the others. */
  op: '<=' | '>=' | 'report';
  target: number;
  /** Words after the goal, e.g. `N x one image's peak`. */
  note?: string;
}

export function goal(name: string, value: number, op: Goal['op'], target: number, unit: Goal['unit'], note?: string): Goal {
  return { name, value, op, target, unit, ...(note ? { note } : {}) };
}

export function met(g: Goal): boolean {
  if (g.op === 'report') return true;
  return g.op === '<=' ? g.value <= g.target : g.value >= g.target;
}

function fmt(v: number, unit: Goal['unit']): string {
  switch (unit) {
    case 'x':
      return `${v.toFixed(2)}x`;
    case 'us':
      return `${v.toFixed(0)} µs`;
    case 'MB':
      return `${v.toFixed(0)} MB`;
    case '%':
      return `${(v * 100).toFixed(0)}%`;
    case 'ms':
      return `${v.toFixed(0)} ms`;
  }
}

/** One line: `name  value (goal <= target) met`. */
export function goalLine(g: Goal, width = 0): string {
  const note = g.note ? `, ${g.note}` : '';
  if (g.op === 'report') return `${g.name.padEnd(width)}  ${fmt(g.value, g.unit).padStart(8)} (reported${note})`;
  return `${g.name.padEnd(width)}  ${fmt(g.value, g.unit).padStart(8)} (goal ${g.op} ${fmt(g.target, g.unit)}${note}) ${met(g) ? 'met' : 'NOT MET'}`;
}

export function printGoals(goals: readonly Goal[]): void {
  const width = Math.max(0, ...goals.map((g) => g.name.length));
  for (const g of goals) console.log(goalLine(g, width));
}

/**
 * Let the machine settle after a bench: its files flushed to disk (the tile bench writes and
 * removes hundreds of megabytes, whose writeback otherwise lands in the next bench's timings)
 * and the 1-minute load average below 1, or `maxSeconds` passed. Says how long it waited.
 */
export async function settle(maxSeconds = 60): Promise<void> {
  const t0 = performance.now();
  spawnSync('sync');
  while (os.loadavg()[0]! >= 1 && performance.now() - t0 < maxSeconds * 1000) await new Promise((r) => setTimeout(r, 1000));
  console.log(`(settled for ${((performance.now() - t0) / 1000).toFixed(0)} s: load average ${os.loadavg()[0]!.toFixed(2)})`);
}
