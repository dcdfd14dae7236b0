// The JSON API, by relative URL so a mounted app works under any prefix.

/** A failed request: the API's {"error": {"type", "message"}} with the HTTP status. */
export class ApiError extends Error {
  constructor(status, type, message) {
    super(message);
    this.status = status;
    this.type = type;
  }
}

/** GET api/<path> with the query ``params`` (null and "" left out); the parsed JSON. */
export async function get(path, params = {}) {
  const response = await fetch(url(path, params), { headers: { Accept: "application/json" } });
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const error = body?.error ?? {};
    throw new ApiError(response.status, error.type ?? "HTTPError",
      error.message ?? `${response.status} ${response.statusText}`);
  }
  return body;
}

/** The relative URL of api/<path>?params. */
export function url(path, params = {}) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") query.set(name, String(value));
  }
  const text = query.toString();
  return `api/${path}${text ? `?${text}` : ""}`;
}

/** A path segment: "sessions/" + seg(id). */
export const seg = encodeURIComponent;
