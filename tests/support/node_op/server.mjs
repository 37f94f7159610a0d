// panva's oidc-provider, configured from one JSON file, for the BFF's provider matrix.
//
//   node server.mjs config.json          (or OP_CONFIG=config.json node server.mjs)
//
// Listens on 127.0.0.1:<port>. The provider is served under the issuer's path; everything
// else it answers is the provider's own behaviour. Two additions, both outside the issuer:
// a minimal sign-in and consent UI (/<issuer path>/interaction/<uid>, as the library's docs
// show) and GET /_calls, a list of what reached the provider (method, route, status, and
// for the token endpoint the grant type, expires_in, the NAMES of the response fields and
// the SHA-256 of an ID token, never a token).
//
// Config keys (NodeOP in tests/providers/ops.py writes them):
//   port, issuer, clients[], jwks, account {sub, email, password, name}, cookie_keys[],
//   client_auth_methods[] (what discovery advertises; the library's list when absent),
//   features {revocation, rp_initiated_logout, backchannel_logout, par_required,
//     client_credentials},
//   resource {indicator, scope, format, ttl} | null, resources [{indicator, scope, ...}],
//   rotate_refresh_token,
//   id_token_profile_claims, ttl {AccessToken, IdToken, RefreshToken, ...}, store_path,
//   step_up {acr_values[] (weakest first), code} | null: authentication levels (acrValues);
//   asking for the strongest in acr_values prompts the login again, where the one-time code
//   (known to the test) gives the strongest level, the password alone the weakest.
// With store_path the provider's state (grants, tokens, sessions) is kept in that file, so
// a restart (a key rotation, say) keeps every grant.

import { createHash } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync, existsSync } from 'node:fs';
import http from 'node:http';
import { Provider, errors, interactionPolicy } from 'oidc-provider';

const configPath = process.argv[2] || process.env.OP_CONFIG;
if (!configPath) {
  console.error('usage: node server.mjs <config.json>');
  process.exit(2);
}
const cfg = JSON.parse(readFileSync(configPath, 'utf8'));
const issuerPath = new URL(cfg.issuer).pathname.replace(/\/$/, '');

// --- Storage: the library's adapter interface over one Map, optionally kept in a file -----

const GRANTABLE = new Set([
  'AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode',
  'BackchannelAuthenticationRequest',
]);
const entries = new Map(); // key -> { value, expiresAt (ms or null) }

if (cfg.store_path && existsSync(cfg.store_path)) {
  for (const [key, entry] of Object.entries(JSON.parse(readFileSync(cfg.store_path, 'utf8')))) {
    entries.set(key, entry);
  }
}

function persist() {
  if (!cfg.store_path) return;
  const temporary = `${cfg.store_path}.tmp`;
  writeFileSync(temporary, JSON.stringify(Object.fromEntries(entries)));
  renameSync(temporary, cfg.store_path);
}

function read(key) {
  const entry = entries.get(key);
  if (!entry) return undefined;
  if (entry.expiresAt !== null && entry.expiresAt <= Date.now()) {
    entries.delete(key);
    return undefined;
  }
  return structuredClone(entry.value);
}

function write(key, value, expiresIn) {
  const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : null;
  entries.set(key, { value, expiresAt });
}

class StoreAdapter {
  constructor(model) {
    this.model = model;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    write(key, payload, expiresIn);
    if (this.model === 'Session') write(`sessionUid:${payload.uid}`, id, expiresIn);
    if (payload.userCode) write(`userCode:${payload.userCode}`, id, expiresIn);
    if (GRANTABLE.has(this.model) && payload.grantId) {
      const members = new Set(read(`grant:${payload.grantId}`) ?? []);
      members.add(key);
      write(`grant:${payload.grantId}`, [...members], null);
    }
    persist();
  }

  async find(id) {
    return read(this.key(id));
  }

  async findByUid(uid) {
    const id = read(`sessionUid:${uid}`);
    return id === undefined ? undefined : this.find(id);
  }

  async findByUserCode(userCode) {
    const id = read(`userCode:${userCode}`);
    return id === undefined ? undefined : this.find(id);
  }

  async consume(id) {
    const entry = entries.get(this.key(id));
    if (entry) {
      entry.value.consumed = Math.floor(Date.now() / 1000);
      persist();
    }
  }

  async destroy(id) {
    entries.delete(this.key(id));
    persist();
  }

  async revokeByGrantId(grantId) {
    for (const key of read(`grant:${grantId}`) ?? []) entries.delete(key);
    entries.delete(`grant:${grantId}`);
    persist();
  }
}

// --- The one account --------------------------------------------------------------------

const account = cfg.account;

async function findAccount(ctx, sub) {
  if (sub !== account.sub) return undefined;
  return {
    accountId: sub,
    async claims(use) {
      const profile = { email: account.email, email_verified: true, name: account.name };
      if (use === 'id_token' && cfg.id_token_profile_claims === false) return { sub };
      return { sub, ...profile };
    },
  };
}

// --- Resource indicators (RFC 8707): APIs whose access tokens are JWTs -------------------
//
// `resource`: the one API every token is for (the default resource). `resources`: more APIs
// (an upstream's own audience): an authorization request without `resource` is granted all
// of them, and a token request gets a token for one of them only when it names it; without
// one it gets the default resource's token, or an opaque one for UserInfo when there is none.

const resource = cfg.resource ?? null;
const extraResources = cfg.resources ?? [];
const knownResources = new Map(
  [...(resource ? [resource] : []), ...extraResources].map((r) => [r.indicator, r]),
);

async function defaultResource(ctx, client, oneOf) {
  if (!extraResources.length) return resource.indicator;
  if (oneOf) return resource?.indicator;
  return [...knownResources.keys()];
}

const resourceIndicators = knownResources.size
  ? {
    enabled: true,
    defaultResource,
    useGrantedResource: async () => true,
    getResourceServerInfo: async (ctx, indicator) => {
      const known = knownResources.get(indicator);
      if (!known) throw new errors.InvalidTarget();
      return {
        scope: known.scope,
        audience: known.indicator,
        accessTokenTTL: known.ttl ?? cfg.ttl?.AccessToken ?? 900,
        accessTokenFormat: known.format ?? 'jwt',
        ...(known.format === 'opaque' ? {} : { jwt: { sign: { alg: 'RS256' } } }),
      };
    },
  }
  : { enabled: false };

// --- Step-up: two authentication levels, the stronger one needs a one-time code ---------

const stepUp = cfg.step_up ?? null;
const strongAcr = stepUp ? stepUp.acr_values[stepUp.acr_values.length - 1] : null;

function asksStrongAcr(params) {
  return Boolean(strongAcr) && String(params.acr_values ?? '').split(' ').includes(strongAcr);
}

const policy = interactionPolicy.base();
if (stepUp) {
  // acr_values are voluntary to the library; here asking for the strong level means it.
  // Right after a login (the code was wrong) it is not asked again: the client decides.
  policy.get('login').checks.add(new interactionPolicy.Check(
    'step_up_acr',
    'the requested authentication level is not reached',
    (ctx) => (asksStrongAcr(ctx.oidc.params) && ctx.oidc.acr !== strongAcr && !ctx.oidc.result?.login
      ? interactionPolicy.Check.REQUEST_PROMPT
      : interactionPolicy.Check.NO_NEED_TO_PROMPT),
  ));
}

// --- The provider -----------------------------------------------------------------------

const ttl = { AccessToken: 900, IdToken: 900, RefreshToken: 86400, ...cfg.ttl };
const features = cfg.features ?? {};

const provider = new Provider(cfg.issuer, {
  adapter: StoreAdapter,
  clients: cfg.clients,
  jwks: cfg.jwks,
  findAccount,
  cookies: { keys: cfg.cookie_keys },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
  },
  scopes: ['openid', 'offline_access', 'email', 'profile'],
  responseTypes: ['code'],
  pkce: { required: () => true },
  ...(cfg.client_auth_methods ? { clientAuthMethods: cfg.client_auth_methods } : {}),
  rotateRefreshToken: cfg.rotate_refresh_token ?? true,
  ttl: {
    AccessToken: ttl.AccessToken,
    AuthorizationCode: 60,
    IdToken: ttl.IdToken,
    RefreshToken: ttl.RefreshToken,
    Interaction: 600,
    Session: 86400,
    Grant: 86400,
  },
  interactions: {
    policy,
    url: (ctx, interaction) => `${issuerPath}/interaction/${interaction.uid}`,
  },
  ...(stepUp ? { acrValues: stepUp.acr_values } : {}),
  features: {
    devInteractions: { enabled: false },
    revocation: { enabled: features.revocation ?? true },
    rpInitiatedLogout: {
      enabled: features.rp_initiated_logout ?? true,
      logoutSource: async (ctx, form) => {
        ctx.body = page('Sign out', `${form}<p>Sign out of the test provider?</p>
          <button type="submit" form="op.logoutForm" name="logout" value="yes">Sign out</button>`);
      },
      postLogoutSuccessSource: async (ctx) => {
        ctx.body = page('Signed out', '<p>You are signed out.</p>');
      },
    },
    backchannelLogout: { enabled: features.backchannel_logout ?? false },
    pushedAuthorizationRequests: {
      enabled: true,
      requirePushedAuthorizationRequests: features.par_required ?? false,
    },
    clientCredentials: { enabled: features.client_credentials ?? false },
    resourceIndicators,
  },
  // The library refuses outgoing requests to special-use addresses (SSRF protection) through
  // the dispatcher it passes; the relying party here is on 127.0.0.1, so it is left out.
  fetch: (url, { dispatcher, ...options }) => globalThis.fetch(url, options),
  renderError: async (ctx, out) => {
    ctx.type = 'html';
    ctx.body = page('Error', `<pre>${escape(JSON.stringify(out))}</pre>`);
  },
});

// --- Interactions: a login form checking the one account, and a consent form -----------

function escape(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title, body) {
  return `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title>`
    + `</head><body><main><h1>${escape(title)}</h1>${body}</main></body></html>`;
}

async function formBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function loginPage(uid, error, withCode = false) {
  const code = withCode
    ? '<label>One-time code <input name="code" inputmode="numeric" autocomplete="one-time-code" required></label>'
    : '';
  return page('Sign in', `${error ? `<p role="alert">${escape(error)}</p>` : ''}
    <form method="post" action="${issuerPath}/interaction/${uid}/login">
      <label>Email <input type="email" name="email" autocomplete="username" required></label>
      <label>Password <input type="password" name="password" autocomplete="current-password" required></label>
      ${code}
      <button type="submit">Sign in</button>
    </form>`);
}

function consentPage(uid, details) {
  const asked = [...(details.missingOIDCScope ?? []),
    ...Object.values(details.missingResourceScopes ?? {}).flat()];
  return page('Allow access', `<p>The application asks for: ${escape(asked.join(' ') || 'nothing new')}</p>
    <form method="post" action="${issuerPath}/interaction/${uid}/confirm">
      <input type="hidden" name="consent" value="yes">
      <button type="submit">Allow</button>
    </form>`);
}

async function grantConsent(interaction) {
  const { prompt: { details }, params, session: { accountId } } = interaction;
  const grant = interaction.grantId
    ? await provider.Grant.find(interaction.grantId)
    : new provider.Grant({ accountId, clientId: params.client_id });
  if (details.missingOIDCScope) grant.addOIDCScope(details.missingOIDCScope.join(' '));
  if (details.missingOIDCClaims) grant.addOIDCClaims(details.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(details.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  return grant.save();
}

provider.use(async (ctx, next) => {
  const match = /^\/interaction\/([^/]+)(\/login|\/confirm)?$/.exec(ctx.path);
  if (!match) return next();
  const [, uid, action] = match;
  const interaction = await provider.interactionDetails(ctx.req, ctx.res);
  if (interaction.uid !== uid) ctx.throw(400, 'interaction mismatch');
  ctx.set('Cache-Control', 'no-store');
  if (ctx.method === 'GET' && !action) {
    ctx.type = 'html';
    ctx.body = interaction.prompt.name === 'login'
      ? loginPage(uid, undefined, asksStrongAcr(interaction.params))
      : consentPage(uid, interaction.prompt.details);
    return undefined;
  }
  if (ctx.method !== 'POST') ctx.throw(405);
  const form = await formBody(ctx.req);
  if (action === '/login') {
    if (form.get('email') !== account.email || form.get('password') !== account.password) {
      ctx.status = 401;
      ctx.type = 'html';
      ctx.body = loginPage(uid, 'Wrong email or password.');
      return undefined;
    }
    const login = { accountId: account.sub };
    if (stepUp) {
      const strong = asksStrongAcr(interaction.params) && form.get('code') === stepUp.code;
      login.acr = strong ? strongAcr : stepUp.acr_values[0];
    }
    ctx.respond = false;
    return provider.interactionFinished(ctx.req, ctx.res, { login }, { mergeWithLastSubmission: false });
  }
  if (action === '/confirm' && interaction.prompt.name === 'consent') {
    const grantId = await grantConsent(interaction);
    ctx.respond = false;
    return provider.interactionFinished(ctx.req, ctx.res, {
      consent: { grantId },
    }, { mergeWithLastSubmission: true });
  }
  return ctx.throw(400, 'unexpected interaction step');
});

// --- What reached the provider (for the tests' assertions; names only, no values) -------

const calls = [];

function sha256(text) {
  return createHash('sha256').update(text).digest('hex');
}

provider.use(async (ctx, next) => {
  const grantType = ctx.method === 'POST' && ctx.path === '/token' ? 'pending' : undefined;
  await next();
  const call = { method: ctx.method, path: ctx.path, status: ctx.status };
  if (ctx.oidc?.route) call.route = ctx.oidc.route;
  if (grantType) {
    call.grant_type = ctx.oidc?.params?.grant_type;
    if (ctx.body && typeof ctx.body === 'object') {
      call.fields = Object.keys(ctx.body).sort();
      if (typeof ctx.body.expires_in === 'number') call.expires_in = ctx.body.expires_in;
      if (ctx.body.id_token) call.id_token_sha256 = sha256(ctx.body.id_token);
    }
    if (ctx.status >= 400 && ctx.body) call.error = ctx.body.error;
  }
  calls.push(call);
});

// Why a client was refused (its answer says only "invalid_client"), for the test's log.
for (const event of ['pushed_authorization_request.error', 'grant.error', 'revocation.error']) {
  provider.on(event, (ctx, error) => {
    console.error(`${event}: ${error.message} ${error.error_detail ?? ''}`);
  });
}

provider.on('backchannel.error', (ctx, error, client) => {
  console.error(`backchannel logout to ${client.clientId} failed: ${error.message} ${error.cause ?? ''}`);
});
provider.on('backchannel.success', (ctx, client, accountId, sid) => {
  calls.push({
    method: 'POST', route: 'backchannel.success', client_id: client.clientId, sub: accountId, sid,
  });
});

// --- Serve --------------------------------------------------------------------------------

const callback = provider.callback();

const server = http.createServer((req, res) => {
  if (req.url === '/_calls') {
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify(calls));
    return;
  }
  if (issuerPath && !req.url.startsWith(`${issuerPath}/`)) {
    res.statusCode = 404;
    res.end();
    return;
  }
  // Mounted under the issuer's path, as express would mount it (the library reads originalUrl).
  req.originalUrl = req.url;
  req.url = req.url.slice(issuerPath.length) || '/';
  callback(req, res);
});

server.listen(cfg.port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on 127.0.0.1:${cfg.port} issuer ${cfg.issuer}`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
