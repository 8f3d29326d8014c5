// Every catalog query of the schema dump (scripts/schema-dump.ts), and the rows they return.
// They run in one read-only transaction with search_path = '' (dump.ts), as pg_dump's do: then
// pg_get_*def(), format_type() and pg_get_expr() qualify every name outside pg_catalog.
// Object ids are returned as text (an oid can exceed 2^31).
import type pg from 'pg';

/** The schemas dumped: every one but PostgreSQL's own. */
const DUMPED_SCHEMAS = `
  select n.oid from pg_catalog.pg_namespace n
   where n.nspname !~ '^pg_' and n.nspname <> 'information_schema'`;

/** Objects created by an extension belong to it, not to the schema dump. */
const notInExtension = (catalog: string, oid: string) => `not exists (
  select 1 from pg_catalog.pg_depend e
   where e.classid = '${catalog}'::pg_catalog.regclass and e.objid = ${oid} and e.deptype = 'e')`;

const SQL = {
  version: `select current_setting('server_version_num')::int / 10000 as major`,

  schemas: `
    select n.oid::text, n.nspname as name, pg_catalog.quote_ident(n.nspname) as ident
      from pg_catalog.pg_namespace n
     where n.oid in (${DUMPED_SCHEMAS})`,

  relations: `
    select c.oid::text, c.relname as name, n.nspname as schema,
           pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname) as qname,
           c.relkind as kind, c.relpersistence as persistence,
           coalesce(c.reloptions, '{}') as options,
           coalesce(t.reloptions, '{}') as toast_options,
           case when c.relkind = 'v' then pg_catalog.pg_get_viewdef(c.oid) end as view_definition
      from pg_catalog.pg_class c
      join pg_catalog.pg_namespace n on n.oid = c.relnamespace
      left join pg_catalog.pg_class t on t.oid = c.reltoastrelid
     where c.relnamespace in (${DUMPED_SCHEMAS})
       and c.relkind in ('r', 'v', 'S')
       and ${notInExtension('pg_class', 'c.oid')}`,

  columns: `
    select a.attrelid::text as relation, a.attnum as number, a.attname as name,
           pg_catalog.quote_ident(a.attname) as ident,
           pg_catalog.format_type(a.atttypid, a.atttypmod) as type,
           a.attnotnull as not_null, a.attidentity as identity, a.attgenerated as generated,
           d.oid::text as default_oid, pg_catalog.pg_get_expr(d.adbin, d.adrelid) as default,
           case when a.attcollation <> t.typcollation
                then pg_catalog.quote_ident(cn.nspname) || '.' || pg_catalog.quote_ident(co.collname)
           end as collation
      from pg_catalog.pg_attribute a
      join pg_catalog.pg_class c on c.oid = a.attrelid
      join pg_catalog.pg_type t on t.oid = a.atttypid
      left join pg_catalog.pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
      left join pg_catalog.pg_collation co on co.oid = a.attcollation
      left join pg_catalog.pg_namespace cn on cn.oid = co.collnamespace
     where c.relnamespace in (${DUMPED_SCHEMAS})
       and c.relkind in ('r', 'v', 'c')
       and a.attnum > 0 and not a.attisdropped
     order by a.attrelid, a.attnum`,

  sequences: `
    select s.seqrelid::text as oid, pg_catalog.format_type(s.seqtypid, null) as type,
           s.seqstart::text as start, s.seqincrement::text as increment,
           s.seqmin::text as min, s.seqmax::text as max, s.seqcache::text as cache,
           s.seqcycle as cycle, d.refobjid::text as owner_table, d.refobjsubid as owner_column,
           d.deptype = 'i' as identity
      from pg_catalog.pg_sequence s
      join pg_catalog.pg_class c on c.oid = s.seqrelid
      left join pg_catalog.pg_depend d
        on d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass and d.objid = s.seqrelid
       and d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass and d.deptype in ('a', 'i')
     where c.relnamespace in (${DUMPED_SCHEMAS})`,

  constraints: `
    select c.oid::text, c.conname as name, pg_catalog.quote_ident(c.conname) as ident,
           c.contype as type, c.conrelid::text as relation, c.contypid::text as domain,
           c.convalidated as validated,
           pg_catalog.pg_get_constraintdef(c.oid) as definition
      from pg_catalog.pg_constraint c
     where c.connamespace in (${DUMPED_SCHEMAS})
     order by c.conname`,

  indexes: `
    select i.indexrelid::text as oid, c.relname as name, pg_catalog.quote_ident(c.relname) as ident,
           pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname) as qname,
           i.indrelid::text as relation,
           i.indisclustered as clustered, pg_catalog.pg_get_indexdef(i.indexrelid) as definition
      from pg_catalog.pg_index i
      join pg_catalog.pg_class c on c.oid = i.indexrelid
      join pg_catalog.pg_namespace n on n.oid = c.relnamespace
     where c.relnamespace in (${DUMPED_SCHEMAS})
       and not exists (select 1 from pg_catalog.pg_constraint k
                        where k.conindid = i.indexrelid and k.contype in ('p', 'u', 'x'))`,

  triggers: `
    select t.oid::text, t.tgname as name, pg_catalog.quote_ident(t.tgname) as ident,
           t.tgrelid::text as relation, t.tgenabled as enabled,
           pg_catalog.pg_get_triggerdef(t.oid) as definition
      from pg_catalog.pg_trigger t
      join pg_catalog.pg_class c on c.oid = t.tgrelid
     where c.relnamespace in (${DUMPED_SCHEMAS}) and not t.tgisinternal`,

  functions: `
    select p.oid::text, p.proname as name, n.nspname as schema,
           pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(p.proname) as qname,
           p.prokind as kind, l.lanname as language,
           pg_catalog.pg_get_function_arguments(p.oid) as arguments,
           pg_catalog.pg_get_function_identity_arguments(p.oid) as identity_arguments,
           pg_catalog.pg_get_function_result(p.oid) as result,
           array(select pg_catalog.format_type(a, null) from unnest(p.proargtypes) a) as argument_types,
           p.provolatile as volatility, p.proisstrict as strict, p.prosecdef as security_definer,
           p.proleakproof as leakproof, p.proparallel as parallel, p.proretset as returns_set,
           p.procost::text as cost, p.prorows::text as rows,
           case when p.prosupport <> 0 then p.prosupport::pg_catalog.regproc::text end as support,
           coalesce(p.proconfig, '{}') as config, p.prosrc as source,
           case when p.prosqlbody is not null then pg_catalog.pg_get_function_sqlbody(p.oid) end
             as sql_body
      from pg_catalog.pg_proc p
      join pg_catalog.pg_namespace n on n.oid = p.pronamespace
      join pg_catalog.pg_language l on l.oid = p.prolang
     where p.pronamespace in (${DUMPED_SCHEMAS})
       and p.prokind in ('f', 'p')
       and l.lanname not in ('c', 'internal')
       and ${notInExtension('pg_proc', 'p.oid')}`,

  /** Enums, domains and composite types of their own (not a table's row type, not arrays). */
  types: `
    select t.oid::text, t.typname as name, n.nspname as schema,
           pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(t.typname) as qname,
           t.typtype as kind, t.typrelid::text as relation,
           array(select e.enumlabel from pg_catalog.pg_enum e
                  where e.enumtypid = t.oid order by e.enumsortorder)::text[] as labels,
           pg_catalog.format_type(t.typbasetype, t.typtypmod) as base_type,
           t.typnotnull as not_null, pg_catalog.pg_get_expr(t.typdefaultbin, 0) as default,
           case when t.typcollation <> bt.typcollation
                then pg_catalog.quote_ident(cn.nspname) || '.' || pg_catalog.quote_ident(co.collname)
           end as collation
      from pg_catalog.pg_type t
      join pg_catalog.pg_namespace n on n.oid = t.typnamespace
      left join pg_catalog.pg_type bt on bt.oid = t.typbasetype
      left join pg_catalog.pg_collation co on co.oid = t.typcollation
      left join pg_catalog.pg_namespace cn on cn.oid = co.collnamespace
     where t.typnamespace in (${DUMPED_SCHEMAS})
       and (t.typtype in ('e', 'd')
            or (t.typtype = 'c'
                and (select r.relkind from pg_catalog.pg_class r where r.oid = t.typrelid) = 'c'))
       and ${notInExtension('pg_type', 't.oid')}`,

  /**
   * What depends on what among user objects (oid >= 16384: PostgreSQL's own are pinned), for the
   * order of the dump. A table's row type, an array type, a view's rule or a column default
   * stands for its owner (dump.ts maps them).
   */
  dependencies: `
    select d.classid::pg_catalog.regclass::text as catalog, d.objid::text as oid,
           d.refclassid::pg_catalog.regclass::text as ref_catalog, d.refobjid::text as ref_oid
      from pg_catalog.pg_depend d
     where d.objid >= 16384 and d.refobjid >= 16384 and d.deptype in ('n', 'a', 'i')`,

  /** Row types, array types and view rules: the object each stands for in dependencies. */
  ownedBy: `
    select 'pg_type' as catalog, t.oid::text, 'pg_class' as owner_catalog, t.typrelid::text as owner
      from pg_catalog.pg_type t where t.oid >= 16384 and t.typrelid <> 0
    union all
    select 'pg_type', t.oid::text, 'pg_type', t.typelem::text
      from pg_catalog.pg_type t where t.oid >= 16384 and t.typcategory = 'A' and t.typelem <> 0
    union all
    select 'pg_rewrite', r.oid::text, 'pg_class', r.ev_class::text
      from pg_catalog.pg_rewrite r where r.oid >= 16384 and r.rulename = '_RETURN'`,

  comments: `
    select d.classoid::pg_catalog.regclass::text as catalog, d.objoid::text as oid,
           d.objsubid as column_number, d.description as text
      from pg_catalog.pg_description d
     where d.objoid >= 16384`,

  /**
   * Objects this dump does not render. Rather than leave them out silently, dump.ts refuses to
   * write a file without them: extend scripts/schema/ when a migration needs one.
   */
  unsupported: `
    select 'extension ' || x.extname as object from pg_catalog.pg_extension x
     where x.extname <> 'plpgsql'
    union all
    select case c.relkind when 'm' then 'materialized view ' when 'p' then 'partitioned table '
                          when 'f' then 'foreign table ' else 'relation ' end || c.relname
      from pg_catalog.pg_class c
     where c.relnamespace in (${DUMPED_SCHEMAS}) and c.relkind in ('m', 'p', 'f')
    union all
    select 'table ' || c.relname || ' (' || trim(
             case when c.relrowsecurity then ' row level security' else '' end ||
             case when c.relreplident <> 'd' and c.relkind = 'r' then ' replica identity' else '' end ||
             case when c.reltablespace <> 0 then ' tablespace' else '' end ||
             case when c.reloftype <> 0 then ' typed table' else '' end ||
             case when c.relispartition or c.relhassubclass
                    or exists (select 1 from pg_catalog.pg_inherits h where h.inhrelid = c.oid)
                  then ' inheritance' else '' end) || ')'
      from pg_catalog.pg_class c
     where c.relnamespace in (${DUMPED_SCHEMAS}) and c.relkind in ('r', 'v', 'S', 'i')
       and (c.relrowsecurity or (c.relreplident <> 'd' and c.relkind = 'r')
            or c.reltablespace <> 0 or c.reloftype <> 0 or c.relispartition or c.relhassubclass
            or exists (select 1 from pg_catalog.pg_inherits h where h.inhrelid = c.oid))
    union all
    select 'column ' || c.relname || '.' || a.attname || ' (statistics, storage or options)'
      from pg_catalog.pg_attribute a
      join pg_catalog.pg_class c on c.oid = a.attrelid
      join pg_catalog.pg_type t on t.oid = a.atttypid
     where c.relnamespace in (${DUMPED_SCHEMAS}) and c.relkind in ('r', 'v')
       and a.attnum > 0 and not a.attisdropped
       and (a.attstattarget >= 0 or a.attstorage <> t.typstorage
            or exists (select 1 from unnest(a.attoptions) o where o like 'n\\_distinct%'))
    union all
    select 'rule ' || r.rulename || ' on ' || c.relname
      from pg_catalog.pg_rewrite r join pg_catalog.pg_class c on c.oid = r.ev_class
     where c.relnamespace in (${DUMPED_SCHEMAS}) and r.rulename <> '_RETURN'
    union all
    select 'policy ' || p.polname from pg_catalog.pg_policy p
      join pg_catalog.pg_class c on c.oid = p.polrelid
     where c.relnamespace in (${DUMPED_SCHEMAS})
    union all
    select 'statistics ' || s.stxname from pg_catalog.pg_statistic_ext s
     where s.stxnamespace in (${DUMPED_SCHEMAS})
    union all
    select case p.prokind when 'a' then 'aggregate ' when 'w' then 'window function '
                          else 'C function ' end || p.proname
      from pg_catalog.pg_proc p join pg_catalog.pg_language l on l.oid = p.prolang
     where p.pronamespace in (${DUMPED_SCHEMAS})
       and (p.prokind in ('a', 'w') or l.lanname in ('c', 'internal'))
       and ${notInExtension('pg_proc', 'p.oid')}
    union all
    select 'type ' || t.typname || ' (' || t.typtype::text || ')' from pg_catalog.pg_type t
     where t.typnamespace in (${DUMPED_SCHEMAS}) and t.typtype not in ('e', 'd', 'c')
       and t.typcategory <> 'A' and ${notInExtension('pg_type', 't.oid')}
    union all
    select 'operator ' || o.oprname from pg_catalog.pg_operator o
     where o.oprnamespace in (${DUMPED_SCHEMAS}) and ${notInExtension('pg_operator', 'o.oid')}
    union all
    select 'collation ' || c.collname from pg_catalog.pg_collation c
     where c.collnamespace in (${DUMPED_SCHEMAS})
    union all
    select 'event trigger ' || e.evtname from pg_catalog.pg_event_trigger e
    union all
    select 'publication ' || p.pubname from pg_catalog.pg_publication p
    union all
    select 'cast ' || format_type(c.castsource, null) || ' as ' || format_type(c.casttarget, null)
      from pg_catalog.pg_cast c where c.oid >= 16384 and ${notInExtension('pg_cast', 'c.oid')}
    order by 1`,
} as const;

export interface SchemaRow {
  oid: string;
  name: string;
  ident: string;
}

export interface RelationRow {
  oid: string;
  name: string;
  schema: string;
  qname: string;
  /** r table, v view, S sequence */
  kind: 'r' | 'v' | 'S';
  /** p permanent, u unlogged */
  persistence: string;
  options: string[];
  toast_options: string[];
  view_definition: string | null;
}

export interface ColumnRow {
  relation: string;
  number: number;
  name: string;
  ident: string;
  type: string;
  not_null: boolean;
  /** '' none, a always, d by default */
  identity: string;
  /** '' none, s stored */
  generated: string;
  default_oid: string | null;
  default: string | null;
  collation: string | null;
}

export interface SequenceRow {
  oid: string;
  type: string;
  start: string;
  increment: string;
  min: string;
  max: string;
  cache: string;
  cycle: boolean;
  owner_table: string | null;
  owner_column: number | null;
  identity: boolean | null;
}

export interface ConstraintRow {
  oid: string;
  name: string;
  ident: string;
  /** c check, f foreign key, p primary key, u unique, x exclusion, t constraint trigger */
  type: string;
  relation: string;
  domain: string;
  validated: boolean;
  definition: string;
}

export interface IndexRow {
  oid: string;
  name: string;
  ident: string;
  qname: string;
  relation: string;
  clustered: boolean;
  definition: string;
}

export interface TriggerRow {
  oid: string;
  name: string;
  ident: string;
  relation: string;
  enabled: string;
  definition: string;
}

export interface FunctionRow {
  oid: string;
  name: string;
  schema: string;
  qname: string;
  /** f function, p procedure */
  kind: 'f' | 'p';
  language: string;
  arguments: string;
  identity_arguments: string;
  result: string | null;
  argument_types: string[];
  volatility: string;
  strict: boolean;
  security_definer: boolean;
  leakproof: boolean;
  parallel: string;
  returns_set: boolean;
  cost: string;
  rows: string;
  support: string | null;
  config: string[];
  source: string;
  sql_body: string | null;
}

export interface TypeRow {
  oid: string;
  name: string;
  schema: string;
  qname: string;
  /** e enum, d domain, c composite */
  kind: 'e' | 'd' | 'c';
  relation: string;
  labels: string[];
  base_type: string | null;
  not_null: boolean;
  default: string | null;
  collation: string | null;
}

export interface DependencyRow {
  catalog: string;
  oid: string;
  ref_catalog: string;
  ref_oid: string;
}

export interface OwnedByRow {
  catalog: string;
  oid: string;
  owner_catalog: string;
  owner: string;
}

export interface CommentRow {
  catalog: string;
  oid: string;
  column_number: number;
  text: string;
}

export interface Catalog {
  majorVersion: number;
  schemas: SchemaRow[];
  relations: RelationRow[];
  columns: ColumnRow[];
  sequences: SequenceRow[];
  constraints: ConstraintRow[];
  indexes: IndexRow[];
  triggers: TriggerRow[];
  functions: FunctionRow[];
  types: TypeRow[];
  dependencies: DependencyRow[];
  ownedBy: OwnedByRow[];
  comments: CommentRow[];
  unsupported: string[];
}

/** Reads the catalog; the caller holds a transaction with search_path = ''. */
export async function readCatalog(client: pg.ClientBase): Promise<Catalog> {
  const rows = async <T extends object>(text: string): Promise<T[]> =>
    (await client.query<T>(text)).rows;
  return {
    majorVersion: (await rows<{ major: number }>(SQL.version))[0]!.major,
    schemas: await rows(SQL.schemas),
    relations: await rows(SQL.relations),
    columns: await rows(SQL.columns),
    sequences: await rows(SQL.sequences),
    constraints: await rows(SQL.constraints),
    indexes: await rows(SQL.indexes),
    triggers: await rows(SQL.triggers),
    functions: await rows(SQL.functions),
    types: await rows(SQL.types),
    dependencies: await rows(SQL.dependencies),
    ownedBy: await rows(SQL.ownedBy),
    comments: await rows(SQL.comments),
    unsupported: (await rows<{ object: string }>(SQL.unsupported)).map((r) => r.object),
  };
}
