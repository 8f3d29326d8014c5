import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ADMIN_TOKEN } from '../helpers/admin-api';
import { startTestService, useSeededDatabase } from '../helpers/service';

// The Thunder Client collection, run as Thunder Client runs it: every request in order against a
// freshly seeded service (admin API on), each assertion checked. A request or an assertion that
// no longer matches the API fails here, not in a user's editor.

interface ThunderTest {
  type: 'res-code' | 'res-body' | 'json-query';
  custom: string;
  action: 'equal' | 'contains' | '<';
  value: string;
}

interface ThunderRequest {
  name: string;
  url: string;
  method: string;
  sortNum: number;
  headers: { name: string; value: string }[];
  body?: { raw: string };
  tests: ThunderTest[];
}

const db = useSeededDatabase();

/** The response, or for a stream the text read until every `contains` holds (then it is cut). */
async function send(
  r: ThunderRequest,
  vars: Record<string, string>,
): Promise<{ status: number; text: string }> {
  const fill = (s: string) => s.replace(/\{\{(\w+)\}\}/g, (_, k: string) => vars[k] ?? '');
  const abort = new AbortController();
  const res = await fetch(fill(r.url), {
    method: r.method,
    headers: Object.fromEntries(r.headers.map((h) => [h.name, fill(h.value)])),
    body: r.body?.raw,
    signal: abort.signal,
  });
  if (!res.headers.get('content-type')?.startsWith('text/event-stream'))
    return { status: res.status, text: await res.text() };
  const wanted = r.tests.filter((t) => t.type === 'res-body').map((t) => t.value);
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  while (!wanted.every((w) => text.includes(w))) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
  }
  abort.abort();
  return { status: res.status, text };
}

function check(t: ThunderTest, res: { status: number; text: string }): string | undefined {
  let actual: unknown;
  if (t.type === 'res-code') actual = res.status;
  else if (t.type === 'res-body') actual = res.text;
  else {
    actual = t.custom
      .replace(/^json\.?/, '')
      .split('.')
      .filter(Boolean)
      .reduce<unknown>(
        (v, k) => (v as Record<string, unknown> | undefined)?.[k],
        JSON.parse(res.text),
      );
  }
  const ok =
    t.action === 'equal'
      ? String(actual) === t.value
      : t.action === 'contains'
        ? String(actual).includes(t.value)
        : Number(actual) < Number(t.value);
  return ok
    ? undefined
    : `${t.type} ${t.custom} ${t.action} ${t.value}: got ${String(actual).slice(0, 200)}`;
}

test('every request of the collection passes its assertions against a seeded service', async () => {
  const file = path.resolve(__dirname, '../../thunder-tests/thunderclient.json');
  const requests = (JSON.parse(await readFile(file, 'utf8')) as ThunderRequest[]).sort(
    (a, b) => a.sortNum - b.sortNum,
  );
  const service = await startTestService(db.url, { env: { ADMIN_TOKEN } });
  const vars = { baseUrl: service.url, adminToken: ADMIN_TOKEN, apiToken: 'unused' };
  const failures: string[] = [];
  for (const r of requests) {
    const res = await send(r, vars);
    for (const t of r.tests) {
      const failure = check(t, res);
      if (failure) failures.push(`${r.name}: ${failure}`);
    }
  }
  expect(failures).toEqual([]);
});
