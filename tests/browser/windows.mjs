// Maintenance windows on the pages: an admin signs in, reads the pending card of REQUEST_ID
// (where the device stands against its windows), then the devices page (the device's
// standing and the list of configured windows), checks both with axe-core, saves the
// screenshots, and approves the request from the card.
// Env: PORTCULLIS_URL, WEB_USER, WEB_PASSWORD, WEB_TOTP_SECRET, REQUEST_ID, DEVICE.
import { axe, BASE, main, need, newPage, shot, signIn, textOf } from './lib.mjs';

main(async (browser) => {
  const id = need('REQUEST_ID');
  const device = need('DEVICE');
  const page = await newPage(browser);
  await signIn(page, need('WEB_USER'), need('WEB_PASSWORD'), need('WEB_TOTP_SECRET'));

  await page.goto(`${BASE}/requests`);
  const card = page.locator(`article.request[data-request-id="${id}"]`);
  await card.waitFor();
  const cardWindow = await textOf(card, 'dd.maintenance-window');
  const cardState = await card.locator('dd.maintenance-window').getAttribute('data-state');
  const requestsAxe = await axe(page);
  await shot(page, 'maintenance-pending');

  await page.goto(`${BASE}/admin/devices`);
  const row = page.locator(`tr[data-device="${device}"]`);
  await row.waitFor();
  const deviceCell = await textOf(row, 'td.window');
  const section = await textOf(page, '#maintenance-windows');
  const windowRows = await page.locator('#maintenance-windows tr[data-window]').count();
  const devicesAxe = await axe(page);
  await shot(page, 'maintenance-devices');

  await page.goto(`${BASE}/requests`);
  await page.locator(`article.request[data-request-id="${id}"] form.approve button[type="submit"]`).click();
  await page.waitForURL((u) => u.pathname === '/requests' && u.searchParams.get('done') === 'granted');

  return {
    card_window: cardWindow,
    card_state: cardState,
    device_cell: deviceCell,
    section,
    window_rows: windowRows,
    violations: [...requestsAxe, ...devicesAxe],
    flash: await textOf(page, '.flash'),
  };
});
