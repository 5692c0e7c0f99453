// A real OpenID provider (oidc-provider) for Onshore's identity tests, on loopback.
//
// It serves several issuers from one process, each a separate Provider mounted at its issuer's path,
// so a test can shape tokens like Entra ID (v1, v2), Okta and Keycloak in turn. Access tokens come
// from the client-credentials grant as JWTs; each client's extra claims (tid, oid, roles, ...) are
// merged into its tokens by the JWT customizer. Usage: node server.js CONFIG.json
//
// An issuer with `users` also runs the authorization code flow with PKCE (the admin console's sign-in):
// clients with `redirect_uris` are code-flow clients, and the provider's login page
// (GET <issuer path>/interaction/<uid>) signs in the user whose name is submitted, granting the
// requested scopes. ID tokens carry the user's claims (their roles, name).
//
// Test controls under /_control (never part of a real IdP):
//   POST /_control/rotate {issuer, keep_old}   new signing key (the old one stays published if keep_old)
//   POST /_control/sign   {issuer, header, payload}  sign anything with the issuer's current key (forgeries)
//   POST /_control/jwks   {issuer, mode}       JWKS endpoint "up", "down" (503), "redirect" or "huge"
//   GET  /_control/stats                       JWKS fetches per issuer
import * as http from 'node:http';
import { readFileSync } from 'node:fs';

import * as jose from 'jose';
import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const state = new Map(); // issuer name -> { spec, provider, keys, fetches, mode }

async function newKey(alg) {
  const { privateKey } = await jose.generateKeyPair(alg, { extractable: true, crv: alg === 'EdDSA' ? 'Ed25519' : undefined });
  const jwk = await jose.exportJWK(privateKey);
  jwk.kid = `${alg.toLowerCase()}-${Math.random().toString(36).slice(2, 10)}`;
  jwk.alg = alg;
  jwk.use = 'sig';
  return jwk;
}

function clientMetadata(c, alg) {
  if (c.redirect_uris?.length) {
    return {
      client_id: c.client_id,
      client_secret: c.client_secret,
      grant_types: ['authorization_code'],
      redirect_uris: c.redirect_uris,
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: alg,
    };
  }
  return {
    client_id: c.client_id,
    client_secret: c.client_secret,
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_post',
    id_token_signed_response_alg: alg,
  };
}

// The code flow's users: accounts, their claims in the ID token, the login page's address, PKCE always.
function codeFlow(spec) {
  if (!spec.users?.length) return {};
  const users = new Map(spec.users.map((u) => [u.sub, u]));
  const names = [...new Set(spec.users.flatMap((u) => Object.keys(u.claims)))];
  return {
    findAccount: (ctx, id) => {
      const user = users.get(id);
      return user && { accountId: id, claims: () => ({ sub: id, ...user.claims }) };
    },
    claims: { openid: ['sub', ...names] },
    conformIdTokenClaims: false,
    interactions: { url: (ctx, interaction) => `${spec.path}/interaction/${interaction.uid}` },
    pkce: { required: () => true },
    cookies: { keys: ['onshore-test-oidc-cookies'] },
  };
}

function buildProvider(spec, keys, base) {
  const issuer = `${base}${spec.path}`;
  const clientClaims = new Map(spec.clients.map((c) => [c.client_id, c]));
  const provider = new Provider(issuer, {
    ...codeFlow(spec),
    jwks: { keys },
    clients: spec.clients.map((c) => clientMetadata(c, keys[0].alg)),
    features: {
      clientCredentials: { enabled: true },
      devInteractions: { enabled: false },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => spec.resource,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({
          scope: '',
          audience: spec.resource,
          accessTokenTTL: spec.ttl ?? 300,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: keys[0].alg } },
        }),
      },
    },
    formats: {
      customizers: {
        // Shape the token like the IdP being imitated: its claims, minus what that IdP never sends.
        async jwt(ctx, token, jwt) {
          const client = clientClaims.get(token.clientId);
          for (const name of client?.remove ?? []) delete jwt.payload[name];
          Object.assign(jwt.payload, client?.claims ?? {});
        },
      },
    },
  });
  return provider;
}

async function rebuild(name, base, keepOld) {
  const entry = state.get(name);
  const key = await newKey(entry.spec.alg ?? 'RS256');
  entry.keys = keepOld ? [key, ...entry.keys] : [key];
  entry.provider = buildProvider(entry.spec, entry.keys.map((k) => ({ ...k })), base);
  entry.callback = entry.provider.callback();
  return key.kid;
}

async function readJson(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {};
}

function send(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function control(req, res, url) {
  if (url.pathname === '/_control/stats') {
    const stats = {};
    for (const [name, entry] of state) stats[name] = { jwks_fetches: entry.fetches, kids: entry.keys.map((k) => k.kid) };
    return send(res, 200, stats);
  }
  const body = await readJson(req);
  const entry = state.get(body.issuer);
  if (!entry) return send(res, 404, { error: `no issuer ${body.issuer}` });
  if (url.pathname === '/_control/rotate') {
    return send(res, 200, { kid: await rebuild(body.issuer, baseUrl, Boolean(body.keep_old)) });
  }
  if (url.pathname === '/_control/jwks') {
    entry.mode = body.mode;
    return send(res, 200, { mode: entry.mode });
  }
  if (url.pathname === '/_control/sign') {
    const key = await jose.importJWK(entry.keys[0], entry.keys[0].alg);
    const header = { alg: entry.keys[0].alg, kid: entry.keys[0].kid, ...body.header };
    const token = await new jose.CompactSign(Buffer.from(JSON.stringify(body.payload)))
      .setProtectedHeader(header)
      .sign(key);
    return send(res, 200, { token });
  }
  return send(res, 404, { error: 'unknown control' });
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

// The provider's login page: a user name, submitted; no password (a test IdP), no consent screen.
async function interaction(entry, req, res, url) {
  const base = url.pathname.replace(/\/login$/, '');
  const details = await entry.provider.interactionDetails(req, res);
  if (req.method === 'POST') {
    const form = new URLSearchParams(Buffer.concat(await readAll(req)).toString('utf8'));
    const user = (entry.spec.users ?? []).find((u) => u.sub === form.get('login'));
    if (user) {
      const grant = new entry.provider.Grant({ accountId: user.sub, clientId: details.params.client_id });
      grant.addOIDCScope(String(details.params.scope));
      const grantId = await grant.save();
      return entry.provider.interactionFinished(req, res, { login: { accountId: user.sub }, consent: { grantId } });
    }
  }
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
  return res.end(`<!doctype html><title>Test IdP sign-in</title><h1>Sign in to ${escapeHtml(entry.spec.name)}</h1>
<form method="post" action="${escapeHtml(base)}/login"><label>User <input name="login" autofocus></label>
<button type="submit">Sign in</button></form>`);
}

async function readAll(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return chunks;
}

let baseUrl = '';

const server = http.createServer(async (req, res) => {
  try {
    const url = new URL(req.url, baseUrl);
    if (url.pathname.startsWith('/_control/')) return await control(req, res, url);
    for (const entry of state.values()) {
      if (!url.pathname.startsWith(`${entry.spec.path}/`)) continue;
      if (url.pathname.startsWith(`${entry.spec.path}/interaction/`)) return await interaction(entry, req, res, url);
      if (url.pathname === `${entry.spec.path}/jwks`) {
        entry.fetches += 1;
        if (entry.mode === 'down') return send(res, 503, { error: 'down' });
        if (entry.mode === 'redirect') {
          res.writeHead(302, { location: `${baseUrl}/_control/stats` });
          return res.end();
        }
        if (entry.mode === 'huge') return send(res, 200, { keys: [], padding: 'x'.repeat(2 * 1024 * 1024) });
      }
      req.originalUrl = req.url;
      req.url = req.url.slice(entry.spec.path.length) || '/';
      return entry.callback(req, res);
    }
    return send(res, 404, { error: 'no issuer here' });
  } catch (error) {
    return send(res, 500, { error: String(error) });
  }
});

server.listen(0, '127.0.0.1', async () => {
  baseUrl = `http://127.0.0.1:${server.address().port}`;
  for (const spec of config.issuers) {
    state.set(spec.name, { spec, keys: [], fetches: 0, mode: 'up' });
    await rebuild(spec.name, baseUrl, false);
  }
  // The fixture waits for this line.
  process.stdout.write(`${JSON.stringify({ base: baseUrl })}\n`);
});
