// Single sign-on through the test's OpenID provider (oidc-provider.mjs): from the broker's
// sign-in page, "Sign in with the hospital account", the provider's sign-in page as account
// SSO_LOGIN, and back to the broker. When the broker asks for the local code (the provider's
// sign-in was not multi-factor), the code is computed from the secret the page shows to an
// account that never used one. With REPLAY=1 the callback address the provider sent the
// browser to is opened again afterwards, with the state cookie of that sign-in put back (a
// replayed state). With BREAK_GLASS=1 it signs in
// with the local password form instead (WEB_USER, WEB_PASSWORD, WEB_TOTP_SECRET).
// With NO_SECRET=1 it stops at the code step and says whether the secret was shown.
// Env: PORTCULLIS_URL, SSO_LOGIN, REPLAY, BREAK_GLASS, NO_SECRET.
import { axe, BASE, main, need, newPage, signIn, textOf, totp } from './lib.mjs';

main(async (browser) => {
  const page = await newPage(browser);
  // axe-core's serious and critical findings on each page of the sign-in this run saw.
  const checked = {};
  if (process.env.BREAK_GLASS === '1') {
    await page.goto(`${BASE}/login`);
    checked.login = await axe(page);
    const ssoLink = await page.locator('a#sso').count();
    await signIn(page, need('WEB_USER'), need('WEB_PASSWORD'), need('WEB_TOTP_SECRET'));
    return { landed: new URL(page.url()).pathname, sso_link_shown: ssoLink, axe: checked };
  }
  const callbacks = [];
  page.on('request', (r) => {
    if (r.url().startsWith(`${BASE}/login/sso/callback`)) callbacks.push(r.url());
  });
  await page.goto(`${BASE}/login`);
  checked.login = await axe(page);
  await page.locator('a#sso').click();
  await page.locator('form#idp-login').waitFor();
  const providerUrl = page.url();
  // The state cookie the broker set for this sign-in (an attacker replaying the callback is
  // given it back too, so only the broker's single use of the state can refuse).
  const stateCookie = (await page.context().cookies(BASE)).find((c) => c.name === '__Host-portcullis-sso');
  await page.locator('form#idp-login input[name="login"]').fill(need('SSO_LOGIN'));
  await page.locator('form#idp-login button[type="submit"]').click();
  await page.waitForURL((u) => u.href.startsWith(BASE));
  await page.waitForLoadState('domcontentloaded');
  // A signed-in callback answers with a page that moves on (same-site) to the requests; a
  // refused one stays with the reason.
  for (let i = 0; i < 300 && new URL(page.url()).pathname === '/login/sso/callback'; i++) {
    if (await page.locator('#sso-refused').count().catch(() => 0)) break;
    await page.waitForTimeout(100);
  }
  await page.waitForLoadState('domcontentloaded');

  let codeStep = false;
  if (new URL(page.url()).pathname === '/login/sso/code') {
    codeStep = true;
    checked.code = await axe(page);
    const secret = await textOf(page, '#totp-secret');
    if (process.env.NO_SECRET === '1') {
      return { landed: new URL(page.url()).pathname, code_step: true, secret_shown: secret !== null, axe: checked };
    }
    if (!secret) throw new Error('the code step shows no secret to enrol');
    await page.locator('form#sso-code input[name="code"]').fill(totp(secret));
    await page.locator('form#sso-code button[type="submit"]').click();
    await page.waitForURL(`${BASE}/requests`);
  }
  const landed = new URL(page.url()).pathname;
  checked[landed === '/requests' ? 'landed' : 'refused'] = await axe(page);
  const result = {
    axe: checked,
    provider_url: providerUrl,
    callbacks: callbacks.length,
    landed,
    code_step: codeStep,
    heading: await textOf(page, 'h1'),
    refused: await textOf(page, '#sso-refused'),
    body: (await page.locator('body').innerText()).slice(0, 2000),
  };
  if (process.env.REPLAY === '1') {
    if (!callbacks.length) throw new Error('no callback seen to replay');
    if (!stateCookie) throw new Error('the broker set no state cookie');
    await page.context().addCookies([stateCookie]);
    const resp = await page.goto(callbacks[0]);
    result.replay_status = resp.status();
    result.replay_refused = await textOf(page, '#sso-refused');
  }
  return result;
});
