// Quoting as pg_dump writes it (src/bin/pg_dump/dumputils.c, src/fe_utils/string_utils.c).

/** A string literal with standard_conforming_strings on (the dump sets it): quotes doubled. */
export function literal(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

/**
 * A dollar-quoted body, as pg_dump's appendStringLiteralDQ picks its delimiter: `$$`, unless the
 * body contains `$` followed by the tag so far, then `$_$`, `$_X$`, `$_XX$`...
 */
export function dollarQuoted(body: string): string {
  const suffixes = '_XXXXXXX';
  let tag = '$';
  for (let next = 0; body.includes(tag); next = (next + 1) % suffixes.length) {
    tag += suffixes[next];
  }
  return `${tag}$${body}${tag}$`;
}

/** Identifiers pg_dump leaves unquoted: lower case, digits and underscores, not a keyword. */
const PLAIN_IDENTIFIER = /^[a-z_][a-z0-9_]*$/;

/**
 * `name=value` options of pg_class.reloptions as pg_dump writes them in WITH (...): the value
 * always as a literal, the name quoted like an identifier when it must be (never in practice).
 */
export function reloptions(options: string[], prefix = ''): string[] {
  return options.map((option) => {
    const at = option.indexOf('=');
    const name = option.slice(0, at);
    const quoted = PLAIN_IDENTIFIER.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
    return `${prefix}${quoted}=${literal(option.slice(at + 1))}`;
  });
}

/**
 * One archive entry as pg_dump prints it: a comment header naming the object, its SQL, and two
 * empty lines.
 */
export function entry(name: string, type: string, schema: string, sql: string): string {
  return `--\n-- Name: ${name}; Type: ${type}; Schema: ${schema}; Owner: -\n--\n\n${sql}\n\n\n`;
}

/** Settings whose value is a list, quoted element by element (pg_dump's variable_is_guc_list_quote). */
const LIST_SETTINGS = new Set([
  'local_preload_libraries',
  'search_path',
  'session_preload_libraries',
  'shared_preload_libraries',
  'temp_tablespaces',
  'unix_socket_directories',
]);

/** `SET name TO value` of a function's proconfig entry `name=value`, as pg_dump writes it. */
export function functionSetting(setting: string): string {
  const at = setting.indexOf('=');
  const name = setting.slice(0, at);
  const value = setting.slice(at + 1);
  if (!LIST_SETTINGS.has(name)) return `SET ${name} TO ${literal(value)}`;
  // The list as PostgreSQL stored it: elements separated by ", ", some double-quoted.
  const elements = [...value.matchAll(/\s*(?:"((?:[^"]|"")*)"|([^,]*?))\s*(?:,|$)/g)]
    .filter((m) => m[0] !== '')
    .map((m) => (m[1] !== undefined ? m[1].replace(/""/g, '"') : m[2]!));
  return `SET ${name} TO ${elements.map(literal).join(', ')}`;
}
