// Live view. An auditor signs in, opens the running session SESSION_ID from the sessions
// page ("Watch live"), waits for the stream, then writes READY_FILE; the test's vendor then
// types into their real ssh session. The page must show NEEDLE (what the typed command
// printed), and a second, plain websocket opened in the page must receive TYPED (the keys
// as typed). Then SEEN_FILE is written and the view must say the session ended when the
// vendor leaves. Meanwhile an approver who did not approve the session (OTHER_*) is refused
// the live page and the websocket, while the approver who approved it (APPROVER_*) watches
// it with a stop button.
// Env: PORTCULLIS_URL, WEB_USER, WEB_PASSWORD, WEB_TOTP_SECRET, OTHER_USER, OTHER_PASSWORD,
//      OTHER_TOTP_SECRET, APPROVER_USER, APPROVER_PASSWORD, APPROVER_TOTP_SECRET,
//      SESSION_ID, NEEDLE, TYPED, READY_FILE, SEEN_FILE.
import { writeFileSync } from 'node:fs';
import { BASE, main, need, newPage, problems, shot, signIn, textOf, until } from './lib.mjs';

/** Opens a websocket to `path` from inside `page`; resolves to what happened. */
function openSocket(page, path) {
  return page.evaluate((p) => new Promise((resolve) => {
    const url = new URL(p, location.href);
    url.protocol = 'wss:';
    const ws = new WebSocket(url.href, 'v2.asciicast');
    window.__frames = [];
    let opened = false;
    ws.onopen = () => { opened = true; resolve('open'); };
    ws.onmessage = (m) => window.__frames.push(String(m.data));
    ws.onclose = (e) => { if (!opened) resolve(`closed before opening (${e.code})`); };
    setTimeout(() => { if (!opened) resolve('no answer'); }, 20_000);
  }), path);
}

main(async (browser) => {
  const id = need('SESSION_ID');
  const needle = need('NEEDLE');
  const typed = need('TYPED');
  const page = await newPage(browser);
  await signIn(page, need('WEB_USER'), need('WEB_PASSWORD'), need('WEB_TOTP_SECRET'));

  await page.goto(`${BASE}/sessions`);
  const card = page.locator(`article.session[data-session-id="${id}"]`);
  await card.locator('a.watch').click();
  await page.waitForURL(`${BASE}/sessions/${id}/live`);
  await until(page, async () => (await textOf(page, '#live-state')) === 'Live', 'the live state');
  const raw = await openSocket(page, `/api/v1/sessions/${id}/live`);

  writeFileSync(need('READY_FILE'), 'ready');
  const shown = await until(page, async () => {
    const t = await page.locator('#live .ap-term-text').first().textContent().catch(() => '');
    return t.includes(needle) ? t : null;
  }, `${needle} in the live view`);
  const frames = await until(page, async () => {
    const f = await page.evaluate(() => window.__frames.slice());
    const events = f.slice(1).map((l) => JSON.parse(l));
    const typedKeys = events.filter((e) => e[1] === 'i').map((e) => e[2]).join('');
    return typedKeys.includes(typed) ? { header: JSON.parse(f[0]), events: events.length, typed: typedKeys } : null;
  }, `${typed} typed, on the raw websocket`);
  await shot(page, 'live');
  const stopLinks = await page.locator('a.stop').count();

  // An approver who did not approve this session: not the page, not the stream.
  const other = await newPage(browser);
  await signIn(other, need('OTHER_USER'), need('OTHER_PASSWORD'), need('OTHER_TOTP_SECRET'));
  await other.goto(`${BASE}/sessions`);
  const otherCard = other.locator(`article.session[data-session-id="${id}"]`);
  const otherSees = { card: await otherCard.count(), watch_links: await otherCard.locator('a.watch').count() };
  const refusedPage = await other.goto(`${BASE}/sessions/${id}/live`);
  const otherLive = { status: refusedPage.status(), text: await textOf(other, 'main') };
  await other.goto(`${BASE}/requests`);
  const otherSocket = await openSocket(other, `/api/v1/sessions/${id}/live`);
  const otherFrames = await other.evaluate(() => window.__frames.length);
  // Chromium logs the refused handshake as a console error; that refusal is the point here.
  const expected = (p) => p.startsWith(`${BASE}/requests`) && p.includes('WebSocket') && p.includes('403');
  const kept = problems.filter((p) => !expected(p));
  problems.length = 0;
  problems.push(...kept);

  // The approver who approved the session watches it too, with the stop button.
  const approver = await newPage(browser);
  await signIn(approver, need('APPROVER_USER'), need('APPROVER_PASSWORD'), need('APPROVER_TOTP_SECRET'));
  await approver.goto(`${BASE}/sessions/${id}/live`);
  const approverSees = await until(approver, async () => {
    const t = await approver.locator('#live .ap-term-text').first().textContent().catch(() => '');
    return t.includes(needle) ? t : null;
  }, `${needle} in the approver's live view`);
  const approverView = { terminal: approverSees, stop_links: await approver.locator('a.stop').count() };

  // The vendor leaves; the view says so.
  writeFileSync(need('SEEN_FILE'), 'seen');
  const endState = await until(page, async () => {
    const s = await textOf(page, '#live-state');
    return s === 'Session ended' ? s : null;
  }, 'the end of the session');

  return {
    raw_socket: raw,
    terminal: shown,
    frames,
    stop_links: stopLinks,
    end_state: endState,
    other: { sees: otherSees, live: otherLive, socket: otherSocket, frames: otherFrames },
    approver: approverView,
  };
});
