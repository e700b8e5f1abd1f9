// Calls to the two services' APIs, on this page's own address (the same origin: no CORS, and
// the page's Content-Security-Policy allows no other).

// A hung service must not hold a form forever (a gateway may wait a minute for a frozen
// process): past this, the call counts as unanswered.
const TIMEOUT_MS = 10000;

/** The outcome of one call: never throws. `status` is 0 when no answer came in time. */
export async function call(method, path, { body, token } = {}) {
  const headers = { accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (token) headers.authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      credentials: "omit",
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (error) {
    const timedOut = error.name === "TimeoutError";
    return { ok: false, status: 0, timedOut, data: null, problem: null, retryAfter: null };
  }
  const type = response.headers.get("content-type") ?? "";
  const data = type.includes("json") ? await response.json().catch(() => null) : null;
  return {
    ok: response.ok,
    status: response.status,
    data,
    problem: type.startsWith("application/problem+json") ? data : null,
    retryAfter: retryAfterSeconds(response.headers.get("retry-after")),
  };
}

/** `Retry-After` in seconds: either form RFC 9110 allows (seconds, or an HTTP date). */
function retryAfterSeconds(header) {
  if (header === null) return null;
  if (/^\d+$/.test(header.trim())) return Number(header.trim());
  const date = Date.parse(header);
  return Number.isNaN(date) ? null : Math.max(0, Math.ceil((date - Date.now()) / 1000));
}
