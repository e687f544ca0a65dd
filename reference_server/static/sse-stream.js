// A reconnecting Server-Sent Events stream for the browser: the robust client of
// docs/protocol.md, with the same behaviour as the harness's Python client (harness/client.py).
//
// Why fetch and not EventSource: EventSource can neither read response headers nor send
// custom ones. This client needs both: it reads the advertised X-Silence-Threshold and the
// stream's X-Trace-ID, and sends that X-Trace-ID and Last-Event-ID on every reconnection it
// makes itself (after a silence, which EventSource cannot even detect). fetch streams the
// body through the browser's own network stack all the same.
//
//   const stream = new ReconnectingStream("/stream/search?query=hi", {onContent, onState});
//   const {outcome, detail} = await stream.start();   // stream.stop() ends it early

import { SSEParseError, SSEParser } from "./sse-parser.js";

export const State = Object.freeze({
  CONNECTING: "connecting",
  CONNECTED: "connected",
  RECONNECTING: "reconnecting",
  DISCONNECTED: "disconnected",
});

export const Outcome = Object.freeze({
  COMPLETE: "complete", // a terminal event arrived
  ERROR: "error", // a non-retryable error event: a clean, deliberate end
  HTTP_ERROR: "http_error", // 204, a non-200 status or a wrong content type
  PROTOCOL_ERROR: "protocol_error", // the stream broke the parser's bounds
  GAVE_UP: "gave_up", // max attempts reached
  DEADLINE: "deadline", // the overall deadline passed
  STOPPED: "stopped", // stop() was called
});

const DEFAULTS = Object.freeze({
  headers: {},
  silenceThresholdSeconds: null, // null: the server's advertised value, else defaultSilenceSeconds
  defaultSilenceSeconds: 15,
  connectTimeoutSeconds: 5,
  maxAttempts: 20,
  backoffInitialSeconds: 0.05,
  backoffMaxSeconds: 2,
  deadlineSeconds: 120,
  maxLineBytes: 1 << 20,
  maxEventBytes: 4 << 20,
  heartbeat: "event", // "event", "comment" or "none"
  heartbeatEvent: "heartbeat",
  terminalEvents: ["complete"],
  errorEvent: "error",
  traceHeader: "X-Trace-ID",
  silenceHeader: "X-Silence-Threshold",
});
const MAX_HEADER_VALUE_CHARS = 256;
const MAX_SEEN_IDS = 200_000;

class Reconnect extends Error {}

class Finished extends Error {
  constructor(outcome, detail) {
    super(detail);
    this.outcome = outcome;
  }
}

const DECIMAL = /^[ \t]*[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[ \t]*$/;

/**
 * A timing header's value in seconds (a finite decimal number above 0), else null: absent, zero
 * or less, or malformed. The harness's seconds_if_advertised (harness/target.py), rule for rule.
 */
export function advertisedSeconds(raw) {
  if (raw === null || raw === undefined || !DECIMAL.test(raw)) return null;
  const value = Number(raw.trim());
  return Number.isFinite(value) && value > 0 ? value : null;
}

export class ReconnectingStream {
  /**
   * Callbacks in `options`: onContent(event), onHeartbeat(eventOrComment), onComplete(event),
   * onError(message), onState(state), and onRecord(record): every attempt, response, read,
   * event, comment, duplicate, state change, error and the outcome, stamped with
   * performance.now(), in the harness's history format.
   */
  constructor(url, options = {}) {
    this.url = url;
    this.options = { ...DEFAULTS, ...options };
    this.state = State.DISCONNECTED;
    this.lastEventId = "";
    this.traceId = null;
    this.retryMs = null;
    this.silenceThreshold = this.options.silenceThresholdSeconds ?? this.options.defaultSilenceSeconds;
    this.connection = -1;
    this.events = 0;
    this._seenIds = new Set();
    this._run = null;
    this._connectionAbort = null;
    this._madeProgress = false;
  }

  /** Streams until a terminal outcome; resolves to {outcome, detail}, never rejects. */
  start() {
    if (this._run) throw new Error("this stream was already started");
    this._run = new AbortController();
    const deadline = setTimeout(
      () => this._end(new Finished(Outcome.DEADLINE, `no terminal event within ${this.options.deadlineSeconds} s`)),
      this.options.deadlineSeconds * 1000,
    );
    return this._loop()
      .catch((error) => (error instanceof Finished ? error : new Finished(Outcome.ERROR, String(error))))
      .then((finished) => {
        clearTimeout(deadline);
        this._setState(State.DISCONNECTED);
        this._record("outcome", { outcome: finished.outcome, detail: finished.message });
        return { outcome: finished.outcome, detail: finished.message };
      });
  }

  stop() {
    this._end(new Finished(Outcome.STOPPED, "stopped by the user"));
  }

  _end(finished) {
    if (!this._run || this._run.signal.aborted) return;
    this._run.abort(finished);
    this._connectionAbort?.abort(finished);
  }

  async _loop() {
    let failures = 0;
    let lastReason = "";
    for (;;) {
      this.connection += 1;
      this._setState(this.connection === 0 ? State.CONNECTING : State.RECONNECTING);
      try {
        await this._connectOnce();
        throw new Reconnect("the body ended without a terminal event");
      } catch (error) {
        if (!(error instanceof Reconnect)) throw error;
        lastReason = error.message;
        this._record("error", { detail: lastReason });
      }
      failures = this._madeProgress ? 0 : failures + 1;
      if (this.connection + 1 >= this.options.maxAttempts) {
        const attempts = this.options.maxAttempts;
        throw new Finished(Outcome.GAVE_UP, `gave up after ${attempts} connection attempts; last: ${lastReason}`);
      }
      this._setState(State.RECONNECTING);
      await this._sleep(this._backoff(failures));
    }
  }

  _backoff(failures) {
    const { backoffInitialSeconds, backoffMaxSeconds } = this.options;
    const exponential = Math.min(backoffMaxSeconds, backoffInitialSeconds * 2 ** failures);
    const floor = (this.retryMs ?? 0) / 1000;
    return Math.max(floor, exponential * (0.5 + Math.random() * 0.5));
  }

  _sleep(seconds) {
    const signal = this._run.signal;
    return new Promise((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      const wake = () => {
        clearTimeout(timer);
        reject(signal.reason);
      };
      const timer = setTimeout(() => {
        signal.removeEventListener("abort", wake);
        resolve();
      }, seconds * 1000);
      signal.addEventListener("abort", wake, { once: true });
    });
  }

  _requestHeaders() {
    const headers = { Accept: "text/event-stream", "Cache-Control": "no-cache", ...this.options.headers };
    if (this.lastEventId) headers["Last-Event-ID"] = this.lastEventId;
    if (this.traceId !== null && this.options.traceHeader) headers[this.options.traceHeader] = this.traceId;
    return headers;
  }

  async _connectOnce() {
    this._madeProgress = false;
    const headers = this._requestHeaders();
    const traced = Object.fromEntries(
      Object.entries(headers).filter(([name]) => name === "Last-Event-ID" || name === this.options.traceHeader),
    );
    this._record("attempt", { eventId: headers["Last-Event-ID"] ?? "", detail: JSON.stringify(traced) });
    const abort = new AbortController();
    this._connectionAbort = abort;
    if (this._run.signal.aborted) throw this._run.signal.reason;
    const waited = this.options.connectTimeoutSeconds + this.silenceThreshold;
    const timer = setTimeout(() => abort.abort(new Reconnect(`no response headers within ${waited} s`)), waited * 1000);
    let response;
    try {
      response = await fetch(this.url, { headers, cache: "no-store", credentials: "same-origin", signal: abort.signal });
    } catch (error) {
      throw abort.signal.aborted ? abort.signal.reason : new Reconnect(`connection failed: ${describe(error)}`);
    } finally {
      clearTimeout(timer);
    }
    try {
      this._accept(response);
      this._setState(State.CONNECTED);
      await this._readBody(response, abort);
    } finally {
      abort.abort(new Reconnect("connection closed by the client"));
    }
  }

  _accept(response) {
    const headers = {};
    for (const [name, value] of response.headers) headers[name] = value.slice(0, MAX_HEADER_VALUE_CHARS);
    this._record("response", { status: response.status, detail: JSON.stringify(headers) });
    if (response.status === 204) throw new Finished(Outcome.HTTP_ERROR, "the server answered 204 No Content: told to stop");
    // a stream under way met a draining instance, or a store or balancer with none up: it resumes later
    if (response.status === 503 && this.lastEventId) throw new Reconnect("the server answered HTTP 503 while the stream was under way");
    if (response.status !== 200) throw new Finished(Outcome.HTTP_ERROR, `the server answered HTTP ${response.status}`);
    const mediaType = (response.headers.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
    if (mediaType !== "text/event-stream") {
      throw new Finished(Outcome.HTTP_ERROR, `content type is '${mediaType.slice(0, 64)}', not text/event-stream`);
    }
    const { traceHeader, silenceHeader, silenceThresholdSeconds } = this.options;
    if (this.traceId === null && traceHeader && response.headers.has(traceHeader)) {
      this.traceId = response.headers.get(traceHeader).slice(0, MAX_HEADER_VALUE_CHARS);
    }
    if (silenceThresholdSeconds === null && silenceHeader) {
      this.silenceThreshold = advertisedSeconds(response.headers.get(silenceHeader)) ?? this.silenceThreshold;
    }
  }

  async _readBody(response, abort) {
    const { maxLineBytes, maxEventBytes } = this.options;
    const parser = new SSEParser({ lastEventId: this.lastEventId, maxLineBytes, maxEventBytes });
    const reader = response.body.getReader();
    const silence = () =>
      setTimeout(() => abort.abort(new Reconnect(`silence: no byte for ${this.silenceThreshold} s`)), this.silenceThreshold * 1000);
    let timer = silence();
    try {
      for (;;) {
        let chunk;
        try {
          chunk = await reader.read();
        } catch (error) {
          throw abort.signal.aborted ? abort.signal.reason : new Reconnect(`connection cut: ${describe(error)}`);
        }
        if (chunk.done) break;
        clearTimeout(timer);
        timer = silence();
        this._record("bytes", { offset: parser.bytesFed, nbytes: chunk.value.length });
        let items;
        try {
          items = parser.feed(chunk.value);
        } catch (error) {
          if (error instanceof SSEParseError) throw new Finished(Outcome.PROTOCOL_ERROR, error.message);
          throw error;
        }
        for (const item of items) this._handle(item);
        if (parser.retry !== null) this.retryMs = parser.retry;
      }
    } finally {
      clearTimeout(timer);
    }
    if (parser.incomplete) this._record("error", { detail: "the body ended inside an event" });
    parser.close();
  }

  _handle(item) {
    const { options } = this;
    if (item.type === "comment") {
      this._record("comment", { offset: item.offset, data: item.text });
      if (options.heartbeat === "comment") options.onHeartbeat?.(item);
      return;
    }
    const values = { offset: item.offset, event: item.event, data: item.data };
    if (item.hasId && this._seenIds.has(item.id)) {
      this._record("duplicate", { ...values, eventId: item.id, hasId: true });
      return;
    }
    this._record("event", { ...values, eventId: item.hasId ? item.id : "", hasId: item.hasId });
    this.events += 1;
    this._madeProgress = true;
    if (item.hasId) {
      this.lastEventId = item.id;
      if (this._seenIds.size < MAX_SEEN_IDS) this._seenIds.add(item.id);
    }
    this._dispatch(item);
  }

  _dispatch(item) {
    const { options } = this;
    if (options.terminalEvents.includes(item.event)) {
      options.onComplete?.(item);
      throw new Finished(Outcome.COMPLETE, `terminal event '${item.event}'`);
    }
    if (item.event === options.errorEvent) {
      const { retryable, message } = errorDetails(item.data);
      options.onError?.(message);
      if (retryable) throw new Reconnect(`retryable error event: ${message}`);
      throw new Finished(Outcome.ERROR, `non-retryable error event: ${message}`);
    }
    if (options.heartbeat === "event" && item.event === options.heartbeatEvent) options.onHeartbeat?.(item);
    else options.onContent?.(item);
  }

  _setState(state) {
    if (state === this.state) return;
    this.state = state;
    this._record("state", { detail: state });
    this.options.onState?.(state);
  }

  _record(kind, values) {
    this.options.onRecord?.({ kind, t: performance.now(), connection: this.connection, ...values });
  }
}

function errorDetails(data) {
  let payload;
  try {
    payload = JSON.parse(data);
  } catch {
    return { retryable: false, message: data.slice(0, 200) };
  }
  if (payload === null || typeof payload !== "object" || Array.isArray(payload)) {
    return { retryable: false, message: data.slice(0, 200) };
  }
  const message = `${payload.code ?? "error"}: ${payload.message ?? ""}`.slice(0, 200);
  return { retryable: payload.retryable === true, message };
}

function describe(error) {
  return `${error?.name ?? "Error"}: ${error?.message ?? error}`.slice(0, 200);
}
