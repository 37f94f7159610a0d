// Calls to the BFF's /api gateway from our own pages. Dependency-free ES module.
//
// The browser holds no token: the session cookie goes along (same origin) and the server
// adds the bearer. So there is no timer, no token and no refresh logic here. When the
// server says the session is over, the page goes to sign-in and comes back afterwards.
//
//   import { api, graphql, ApiError } from "/static/js/api.js";
//   const items = await api("/api/demo/items");
//   await api("/api/demo/items", { method: "POST", json: { name: "milk" } });
//   const data = await graphql("query { items { id name } }");

/** An /api call that failed: HTTP status, the error code and a message for people. */
export class ApiError extends Error {
  constructor(status, error, message, body = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.error = error;
    this.body = body;
  }
}

function isJson(response) {
  const type = response.headers.get("Content-Type") || "";
  return /^application\/([\w.+-]*\+)?json\b/i.test(type);
}

async function readBody(response) {
  if (response.status === 204 || response.status === 205) return null;
  if (isJson(response)) {
    try {
      return await response.json();
    } catch {
      return null;
    }
  }
  return response.text();
}

/** Sign in again, then come back to this page. Only a same-origin login URL is followed. */
function goToSignIn(loginUrl) {
  let target;
  try {
    target = new URL(loginUrl || "/auth/login", window.location.origin);
  } catch {
    target = new URL("/auth/login", window.location.origin);
  }
  if (target.origin !== window.location.origin) {
    target = new URL("/auth/login", window.location.origin);
  }
  target.searchParams.set("next", window.location.pathname + window.location.search);
  window.location.assign(target.href);
}

/**
 * Call the gateway. `path` is "/api/..." (or relative to /api/, e.g. "demo/items").
 * `options` are fetch's, plus `json`: a value sent as a JSON body (POST unless a method
 * is given). Resolves to the parsed JSON (or text) of a 2xx/3xx answer; rejects with an
 * ApiError otherwise.
 */
export async function api(path, options = {}) {
  const { json, headers, ...init } = options;
  const url = path.startsWith("/") ? path : `/api/${path}`;
  const sent = new Headers(headers);
  sent.set("X-CSRF", "1");
  if (!sent.has("Accept")) sent.set("Accept", "application/json");
  if (json !== undefined) {
    sent.set("Content-Type", "application/json");
    init.body = JSON.stringify(json);
    init.method = init.method || "POST";
  }
  const response = await fetch(url, { ...init, headers: sent, credentials: "same-origin" });
  const body = await readBody(response);
  if (response.ok) return body;

  const error = body && typeof body === "object" ? body : {};
  if (response.status === 401 && ["session_expired", "not_signed_in"].includes(error.error)) {
    goToSignIn(error.login_url);
  }
  throw new ApiError(
    response.status,
    error.error || `http_${response.status}`,
    error.message || response.statusText || `HTTP ${response.status}`,
    body,
  );
}

/** Run a GraphQL operation on /api/graphql; resolves to `data`, rejects on `errors`. */
export async function graphql(query, variables = {}) {
  const body = await api("/api/graphql", { json: { query, variables } });
  if (body && Array.isArray(body.errors) && body.errors.length) {
    const message = body.errors.map((e) => e.message || "error").join("; ");
    throw new ApiError(200, "graphql_error", message, body);
  }
  return (body && body.data) || {};
}
