// Walks the admin console's nine setup steps in headless Debian Chromium (playwright-core with
// the system browser; no browser download) against a running `rostersync serve`, and saves a
// screenshot of every page. Exits non-zero if any step fails.
//
// Environment: BASE_URL (http://127.0.0.1:PORT), TOKEN (an admin token of the district),
// FEED (the generated feed folder to connect), OUT (screenshot folder),
// CHROMIUM (default /usr/bin/chromium).
import { chromium } from 'playwright-core';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const base = process.env.BASE_URL;
const token = process.env.TOKEN;
const feed = process.env.FEED;
const out = process.env.OUT || 'console-screenshots';
if (!base || !token || !feed) {
  console.error('BASE_URL, TOKEN and FEED are required');
  process.exit(2);
}
mkdirSync(out, { recursive: true });
const profile = mkdtempSync(join(tmpdir(), 'rostersync-chromium-'));

const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
  viewport: { width: 1280, height: 900 },
  acceptDownloads: true,
});
context.setDefaultTimeout(20000);
const page = context.pages()[0] ?? (await context.newPage());

// Anything the console asks for must come from the console itself (works offline), and no
// request may fail with a server error.
const problems = [];
page.on('request', (r) => {
  if (!r.url().startsWith(base) && !r.url().startsWith('data:')) problems.push(`external request: ${r.url()}`);
});
page.on('response', (r) => {
  if (r.status() >= 500) problems.push(`HTTP ${r.status()} from ${r.url()}`);
});
page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));

const results = [];
let shot = 0;
async function snap(name) {
  shot += 1;
  const file = join(out, `${String(shot).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
let stopped = false;
async function step(name, fn) {
  // Each step builds on the one before: after a failure the rest are counted as failed, not run.
  if (stopped) {
    results.push({ name, ok: false, error: 'not run: an earlier step failed' });
    console.log(`FAIL ${name}: not run (an earlier step failed)`);
    return;
  }
  const started = Date.now();
  try {
    await fn();
    const file = await snap(name);
    results.push({ name, ok: true, ms: Date.now() - started, file });
    console.log(`ok   ${name} (${Date.now() - started} ms) ${file}`);
  } catch (e) {
    let file = '';
    try { file = await snap(`${name}-FAILED`); } catch { /* the page may be gone */ }
    results.push({ name, ok: false, ms: Date.now() - started, error: String(e) });
    stopped = true;
    console.log(`FAIL ${name}: ${e.message || e} ${file}`);
  }
}
function expect(cond, what) {
  if (!cond) throw new Error(`expected ${what}`);
}
async function see(text) {
  await page.getByText(text, { exact: false }).first().waitFor({ state: 'visible' });
}
async function nav(label) {
  await page.getByRole('navigation', { name: 'Setup steps' }).getByRole('link', { name: label }).click();
  await page.waitForLoadState('load');
}
/** Waits for a run report page to finish (it refreshes itself while the run goes on). */
async function waitForReport() {
  await page.getByRole('heading', { name: 'Changes by entity' }).waitFor({ timeout: 60000 });
}

await step('sign-in', async () => {
  await page.goto(`${base}/console`);
  expect(page.url().endsWith('/console/sign-in'), 'a redirect to the sign-in page');
  // Keyboard: the token field has the focus, so typing and Enter sign in.
  expect(await page.evaluate(() => document.activeElement?.id) === 'token', 'the token field to have the focus');
  await page.keyboard.type('rs_not-a-real-token');
  await page.keyboard.press('Enter');
  await see('That token is not valid');
  await page.getByLabel('District token').fill('rs_not-a-real-token');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await see('That token is not valid');
  await page.getByLabel('District token').fill(token);
  await page.getByLabel('District token').press('Enter');
  await page.waitForURL(`${base}/console`);
  await see('Walk the nine steps in order');
});

await step('overview', async () => {
  // Keyboard: the first Tab reaches the skip link, which moves the focus to the content.
  await page.keyboard.press('Tab');
  expect(await page.evaluate(() => document.activeElement?.className) === 'skip', 'the skip link to take focus first');
  await page.keyboard.press('Enter');
  expect(await page.evaluate(() => document.activeElement?.id) === 'main', 'the skip link to focus the content');
  const items = await page.locator('ol.overview > li').count();
  expect(items === 9, `9 steps on the overview, got ${items}`);
});

await step('1-connect-source', async () => {
  await nav('Connect a source');
  await page.getByLabel('Source', { exact: true }).selectOption('oneroster-csv');
  await page.getByLabel('Folder, ZIP or remote folder').fill(feed);
  await page.getByRole('button', { name: 'Save source' }).click();
  await see('Source saved');
  await see('OneRoster CSV files at');
  expect(await page.getByLabel('Token, client secret or SFTP password').inputValue() === '', 'the secret field to be empty');
});

await step('2-what-the-source-shares', async () => {
  await nav('What the source shares');
  await see('Schools in the feed');
  const students = Number(await page.locator('ul.tiles li', { hasText: 'students' }).locator('.big').innerText());
  expect(students > 0, `students counted, got ${students}`);
});

await step('3-match-schools', async () => {
  await nav('Match schools');
  await see('Suggested matches');
  let accepted = 0;
  for (;;) {
    const accept = page.getByRole('button', { name: /^Accept / }).first();
    if (!(await accept.count())) break;
    await accept.click();
    await see('School matched');
    accepted += 1;
    if (accepted > 20) throw new Error('suggestions never ran out');
  }
  expect(accepted > 0, 'at least one suggestion accepted');
  expect((await page.getByText('none: not synced').count()) === 0, 'every directory school matched');
});

await step('4-link-classrooms', async () => {
  await nav('Link classrooms');
  await page.getByLabel("Search the feed's sections").fill('Homeroom');
  await page.getByRole('button', { name: 'Search' }).click();
  await see('Sections matching');
  await page.getByRole('button', { name: 'Link' }).first().click();
  await see('Classroom linked');
  expect((await page.locator('table').first().getByText('not linked').count()) >= 0, 'the classroom table');
});

await step('5-settings-invalid', async () => {
  await nav('Sync settings');
  await page.getByLabel('Deletion threshold (%)').fill('150');
  await page.getByRole('button', { name: 'Save settings' }).click();
  await see('not valid; nothing was saved');
  expect((await page.locator('.field-error').count()) === 1, 'one field error');
});

await step('5-settings-saved', async () => {
  await page.getByLabel('Deletion threshold (%)').fill('50');
  await page.getByLabel('Parent/Guardian').check();
  await page.getByLabel('Schools that sync').selectOption('matched');
  await page.getByRole('button', { name: 'Save settings' }).click();
  await see('Settings saved');
  expect(await page.getByLabel('Deletion threshold (%)').inputValue() === '50', 'the threshold kept');
});

await step('6-self-check', async () => {
  await nav('Self-check');
  await page.getByRole('button', { name: 'Run the self-check' }).click();
  await waitForReport();
  await see('self-check (dry run');
  await see('Warnings by cause');
  expect((await page.locator('figure.chart svg rect').count()) > 0, 'a bar chart');
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('link', { name: 'Download the change list (CSV)' }).click(),
  ]);
  const file = join(out, 'self-check-changes.csv');
  await download.saveAs(file);
  const text = (await import('node:fs')).readFileSync(file, 'utf8');
  expect(text.startsWith('entity,action,school_id,key,source_id,fields,note'), 'a CSV header');
  expect(text.split('\n').length > 10, 'changes in the CSV');
});

await step('7-enable-nightly-sync', async () => {
  await nav('Enable the nightly sync');
  await page.getByLabel('Enable the daily sync').check();
  await page.getByLabel('Start time').fill('02:30');
  await page.getByLabel('Time zone').fill('America/Chicago');
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await see('Nightly sync settings saved');
  expect(await page.getByLabel('Enable the daily sync').isChecked(), 'the schedule enabled');
});

await step('7-run-a-sync', async () => {
  await page.getByRole('button', { name: 'Run a sync now' }).click();
  await waitForReport();
  const kind = await page.locator('dl.facts dd').nth(1).innerText();
  expect(kind === 'sync', `a real sync, got ${kind}`);
});

await step('8-reports', async () => {
  await nav('Sync reports');
  await see('Trend of the last runs');
  expect((await page.locator('figure.chart polyline').count()) === 4, 'four trend lines');
  expect((await page.locator('table tbody tr').count()) >= 2, 'two runs in the history');
});

await step('8-run-detail', async () => {
  await page.locator('table tbody tr').first().getByRole('link').click();
  await waitForReport();
  await see('Per school');
});

await step('8-school-drill-down', async () => {
  await page.locator('table', { hasText: 'Schools in this run' }).locator('tbody tr').first().getByRole('link').click();
  await see('Changes (');
  expect(new URL(page.url()).searchParams.get('school'), 'a school filter');
});

await step('8-changes-filtered', async () => {
  await page.getByLabel('Entity').selectOption('students');
  await page.getByLabel('Action').selectOption('created');
  await page.getByLabel('School').selectOption('');
  await page.getByRole('button', { name: 'Filter' }).click();
  await see('Changes (');
  const cells = await page.locator('table tbody tr td:nth-child(2)').allInnerTexts();
  expect(cells.length > 0 && cells.every((c) => c === 'created'), `only created changes, got ${cells.slice(0, 5)}`);
});

await step('9-cleanup-preview', async () => {
  await nav('Clean up students');
  await see('students would be archived');
  await see('Duplicate candidates');
});

await step('9-merge', async () => {
  await page.getByRole('button', { name: 'Merge' }).first().click();
  await see('Students merged');
  await see('Merges (newest first)');
});

await step('9-unmerge', async () => {
  await page.getByRole('button', { name: 'Undo' }).first().click();
  await see('Merge undone');
});

await step('9-archive-unsynced', async () => {
  await page.getByRole('button', { name: /^Archive these \d+ students/ }).click();
  await see('Unsynced students archived');
  await see('0 students would be archived');
});

await step('sign-out', async () => {
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(`${base}/console/sign-in`);
  await page.goto(`${base}/console/runs`);
  expect(page.url().endsWith('/console/sign-in'), 'signed out');
});

await context.close();
rmSync(profile, { recursive: true, force: true });

for (const p of problems) {
  results.push({ name: p, ok: false });
  console.log(`FAIL ${p}`);
}
const passed = results.filter((r) => r.ok).length;
const failed = results.length - passed;
console.log(`screenshots in ${out}`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
