// Every page, in light and dark: an accessibility check with axe-core (no serious or critical
// violation), the layout at 1280 px (no page, table or button reaching past the right edge),
// the audit log's row heights (they must not grow with the detail), and screenshots.
//
// Needs PORTCULLIS_URL, WEB_USER, WEB_PASSWORD, WEB_TOTP_SECRET (an admin, who may open every
// page), SESSION_ID (a finished session with a recording), DEVICE, VENDOR and AUDITOR (their
// own admin pages; the auditor's has the zones and the phi permission).
import { axe, main, need, BASE, signIn, watch, shot } from './lib.mjs';

const SESSION = need('SESSION_ID');
/** The screenshots this script saves (the other scripts save the rest). */
const SHOTS = new Set(['audit', 'audit-dark', 'history-dark', 'session-record-dark']);

/** A desktop context in `scheme`. */
async function context(browser, scheme) {
  return browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 860 }, colorScheme: scheme });
}

/** What reaches past the right edge of a 1280 px window, and the page's background. */
async function layout(page) {
  return page.evaluate(() => {
    const width = window.innerWidth;
    const over = [];
    if (document.documentElement.scrollWidth > width) over.push(`page is ${document.documentElement.scrollWidth}px wide`);
    for (const el of document.querySelectorAll('.scroll, table')) {
      if (el.scrollWidth > el.clientWidth + 1) over.push(`${el.tagName.toLowerCase()}.${el.className}: ${el.scrollWidth}px in ${el.clientWidth}px`);
    }
    for (const el of document.querySelectorAll('main button, main a, main input, main select')) {
      const r = el.getBoundingClientRect();
      if (r.width > 0 && r.right > width) over.push(`${el.tagName.toLowerCase()} "${(el.innerText || el.value || '').trim().slice(0, 30)}" ends at ${Math.round(r.right)}px`);
    }
    const bg = getComputedStyle(document.body).backgroundColor;
    return { over, bg };
  });
}

/** Relative luminance (0 dark .. 1 light) of a CSS `rgb(...)` colour. */
function luminance(css) {
  const [r, g, b] = (css.match(/\d+(\.\d+)?/g) || ['0', '0', '0']).slice(0, 3).map(Number).map((c) => {
    const s = c / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

main(async (browser) => {
  const out = { pages: {} };
  const ctx = await context(browser, 'light');
  const page = await ctx.newPage();
  page.setDefaultTimeout(45_000);
  watch(page);

  /** Checks the open page (after loading `url`, if given) in both themes. */
  const visit = async (name, url) => {
    if (url) await page.goto(url);
    const seen = {};
    for (const scheme of ['light', 'dark']) {
      await page.emulateMedia({ colorScheme: scheme });
      const key = scheme === 'dark' ? `${name}-dark` : name;
      const found = { url: page.url(), violations: await axe(page), ...(await layout(page)) };
      found.light = luminance(found.bg) > 0.5;
      out.pages[key] = found;
      seen[scheme] = found;
      if (SHOTS.has(key)) await shot(page, key);
    }
    await page.emulateMedia({ colorScheme: 'light' });
    return seen;
  };

  // Signed out: the sign-in page.
  await page.goto(`${BASE}/login`);
  await visit('sign-in', null);
  await signIn(page, need('WEB_USER'), need('WEB_PASSWORD'), need('WEB_TOTP_SECRET'));
  await visit('requests', null);
  await visit('history', `${BASE}/history`);
  out.revoke_buttons = await page.locator('table.history form.revoke button').count();
  await visit('sessions', `${BASE}/sessions`);
  await visit('session-record', `${BASE}/sessions/${SESSION}`);
  const replay = await page.locator('a[href*="/replay/"]').first().getAttribute('href');
  await visit('replay', new URL(replay, BASE).toString());
  const audit = await visit('audit', `${BASE}/audit`);
  for (const scheme of ['light', 'dark']) {
    await page.emulateMedia({ colorScheme: scheme });
    audit[scheme].rows = await page.evaluate(() => Array.from(document.querySelectorAll('table.audit tbody tr')).map((tr) => ({
      height: Math.round(tr.getBoundingClientRect().height),
      kind: tr.querySelector('td:nth-child(4)')?.innerText.trim(),
      pairs: tr.querySelectorAll('td.detail dt').length,
      time: tr.querySelector('td:nth-child(2)')?.innerText.trim(),
    })));
  }
  await page.emulateMedia({ colorScheme: 'light' });
  // One row opened: its detail is a key/value list.
  const open = page.locator('table.audit td.detail details').first();
  if (await open.count()) {
    await open.locator('summary').click();
    audit.light.opened = await open.innerText();
  }
  await visit('admin-users', `${BASE}/admin/users`);
  await visit('admin-devices', `${BASE}/admin/devices`);
  await visit('admin-device', `${BASE}/admin/devices/${need('DEVICE')}`);
  await visit('admin-user', `${BASE}/admin/users/${need('VENDOR')}`);
  await visit('admin-user-auditor', `${BASE}/admin/users/${need('AUDITOR')}`);
  await visit('not-found', `${BASE}/sessions/999999`);
  await ctx.close();
  return out;
});
