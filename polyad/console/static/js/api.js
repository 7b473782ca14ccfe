// The agent's API as the page calls it: every request carries the bearer token, which lives in
// this tab's sessionStorage only. An error answer becomes an ApiError with the problem's detail.

const TOKEN_KEY = "polyad.token";

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

/** A token handed over in the URL's fragment (`/#token=…`, which no server or log sees) moves
 * to sessionStorage, and the address bar loses it. */
export function adoptTokenFromFragment() {
  const fragment = new URLSearchParams(window.location.hash.slice(1));
  const token = fragment.get("token");
  if (token) {
    sessionStorage.setItem(TOKEN_KEY, token);
    history.replaceState(null, "", window.location.pathname + window.location.search);
  }
}

export function storedToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function storeToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token.trim());
}

export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

/** The token's claims, for what the page says (its scopes, its expiry); the agent decides. */
export function tokenClaims() {
  const token = storedToken();
  if (!token) return null;
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(payload));
  } catch {
    return null;  // not a JWT this page can read: the agent's answers tell instead
  }
}

/** The scopes the token says it carries; null when the page cannot tell. */
export function tokenScopes() {
  const claims = tokenClaims();
  if (claims === null) return null;
  const scope = claims.scope ?? claims.scp ?? "";
  return new Set(Array.isArray(scope) ? scope : String(scope).split(/\s+/).filter(Boolean));
}

export function authHeaders() {
  const token = storedToken();
  return token ? { Authorization: `Bearer ${token}` } : {};
}

export async function request(path, { method = "GET", body, signal } = {}) {
  const headers = { Accept: "application/json", ...authHeaders() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method, headers, signal, cache: "no-store", credentials: "omit",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) throw new ApiError(response.status, await problemOf(response));
  return response.json();
}

export async function problemOf(response) {
  try {
    return await response.json();
  } catch {
    return { title: response.statusText };
  }
}
