// The order of the dump, as pg_dump makes it (src/bin/pg_dump/pg_dump_sort.c): objects sorted by
// type priority, schema and name (byte order, like strcmp), then moved as little as their
// dependencies require (TopoSort): the output is filled from its end, each time with the object
// latest in the sorted order that nothing still unplaced depends on.
import type { DumpGraph, DumpObject } from './objects';

const byteOrder = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

function compare(a: DumpObject, b: DumpObject): number {
  if (a.priority !== b.priority) return a.priority - b.priority;
  const keysA = [a.schema, a.name, ...a.tiebreak];
  const keysB = [b.schema, b.name, ...b.tiebreak];
  for (let i = 0; i < Math.max(keysA.length, keysB.length); i += 1) {
    const c = byteOrder(keysA[i] ?? '', keysB[i] ?? '');
    if (c !== 0) return c;
  }
  return byteOrder(a.key, b.key);
}

export function dumpOrder({ objects, dependsOn }: DumpGraph): DumpObject[] {
  const sorted = [...objects].sort(compare);
  const index = new Map(sorted.map((o, i) => [o.key, i]));
  const dependencies = sorted.map((o) =>
    [...(dependsOn.get(o.key) ?? [])].map((k) => index.get(k)!).filter((i) => i !== undefined),
  );
  // How many unplaced objects depend on each: it can go at the end when none does.
  const dependents = sorted.map(() => 0);
  for (const deps of dependencies) for (const d of deps) dependents[d]! += 1;
  const ready = new Set(sorted.map((_, i) => i).filter((i) => dependents[i] === 0));
  const order: DumpObject[] = [];
  while (ready.size > 0) {
    const last = Math.max(...ready);
    ready.delete(last);
    order.push(sorted[last]!);
    for (const d of dependencies[last]!) {
      dependents[d]! -= 1;
      if (dependents[d] === 0) ready.add(d);
    }
  }
  if (order.length < sorted.length) {
    const loop = sorted.filter((o) => !order.includes(o)).map((o) => o.name);
    throw new Error(`schema dump: a dependency loop among ${loop.join(', ')}`);
  }
  return order.reverse();
}
