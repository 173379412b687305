// The break-glass review page in Chromium: an approver signs in, opens the page from the
// navigation, reads the opening BG_ID (incident, reason, vendor, the session's Replay link and
// its file/tunnel audit rows, the reviews so far), checks it with axe-core, saves screenshots
// (SHOT names them), records a review (VERDICT, NOTE) with the form, and reads back the flash
// and the card.
// Env: PORTCULLIS_URL, WEB_USER, WEB_PASSWORD, WEB_TOTP_SECRET, BG_ID, VERDICT, NOTE, SHOT.
import { axe, BASE, main, need, newPage, shot, signIn, textOf } from './lib.mjs';

main(async (browser) => {
  const id = need('BG_ID');
  const page = await newPage(browser);
  await signIn(page, need('WEB_USER'), need('WEB_PASSWORD'), need('WEB_TOTP_SECRET'));

  await page.locator('nav.bar a[href="/breakglass"]').click();
  await page.waitForURL(`${BASE}/breakglass`);
  const card = page.locator(`article[data-breakglass="${id}"]`);
  await card.waitFor();
  const before = await card.evaluate((a) => ({
    outcome: a.dataset.outcome,
    incident: a.querySelector('dd.incident')?.innerText.trim(),
    reason: a.querySelector('dd.reason')?.innerText.trim(),
    vendor: a.querySelector('dd.vendor')?.innerText.trim(),
    replay: [...a.querySelectorAll('a.replay')].map((l) => l.getAttribute('href')),
    rows: [...a.querySelectorAll('table.bg-rows tr[data-kind]')].map((tr) => tr.dataset.kind),
    reviews: [...a.querySelectorAll('ul.reviews li')].map((li) => ({ reviewer: li.dataset.reviewer, verdict: li.dataset.verdict })),
    form: !!a.querySelector('form.review'),
  }));
  const violations = [...await axe(page)];
  await shot(page, need('SHOT'), { phone: true });

  await card.locator(`form.review input[name="verdict"][value="${need('VERDICT')}"]`).check();
  await card.locator('form.review input[name="note"]').fill(need('NOTE'));
  await card.locator('form.review button[type="submit"]').click();
  await page.waitForURL((u) => u.pathname === '/breakglass' && (u.searchParams.get('done') ?? '').startsWith('breakglass-'));
  const after = await page.locator(`article[data-breakglass="${id}"]`).evaluate((a) => ({
    outcome: a.dataset.outcome,
    reviews: [...a.querySelectorAll('ul.reviews li')].map((li) => ({ reviewer: li.dataset.reviewer, verdict: li.dataset.verdict })),
    form: !!a.querySelector('form.review'),
  }));
  await shot(page, `${need('SHOT')}-after`);
  return { before, after, violations, flash: await textOf(page, '.flash') };
});
