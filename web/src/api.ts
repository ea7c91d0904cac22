// Talking to the Tether API: the token, JSON calls with readable errors, live streams.

import type { Session } from "./types";

const TOKEN_KEY = "tether.token";

export function getToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(token: string): void {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function clearToken(): void {
  sessionStorage.removeItem(TOKEN_KEY);
}

export class ApiError extends Error {
  constructor(
    public status: number,
    message: string,
  ) {
    super(message);
  }
}

let onUnauthorized: () => void = () => undefined;

export function whenUnauthorized(handler: () => void): void {
  onUnauthorized = handler;
}

export async function call<T>(
  method: "GET" | "POST",
  path: string,
  body?: unknown,
  token: string | null = getToken(),
): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response: Response;
  try {
    response = await fetch(`/api/v1${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, "cannot reach the Tether API; is the controller running?");
  }
  const text = await response.text();
  let data: unknown = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const message =
      data && typeof data === "object" && "error" in data
        ? String((data as { error: unknown }).error)
        : `${response.status} ${response.statusText}`;
    if (response.status === 401 && token === getToken()) onUnauthorized();
    throw new ApiError(response.status, message);
  }
  return data as T;
}

export const get = <T>(path: string): Promise<T> => call<T>("GET", path);
export const post = <T>(path: string, body?: unknown): Promise<T> => call<T>("POST", path, body);

export function checkToken(token: string): Promise<Session> {
  return call<Session>("GET", "/session", undefined, token);
}

export type StreamState = "connecting" | "live" | "reconnecting";

/** An EventSource on /api/v1/stream/...; returns a function that closes it. */
export function stream<T>(
  path: string,
  event: string,
  onData: (data: T) => void,
  onState: (state: StreamState) => void = () => undefined,
  extra: Record<string, (data: unknown) => void> = {},
): () => void {
  const token = getToken() ?? "";
  const source = new EventSource(`/api/v1/stream${path}?token=${encodeURIComponent(token)}`);
  onState("connecting");
  source.addEventListener("open", () => onState("live"));
  source.addEventListener(event, (e) => {
    onState("live");
    onData(JSON.parse((e as MessageEvent<string>).data) as T);
  });
  // The server re-checks the token of an open stream and says so when it was revoked.
  source.addEventListener("unauthorized", () => {
    source.close();
    onUnauthorized();
  });
  for (const [name, handler] of Object.entries(extra)) {
    source.addEventListener(name, (e) => handler(JSON.parse((e as MessageEvent<string>).data)));
  }
  source.addEventListener("error", () => {
    if (source.readyState === EventSource.CLOSED) {
      // The server refused (401/404) or went away for good: find out which.
      onState("reconnecting");
      get<Session>("/session").catch(() => undefined);
    } else {
      onState("reconnecting");
    }
  });
  return () => source.close();
}
