// A moderator for a scripted session: signs in, opens SESSION_ID's live page, joins as
// moderator and writes JOINED_FILE; waits for PAUSE_FILE, pauses the vendor's input and
// writes PAUSED_FILE; waits for LEAVE_FILE and leaves the page (which is leaving the room).
// Env: PORTCULLIS_URL, WEB_USER, WEB_PASSWORD, WEB_TOTP_SECRET, SESSION_ID, JOINED_FILE,
//      PAUSE_FILE, PAUSED_FILE, LEAVE_FILE.
import { existsSync, writeFileSync } from 'node:fs';
import { BASE, main, need, newPage, signIn, textOf, until } from './lib.mjs';

const file = (page, name) => until(page, async () => existsSync(need(name)), name, 90_000);

main(async (browser) => {
  const id = need('SESSION_ID');
  const page = await newPage(browser);
  await signIn(page, need('WEB_USER'), need('WEB_PASSWORD'), need('WEB_TOTP_SECRET'));
  await page.goto(`${BASE}/sessions/${id}/live`);
  await page.locator('#join-moderator button').click();
  await page.waitForURL(`${BASE}/sessions/${id}/live?moderate=1`);
  await until(page, async () => ((await textOf(page, '#moderation-state')) || '').startsWith('You are moderating'), 'the moderating state');
  writeFileSync(need('JOINED_FILE'), 'joined');
  await file(page, 'PAUSE_FILE');
  await page.locator('#pause-input').click();
  await until(page, async () => ((await textOf(page, '#moderation-state')) || '').includes('paused'), 'the pause');
  writeFileSync(need('PAUSED_FILE'), 'paused');
  await file(page, 'LEAVE_FILE');
  await page.goto(`${BASE}/requests`);
  return {};
});
