import { createHash } from 'node:crypto';
import { LEGACY_CHECKSUMS } from './legacy-checksums';

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

const IDENTIFIER_CHAR = /[A-Za-z0-9_$\u0080-\uffff]/;
const WORD_OR_QUOTE = /[A-Za-z0-9_$\u0080-\uffff'"]/;
const OPERATOR_CHAR = /[-+*/<>=~!@#%^&|`?]/;

/** Whether whitespace between two characters is needed to keep the tokens apart. */
const separates = (before: string, after: string): boolean =>
  (WORD_OR_QUOTE.test(before) && WORD_OR_QUOTE.test(after)) ||
  (OPERATOR_CHAR.test(before) && OPERATOR_CHAR.test(after));
const DOLLAR_TAG = /\$(?:[A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/y;

/** Index just past the literal or quoted identifier opened by the quote at `start`. */
function endOfQuoted(sql: string, start: number, backslashEscapes: boolean): number {
  const quote = sql[start];
  let i = start + 1;
  while (i < sql.length) {
    if (backslashEscapes && sql[i] === '\\') i += 2;
    else if (sql[i] === quote && sql[i + 1] === quote) i += 2;
    else if (sql[i] === quote) return i + 1;
    else i += 1;
  }
  return sql.length;
}

/** Index just past the block comment opening at `start`; PostgreSQL's block comments nest. */
function endOfBlockComment(sql: string, start: number): number {
  let depth = 0;
  let i = start;
  while (i < sql.length) {
    if (sql.startsWith('/*', i)) {
      depth += 1;
      i += 2;
    } else if (sql.startsWith('*/', i)) {
      depth -= 1;
      i += 2;
      if (depth === 0) return i;
    } else i += 1;
  }
  return sql.length;
}

/**
 * The statements of a migration file without what cannot change what they do: `--` and block
 * comments, and the whitespace between tokens (one space where two words or two operators would
 * otherwise run together, none elsewhere: `( a int )` is `(a int)`). String literals, quoted
 * identifiers and dollar-quoted bodies are kept as written: a function body is dollar-quoted, and
 * its comments are part of the function PostgreSQL stores. Only the whitespace at the ends of a
 * dollar-quoted body's lines is dropped (editors strip it on save).
 * Changing this function changes the checksum of every migration: legacy-checksums.ts holds
 * values it computed, and every database holds others.
 */
export function migrationStatements(sql: string): string {
  let out = '';
  let space = false;
  const emit = (token: string) => {
    if (space && out !== '' && separates(out[out.length - 1]!, token[0]!)) out += ' ';
    space = false;
    out += token;
  };
  let i = 0;
  while (i < sql.length) {
    const c = sql[i]!;
    const previous = sql[i - 1] ?? '';
    if (/\s/.test(c)) {
      space = true;
      i += 1;
    } else if (sql.startsWith('--', i)) {
      const eol = sql.indexOf('\n', i);
      i = eol === -1 ? sql.length : eol;
      space = true;
    } else if (sql.startsWith('/*', i)) {
      i = endOfBlockComment(sql, i);
      space = true;
    } else if (c === "'" || c === '"') {
      // E'...' strings take backslash escapes (E'it\'s'); an E that ends an identifier does not.
      const escapeString =
        c === "'" && /[Ee]/.test(previous) && !IDENTIFIER_CHAR.test(sql[i - 2] ?? '');
      const end = endOfQuoted(sql, i, escapeString);
      emit(sql.slice(i, end));
      i = end;
    } else if (c === '$' && !IDENTIFIER_CHAR.test(previous)) {
      DOLLAR_TAG.lastIndex = i;
      const tag = DOLLAR_TAG.exec(sql)?.[0];
      if (tag === undefined) {
        emit(c); // $1, a parameter
        i += 1;
        continue;
      }
      const close = sql.indexOf(tag, i + tag.length);
      const end = close === -1 ? sql.length : close + tag.length;
      emit(sql.slice(i, end).replace(/[ \t\r]+$/gm, ''));
      i = end;
    } else {
      emit(c);
      i += 1;
    }
  }
  return out;
}

/** What schema_migrations records for a migration file: a hash of its statements only. */
export function migrationChecksum(sql: string): string {
  return sha256(migrationStatements(sql));
}

/**
 * Whether the checksum recorded when a migration was applied still matches its file.
 *
 * Checksums recorded before this module existed hash the whole file, comments included, and the
 * file they were taken of is gone once its comments are edited: such a checksum cannot be
 * recomputed from today's file, and recording the new checksum on the first start would only
 * help if that start came before the edit (it does not: both ship together). So the old
 * checksum of every version of every migration file in git up to then is kept with the
 * checksum of its statements (legacy-checksums.ts), and an old checksum matches when the
 * statements it stands for are today's. No row is rewritten: a database stays readable by
 * the previous release, and the check needs no write privilege.
 */
export function checksumMatches(recorded: string, sql: string): boolean {
  const current = migrationChecksum(sql);
  if (recorded === current) return true;
  // Applied with the whole-file hash of a file nobody has edited since (e.g. a migration of
  // another branch, applied by a release older than this module).
  if (recorded === sha256(sql)) return true;
  return LEGACY_CHECKSUMS.get(recorded) === current;
}
