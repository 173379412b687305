// The alerts page in Chromium: an approver signs in, reads the alerts (newest first, each with
// its severity chip, rule, vendor, device and session link), checks the page with axe-core in
// light and dark, saves the screenshots (desktop, phone, dark), acknowledges the alert
// ALERT_SEQ with its button, and reads back who acknowledged it.
// Env: PORTCULLIS_URL, WEB_USER, WEB_PASSWORD, WEB_TOTP_SECRET, ALERT_SEQ.
import { axe, BASE, main, need, newPage, shot, signIn, textOf } from './lib.mjs';

main(async (browser) => {
  const seq = need('ALERT_SEQ');
  const page = await newPage(browser);
  await signIn(page, need('WEB_USER'), need('WEB_PASSWORD'), need('WEB_TOTP_SECRET'));

  // The navigation leads there.
  await page.locator('nav.bar a[href="/alerts"]').click();
  await page.waitForURL(`${BASE}/alerts`);
  const rows = page.locator('table.alerts tbody tr[data-alert]');
  await rows.first().waitFor();
  const listed = await rows.evaluateAll((trs) => trs.map((tr) => ({
    seq: Number(tr.dataset.alert),
    severity: tr.dataset.severity,
    rule: tr.dataset.rule,
    chip: tr.querySelector('.sev').innerText.trim(),
    session_link: tr.querySelector('a[href^="/sessions/"]')?.getAttribute('href') ?? null,
    button: !!tr.querySelector('form button[type="submit"]'),
  })));
  const violations = [...await axe(page)];
  await shot(page, 'alerts', { phone: true });
  await page.emulateMedia({ colorScheme: 'dark' });
  violations.push(...await axe(page));
  await shot(page, 'alerts-dark');
  await page.emulateMedia({ colorScheme: 'light' });

  const row = page.locator(`tr[data-alert="${seq}"]`);
  await row.locator('form button[type="submit"]').click();
  await page.waitForURL((u) => u.pathname === '/alerts' && u.searchParams.get('done') === 'acknowledged');
  const acked = await textOf(page.locator(`tr[data-alert="${seq}"]`), 'td.ack');
  const stillButton = await page.locator(`tr[data-alert="${seq}"] form button`).count();
  await shot(page, 'alerts-acknowledged');

  return { listed, violations, flash: await textOf(page, '.flash'), acked, still_button: stillButton };
});
