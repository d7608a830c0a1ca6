// The daemon's HTTP API: the bearer token lives in this browser's storage (never in a URL), every call
// sends it in the Authorization header, and the live stream is server-sent events read through fetch (an
// EventSource cannot send headers).

const KEY = "plotter.token";

export const token = {
  get: () => localStorage.getItem(KEY),
  set: (t) => localStorage.setItem(KEY, t),
  clear: () => localStorage.removeItem(KEY),
};

export class AuthError extends Error {}

export async function call(method, path, body) {
  const headers = { Authorization: `Bearer ${token.get() || ""}` };
  const init = { method, headers };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, init);
  } catch (e) {
    throw new Error(`the daemon does not answer (${e.message})`);
  }
  let data;
  try {
    data = await resp.json();
  } catch (e) {
    throw new Error(`HTTP ${resp.status} from the daemon`);
  }
  if (resp.status === 401) throw new AuthError(data.error || "wrong token");
  if (!data.ok) throw new Error(data.error || `HTTP ${resp.status}`);
  return data.result;
}

export const get = (path) => call("GET", path);
export const post = (path, body = {}) => call("POST", path, body);

// Read /v1/events until stopped; `onEvent(obj)` per event, `onState(bool)` when the stream opens/closes.
// Reconnects after a drop (1 s, the stream's own `retry:` hint).
export function stream(onEvent, onState) {
  let stopped = false;
  let controller = null;
  async function once() {
    controller = new AbortController();
    const resp = await fetch("/v1/events", {
      headers: { Authorization: `Bearer ${token.get() || ""}` },
      signal: controller.signal,
    });
    if (resp.status === 401) throw new AuthError("wrong token");
    if (!resp.ok || !resp.body) throw new Error(`HTTP ${resp.status}`);
    onState(true);
    const reader = resp.body.getReader();
    const decoder = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5)).join("\n");
        if (data) onEvent(JSON.parse(data));
      }
    }
  }
  (async () => {
    while (!stopped) {
      try {
        await once();
      } catch (e) {
        if (e instanceof AuthError) { onState(false, e); return; }
      }
      onState(false);
      if (!stopped) await new Promise((r) => setTimeout(r, 1000));
    }
  })();
  return () => { stopped = true; if (controller) controller.abort(); };
}
