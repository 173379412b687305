// A real OpenID provider on loopback for the single sign-on tests: the certified npm package
// `oidc-provider`, configured here from the environment the test sets. It listens on
// 127.0.0.1 (port chosen by the system) and prints `issuer http://127.0.0.1:PORT` once ready.
//
// Env: OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, OIDC_REDIRECT_URI (the broker's callback),
// OIDC_ACCOUNTS: JSON { "<sub>": { "claims": { preferred_username, email, groups, ... },
// "acr": "...", "amr": ["..."] } }.
//
// Sign-in page: one field, the account's sub (no password: the provider is the test's).
// Consent is granted for the client (a first-party client of the hospital).
//
// Hostile switch, set by the test with `GET /__test/mode?set=MODE`: the token endpoint's ID
// token is then re-issued, signed with the provider's own key (jose), with one thing wrong:
// `wrong-audience` (aud is another client) or `expired` (exp in the past); or signed with a
// key the provider has just rotated to and now publishes (`rotated`), or with a key it never
// publishes (`unpublished-key`). `single-factor` signs every account in without its `acr`
// and `amr` (as if the hospital's second factor were skipped). `normal` turns it off. The broker must really verify the token to refuse these.
import Provider from 'oidc-provider';
import * as jose from 'jose';
import { createServer } from 'node:http';

function need(name) {
  const v = process.env[name];
  if (!v) throw new Error(`environment variable ${name} is not set`);
  return v;
}

const clientId = need('OIDC_CLIENT_ID');
const accounts = JSON.parse(need('OIDC_ACCOUNTS'));
let mode = 'normal';

const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
const signingJwk = { ...(await jose.exportJWK(privateKey)), kid: 'test-key-1', alg: 'RS256', use: 'sig' };
// The key the provider rotates to (`rotated`: published and used), and one it never
// publishes (`unpublished-key`).
const second = await jose.generateKeyPair('RS256', { extractable: true });
const secondPublic = { ...(await jose.exportJWK(second.publicKey)), kid: 'test-key-2', alg: 'RS256', use: 'sig' };
const stray = await jose.generateKeyPair('RS256', { extractable: true });

const server = createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: need('OIDC_CLIENT_SECRET'),
    redirect_uris: [need('OIDC_REDIRECT_URI')],
    response_types: ['code'],
    grant_types: ['authorization_code'],
  }],
  jwks: { keys: [signingJwk] },
  cookies: { keys: ['portcullis-test-provider-cookie-key'] },
  claims: {
    acr: null,
    amr: null,
    auth_time: null,
    sid: null,
    openid: ['sub'],
    profile: ['preferred_username', 'name'],
    email: ['email', 'email_verified'],
    groups: ['groups'],
  },
  acrValues: ['urn:hospital:mfa', 'urn:hospital:pwd'],
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, sub) {
    const a = accounts[sub];
    if (!a) return undefined;
    return { accountId: sub, async claims() { return { sub, ...a.claims }; } };
  },
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope('openid profile email groups');
    grant.addOIDCClaims(['preferred_username', 'name', 'email', 'email_verified', 'groups']);
    await grant.save();
    return grant;
  },
});

// The hostile switch and the re-signed token.
provider.use(async (ctx, next) => {
  if (ctx.path === '/__test/mode') {
    mode = String(ctx.query.set || 'normal');
    ctx.body = { mode };
    return;
  }
  await next();
  if (ctx.path === '/jwks' && mode === 'rotated' && ctx.body && Array.isArray(ctx.body.keys)) {
    ctx.body = { keys: [...ctx.body.keys, secondPublic] };
  }
  if (ctx.path === '/token' && ctx.body && ctx.body.id_token) {
    process.stderr.write(`ID token claims: ${JSON.stringify(jose.decodeJwt(ctx.body.id_token))}\n`);
  }
  if (ctx.path === '/token' && mode !== 'normal' && ctx.body && ctx.body.id_token) {
    const claims = jose.decodeJwt(ctx.body.id_token);
    const now = Math.floor(Date.now() / 1000);
    if (mode === 'wrong-audience') claims.aud = 'another-hospital-app';
    if (mode === 'expired') { claims.iat = now - 7200; claims.exp = now - 3600; }
    let [kid, key] = [signingJwk.kid, privateKey];
    if (mode === 'rotated') [kid, key] = ['test-key-2', second.privateKey];
    if (mode === 'unpublished-key') [kid, key] = ['test-key-3', stray.privateKey];
    ctx.body.id_token = await new jose.SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid }).sign(key);
    process.stderr.write(`issued a ${mode} ID token\n`);
  }
});

function readForm(req) {
  return new Promise((resolve, reject) => {
    let data = '';
    req.on('data', (c) => { data += c; if (data.length > 10_000) reject(new Error('form too large')); });
    req.on('end', () => resolve(new URLSearchParams(data)));
    req.on('error', reject);
  });
}

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const handle = provider.callback();
server.on('request', async (req, res) => {
  try {
    const m = req.url.match(/^\/interaction\/([^/?]+)(\/login)?/);
    if (!m) return handle(req, res);
    const details = await provider.interactionDetails(req, res);
    if (req.method === 'GET') {
      res.setHeader('content-type', 'text/html; charset=utf-8');
      res.end(`<!doctype html><title>Hospital sign-in</title><h1>Hospital sign-in</h1>
<form id="idp-login" method="post" action="/interaction/${escapeHtml(details.uid)}/login">
<label>Account <input name="login" autofocus></label><button type="submit">Sign in</button></form>`);
      return;
    }
    const form = await readForm(req);
    const sub = form.get('login') || '';
    const a = accounts[sub];
    if (!a) {
      res.statusCode = 400;
      res.end('unknown account');
      return;
    }
    const login = { accountId: sub };
    if (a.acr && mode !== 'single-factor') login.acr = a.acr;
    if (a.amr && mode !== 'single-factor') login.amr = a.amr;
    await provider.interactionFinished(req, res, { login }, { mergeWithLastSubmission: false });
  } catch (e) {
    process.stderr.write(`interaction failed: ${e && e.stack ? e.stack : e}\n`);
    res.statusCode = 500;
    res.end('interaction failed');
  }
});

process.stdout.write(`issuer ${issuer}\n`);
