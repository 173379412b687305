// Moderated session. An approver who approved SESSION_ID (the moderator) opens its live page
// while the vendor waits: the page says it waits for a moderator, then WAITING_FILE is
// written and the script waits for GO_FILE (the test checked that the device was not
// contacted). The moderator joins (an explicit button) and JOINED_FILE is written; the vendor types, the view must show
// TYPED_NEEDLE; the moderator pauses input (PAUSED_FILE), waits for RESUME_FILE, resumes
// (RESUMED_FILE), waits for LEAVE_FILE and leaves the page. Meanwhile an auditor
// (AUDITOR_*) may watch but gets no join button, a moderating websocket is refused to them,
// and their pause is refused; an approver who did not approve it (OTHER_*) is refused the
// pause too.
// Env: PORTCULLIS_URL, WEB_USER, WEB_PASSWORD, WEB_TOTP_SECRET, AUDITOR_USER,
//      AUDITOR_PASSWORD, AUDITOR_TOTP_SECRET, OTHER_USER, OTHER_PASSWORD, OTHER_TOTP_SECRET,
//      SESSION_ID, TYPED_NEEDLE, WAITING_FILE, GO_FILE, JOINED_FILE, PAUSED_FILE,
//      RESUME_FILE, RESUMED_FILE, LEAVE_FILE.
import { existsSync, writeFileSync } from 'node:fs';
import { BASE, main, need, newPage, problems, shot, signIn, textOf, until } from './lib.mjs';

const file = (page, name) => until(page, async () => existsSync(need(name)), name, 90_000);
const terminal = (page) => page.locator('#live .ap-term-text').first().textContent().catch(() => '');

/** Opens a websocket to `path` from inside `page`; resolves to what happened. */
function openSocket(page, path) {
  return page.evaluate((p) => new Promise((resolve) => {
    const url = new URL(p, location.href);
    url.protocol = 'wss:';
    const ws = new WebSocket(url.href, 'v2.asciicast');
    let opened = false;
    ws.onopen = () => { opened = true; ws.close(); resolve('open'); };
    ws.onclose = (e) => { if (!opened) resolve(`closed before opening (${e.code})`); };
    setTimeout(() => { if (!opened) resolve('no answer'); }, 20_000);
  }), path);
}

/** POSTs to the API from inside `page` with its CSRF token; resolves to the status. */
function post(page, path) {
  return page.evaluate(async (p) => {
    const box = document.getElementById('moderation');
    const token = box ? box.dataset.csrf : (document.querySelector('input[name=_csrf]') || {}).value;
    const r = await fetch(p, { method: 'POST', credentials: 'same-origin', headers: { 'X-CSRF-Token': token || '' } });
    return r.status;
  }, path);
}

main(async (browser) => {
  const id = need('SESSION_ID');
  const page = await newPage(browser);
  await signIn(page, need('WEB_USER'), need('WEB_PASSWORD'), need('WEB_TOTP_SECRET'));
  await page.goto(`${BASE}/sessions/${id}/live`);
  const waiting = await textOf(page, '#moderation-state');
  const joinButtons = await page.locator('#join-moderator button').count();
  const joinLabel = await textOf(page, '#join-moderator button');
  await shot(page, 'moderated-waiting');
  writeFileSync(need('WAITING_FILE'), 'waiting');
  await file(page, 'GO_FILE');

  // Hostile: an auditor watches but may not moderate; an approver who did not approve may
  // not pause. Both while the moderator is not there yet and after.
  const auditor = await newPage(browser);
  await signIn(auditor, need('AUDITOR_USER'), need('AUDITOR_PASSWORD'), need('AUDITOR_TOTP_SECRET'));
  await auditor.goto(`${BASE}/sessions/${id}/live`);
  const auditorView = {
    join_buttons: await auditor.locator('#join-moderator button').count(),
    hint: await textOf(auditor, '#moderation .hint').catch(() => ''),
    moderating_socket: await openSocket(auditor, `/api/v1/sessions/${id}/live?moderate=1`),
  };

  await page.locator('#join-moderator button').click();
  await page.waitForURL(`${BASE}/sessions/${id}/live?moderate=1`);
  await until(page, async () => (await textOf(page, '#live-state')) === 'Live', 'the live state');
  const joinedState = await until(page, async () => { const t = await textOf(page, '#moderation-state'); return t.startsWith('You are moderating') ? t : null; }, 'the moderating state');
  writeFileSync(need('JOINED_FILE'), 'joined');
  const typed = need('TYPED_NEEDLE');
  await until(page, async () => (await terminal(page)).includes(typed), `${typed} in the view`);
  auditorView.pause_status = await post(auditor, `/api/v1/sessions/${id}/moderation/pause`);

  const other = await newPage(browser);
  await signIn(other, need('OTHER_USER'), need('OTHER_PASSWORD'), need('OTHER_TOTP_SECRET'));
  await other.goto(`${BASE}/requests`);
  const otherPause = await post(other, `/api/v1/sessions/${id}/moderation/pause`);

  await page.locator('#pause-input').click();
  const paused = await until(page, async () => { const t = await textOf(page, '#moderation-state'); return t.includes('paused') ? t : null; }, 'the pause');
  await shot(page, 'moderated-moderator');
  writeFileSync(need('PAUSED_FILE'), 'paused');
  await file(page, 'RESUME_FILE');
  await page.locator('#resume-input').click();
  const resumed = await until(page, async () => { const t = await textOf(page, '#moderation-state'); return t.includes('resumed') ? t : null; }, 'the resume');
  writeFileSync(need('RESUMED_FILE'), 'resumed');
  await file(page, 'LEAVE_FILE');
  const beforeLeaving = await terminal(page);
  await page.goto(`${BASE}/requests`);

  // The auditor's refused moderating socket is logged by Chromium as a console error.
  const expected = (p) => p.includes('WebSocket') && p.includes('403');
  const kept = problems.filter((p) => !expected(p));
  problems.length = 0;
  problems.push(...kept);
  return {
    waiting, join_buttons: joinButtons, join_label: joinLabel, joined_state: joinedState,
    paused, resumed, before_leaving: beforeLeaving, auditor: auditorView, other_pause: otherPause,
  };
});
