// An approver signs in (password + TOTP), finds the pending request REQUEST_ID on the
// requests page and approves it with the pre-filled window. A second tab left open on the
// sessions page must see its pending badge drop without a reload (the badge script).
// Env: PORTCULLIS_URL, WEB_USER, WEB_PASSWORD, WEB_TOTP_SECRET, REQUEST_ID.
import { BASE, main, need, newPage, shot, signIn, textOf, watch } from './lib.mjs';

main(async (browser) => {
  const id = need('REQUEST_ID');
  const page = await newPage(browser);

  // A visitor is sent to sign in.
  await page.goto(`${BASE}/`);
  const firstUrl = page.url();
  await shot(page, 'sign-in', { phone: true });

  await signIn(page, need('WEB_USER'), need('WEB_PASSWORD'), need('WEB_TOTP_SECRET'));
  const card = page.locator(`article.request[data-request-id="${id}"]`);
  await card.waitFor();
  const before = {
    card: (await card.innerText()).trim(),
    tally: await textOf(card, '.tally'),
    badge: await textOf(page, '#pending-badge'),
    minutes: await card.locator('form.approve input[name="minutes"]').inputValue(),
    deny_form: await card.locator('form.deny').count(),
  };
  await shot(page, 'requests', { phone: true });

  // The same user in a second tab, on another page, with the badge script running.
  const other = await page.context().newPage();
  watch(other);
  await other.goto(`${BASE}/sessions`);
  const otherBadgeBefore = await textOf(other, '#pending-badge');

  await card.locator('form.approve button[type="submit"]').click();
  await page.waitForURL((u) => u.pathname === '/requests' && u.searchParams.get('done') === 'granted');
  const flash = await textOf(page, '.flash');
  const stillListed = await page.locator(`article.request[data-request-id="${id}"]`).count();

  await other.bringToFront();
  await other.waitForFunction(
    (n) => document.getElementById('pending-badge').textContent !== n,
    otherBadgeBefore,
    { timeout: 20_000 },
  );
  const otherBadgeAfter = await textOf(other, '#pending-badge');

  return {
    first_url: firstUrl,
    before,
    flash,
    still_listed: stillListed,
    badge_after: await textOf(page, '#pending-badge'),
    other_badge_before: otherBadgeBefore,
    other_badge_after: otherBadgeAfter,
  };
});
