// Shared by the browser scripts: launching Debian's Chromium through playwright-core,
// TOTP codes (RFC 6238, SHA-1, 6 digits, 30 s) computed with node's crypto, signing in,
// screenshots (when PORTCULLIS_TEST_SCREENSHOTS names a folder), and the JSON/exit-status
// contract with tests/e2e/harness/browser.rs.
import { chromium } from 'playwright-core';
import { createHmac } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The value of environment variable `name`; throws if it is missing. */
export function need(name) {
  const v = process.env[name];
  if (v === undefined || v === '') throw new Error(`environment variable ${name} is not set`);
  return v;
}

/** Base URL of the broker's web page, e.g. https://127.0.0.1:43210 */
export const BASE = need('PORTCULLIS_URL');

const DESKTOP = { width: 1280, height: 860 };
const PHONE = { width: 390, height: 844 };

function base32Decode(s) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const clean = s.toUpperCase().replace(/[^A-Z2-7]/g, '');
  let bits = 0;
  let value = 0;
  const out = [];
  for (const ch of clean) {
    value = (value << 5) | alphabet.indexOf(ch);
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** The TOTP code of `secret` (base32) for time step `step` (default: now). */
export function totp(secret, step = Math.floor(Date.now() / 1000 / 30)) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac('sha1', base32Decode(secret)).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const n = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return String(n).padStart(6, '0');
}

/** Chromium from Debian, headless, no network of its own. */
export async function launch() {
  return chromium.launch({
    executablePath: process.env.PORTCULLIS_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
}

/** Script errors and console errors (CSP violations among them) seen on any page. */
export const problems = [];
/** Every page opened, to describe where a failed run stopped. */
const pages = [];

/** Records `page`'s script and console errors in `problems`. */
export function watch(page) {
  pages.push(page);
  page.on('pageerror', (e) => problems.push(`${page.url()}: ${e}`));
  // A refused form answers with a 4xx page on purpose; a failed stylesheet, script or image
  // is a problem. Chromium logs both as "Failed to load resource", so those are judged here.
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(`${page.url()}: ${m.text()}`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400 && r.request().resourceType() !== 'document' && r.request().resourceType() !== 'fetch') {
      problems.push(`${r.url()}: HTTP ${r.status()}`);
    }
  });
}

/** A fresh browser context (its own cookies) and page, desktop-sized. */
export async function newPage(browser) {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: DESKTOP });
  const page = await context.newPage();
  // Generous: a debug build checks Argon2 passwords slowly on a busy 2-core machine.
  page.setDefaultTimeout(45_000);
  watch(page);
  return page;
}

/** Saves `NAME.png` (desktop) and, with `phone`, `NAME-phone.png`, when screenshots are on. */
export async function shot(page, name, { phone = false } = {}) {
  const dir = process.env.PORTCULLIS_TEST_SCREENSHOTS;
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: join(dir, `${name}.png`), fullPage: true });
  if (phone) {
    await page.setViewportSize(PHONE);
    await page.screenshot({ path: join(dir, `${name}-phone.png`), fullPage: true });
    await page.setViewportSize(DESKTOP);
  }
}

const AXE = readFileSync(new URL('./node_modules/axe-core/axe.min.js', import.meta.url), 'utf8');

/**
 * axe-core's serious and critical violations on the open page. axe is evaluated through the
 * browser's debugging protocol, which the pages' Content-Security-Policy does not apply to, so
 * the policy stays on for everything else the page does.
 */
export async function axe(page) {
  await page.evaluate(AXE);
  return page.evaluate(async () => {
    const r = await globalThis.axe.run(document, { resultTypes: ['violations'] });
    return r.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 4).map((n) => n.target.join(' ')) }));
  });
}

/** Fills and sends the sign-in form; `code` may be empty (first sign-in). */
export async function fillSignIn(page, user, password, code) {
  await page.goto(`${BASE}/login`);
  const form = page.locator('form#login');
  await form.locator('input[name="username"]').fill(user);
  await form.locator('input[name="password"]').fill(password);
  await form.locator('input[name="code"]').fill(code);
  await form.locator('button[type="submit"]').click();
}

/** Signs in with password and the current TOTP code; resolves on the requests page. */
export async function signIn(page, user, password, secret) {
  await fillSignIn(page, user, password, totp(secret));
  await page.waitForURL(`${BASE}/requests`);
}

/** The trimmed text of the first match of `selector`, or null if there is none. */
export async function textOf(scope, selector) {
  const el = scope.locator(selector).first();
  return (await el.count()) ? (await el.innerText()).trim() : null;
}

/** Polls `probe()` until it returns a truthy value, which it returns; throws `what` after `ms`. */
export async function until(page, probe, what, ms = 60_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const v = await probe();
    if (v) return v;
    await page.waitForTimeout(200);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Runs `body(browser)`, prints its result as JSON and exits 0; on failure exits 1. */
export async function main(body) {
  let browser;
  try {
    browser = await launch();
    const result = await body(browser);
    result.problems = problems;
    await browser.close();
    process.stdout.write(`${JSON.stringify(result)}\n`);
    process.exit(0);
  } catch (e) {
    process.stderr.write(`${e && e.stack ? e.stack : e}\n`);
    for (const p of pages) {
      const body = await p.locator('body').innerText({ timeout: 2000 }).catch(() => '(no body)');
      process.stderr.write(`--- page ${p.url()} ---\n${body.slice(0, 3000)}\n`);
    }
    if (problems.length) process.stderr.write(`--- page errors ---\n${problems.join('\n')}\n`);
    if (browser) await browser.close().catch(() => {});
    process.exit(1);
  }
}
