// GET /events read with fetch and a ReadableStream (EventSource cannot send a bearer token):
// Server-Sent Events parsed as the HTML standard describes, reconnected when the agent ends one.

import { ApiError, authHeaders, problemOf } from "./api.js";

const RECONNECT_MS = 2000;
// A tick comes each sample and a keep-alive comment after events.heartbeat (15 s) of nothing:
// a minute of silence is a dead connection (a laptop that slept, a NAT that forgot it).
const SILENCE_MS = 60_000;

/** One SSE block's event, or null for a comment or a `retry:` line. */
export function parseEvent(block) {
  let type = "message";
  const data = [];
  for (const line of block.split(/\r\n|\r|\n/)) {
    if (line === "" || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") type = value;
    else if (field === "data") data.push(value);
  }
  return data.length ? { type, data: data.join("\n") } : null;
}

async function readEvents(response, onEvent) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await withDeadline(reader.read(), SILENCE_MS);
      if (done) return;
      buffer += value;
      const blocks = buffer.split(/\r\n\r\n|\n\n|\r\r/);
      buffer = blocks.pop();  // an event not yet whole
      for (const block of blocks) deliver(parseEvent(block), onEvent);
    }
  } finally {
    reader.cancel().catch(() => {});  // the connection, and its place at the agent, let go
  }
}

/** One event to the page; one it cannot show is logged, and the stream goes on. */
function deliver(event, onEvent) {
  if (event === null) return;
  try {
    onEvent(event.type, JSON.parse(event.data));
  } catch (error) {
    console.error("polyad console: an event it could not show", event.type, error);
  }
}

function withDeadline(promise, ms) {
  let timer;
  const silence = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error("no event for a minute")), ms);
  });
  return Promise.race([promise, silence]).finally(() => clearTimeout(timer));
}

/** Keeps a stream open until `signal` aborts: `onEvent(type, data)` for each event,
 * `onState(text)` when it is down ("" once it is up again), `onRefused(error)` on a 401 or
 * 403 (it stops then: a new token is needed). */
export async function follow({ signal, onEvent, onState, onRefused }) {
  while (!signal.aborted) {
    try {
      const response = await fetch("/events", {
        headers: { Accept: "text/event-stream", ...authHeaders() },
        cache: "no-store", credentials: "omit", signal,
      });
      if (response.status === 401 || response.status === 403) {
        onRefused(new ApiError(response.status, await problemOf(response)));
        return;
      }
      if (!response.ok) {
        const problem = await problemOf(response);
        onState(`Live updates paused: ${problem.detail || response.statusText}`);
      } else {
        onState("");
        await readEvents(response, onEvent);
      }
    } catch (error) {
      if (signal.aborted) return;
      onState("Live updates lost; reconnecting…");
    }
    await new Promise((resolve) => setTimeout(resolve, RECONNECT_MS));
  }
}
