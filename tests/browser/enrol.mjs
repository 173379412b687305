// First sign-in with a one-time password: the enrolment page shows the QR code and the
// secret; the script reads #totp-secret, refuses to proceed on mismatched passwords once,
// then sets a new password with a code from that secret and lands on the requests page.
// As an admin it then adds a vendor account on the accounts page, whose TOTP secret is shown
// once, and a device. Env: PORTCULLIS_URL, WEB_USER, WEB_PASSWORD (one-time), NEW_PASSWORD,
// NEW_VENDOR, NEW_DEVICE, HOST_KEY (an OpenSSH public key line).
import { BASE, fillSignIn, main, need, newPage, shot, textOf, totp } from './lib.mjs';

main(async (browser) => {
  const page = await newPage(browser);
  await fillSignIn(page, need('WEB_USER'), need('WEB_PASSWORD'), '');
  await page.waitForURL(`${BASE}/enrol`);
  const secret = await textOf(page, '#totp-secret');
  const qr = await page.locator('img.qr').getAttribute('src');
  await shot(page, 'enrol', { phone: true });

  const form = page.locator('form#enrol');
  const newPassword = need('NEW_PASSWORD');
  await form.locator('input[name="new_password"]').fill(newPassword);
  await form.locator('input[name="new_password2"]').fill(`${newPassword}x`);
  await form.locator('input[name="code"]').fill('000000');
  await form.locator('button[type="submit"]').click();
  await page.locator('.error').waitFor();
  const mismatch = await textOf(page, '.error');

  await form.locator('input[name="new_password"]').fill(newPassword);
  await form.locator('input[name="new_password2"]').fill(newPassword);
  await form.locator('input[name="code"]').fill(totp(secret));
  await form.locator('button[type="submit"]').click();
  await page.waitForURL((u) => u.pathname === '/requests');
  const landed = { path: new URL(page.url()).pathname, flash: await textOf(page, '.flash') };

  // The accounts page, and a new vendor whose secret is shown once.
  await page.goto(`${BASE}/admin/users`);
  const add = page.locator('form#add-user');
  await add.locator('input[name="username"]').fill(need('NEW_VENDOR'));
  await add.locator('select[name="role"]').selectOption('vendor');
  await add.locator('input[name="org"]').fill('Acme Medical');
  await add.locator('textarea[name="ssh_key"]').fill(need('VENDOR_KEY'));
  await add.locator('button[type="submit"]').click();
  await page.locator('#totp-secret').waitFor();
  const vendorSecret = await textOf(page, '#totp-secret');
  await shot(page, 'admin-user-created');
  await page.goto(`${BASE}/admin/users`);
  const listed = await page.locator(`tr[data-user="${need('NEW_VENDOR')}"]`).count();
  await shot(page, 'admin-users', { phone: true });

  // The vendor's contract end, on the account's own page.
  await page.locator(`tr[data-user="${need('NEW_VENDOR')}"] a`, { hasText: 'Change' }).click();
  await page.waitForURL((u) => u.pathname === `/admin/users/${need('NEW_VENDOR')}`);
  const keysShown = await page.locator('#user-keys li').count();
  await page.locator('form#user-expiry input[name="expires"]').fill('2031-03-31');
  await page.locator('form#user-expiry button[type="submit"]').click();
  await page.waitForURL((u) => u.searchParams.get('done') === 'user-expiry');
  const expiryText = await textOf(page, 'form#user-expiry p');

  // A life-critical device with a password credential and a pinned host key.
  await page.goto(`${BASE}/admin/devices`);
  const dev = page.locator('form#add-device');
  const deviceName = need('NEW_DEVICE');
  await dev.locator('input[name="name"]').fill(deviceName);
  await dev.locator('input[name="address"]').fill('10.20.0.31:22');
  await dev.locator('input[name="login"]').fill('service');
  await dev.locator('input[name="password"]').fill('device-credential-1');
  await dev.locator('select[name="criticality"]').selectOption('life-critical');
  await dev.locator('input[name="zone"]').fill('icu');
  await dev.locator('textarea[name="host_key"]').fill(need('HOST_KEY'));
  await dev.locator('button[type="submit"]').click();
  await page.waitForURL((u) => u.pathname === '/admin/devices' && u.searchParams.get('done') === 'device-added');
  const deviceFlash = await textOf(page, '.flash');
  const deviceRow = await textOf(page, `tr[data-device="${deviceName}"]`);
  await shot(page, 'admin-devices');

  // Day two: the device moves to another zone, on its own page.
  await page.locator(`tr[data-device="${deviceName}"] a`, { hasText: 'Change' }).click();
  await page.waitForURL((u) => u.pathname === `/admin/devices/${deviceName}`);
  const settings = page.locator('form#device-settings');
  await settings.locator('input[name="zone"]').fill('nicu');
  await settings.locator('button[type="submit"]').click();
  await page.waitForURL((u) => u.searchParams.get('done') === 'device-changed');
  const changedFlash = await textOf(page, '.flash');

  return {
    changed_flash: changedFlash,
    keys_shown: keysShown,
    expiry_text: expiryText,
    secret,
    qr_is_svg: typeof qr === 'string' && qr.startsWith('data:image/svg+xml;base64,'),
    mismatch,
    landed,
    vendor_secret: vendorSecret,
    listed,
    device_flash: deviceFlash,
    device_row: deviceRow,
  };
});
