// An approver signs in, finds the live session on DEVICE on the sessions page, follows its
// Stop link to the confirmation page and stops it in MODE (graceful or immediate).
// Env: PORTCULLIS_URL, WEB_USER, WEB_PASSWORD, WEB_TOTP_SECRET, DEVICE, MODE.
import { BASE, main, need, newPage, shot, signIn, textOf } from './lib.mjs';

main(async (browser) => {
  const device = need('DEVICE');
  const mode = need('MODE');
  const page = await newPage(browser);
  await signIn(page, need('WEB_USER'), need('WEB_PASSWORD'), need('WEB_TOTP_SECRET'));

  await page.goto(`${BASE}/sessions`);
  const card = page.locator('article.session', { hasText: device }).first();
  await card.waitFor();
  const sessionId = await card.getAttribute('data-session-id');
  const cardText = (await card.innerText()).trim();
  await shot(page, 'sessions', { phone: true });

  await card.locator('a.stop').click();
  await page.waitForURL(`${BASE}/sessions/${sessionId}/stop`);
  const form = page.locator('form#confirm-stop');
  await form.waitFor();
  const confirm = {
    heading: await textOf(page, 'h1'),
    warning: await textOf(page, '.clinical-warning'),
    default_mode: await form.locator('input[name="mode"]:checked').inputValue(),
  };
  await shot(page, 'stop-confirm', { phone: true });

  await form.locator(`input[name="mode"][value="${mode}"]`).check();
  await form.locator('input[name="reason"]').fill('browser test: stop requested by the ward');
  await form.locator('button[type="submit"]').click();
  await page.waitForURL((u) => u.pathname === '/sessions' && u.searchParams.has('done'));

  return { session_id: sessionId, card: cardText, confirm, flash: await textOf(page, '.flash') };
});
