// Signs WEB_USER in and makes each request of REQUESTS (one `METHOD PATH` a line) with the
// browser's own sign-in (the cookie, and for a POST the CSRF token from /api/v1/me), as a
// page or a script in that browser would: reports each answer's status, whether its body
// holds NEEDLE (text only the recording holds) or FORBIDDEN_TEXT (a name that must not
// show), and the error message. Used to show what a limited auditor can and cannot reach.
// Env: PORTCULLIS_URL, WEB_USER, WEB_PASSWORD, WEB_TOTP_SECRET, REQUESTS, NEEDLE,
//      FORBIDDEN_TEXT.
import { BASE, main, need, newPage, signIn } from './lib.mjs';

main(async (browser) => {
  const page = await newPage(browser);
  await signIn(page, need('WEB_USER'), need('WEB_PASSWORD'), need('WEB_TOTP_SECRET'));
  const me = await (await page.request.get(`${BASE}/api/v1/me`)).json();
  const needle = need('NEEDLE');
  const forbidden = need('FORBIDDEN_TEXT');
  const answers = [];
  for (const line of need('REQUESTS').split('\n').map((l) => l.trim()).filter(Boolean)) {
    const [method, path] = line.split(' ');
    const r = method === 'POST'
      ? await page.request.post(`${BASE}${path}`, { headers: { 'x-csrf-token': me.csrf, origin: BASE } })
      : await page.request.get(`${BASE}${path}`);
    const body = await r.text();
    let message = null;
    try { message = JSON.parse(body).error?.message ?? null; } catch { /* a page or a file */ }
    answers.push({ request: line, status: r.status(), has_needle: body.includes(needle), has_forbidden: body.includes(forbidden), message });
  }
  return { answers };
});
