import { startServiceProcess } from '../helpers/process';

describe('start-up with a bad environment', () => {
  test('the process exits 1 naming every bad variable, without echoing a value', async () => {
    const secret = 'pw-do-not-echo-4711';
    const service = startServiceProcess({
      PORT: 'eighty',
      DATABASE_URL: `mysql://app:${secret}@db.example.com/shop`,
      WEBHOOK_SECRET: 'not-a-whsec-key',
      LOG_LEVEL: 'chatty',
    });
    const { code } = await service.exited;
    const output = service.output();
    expect(code).toBe(1);
    expect(output).toContain('Invalid configuration');
    for (const name of ['PORT', 'DATABASE_URL', 'WEBHOOK_SECRET', 'LOG_LEVEL']) {
      expect(output).toMatch(new RegExp(`^\\s+- ${name}: `, 'm'));
    }
    for (const value of [secret, 'eighty', 'not-a-whsec-key', 'chatty']) {
      expect(output).not.toContain(value);
    }
  });
});
