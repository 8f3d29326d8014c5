// The dump's objects as pg_dump 15 makes them (src/bin/pg_dump/pg_dump.c, with --no-owner
// --no-privileges): which archive entries each object has (itself, then its comments), and what
// it depends on, for the order (order.ts). render.ts writes the SQL of each.
import type { Catalog, ColumnRow } from './catalog';
import { renderFunction, renderSequence, renderTable, renderType, renderView } from './render';
import { entry, literal } from './sql-text';

/** pg_dump's dbObjectTypePriority (pg_dump_sort.c): the first key of the dump's order. */
export const PRIORITY = {
  schema: 1,
  type: 6,
  function: 8,
  relation: 20,
  default: 23,
  constraint: 30,
  index: 31,
  trigger: 35,
  foreignKey: 36,
} as const;

export interface DumpObject {
  /** `catalog:oid` of the object (dependencies refer to it). */
  key: string;
  priority: number;
  /** Sort keys after the priority, as pg_dump's DOTypeNameCompare: schema, name, then these. */
  schema: string;
  name: string;
  tiebreak: string[];
  /** Its entries: the object, then its comments. */
  text: string;
  /** Tables, indexes and the constraints that own one name a tablespace (the default). */
  tablespace: boolean;
  /** Tables name their access method (heap). */
  accessMethod: boolean;
}

/** What the dump is made of: its objects, and the keys each depends on. */
export interface DumpGraph {
  objects: DumpObject[];
  dependsOn: Map<string, Set<string>>;
}

const key = (catalog: string, oid: string) => `${catalog}:${oid}`;

function groupBy<T>(rows: T[], by: (row: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const row of rows) {
    const k = by(row);
    groups.set(k, [...(groups.get(k) ?? []), row]);
  }
  return groups;
}

export function buildGraph(catalog: Catalog): DumpGraph {
  const objects: DumpObject[] = [];
  /** Sub-objects (a row type, an inline default or check) → the object that dumps them. */
  const standsFor = new Map<string, string>();
  const relations = new Map(catalog.relations.map((r) => [r.oid, r]));
  const columnsOf = groupBy(catalog.columns, (c) => c.relation);
  const checksOf = groupBy(
    catalog.constraints.filter((c) => c.type === 'c' && c.relation !== '0' && c.validated),
    (c) => c.relation,
  );
  const commentsOf = new Map(
    catalog.comments.map((c) => [`${key(c.catalog, c.oid)}:${c.column_number}`, c.text]),
  );
  const commentOn = (catalogKey: string, column = 0) => commentsOf.get(`${catalogKey}:${column}`);
  const comment = (what: string, tag: string, schema: string, text: string | undefined) =>
    text === undefined
      ? ''
      : entry(tag, 'COMMENT', schema, `COMMENT ON ${what} IS ${literal(text)};`);

  const sequenceOids = new Set(catalog.sequences.map((s) => s.oid));
  const dependsOnSequence = new Set(
    catalog.dependencies
      .filter((d) => d.catalog === 'pg_attrdef' && sequenceOids.has(d.ref_oid))
      .map((d) => d.oid),
  );
  // A default that calls nextval() of a sequence the table owns would make a loop (the sequence
  // depends on the table): pg_dump sets such defaults after the tables, and so does this dump.
  const separateDefault = (c: ColumnRow) =>
    c.default_oid !== null && c.generated === '' && dependsOnSequence.has(c.default_oid);

  const add = (o: Omit<DumpObject, 'tablespace' | 'accessMethod'> & Partial<DumpObject>) =>
    objects.push({ tablespace: false, accessMethod: false, ...o });

  for (const s of catalog.schemas) {
    const schemaComment = commentOn(key('pg_namespace', s.oid));
    // Every database has public already (pg_dump 15 leaves it out), with this comment.
    const text =
      s.name === 'public'
        ? schemaComment === 'standard public schema'
          ? ''
          : comment(`SCHEMA ${s.ident}`, `SCHEMA ${s.name}`, '-', schemaComment)
        : entry(s.name, 'SCHEMA', '-', `CREATE SCHEMA ${s.ident};`) +
          comment(`SCHEMA ${s.ident}`, `SCHEMA ${s.name}`, '-', schemaComment);
    add({
      key: key('pg_namespace', s.oid),
      priority: PRIORITY.schema,
      schema: '',
      name: s.name,
      tiebreak: [],
      text,
    });
  }

  for (const t of catalog.types) {
    const k = key('pg_type', t.oid);
    if (t.kind === 'c') standsFor.set(key('pg_class', t.relation), k);
    const domainChecks = catalog.constraints.filter((c) => c.domain === t.oid);
    for (const c of domainChecks) standsFor.set(key('pg_constraint', c.oid), k);
    const what = t.kind === 'd' ? 'DOMAIN' : 'TYPE';
    add({
      key: k,
      priority: PRIORITY.type,
      schema: t.schema,
      name: t.name,
      tiebreak: [],
      text:
        entry(
          t.name,
          what,
          t.schema,
          renderType(t, domainChecks, columnsOf.get(t.relation) ?? []),
        ) + comment(`${what} ${t.qname}`, `${what} ${t.name}`, t.schema, commentOn(k)),
    });
  }

  for (const f of catalog.functions) {
    const k = key('pg_proc', f.oid);
    const what = f.kind === 'p' ? 'PROCEDURE' : 'FUNCTION';
    // The header names the argument types; COMMENT ON names the arguments (pg_dump's funcsig_tag
    // and funcsig).
    const tag = `${f.name}(${f.argument_types.join(', ')})`;
    const signature = `${f.name}(${f.identity_arguments})`;
    add({
      key: k,
      priority: PRIORITY.function,
      schema: f.schema,
      name: f.name,
      tiebreak: [String(f.argument_types.length).padStart(3, '0'), ...f.argument_types],
      text:
        entry(tag, what, f.schema, renderFunction(f)) +
        comment(
          `${what} ${f.qname}(${f.identity_arguments})`,
          `${what} ${signature}`,
          f.schema,
          commentOn(k),
        ),
    });
  }

  for (const r of catalog.relations) {
    if (r.kind === 'S') continue;
    const k = key('pg_class', r.oid);
    const columns = columnsOf.get(r.oid) ?? [];
    const checks = checksOf.get(r.oid) ?? [];
    for (const c of checks) standsFor.set(key('pg_constraint', c.oid), k);
    for (const c of columns) {
      if (c.default_oid !== null && !separateDefault(c) && r.kind !== 'v') {
        standsFor.set(key('pg_attrdef', c.default_oid), k);
      }
    }
    const what = r.kind === 'v' ? 'VIEW' : 'TABLE';
    const columnComments = columns
      .map((c) =>
        comment(
          `COLUMN ${r.qname}.${c.ident}`,
          `COLUMN ${r.name}.${c.name}`,
          r.schema,
          commentOn(k, c.number),
        ),
      )
      .join('');
    const checkComments = checks
      .map((c) =>
        comment(
          `CONSTRAINT ${c.ident} ON ${r.qname}`,
          `CONSTRAINT ${c.name} ON ${r.name}`,
          r.schema,
          commentOn(key('pg_constraint', c.oid)),
        ),
      )
      .join('');
    add({
      key: k,
      priority: PRIORITY.relation,
      schema: r.schema,
      name: r.name,
      tiebreak: [],
      tablespace: r.kind === 'r',
      accessMethod: r.kind === 'r',
      text:
        entry(
          r.name,
          what,
          r.schema,
          r.kind === 'v' ? renderView(r) : renderTable(r, columns, checks, separateDefault),
        ) +
        comment(`${what} ${r.qname}`, `${what} ${r.name}`, r.schema, commentOn(k)) +
        columnComments +
        checkComments,
    });
    // Defaults set after the tables (ALTER TABLE ... SET DEFAULT), as pg_dump's DEFAULT entries.
    for (const c of columns.filter(
      (c) => c.default_oid !== null && (separateDefault(c) || r.kind === 'v'),
    )) {
      add({
        key: key('pg_attrdef', c.default_oid!),
        priority: PRIORITY.default,
        schema: r.schema,
        name: r.name,
        tiebreak: [String(c.number).padStart(5, '0')],
        text: entry(
          `${r.name} ${c.name}`,
          'DEFAULT',
          r.schema,
          `ALTER TABLE ONLY ${r.qname} ALTER COLUMN ${c.ident} SET DEFAULT ${c.default};`,
        ),
      });
    }
  }

  for (const s of catalog.sequences) {
    const r = relations.get(s.oid)!;
    const k = key('pg_class', s.oid);
    const owner = s.owner_table === null ? undefined : relations.get(s.owner_table);
    const ownerColumn = owner && columnsOf.get(owner.oid)?.find((c) => c.number === s.owner_column);
    const ownedBy =
      owner && ownerColumn && !s.identity
        ? entry(
            r.name,
            'SEQUENCE OWNED BY',
            r.schema,
            `ALTER SEQUENCE ${r.qname} OWNED BY ${owner.qname}.${ownerColumn.ident};`,
          )
        : '';
    add({
      key: k,
      priority: PRIORITY.relation,
      schema: r.schema,
      name: r.name,
      tiebreak: [],
      text:
        entry(r.name, 'SEQUENCE', r.schema, renderSequence(r, s, owner, ownerColumn)) +
        ownedBy +
        comment(`SEQUENCE ${r.qname}`, `SEQUENCE ${r.name}`, r.schema, commentOn(k)),
    });
  }

  for (const c of catalog.constraints) {
    const r = relations.get(c.relation);
    if (!r || !['p', 'u', 'x', 'f', 'c'].includes(c.type)) continue;
    if (c.type === 'c' && c.validated) continue; // inline in CREATE TABLE
    const k = key('pg_constraint', c.oid);
    const what =
      c.type === 'f' ? 'FK CONSTRAINT' : c.type === 'c' ? 'CHECK CONSTRAINT' : 'CONSTRAINT';
    add({
      key: k,
      priority: c.type === 'f' ? PRIORITY.foreignKey : PRIORITY.constraint,
      schema: r.schema,
      name: c.name,
      tiebreak: [r.name],
      tablespace: c.type !== 'f' && c.type !== 'c',
      text:
        entry(
          `${r.name} ${c.name}`,
          what,
          r.schema,
          // A check constraint is inherited by child tables: pg_dump says no ONLY.
          `ALTER TABLE ${c.type === 'c' ? '' : 'ONLY '}${r.qname}\n    ADD CONSTRAINT ${c.ident} ${c.definition};`,
        ) +
        comment(
          `CONSTRAINT ${c.ident} ON ${r.qname}`,
          `CONSTRAINT ${c.name} ON ${r.name}`,
          r.schema,
          commentOn(k),
        ),
    });
  }

  for (const i of catalog.indexes) {
    const r = relations.get(i.relation);
    if (!r) continue;
    const k = key('pg_class', i.oid);
    const cluster = i.clustered ? `\n\nALTER TABLE ${r.qname} CLUSTER ON ${i.ident};` : '';
    add({
      key: k,
      priority: PRIORITY.index,
      schema: r.schema,
      name: i.name,
      tiebreak: [],
      tablespace: true,
      text:
        entry(i.name, 'INDEX', r.schema, `${i.definition};${cluster}`) +
        comment(`INDEX ${i.qname}`, `INDEX ${i.name}`, r.schema, commentOn(k)),
    });
  }

  for (const t of catalog.triggers) {
    const r = relations.get(t.relation);
    if (!r) continue;
    const k = key('pg_trigger', t.oid);
    const enabled =
      t.enabled === 'O'
        ? ''
        : `\n\nALTER TABLE ${r.qname} ${
            { D: 'DISABLE', A: 'ENABLE ALWAYS', R: 'ENABLE REPLICA' }[t.enabled] ?? 'ENABLE'
          } TRIGGER ${t.ident};`;
    add({
      key: k,
      priority: PRIORITY.trigger,
      schema: r.schema,
      name: t.name,
      tiebreak: [r.name],
      text:
        entry(`${r.name} ${t.name}`, 'TRIGGER', r.schema, `${t.definition};${enabled}`) +
        comment(
          `TRIGGER ${t.ident} ON ${r.qname}`,
          `TRIGGER ${t.name} ON ${r.name}`,
          r.schema,
          commentOn(k),
        ),
    });
  }

  // Row types, array types and view rules stand for their owners.
  for (const o of catalog.ownedBy) {
    standsFor.set(key(o.catalog, o.oid), key(o.owner_catalog, o.owner));
  }
  const known = new Set(objects.map((o) => o.key));
  const resolve = (k: string): string | undefined => {
    // At most: an array type -> its element, a table's row type -> the table.
    for (let at: string | undefined = k, hops = 0; at !== undefined && hops < 4; hops += 1) {
      if (known.has(at)) return at;
      at = standsFor.get(at);
    }
    return undefined;
  };
  const dependsOn = new Map<string, Set<string>>();
  for (const d of catalog.dependencies) {
    const from = resolve(key(d.catalog, d.oid));
    const to = resolve(key(d.ref_catalog, d.ref_oid));
    if (from === undefined || to === undefined || from === to) continue;
    dependsOn.set(from, (dependsOn.get(from) ?? new Set()).add(to));
  }
  return { objects, dependsOn };
}
