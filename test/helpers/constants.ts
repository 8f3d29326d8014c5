/** The migrated database every test file clones (created by test/setup/global-setup.ts). */
export const TEMPLATE_DB = 'outbox_test_template';
