import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, envSchema, parseConfig } from '../../src/config/env';

describe('configuration', () => {
  test('defaults make a working configuration from an empty environment', () => {
    const config = parseConfig({});
    expect(config).toMatchObject({ PORT: 3000, EMBEDDED_PG_PORT: 54329, LOG_LEVEL: 'info' });
    expect(config.DATABASE_URL).toBeUndefined();
    expect(Object.isFrozen(config)).toBe(true);
  });

  test('an empty DATABASE_URL counts as unset', () => {
    expect(parseConfig({ DATABASE_URL: '' }).DATABASE_URL).toBeUndefined();
  });

  test('every bad variable is named, and no value is echoed', () => {
    let error: unknown;
    try {
      parseConfig({ PORT: 'eighty', DATABASE_URL: 'mysql://u:s3cret@h/db', LOG_LEVEL: 'loud' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    for (const name of ['PORT', 'DATABASE_URL', 'LOG_LEVEL']) expect(message).toContain(name);
    expect(message).not.toContain('s3cret');
  });

  test('every variable is in .env.example and in the README (where users look for them)', () => {
    const root = path.resolve(__dirname, '../..');
    const example = readFileSync(path.join(root, '.env.example'), 'utf8');
    const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
    const keys = Object.keys(envSchema.shape);
    expect(keys.filter((k) => !new RegExp(`^${k}=`, 'm').test(example))).toEqual([]);
    expect(keys.filter((k) => !readme.includes(`\`${k}\``))).toEqual([]);
  });
});
