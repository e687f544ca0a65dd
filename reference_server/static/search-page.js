// The streaming search page: one ReconnectingStream per search, its state shown as it goes.
// Page parameters: every one except `stream` and `autostart` is passed to the stream request;
// `stream` is the stream's path on this origin (default stream/search); `autostart=1` starts
// at once. A test driver may set window.sseChaosOptions (stream options) and
// window.sseChaosRecord (receives every record) before the page loads.

import { ReconnectingStream } from "./sse-stream.js";

const MAX_DEBUG_LINES = 200;
const MAX_ERRORS = 20;
const $ = (id) => document.getElementById(id);
const pageParams = new URLSearchParams(location.search);
let stream = null;

function streamPath() {
  const path = pageParams.get("stream") ?? "stream/search";
  // Only a path on this origin: a page parameter must not point the page at another site.
  return /^\/?[A-Za-z0-9_.~-][A-Za-z0-9_.~\/-]*$/.test(path) && !path.includes("//") ? path : "stream/search";
}

function streamUrl(query, maxTokens) {
  const params = new URLSearchParams(pageParams);
  params.delete("stream");
  params.delete("autostart");
  if (query) params.set("query", query);
  if (maxTokens) params.set("max_tokens", maxTokens);
  return `${streamPath()}?${params}`;
}

function showState(state) {
  if (stream?.traceId) $("trace-id").textContent = stream.traceId;
  $("status").dataset.state = state;
  $("status-label").textContent = state;
  $("reconnections").textContent = String(Math.max(0, stream?.connection ?? 0));
}

function appendBounded(list, element, limit) {
  list.append(element);
  while (list.childElementCount > limit) list.firstElementChild.remove();
}

function showError(message) {
  const item = document.createElement("li");
  item.textContent = message;
  appendBounded($("errors"), item, MAX_ERRORS);
}

function debugLine(record) {
  const { kind, t, connection, event, outcome, detail, nbytes } = record;
  const what = [event, outcome, detail].filter(Boolean).join(" ") || (nbytes ? `${nbytes} bytes` : "");
  const lines = $("debug-log").textContent.split("\n").slice(-MAX_DEBUG_LINES);
  lines.push(`${(t / 1000).toFixed(3)} #${connection} ${kind} ${String(what).slice(0, 120)}`);
  $("debug-log").textContent = lines.join("\n");
}

function payloadOf(event) {
  try {
    const value = JSON.parse(event.data);
    return value !== null && typeof value === "object" ? value : {};
  } catch {
    return {};
  }
}

function onRecord(record) {
  debugLine(record);
  if (typeof window.sseChaosRecord === "function") window.sseChaosRecord(record);
}

async function search(query, maxTokens) {
  stream?.stop();
  $("answer").textContent = "";
  $("errors").textContent = "";
  $("result").textContent = "";
  $("trace-id").textContent = "–";
  $("uptime").textContent = "–";
  const current = new ReconnectingStream(streamUrl(query, maxTokens), {
    ...(window.sseChaosOptions ?? {}),
    onState: showState,
    onRecord,
    onContent: (event) => {
      const content = payloadOf(event).content;
      $("answer").append(typeof content === "string" ? content : event.data);
    },
    onHeartbeat: (event) => {
      const uptime = payloadOf(event).uptime_seconds;
      if (typeof uptime === "number") $("uptime").textContent = `${uptime.toFixed(1)} s`;
    },
    onComplete: (event) => {
      $("result").textContent = `complete: ${payloadOf(event).reason ?? event.event}`;
    },
    onError: showError,
  });
  stream = current;
  $("start").disabled = true;
  $("stop").disabled = false;
  const { outcome, detail } = await current.start();
  if (stream !== current) return;
  if (outcome !== "complete") $("result").textContent = `${outcome}: ${detail}`;
  $("start").disabled = false;
  $("stop").disabled = true;
}

$("search").addEventListener("submit", (submitted) => {
  submitted.preventDefault();
  search($("query").value, $("max-tokens").value);
});
$("stop").addEventListener("click", () => stream?.stop());
$("query").value = pageParams.get("query") ?? "";
$("max-tokens").value = pageParams.get("max_tokens") ?? $("max-tokens").value;
if (pageParams.get("autostart") === "1") search($("query").value, $("max-tokens").value);
