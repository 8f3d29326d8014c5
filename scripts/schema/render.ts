// The SQL of each object as pg_dump 15 writes it (src/bin/pg_dump/pg_dump.c: dumpFunc,
// dumpTableSchema, createViewAsClause, dumpSequence, dumpEnumType, dumpDomain, dumpCompositeType).
import type {
  ColumnRow,
  ConstraintRow,
  FunctionRow,
  RelationRow,
  SequenceRow,
  TypeRow,
} from './catalog';
import { dollarQuoted, functionSetting, literal, reloptions } from './sql-text';

export function renderFunction(f: FunctionRow): string {
  const what = f.kind === 'p' ? 'PROCEDURE' : 'FUNCTION';
  const returns = f.kind === 'p' || f.result === null ? '' : ` RETURNS ${f.result}`;
  const attributes = [
    { i: ' IMMUTABLE', s: ' STABLE' }[f.volatility] ?? '',
    f.strict ? ' STRICT' : '',
    f.security_definer ? ' SECURITY DEFINER' : '',
    f.leakproof ? ' LEAKPROOF' : '',
    f.cost !== '0' && f.cost !== '100' ? ` COST ${f.cost}` : '',
    f.returns_set && f.rows !== '0' && f.rows !== '1000' ? ` ROWS ${f.rows}` : '',
    f.support !== null ? ` SUPPORT ${f.support}` : '',
    { s: ' PARALLEL SAFE', r: ' PARALLEL RESTRICTED' }[f.parallel] ?? '',
  ].join('');
  const settings = f.config.map((c) => `\n    ${functionSetting(c)}`).join('');
  const body = f.sql_body ?? `AS ${dollarQuoted(f.source)}`;
  return (
    `CREATE ${what} ${f.qname}(${f.arguments})${returns}\n` +
    `    LANGUAGE ${f.language}${attributes}${settings}\n    ${body};`
  );
}

function renderColumn(c: ColumnRow, separateDefault: (c: ColumnRow) => boolean): string {
  let text = `${c.ident} ${c.type}`;
  if (c.generated === 's') text += ` GENERATED ALWAYS AS (${c.default}) STORED`;
  else if (c.default !== null && !separateDefault(c)) text += ` DEFAULT ${c.default}`;
  if (c.not_null) text += ' NOT NULL';
  if (c.collation !== null) text += ` COLLATE ${c.collation}`;
  return text;
}

export function renderTable(
  r: RelationRow,
  columns: ColumnRow[],
  checks: ConstraintRow[],
  separateDefault: (c: ColumnRow) => boolean,
): string {
  const lines = [
    ...columns.map((c) => renderColumn(c, separateDefault)),
    ...checks.map((c) => `CONSTRAINT ${c.ident} ${c.definition}`),
  ];
  const options = [...reloptions(r.options), ...reloptions(r.toast_options, 'toast.')];
  const body = lines.length === 0 ? '' : `\n    ${lines.join(',\n    ')}`;
  return (
    `CREATE ${r.persistence === 'u' ? 'UNLOGGED ' : ''}TABLE ${r.qname} (${body}\n)` +
    `${options.length > 0 ? `\nWITH (${options.join(', ')})` : ''};`
  );
}

export function renderView(r: RelationRow): string {
  const checkOption = r.options.find((o) => o.startsWith('check_option='))?.slice(13);
  const options = reloptions(r.options.filter((o) => !o.startsWith('check_option=')));
  const definition = r.view_definition!.replace(/;$/, '');
  return (
    `CREATE VIEW ${r.qname}${options.length > 0 ? ` WITH (${options.join(', ')})` : ''} AS\n` +
    `${definition}${checkOption ? `\n  WITH ${checkOption.toUpperCase()} CHECK OPTION` : ''};`
  );
}

/** The limits PostgreSQL gives a sequence of this type and direction (left out of the dump). */
function defaultLimits(type: string, ascending: boolean): [string, string] {
  const limits: Record<string, [string, string]> = {
    smallint: ['-32768', '32767'],
    integer: ['-2147483648', '2147483647'],
    bigint: ['-9223372036854775808', '9223372036854775807'],
  };
  const [min, max] = limits[type] ?? ['', ''];
  return ascending ? ['1', max] : [min, '-1'];
}

export function renderSequence(
  r: RelationRow,
  s: SequenceRow,
  owner: RelationRow | undefined,
  ownerColumn: ColumnRow | undefined,
): string {
  const [defaultMin, defaultMax] = defaultLimits(s.type, !s.increment.startsWith('-'));
  const head =
    s.identity && owner && ownerColumn
      ? `ALTER TABLE ${owner.qname} ALTER COLUMN ${ownerColumn.ident} ADD GENERATED ` +
        `${ownerColumn.identity === 'a' ? 'ALWAYS' : 'BY DEFAULT'} AS IDENTITY (\n` +
        `    SEQUENCE NAME ${r.qname}\n`
      : `CREATE ${r.persistence === 'u' ? 'UNLOGGED ' : ''}SEQUENCE ${r.qname}\n` +
        (s.type !== 'bigint' ? `    AS ${s.type}\n` : '');
  const body =
    `    START WITH ${s.start}\n    INCREMENT BY ${s.increment}\n` +
    `    ${s.min === defaultMin ? 'NO MINVALUE' : `MINVALUE ${s.min}`}\n` +
    `    ${s.max === defaultMax ? 'NO MAXVALUE' : `MAXVALUE ${s.max}`}\n` +
    `    CACHE ${s.cache}${s.cycle ? '\n    CYCLE' : ''}`;
  if (!(s.identity && owner)) return `${head}${body};`;
  const persistence =
    r.persistence === owner.persistence
      ? ''
      : `\nALTER SEQUENCE ${r.qname} SET ${r.persistence === 'u' ? 'UNLOGGED' : 'LOGGED'};`;
  return `${head}${body}\n);${persistence}`;
}

export function renderType(t: TypeRow, checks: ConstraintRow[], attributes: ColumnRow[]): string {
  if (t.kind === 'e') {
    const labels = t.labels.map((l) => `\n    ${literal(l)}`).join(',');
    return `CREATE TYPE ${t.qname} AS ENUM (${labels}\n);`;
  }
  if (t.kind === 'c') {
    const fields = attributes
      .map(
        (a) => `\n\t${a.ident} ${a.type}${a.collation !== null ? ` COLLATE ${a.collation}` : ''}`,
      )
      .join(',');
    return `CREATE TYPE ${t.qname} AS (${fields}\n);`;
  }
  return (
    `CREATE DOMAIN ${t.qname} AS ${t.base_type}` +
    (t.collation !== null ? ` COLLATE ${t.collation}` : '') +
    (t.not_null ? ' NOT NULL' : '') +
    (t.default !== null ? ` DEFAULT ${t.default}` : '') +
    checks.map((c) => `\n\tCONSTRAINT ${c.ident} ${c.definition}`).join('') +
    ';'
  );
}
