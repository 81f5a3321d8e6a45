// Development OpenID Connect provider for Gereedschapskist — a stand-in for the federated access
// system (SURFconext, SRAM, Keycloak, Entra ID…) in `make up` and in the tests. Never for production.
//
// Built on the OpenID-certified `oidc-provider` package: discovery, JWKS, authorization code with
// PKCE (required for every client), userinfo with a `groups` claim. The package's development
// interactions (which accept any name without a password) are switched off; this file serves its
// own login form that checks the demo accounts' passwords. Configured clients are first-party:
// they get their grant automatically, so no consent page appears.
//
// Usage: node server.mjs CONFIG.json — see gereedschapskist.dev.devstack for the file's fields.
// Once listening it prints one JSON line {"event": "ready", "issuer": ...} on stdout.

import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

import Provider from 'oidc-provider';

const SCOPES = ['openid', 'offline_access', 'profile', 'email', 'groups'];
// Claim names can be renamed in the configuration (`claim_names`: {"username": "uid", "groups":
// "eduperson_entitlement"}), to play an issuer that releases them under other names.
function claimNames(config) {
  const names = config.claim_names || {};
  return { username: names.username || 'preferred_username', groups: names.groups || 'groups' };
}

function claimsByScope(names) {
  return {
    openid: ['sub'],
    profile: ['name', names.username],
    email: ['email', 'email_verified'],
    groups: [names.groups],
  };
}

function fail(message) {
  process.stderr.write(`oidc-provider: ${message}\n`);
  process.exit(2);
}

// A line in the log (stderr) with the seconds since node started: where a slow start spent its time.
function progress(step) {
  process.stderr.write(`oidc-provider: ${step} at ${process.uptime().toFixed(2)} s\n`);
}

function readJson(file, what) {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    return fail(`${what} ${file}: ${err.message}`);
  }
}

function writeAtomically(file, data) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, data, { mode: 0o600 });
  fs.renameSync(tmp, file);
}

// The signing key lives in a file so that a restart keeps issued tokens verifiable.
function loadOrCreateJwks(file) {
  if (fs.existsSync(file)) return readJson(file, 'signing keys');
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: crypto.randomUUID(), use: 'sig', alg: 'RS256' };
  const jwks = { keys: [jwk] };
  writeAtomically(file, JSON.stringify(jwks));
  return jwks;
}

function loadOrCreateCookieKeys(file) {
  if (fs.existsSync(file)) return readJson(file, 'cookie keys');
  const keys = [crypto.randomBytes(32).toString('base64url')];
  writeAtomically(file, JSON.stringify(keys));
  return keys;
}

// Sessions, grants and tokens live in one JSON file (the `store_file`), so that a restart of the provider —
// `make up` stopped and started again, or the supervisor restarting a crashed provider — keeps everyone
// logged in: a real federated issuer does not forget its sessions when the workbench restarts, and the hub
// checks a user's access token at the userinfo endpoint (and refreshes it) before it trusts its own cookie.
// Expired entries are dropped on load and on every write. Small by design: a development stand-in only.
const GRANT_BOUND = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode',
  'BackchannelAuthenticationRequest']);

function fileStore(file) {
  let entries = {};
  if (fs.existsSync(file)) {
    const data = readJson(file, 'provider store');
    entries = data && typeof data === 'object' && data.entries && typeof data.entries === 'object' ? data.entries : {};
  }
  const nowSeconds = () => Math.floor(Date.now() / 1000);
  const live = (entry) => entry && (!entry.expiresAt || entry.expiresAt > nowSeconds());
  const save = () => {
    for (const [key, entry] of Object.entries(entries)) if (!live(entry)) delete entries[key];
    writeAtomically(file, JSON.stringify({ entries }));
  };
  save();
  return class FileAdapter {
    constructor(model) { this.model = model; }

    key(id) { return `${this.model}:${id}`; }

    async upsert(id, payload, expiresIn) {
      entries[this.key(id)] = { payload, expiresAt: expiresIn ? nowSeconds() + expiresIn : null };
      save();
    }

    async find(id) {
      const entry = entries[this.key(id)];
      return live(entry) ? entry.payload : undefined;
    }

    async findBy(field, value) {
      const prefix = `${this.model}:`;
      for (const [key, entry] of Object.entries(entries)) {
        if (key.startsWith(prefix) && live(entry) && entry.payload[field] === value) return entry.payload;
      }
      return undefined;
    }

    async findByUid(uid) { return this.findBy('uid', uid); }

    async findByUserCode(userCode) { return this.findBy('userCode', userCode); }

    async consume(id) {
      const entry = entries[this.key(id)];
      if (entry) { entry.payload.consumed = nowSeconds(); save(); }
    }

    async destroy(id) {
      delete entries[this.key(id)];
      save();
    }

    async revokeByGrantId(grantId) {
      for (const [key, entry] of Object.entries(entries)) {
        if (GRANT_BOUND.has(key.split(':', 1)[0]) && entry.payload.grantId === grantId) delete entries[key];
      }
      save();
    }
  };
}

function loadAccounts(file) {
  const data = readJson(file, 'demo accounts');
  const byName = new Map();
  for (const [i, a] of (data.accounts || []).entries()) {
    for (const field of ['username', 'password', 'name', 'email', 'groups']) {
      if (a[field] === undefined) fail(`${file}: accounts[${i}].${field} is missing`);
    }
    byName.set(a.username, a);
  }
  if (byName.size === 0) fail(`${file}: no accounts`);
  return byName;
}

// The accounts file is read again when it changes, so a test can take a group away at the issuer at run time.
function liveAccounts(file) {
  let byName = loadAccounts(file);
  let mtime = fs.statSync(file).mtimeMs;
  return {
    get(name) {
      try {
        const now = fs.statSync(file).mtimeMs;
        if (now !== mtime) {
          const data = JSON.parse(fs.readFileSync(file, 'utf8'));
          byName = new Map((data.accounts || []).map((a) => [a.username, a]));
          mtime = now;
        }
      } catch (err) {
        process.stderr.write(`oidc-provider: keeping the accounts read before: ${err.message}\n`);
      }
      return byName.get(name);
    },
  };
}

function escapeHtml(value) {
  return String(value).replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

function page(title, body) {
  return `<!doctype html>
<html lang="nl"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}
label{display:block;margin-top:1rem}input{width:100%;padding:.4rem;font-size:1rem}
button{margin-top:1.2rem;padding:.5rem 1.2rem;font-size:1rem}.error{color:#a00}.note{color:#555}</style>
</head><body>${body}</body></html>`;
}

function loginPage(uid, clientId, error) {
  const err = error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : '';
  return page('Inloggen / Log in', `
<h1>Inloggen / Log in</h1>
<p class="note">Ontwikkel-inlogdienst van Gereedschapskist (alleen demo-accounts).<br>
Development identity provider of Gereedschapskist (demo accounts only).</p>
<p class="note">Voor / For: <strong>${escapeHtml(clientId)}</strong></p>
${err}
<form id="login" method="post" action="/interaction/${escapeHtml(uid)}/login">
  <label for="username">Gebruikersnaam / User name</label>
  <input id="username" name="username" autocomplete="username" required autofocus>
  <label for="password">Wachtwoord / Password</label>
  <input id="password" name="password" type="password" autocomplete="current-password" required>
  <button type="submit">Inloggen / Log in</button>
</form>`);
}

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 64 * 1024) throw new Error('form too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function send(res, status, html) {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.end(html);
}

function passwordMatches(given, expected) {
  const a = Buffer.from(String(given));
  const b = Buffer.from(String(expected));
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}

function buildProvider(issuer, config, accounts) {
  const names = claimNames(config);
  const clients = config.clients.map((c) => ({
    client_id: c.client_id,
    client_secret: c.client_secret,
    redirect_uris: c.redirect_uris,
    post_logout_redirect_uris: c.post_logout_redirect_uris || [],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: c.token_endpoint_auth_method || 'client_secret_basic',
    // Back-channel logout (OpenID Connect Back-Channel Logout 1.0): the provider POSTs a logout token
    // there when the user logs out at the provider; `sid` in ID and logout tokens names the login session.
    ...(c.backchannel_logout_uri
      ? { backchannel_logout_uri: c.backchannel_logout_uri, backchannel_logout_session_required: true }
      : {}),
  }));
  // The package refuses outgoing requests to special-use addresses (SSRF protection); the development
  // clients' back-channel logout URIs are on 127.0.0.1, so exactly those are let through.
  const backchannelUris = new Set(clients.map((c) => c.backchannel_logout_uri).filter(Boolean)
    .map((uri) => new URL(uri).href));
  const fetchForClients = (url, options) => {
    if (backchannelUris.has(String(url))) {
      const { dispatcher, ...rest } = options;
      return globalThis.fetch(url, rest);
    }
    return globalThis.fetch(url, options);
  };

  return new Provider(issuer, {
    adapter: fileStore(config.store_file),
    clients,
    scopes: SCOPES,
    claims: claimsByScope(names),
    responseTypes: ['code'],
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: { enabled: true },
      backchannelLogout: { enabled: true },
    },
    fetch: fetchForClients,
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    jwks: loadOrCreateJwks(config.jwks_file),
    cookies: {
      keys: loadOrCreateCookieKeys(config.cookie_keys_file),
      // Cookies ignore ports: every service on 127.0.0.1 shares one jar, so use names of our own.
      names: { session: 'gk_oidc_session', interaction: 'gk_oidc_interaction', resume: 'gk_oidc_resume' },
    },
    ttl: {
      AccessToken: 3600,
      AuthorizationCode: 300,
      IdToken: 3600,
      Interaction: 3600,
      Session: 14 * 24 * 3600,
      Grant: 14 * 24 * 3600,
      RefreshToken: 14 * 24 * 3600,
    },
    async findAccount(ctx, sub) {
      const account = accounts.get(sub);
      if (!account) return undefined;
      return {
        accountId: sub,
        async claims() {
          return {
            sub,
            name: account.name,
            [names.username]: account.username,
            email: account.email,
            email_verified: true,
            [names.groups]: account.groups,
          };
        },
      };
    },
    // Every configured client is first-party: grant what it asks for without a consent page.
    async loadExistingGrant(ctx) {
      const { oidc } = ctx;
      const grantId = oidc.result?.consent?.grantId || oidc.session.grantIdFor(oidc.client.clientId);
      if (grantId) {
        const existing = await oidc.provider.Grant.find(grantId);
        if (existing) return existing;
      }
      const grant = new oidc.provider.Grant({ clientId: oidc.client.clientId, accountId: oidc.session.accountId });
      const requested = String(oidc.params.scope || 'openid').split(' ').filter((s) => SCOPES.includes(s));
      grant.addOIDCScope(requested.join(' '));
      await grant.save();
      return grant;
    },
    async renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = page('Fout / Error', `<h1>Fout / Error</h1><p class="error">${escapeHtml(out.error)}: ${
        escapeHtml(out.error_description || '')}</p>`);
    },
  });
}

function interactionHandler(provider, accounts) {
  return async (req, res, uid, action) => {
    const details = await provider.interactionDetails(req, res);
    if (details.uid !== uid) return send(res, 400, page('Fout / Error', '<p>Onbekende sessie / unknown session</p>'));
    const clientId = details.params.client_id;
    if (req.method === 'GET' && !action) {
      return send(res, 200, loginPage(uid, clientId));
    }
    if (req.method === 'POST' && action === 'login') {
      const form = await readForm(req);
      const username = form.get('username') || '';
      const account = accounts.get(username);
      if (!account || !passwordMatches(form.get('password') || '', account.password)) {
        return send(res, 401, loginPage(uid, clientId, 'Onbekende gebruiker of onjuist wachtwoord / '
          + 'Unknown user or wrong password'));
      }
      return provider.interactionFinished(req, res, { login: { accountId: account.username } },
        { mergeWithLastSubmission: false });
    }
    return send(res, 405, page('Fout / Error', '<p>Method not allowed</p>'));
  };
}

function main() {
  const configFile = process.argv[2];
  if (!configFile) fail('usage: node server.mjs CONFIG.json');
  const config = readJson(configFile, 'configuration');
  for (const field of ['host', 'port', 'clients', 'accounts_file', 'jwks_file', 'cookie_keys_file',
    'store_file']) {
    if (config[field] === undefined) fail(`${configFile}: ${field} is missing`);
  }
  const accounts = liveAccounts(config.accounts_file);
  const server = http.createServer();
  server.on('error', (err) => fail(`cannot listen on ${config.host}:${config.port}: ${err.message}`));
  server.listen(config.port, config.host, () => {
    const { port } = server.address();
    const issuer = `http://${config.host}:${port}`;
    progress(`listening on ${config.host}:${port}`);
    const provider = buildProvider(issuer, config, accounts);
    const interaction = interactionHandler(provider, accounts);
    const callback = provider.callback();
    server.on('request', async (req, res) => {
      const match = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login))?\/?(?:\?.*)?$/.exec(req.url);
      if (!match) return callback(req, res);
      try {
        return await interaction(req, res, match[1], match[2]);
      } catch (err) {
        return send(res, 400, page('Fout / Error', `<p class="error">${escapeHtml(err.message)}</p>`));
      }
    });
    progress('ready');
    process.stdout.write(`${JSON.stringify({ event: 'ready', issuer })}\n`);
  });
  // Every write to the store file is complete when it returns, so stopping needs no draining.
  const stop = () => { server.closeAllConnections(); process.exit(0); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main();
