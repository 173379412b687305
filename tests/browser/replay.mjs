// An auditor signs in, searches the sessions for DEVICE, opens the session's record and
// replays its terminal recording: the player must show NEEDLE (text the vendor's command
// printed) and the page must say whether the file still has its sealed SHA-256. Also
// downloads the .cast through the page's link, jumps to the last marker, and exports the
// evidence bundle to EVIDENCE_OUT, then reads the record's "Viewed by" list (each replay,
// download and export, from the audit log). With SESSION_ID set it only opens that session's replay
// and record (the altered-file case) and reports what they say.
// Env: PORTCULLIS_URL, WEB_USER, WEB_PASSWORD, WEB_TOTP_SECRET, DEVICE, NEEDLE,
//      EVIDENCE_OUT (first mode) or SESSION_ID (second mode), SHOT (screenshot name).
import { BASE, main, need, newPage, shot, signIn, textOf } from './lib.mjs';

/** Waits until the player's terminal text contains `needle`; returns the text. */
async function terminalShows(page, needle, ms = 60_000) {
  const deadline = Date.now() + ms;
  let text = '';
  while (Date.now() < deadline) {
    text = await page.locator('#player .ap-term-text').first().textContent({ timeout: 2000 }).catch(() => '');
    if (text.includes(needle)) return text;
    await page.waitForTimeout(250);
  }
  // Say what the recording holds, to tell a player problem from a recording problem.
  const href = await page.locator('a[download]').first().getAttribute('href').catch(() => null);
  const cast = href ? await (await page.request.get(`${BASE}${href}`)).text() : '(no download link)';
  throw new Error(`the player never showed ${JSON.stringify(needle)}; it shows ${JSON.stringify(text)}; the recording:\n${cast.slice(0, 4000)}`);
}

async function integrity(page) {
  const el = page.locator('.integrity').first();
  return { state: await el.getAttribute('data-integrity'), text: (await el.innerText()).trim() };
}

main(async (browser) => {
  const device = need('DEVICE');
  const needle = need('NEEDLE');
  const page = await newPage(browser);
  await signIn(page, need('WEB_USER'), need('WEB_PASSWORD'), need('WEB_TOTP_SECRET'));

  if (process.env.SESSION_ID) {
    const id = process.env.SESSION_ID;
    await page.goto(`${BASE}/sessions/${id}/replay/1`);
    const replay = await integrity(page);
    await shot(page, process.env.SHOT || 'replay-altered');
    await page.goto(`${BASE}/sessions/${id}`);
    return {
      replay,
      record_alert: await textOf(page, 'main > p.error'),
      row_status: await page.locator('table.recordings tr[data-channel="1"]').getAttribute('data-status'),
    };
  }

  // Find the session by device among all sessions, as after an incident.
  await page.goto(`${BASE}/sessions`);
  const search = page.locator('form#session-search');
  await search.locator('input[name="device"]').fill(device);
  await search.locator('select[name="state"]').selectOption('ended');
  await search.locator('button[type="submit"]').click();
  await page.waitForURL((u) => u.pathname === '/sessions' && u.searchParams.get('device') === device);
  const rows = page.locator('#session-results tbody tr');
  const found = await rows.count();
  const row = rows.first();
  const sessionId = await row.getAttribute('data-session-id');
  const rowText = (await row.innerText()).trim();
  await shot(page, 'sessions-search', { phone: true });

  await row.locator('a').first().click();
  await page.waitForURL(`${BASE}/sessions/${sessionId}`);
  const record = {
    heading: await textOf(page, 'h1'),
    facts: await textOf(page, 'dl.facts'),
    approvals: await textOf(page, 'ol.decisions'),
    recording_status: await page.locator('table.recordings tr').nth(1).getAttribute('data-status'),
    audit_rows: await page.locator('table.audit tbody tr').count(),
  };
  await shot(page, 'session-record', { phone: true });

  await page.locator('table.recordings a.replay').first().click();
  await page.waitForURL((u) => u.pathname.startsWith(`/sessions/${sessionId}/replay/`));
  const replay = await integrity(page);
  const shown = await terminalShows(page, needle);
  const markers = await page.locator('#player-markers button.marker').allInnerTexts();
  await shot(page, process.env.SHOT || 'replay');

  // Faster, then jump to the last marker (the end): the screen still holds the output.
  await page.locator('#player-speed').selectOption('4');
  if (markers.length) await page.locator('#player-markers button.marker').last().click();
  const atEnd = await terminalShows(page, needle, 20_000);

  // The download link serves the same file.
  const href = await page.locator('a[download]').first().getAttribute('href');
  const cast = await page.request.get(`${BASE}${href}`);
  const castText = await cast.text();

  // The evidence bundle, as the auditor's browser saves it.
  await page.goto(`${BASE}/sessions/${sessionId}`);
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.locator('form#export-evidence button[type="submit"]').click(),
  ]);
  const saved = need('EVIDENCE_OUT');
  await download.saveAs(saved);

  // Who has viewed it: the replay, the download and the export just made.
  await page.goto(`${BASE}/sessions/${sessionId}`);
  const viewedBy = await page.locator('table#viewed-by tbody tr').evaluateAll((trs) =>
    trs.map((tr) => ({ what: tr.dataset.what, cells: Array.from(tr.cells).map((c) => c.innerText.trim()) })));
  await page.locator('h2', { hasText: 'Viewed by' }).scrollIntoViewIfNeeded();
  await shot(page, 'viewed-by');

  return {
    session_id: sessionId,
    found,
    row: rowText,
    record,
    replay,
    terminal: shown,
    terminal_at_end: atEnd,
    markers,
    cast_status: cast.status(),
    cast_has_needle: castText.includes(needle),
    evidence_name: download.suggestedFilename(),
    viewed_by: viewedBy,
  };
});
