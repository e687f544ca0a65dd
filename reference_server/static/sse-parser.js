// A sans-IO Server-Sent Events parser, exact to the WHATWG "event stream interpretation":
// bytes in, items out, no I/O and no clock. It mirrors the harness's Python parser
// (harness/sse/) rule for rule and offset for offset; the tests run both on the same
// vectors.
//
//   const parser = new SSEParser();
//   for (const item of parser.feed(bytes)) { item.type === "event" ? ... : ... /* comment */ }
//   parser.close();   // end of body: an unterminated block is discarded
//
// Lines are split on bytes (CR, LF, CRLF; a CR ending one chunk and an LF starting the next
// are one line end) and then decoded as UTF-8 with replacement: CR and LF never occur inside
// a UTF-8 sequence, so this equals decoding first, and it keeps each item's byte offset.

const LF = 0x0a;
const CR = 0x0d;
const BOM = [0xef, 0xbb, 0xbf];
const DIGITS = /^[0-9]+$/;
// Larger retry: values are taken as this one, the largest integer a Number holds exactly (the
// Python parser clamps to the same value).
const MAX_RETRY_MS = Number.MAX_SAFE_INTEGER;

export const DEFAULT_MAX_LINE_BYTES = 1 << 20;
export const DEFAULT_MAX_EVENT_BYTES = 4 << 20;

/** The stream broke a configured size bound; the parser cannot continue. */
export class SSEParseError extends Error {}

export class SSEParser {
  constructor({
    lastEventId = "",
    maxLineBytes = DEFAULT_MAX_LINE_BYTES,
    maxEventBytes = DEFAULT_MAX_EVENT_BYTES,
  } = {}) {
    this.maxLineBytes = maxLineBytes;
    this.maxEventBytes = maxEventBytes;
    // Seeded on a reconnection, as browsers do: an event without an id keeps the resumed id.
    this.lastEventId = lastEventId;
    this.retry = null;
    this.bytesFed = 0;
    this._pending = new Uint8Array(0);
    this._offset = 0; // stream offset of the first byte of _pending
    this._skipLF = false;
    this._atStart = true;
    this._blockStart = 0;
    this._decoder = new TextDecoder("utf-8", { ignoreBOM: true });
    this._resetBlock();
  }

  /** True when bytes of an unfinished line or block are waiting for more input. */
  get incomplete() {
    return this._pending.length > 0 || this._blockOpen;
  }

  /**
   * Items in order: `{type: "event", event, data, id, hasId, retry, offset}` and
   * `{type: "comment", text, offset}`. `offset` is the stream offset just past the CR or LF
   * ending the item's last line (an LF after a CR not counted).
   */
  feed(bytes) {
    let data = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
    this.bytesFed += data.length;
    if (this._skipLF && data.length) {
      this._skipLF = false;
      if (data[0] === LF) {
        data = data.subarray(1);
        this._offset += 1;
      }
    }
    let buffer = this._pending.length ? concat(this._pending, data) : data;
    if (this._atStart) {
      if (buffer.length < BOM.length && BOM.slice(0, buffer.length).every((b, i) => b === buffer[i])) {
        this._pending = buffer.slice();
        return [];
      }
      this._atStart = false;
      if (BOM.every((b, i) => buffer[i] === b)) {
        buffer = buffer.subarray(BOM.length);
        this._offset += BOM.length;
      }
    }
    // Every line length is checked before any line is interpreted, as the Python parser does.
    const lines = completeLines(buffer);
    if (lines.some(({ start, end }) => end - start > this.maxLineBytes)) this._lineTooLong();
    const items = [];
    for (const { start, end } of lines) {
      const line = this._decoder.decode(buffer.subarray(start, end));
      this._interpret(line, this._offset + start, this._offset + end + 1, items);
    }
    if (buffer[buffer.length - 1] === CR) this._skipLF = true;
    const consumed = lines.length ? lines[lines.length - 1].next : 0;
    this._pending = buffer.slice(consumed);
    this._offset += consumed;
    if (this._pending.length > this.maxLineBytes) this._lineTooLong();
    if (this._blockOpen && this._offset + this._pending.length - this._blockStart > this.maxEventBytes) {
      this._eventTooLarge();
    }
    return items;
  }

  /** End of stream: any unterminated line or block is discarded, as the spec says. */
  close() {
    this._pending = new Uint8Array(0);
    this._resetBlock();
    return [];
  }

  _resetBlock() {
    this._data = [];
    this._eventType = "";
    this._idBuffer = this.lastEventId;
    this._blockHasId = false;
    this._blockRetry = null;
    this._blockOpen = false;
  }

  _interpret(line, lineStart, end, items) {
    if (line === "") {
      this.lastEventId = this._idBuffer;
      if (this._blockOpen && end - this._blockStart > this.maxEventBytes) this._eventTooLarge();
      if (this._data.length) {
        items.push({
          type: "event",
          event: this._eventType || "message",
          data: this._data.join("\n"),
          id: this._idBuffer,
          hasId: this._blockHasId,
          retry: this._blockRetry,
          offset: end,
        });
      }
      this._resetBlock();
      return;
    }
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "") {
      items.push({ type: "comment", text: value, offset: end });
      return;
    }
    if (field === "data") {
      this._data.push(value);
    } else if (field === "id") {
      if (!value.includes("\0")) {
        this._idBuffer = value;
        this._blockHasId = true;
      }
    } else if (field === "event") {
      this._eventType = value;
    } else if (field === "retry" && DIGITS.test(value)) {
      this.retry = this._blockRetry = retryMs(value);
    }
    if (!this._blockOpen) {
      this._blockOpen = true;
      this._blockStart = lineStart;
    }
  }

  _lineTooLong() {
    throw new SSEParseError(`a line is longer than ${this.maxLineBytes} bytes`);
  }

  _eventTooLarge() {
    throw new SSEParseError(`an event is larger than ${this.maxEventBytes} bytes`);
  }
}

function retryMs(digits) {
  const significant = digits.replace(/^0+/, "");
  return significant.length > 16 ? MAX_RETRY_MS : Math.min(Number(significant || "0"), MAX_RETRY_MS);
}

/** The complete lines of `buffer`: bytes [start, end) and `next`, past the whole line end. */
function completeLines(buffer) {
  const lines = [];
  for (let i = 0, start = 0; i < buffer.length; i++) {
    const byte = buffer[i];
    if (byte !== LF && byte !== CR) continue;
    const next = byte === CR && buffer[i + 1] === LF ? i + 2 : i + 1;
    lines.push({ start, end: i, next });
    start = next;
    i = next - 1;
  }
  return lines;
}

function concat(a, b) {
  const joined = new Uint8Array(a.length + b.length);
  joined.set(a, 0);
  joined.set(b, a.length);
  return joined;
}
