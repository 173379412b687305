// An admin contains a zone from the devices list: the device page has a Contain… button; the
// zone's Contain… button opens the confirmation page, which lists the session to stop (flagged
// life-critical, graceful), the grant to revoke and the request to deny, and asks who confirmed
// the device is safe to disconnect. Sent without that confirmation (the field's `required`
// removed, as a hand-made post would) it is refused and nothing is contained; with it, the
// order is made and the devices list shows the zone contained.
// Env: PORTCULLIS_URL, WEB_USER, WEB_PASSWORD, WEB_TOTP_SECRET, DEVICE, ZONE.
import { BASE, axe, main, need, newPage, shot, signIn, textOf } from './lib.mjs';

main(async (browser) => {
  const device = need('DEVICE');
  const zone = need('ZONE');
  const page = await newPage(browser);
  await signIn(page, need('WEB_USER'), need('WEB_PASSWORD'), need('WEB_TOTP_SECRET'));

  await page.goto(`${BASE}/admin/devices/${device}`);
  const deviceButton = await page.locator('a.contain').first().getAttribute('href');

  await page.goto(`${BASE}/admin/devices`);
  await page.locator(`span.zone[data-zone="${zone}"] a.contain`).click();
  await page.waitForURL(`${BASE}/admin/contain/zone/${zone}`);
  const form = page.locator('form#confirm-contain');
  await form.waitFor();
  const confirm = {
    heading: await textOf(page, 'h1'),
    graceful: await page.locator('section.stop li.stop-graceful').count(),
    graceful_text: await textOf(page, 'section.stop li.stop-graceful'),
    revoke: await page.locator('section.revoke li').count(),
    deny: await page.locator('section.deny li').count(),
    warning: await textOf(page, '.clinical-warning'),
    confirmation_required: await form.locator('input[name="confirmed_by"]').evaluate((e) => e.required),
  };
  const violations = await axe(page);
  await form.locator('input[name="reason"]').fill('INC-8900 ransomware beacon on the ICU VLAN');
  await shot(page, 'contain-confirm', { phone: true });

  // Without the clinical confirmation: refused by the server, nothing contained.
  await form.locator('input[name="confirmed_by"]').evaluate((e) => { e.required = false; });
  await form.locator('button[type="submit"]').click();
  await page.locator('.error').first().waitFor();
  const refused = { status_page: page.url(), error: await textOf(page, '.error') };

  // With it: contained.
  const again = page.locator('form#confirm-contain');
  await again.locator('input[name="reason"]').fill('INC-8900 ransomware beacon on the ICU VLAN');
  await again.locator('input[name="confirmed_by"]').fill('Dr Ada Byron, ICU consultant on call');
  await again.locator('button[type="submit"]').click();
  await page.waitForURL((u) => u.pathname === '/admin/devices' && u.searchParams.get('done') === 'contained');
  const after = { flash: await textOf(page, '.flash'), contained: await textOf(page, 'p.contained') };
  await shot(page, 'contain-done');

  return { device_button: deviceButton, confirm, axe: violations, refused, after };
});
