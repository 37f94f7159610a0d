// Calls to the BFF's /api gateway from our own pages. Dependency-free ES module.
//
// The browser holds no token: the session cookie goes along (same origin) and the server
// adds the bearer. So there is no timer, no token and no refresh logic here.
//
//   import { api, graphql, ApiError, setSessionExpiredHandler, setStepUpHandler }
//     from "/static/js/api.js";
//   const items = await api("/api/demo/items");
//   await api("/api/demo/items", { method: "POST", json: { name: "milk" } });
//   const data = await graphql("query { items { id name } }");
//
// When the session is over. The gateway answers 401 with `error` "session_expired" (the
// session was ended; `reason` says why) or "not_signed_in", and a `login_url` (the page
// that says why, then offers to sign in). What happens then:
//
//   - A page that may hold unsaved work sets a hook, once:
//
//       setSessionExpiredHandler((error) => {
//         // error: the ApiError (error.sessionExpired is true, error.reason says why).
//         // Keep what the person typed (sessionStorage; never a token), tell them, and
//         // offer a link: signInUrl(error.loginUrl, "/this/page") comes back here.
//       });
//
//     A single call can have its own hook instead: api(path, { onSessionExpired: fn }).
//     The hook runs, nothing navigates, and the call still rejects with the same ApiError,
//     so the caller's `catch` can tell it apart with `error.sessionExpired`.
//   - With no hook (the default), the page goes to the 401's `login_url` (same origin
//     only, else /auth/login) with `next` = the current page, and comes back after sign-in.
//     The call rejects too, as the page unloads.
//
// setSessionExpiredHandler(null) removes the hook again.
//
// When an API asks for a stronger sign-in (step-up, RFC 9470). The gateway answers 401 with
// `error` "step_up_required", what the API asked for (`acr_values`, `max_age`) and a
// `login_url` that carries the request. The session is not over: the person signs in once
// more at the provider (a second step, or again when the last sign-in is too old) and comes
// back to the same session, stronger. What happens then:
//
//   - With no hook (the default), the page goes to that `login_url` with `next` = the
//     current page. The call rejects too, as the page unloads.
//   - A page can set its own hook, once: setStepUpHandler((error) => ...) (error.stepUpRequired
//     is true; signInUrl(error.loginUrl, "/this/page") is where to send the person), or per
//     call: api(path, { onStepUp: fn }). The hook runs, nothing navigates, and the call still
//     rejects with the ApiError. A page that retries by itself after coming back should pass
//     a hook on that retry, so a sign-in that still falls short cannot send it round again.
//
// Live data. subscribe() runs a GraphQL subscription over a WebSocket to /api/graphql
// (graphql-transport-ws); the server adds the token, the page sends none:
//
//   const live = subscribe("subscription { itemAdded { id name } }", {}, {
//     onData: (data) => show(data.itemAdded),
//     onError: (error) => say(error.message),   // optional
//   });
//   live.close();
//
// It has no timer and never retries on its own: it reconnects only when the gateway's close
// code says so (4000: the token was renewed; 1012: the server restarts). 4401 means the
// session has ended: the same hook as a 401 runs, or the page goes to sign in. Any other
// close ends the subscription with onError.

const SESSION_OVER = ["session_expired", "not_signed_in"];
// The gateway's WebSocket close codes (bff/live/websocket.py).
const RECONNECT_CODES = [4000, 1012];
const SESSION_ENDED_CODE = 4401;
const DEFAULT_LOGIN = "/auth/login";

const STEP_UP = "step_up_required";

let sessionExpiredHandler = null;
let stepUpHandler = null;

/** An /api call that failed: HTTP status, the error code and a message for people. */
export class ApiError extends Error {
  constructor(status, error, message, body = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.error = error;
    this.body = body;
  }

  /** True when the server said the session is over (or there is none): sign in again. */
  get sessionExpired() {
    return this.status === 401 && SESSION_OVER.includes(this.error);
  }

  /** True when an API asked for a stronger or more recent sign-in (step-up). */
  get stepUpRequired() {
    return this.status === 401 && this.error === STEP_UP;
  }

  /** Why the session ended ("ended_by_admin", "idle", ...), when the server said. */
  get reason() {
    return (this.body && typeof this.body === "object" && this.body.reason) || null;
  }

  /** The server's sign-in address from the 401 (not checked: use signInUrl() on it). */
  get loginUrl() {
    return (this.body && typeof this.body === "object" && this.body.login_url) || null;
  }
}

/**
 * Set (or with null, remove) the page's hook for a session that is over. See the top of
 * this file. Returns the hook it replaces.
 */
export function setSessionExpiredHandler(handler) {
  const previous = sessionExpiredHandler;
  sessionExpiredHandler = typeof handler === "function" ? handler : null;
  return previous;
}

/**
 * Set (or with null, remove) the page's hook for a step-up. See the top of this file.
 * Returns the hook it replaces.
 */
export function setStepUpHandler(handler) {
  const previous = stepUpHandler;
  stepUpHandler = typeof handler === "function" ? handler : null;
  return previous;
}

/**
 * The address to sign in again and come back to `nextPath` (default: this page).
 * `loginUrl` is the 401's `login_url`; anything not on this origin becomes /auth/login.
 */
export function signInUrl(loginUrl, nextPath = window.location.pathname + window.location.search) {
  const origin = window.location.origin;
  let target;
  try {
    target = new URL(loginUrl || DEFAULT_LOGIN, origin);
  } catch {
    target = new URL(DEFAULT_LOGIN, origin);
  }
  if (target.origin !== origin) target = new URL(DEFAULT_LOGIN, origin);
  let next;
  try {
    next = new URL(nextPath, origin);
  } catch {
    next = new URL("/", origin);
  }
  target.searchParams.set("next", next.origin === origin ? next.pathname + next.search : "/");
  return target.pathname + target.search;
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

/**
 * Call the gateway. `path` is "/api/..." (or relative to /api/, e.g. "demo/items").
 * `options` are fetch's, plus `json`: a value sent as a JSON body (POST unless a method
 * is given), and `onSessionExpired`: this call's hook (see the top of this file).
 * Resolves to the parsed JSON (or text) of a 2xx/3xx answer; rejects with an ApiError
 * otherwise.
 */
export async function api(path, options = {}) {
  const { json, headers, onSessionExpired, onStepUp, ...init } = options;
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

  const fields = body && typeof body === "object" ? body : {};
  const error = new ApiError(
    response.status,
    fields.error || `http_${response.status}`,
    fields.message || response.statusText || `HTTP ${response.status}`,
    body,
  );
  if (error.sessionExpired) {
    sessionOver(error, onSessionExpired);
  } else if (error.stepUpRequired) {
    runHookOrSignIn(typeof onStepUp === "function" ? onStepUp : stepUpHandler, error, "onStepUp");
  }
  throw error;
}

/** The session is over: the call's or the page's hook, else go to sign in. */
function sessionOver(error, onSessionExpired) {
  const hook = typeof onSessionExpired === "function" ? onSessionExpired : sessionExpiredHandler;
  runHookOrSignIn(hook, error, "onSessionExpired");
}

/** The page's hook with the error, or (no hook) off to the 401's login_url and back here. */
function runHookOrSignIn(hook, error, name) {
  if (hook) {
    try {
      hook(error);
    } catch (hookError) {
      console.error(`${name} hook failed`, hookError);
    }
  } else {
    window.location.assign(signInUrl(error.loginUrl));
  }
}

/** Run a GraphQL operation on /api/graphql; resolves to `data`, rejects on `errors`. */
export async function graphql(query, variables = {}, options = {}) {
  const body = await api("/api/graphql", { ...options, json: { query, variables } });
  if (body && Array.isArray(body.errors) && body.errors.length) {
    const message = body.errors.map((e) => e.message || "error").join("; ");
    throw new ApiError(200, "graphql_error", message, body);
  }
  return (body && body.data) || {};
}

/** The WebSocket address of an /api path: `base` (ws[s]://host:port) or this origin. */
function websocketUrl(path, base) {
  const url = new URL(path, base || window.location.origin);
  if (url.protocol === "http:") url.protocol = "ws:";
  if (url.protocol === "https:") url.protocol = "wss:";
  return url.href;
}

/**
 * Run a GraphQL subscription over /api/graphql; see the top of this file. `options`:
 * onData(data, payload), onError(ApiError), onSessionExpired (as for api()), and `url`: the
 * WebSocket origin when it is not this page's (the page is told by the server).
 * Returns { close() }.
 */
export function subscribe(query, variables = {}, options = {}) {
  const { onData, onError, onSessionExpired, url } = options;
  const target = websocketUrl("/api/graphql", url);
  let socket = null;
  let finished = false;

  const fail = (error) => {
    finished = true;
    if (typeof onError === "function") onError(error);
  };

  const open = () => {
    socket = new WebSocket(target, "graphql-transport-ws");
    const send = (message) => socket.send(JSON.stringify(message));
    socket.addEventListener("open", () => send({ type: "connection_init", payload: {} }));
    socket.addEventListener("message", (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      if (message.type === "connection_ack") {
        send({ id: "1", type: "subscribe", payload: { query, variables } });
      } else if (message.type === "ping") {
        send({ type: "pong" });
      } else if (message.type === "next" && typeof onData === "function") {
        onData((message.payload && message.payload.data) || {}, message.payload);
      } else if (message.type === "error") {
        const text = (message.payload || []).map((e) => e.message || "error").join("; ");
        fail(new ApiError(200, "graphql_error", text, message.payload));
        socket.close(1000);
      } else if (message.type === "complete") {
        finished = true;
        socket.close(1000);
      }
    });
    socket.addEventListener("close", (event) => {
      if (finished) return;
      if (RECONNECT_CODES.includes(event.code)) {
        open(); // the server said so: the new connection carries a fresh token
      } else if (event.code === SESSION_ENDED_CODE) {
        const error = new ApiError(401, "session_expired", "The session has ended.", {
          error: "session_expired",
          reason: event.reason || null,
        });
        finished = true;
        sessionOver(error, onSessionExpired);
        if (typeof onError === "function") onError(error);
      } else {
        fail(new ApiError(0, "live_closed", `Live updates stopped (${event.code}).`, null));
      }
    });
  };

  open();
  return {
    close() {
      finished = true;
      if (socket) socket.close(1000);
    },
  };
}
