/** Summaries of repeated measurements: every goal compares medians taken in the same run. */

export interface Spread {
  min: number;
  median: number;
  max: number;
  runs: number[];
}

export function spread(runs: number[]): Spread {
  const sorted = [...runs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median =
    sorted.length === 0
      ? NaN
      : sorted.length % 2
        ? sorted[mid]!
        : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { min: sorted[0] ?? NaN, median, max: sorted[sorted.length - 1] ?? NaN, runs };
}

/** Nearest-rank percentile of unsorted values; NaN when there are none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

/** One measured figure, repeated `runs.length` times. */
export interface Figure {
  section: string;
  name: string;
  unit: string;
  spread: Spread;
}

export interface Goal {
  name: string;
  /** What the ratio or value is compared against, in words. */
  rule: string;
  value: number;
  pass: boolean;
}

/** value / baseline must be at least `min`. */
export function atLeast(name: string, value: number, baseline: number, min: number): Goal {
  const ratio = value / baseline;
  return { name, rule: `>= ${min}x`, value: ratio, pass: ratio >= min };
}

/** value / baseline must be at most `max`. */
export function atMost(name: string, value: number, baseline: number, max: number): Goal {
  const ratio = value / baseline;
  return { name, rule: `<= ${max}x`, value: ratio, pass: ratio <= max };
}

/** An absolute bound (ms, MB). */
export function below(name: string, value: number, limit: number, unit: string): Goal {
  return { name, rule: `<= ${limit} ${unit}`, value, pass: value <= limit };
}

function fmt(n: number): string {
  if (!Number.isFinite(n)) return 'n/a';
  if (Math.abs(n) >= 100) return n.toFixed(0);
  if (Math.abs(n) >= 10) return n.toFixed(1);
  return n.toFixed(2);
}

export function renderFigures(figures: Figure[]): string {
  const rows = figures.map((f) => [
    f.section,
    f.name,
    f.unit,
    fmt(f.spread.min),
    fmt(f.spread.median),
    fmt(f.spread.max),
    String(f.spread.runs.length),
  ]);
  return table(['section', 'figure', 'unit', 'min', 'median', 'max', 'runs'], rows);
}

export function renderGoals(goals: Goal[]): string {
  const rows = goals.map((g) => [g.name, g.rule, fmt(g.value), g.pass ? 'PASS' : 'FAIL']);
  return table(['goal', 'wanted', 'measured (median)', ''], rows);
}

/** One phase's CPU use in cores (CPU seconds per wall second) of each party. */
export interface CpuRow {
  name: string;
  wallSeconds: number;
  bench: number;
  service: number;
  postgres: number;
}

export function renderCpu(rows: CpuRow[], cores: number): string {
  return table(
    ['phase (all runs)', 'wall s', 'bench process', 'service', 'PostgreSQL', `sum (of ${cores})`],
    rows.map((r) => [
      r.name,
      fmt(r.wallSeconds),
      fmt(r.bench),
      fmt(r.service),
      fmt(r.postgres),
      fmt([r.bench, r.service, r.postgres].filter(Number.isFinite).reduce((a, b) => a + b, 0)),
    ]),
    (i) => i >= 1,
  );
}

function table(
  header: string[],
  rows: string[][],
  rightAligned: (column: number) => boolean = (i) => i >= 3 && i < 6,
): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (rightAligned(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}
