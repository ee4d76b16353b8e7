// proxywasm-python's AssemblyScript binding for Proxy-Wasm ABI 0.2.1, written from the spec.
// `abi.ts` (enums and host imports) is generated from proxywasm.abi; this file is hand-written.

import {
  Action, BufferType, LogLevel, MapType, MetricType, Status, StreamType,
  proxy_add_header_map_value, proxy_continue_stream, proxy_define_metric,
  proxy_get_buffer_bytes, proxy_get_buffer_status,
  proxy_get_header_map_pairs, proxy_get_header_map_value, proxy_get_metric,
  proxy_get_property, proxy_http_call, proxy_increment_metric, proxy_log, proxy_record_metric,
  proxy_remove_header_map_value, proxy_replace_header_map_value, proxy_send_local_response,
  proxy_set_buffer_bytes, proxy_set_header_map_pairs, proxy_set_property,
  proxy_set_tick_period_milliseconds, proxy_done, proxy_set_effective_context, NO_GRPC_STATUS,
} from "./abi";

export { Action, BufferType, LogLevel, MapType, MetricType, Status, StreamType };

// Two scratch words the host writes its outputs into (pointer + size, ids, values).
const RETURN_WORD_0: usize = memory.data(8);
const RETURN_WORD_1: usize = memory.data(8);

// ---------------------------------------------------------------------------
// Memory the host fills (proxy_on_memory_allocate / malloc): unmanaged, freed once copied.

export function allocateForHost(size: usize): usize {
  return heap.alloc(size > 0 ? size : <usize>1);
}

function takeReturnedBuffer(): ArrayBuffer {
  const ptr = load<usize>(RETURN_WORD_0);
  const size = load<u32>(RETURN_WORD_1);
  const out = new ArrayBuffer(size);
  if (ptr != 0) {
    memory.copy(changetype<usize>(out), ptr, size);
    heap.free(ptr);
  }
  return out;
}

function clearReturnWords(): void {
  store<u64>(RETURN_WORD_0, 0);
  store<u64>(RETURN_WORD_1, 0);
}

function ptr(buffer: ArrayBuffer): usize {
  return changetype<usize>(buffer);
}

function utf8(text: string): ArrayBuffer {
  return String.UTF8.encode(text);
}

// ---------------------------------------------------------------------------
// Headers: pairs and the ABI's map serialization.

export class Header {
  constructor(public key: string, public value: string) {}
}

/** Shorthand for `new Header(key, value)`. */
export function header(key: string, value: string): Header {
  return new Header(key, value);
}

export function serializeHeaders(headers: Array<Header>): ArrayBuffer {
  const keys = new Array<ArrayBuffer>(headers.length);
  const values = new Array<ArrayBuffer>(headers.length);
  let size: i32 = 4 + headers.length * 8;
  for (let i = 0; i < headers.length; i++) {
    keys[i] = utf8(headers[i].key);
    values[i] = utf8(headers[i].value);
    size += keys[i].byteLength + values[i].byteLength + 2;
  }
  const out = new ArrayBuffer(size);
  const base = ptr(out);
  store<u32>(base, headers.length);
  let pos = base + 4 + headers.length * 8;
  for (let i = 0; i < headers.length; i++) {
    store<u32>(base + 4 + i * 8, keys[i].byteLength);
    store<u32>(base + 8 + i * 8, values[i].byteLength);
    memory.copy(pos, ptr(keys[i]), keys[i].byteLength);
    pos += keys[i].byteLength;
    store<u8>(pos++, 0);
    memory.copy(pos, ptr(values[i]), values[i].byteLength);
    pos += values[i].byteLength;
    store<u8>(pos++, 0);
  }
  return out;
}

export function deserializeHeaders(data: ArrayBuffer): Array<Header> {
  const result = new Array<Header>();
  if (data.byteLength < 4) return result;
  const base = ptr(data);
  const count = load<u32>(base);
  let pos = base + 4 + count * 8;
  const end = base + data.byteLength;
  for (let i: u32 = 0; i < count; i++) {
    const keySize = load<u32>(base + 4 + i * 8);
    const valueSize = load<u32>(base + 8 + i * 8);
    if (pos + keySize + valueSize + 2 > end) break;
    const key = String.UTF8.decodeUnsafe(pos, keySize);
    pos += keySize + 1;
    const value = String.UTF8.decodeUnsafe(pos, valueSize);
    pos += valueSize + 1;
    result.push(new Header(key, value));
  }
  return result;
}

// ---------------------------------------------------------------------------
// Logging.

export function log(level: LogLevel, message: string): void {
  const data = utf8(message);
  proxy_log(level, ptr(data), data.byteLength);
}
export function logTrace(message: string): void { log(LogLevel.Trace, message); }
export function logDebug(message: string): void { log(LogLevel.Debug, message); }
export function logInfo(message: string): void { log(LogLevel.Info, message); }
export function logWarn(message: string): void { log(LogLevel.Warn, message); }
export function logError(message: string): void { log(LogLevel.Error, message); }
export function logCritical(message: string): void { log(LogLevel.Critical, message); }

/** Used through `--use abort=...`: Envoy has no `env.abort`, so log the failure and trap. */
export function abortHandler(message: string | null, fileName: string | null, line: u32, column: u32): void {
  const text = "abort: " + (message !== null ? message : "") + " at " +
    (fileName !== null ? fileName : "?") + ":" + line.toString() + ":" + column.toString();
  log(LogLevel.Critical, text);
  unreachable();
}

// ---------------------------------------------------------------------------
// Header maps.

export function getHeaderMapPairs(map: MapType): Array<Header> {
  clearReturnWords();
  if (proxy_get_header_map_pairs(map, RETURN_WORD_0, RETURN_WORD_1) != Status.Ok) return new Array<Header>();
  return deserializeHeaders(takeReturnedBuffer());
}

export function setHeaderMapPairs(map: MapType, headers: Array<Header>): Status {
  const data = serializeHeaders(headers);
  return proxy_set_header_map_pairs(map, ptr(data), data.byteLength);
}

export function getHeaderMapValue(map: MapType, key: string): string | null {
  const name = utf8(key);
  clearReturnWords();
  if (proxy_get_header_map_value(map, ptr(name), name.byteLength, RETURN_WORD_0, RETURN_WORD_1) != Status.Ok) {
    return null;
  }
  return String.UTF8.decode(takeReturnedBuffer());
}

export function replaceHeaderMapValue(map: MapType, key: string, value: string): Status {
  const name = utf8(key);
  const data = utf8(value);
  return proxy_replace_header_map_value(map, ptr(name), name.byteLength, ptr(data), data.byteLength);
}

export function addHeaderMapValue(map: MapType, key: string, value: string): Status {
  const name = utf8(key);
  const data = utf8(value);
  return proxy_add_header_map_value(map, ptr(name), name.byteLength, ptr(data), data.byteLength);
}

export function removeHeaderMapValue(map: MapType, key: string): Status {
  const name = utf8(key);
  return proxy_remove_header_map_value(map, ptr(name), name.byteLength);
}

// ---------------------------------------------------------------------------
// Buffers: bodies, configurations, callout responses.

export function getBufferBytes(buffer: BufferType, start: u32, maxSize: u32): ArrayBuffer | null {
  clearReturnWords();
  if (proxy_get_buffer_bytes(buffer, start, maxSize, RETURN_WORD_0, RETURN_WORD_1) != Status.Ok) return null;
  return takeReturnedBuffer();
}

/** Size of a buffer, or -1 when the host has none. */
export function getBufferSize(buffer: BufferType): i64 {
  clearReturnWords();
  if (proxy_get_buffer_status(buffer, RETURN_WORD_0, RETURN_WORD_1) != Status.Ok) return -1;
  return <i64>load<u32>(RETURN_WORD_0);
}

export function setBufferBytes(buffer: BufferType, start: u32, size: u32, value: ArrayBuffer): Status {
  return proxy_set_buffer_bytes(buffer, start, size, ptr(value), value.byteLength);
}

function wholeBuffer(buffer: BufferType): ArrayBuffer | null {
  const size = getBufferSize(buffer);
  if (size <= 0) return size == 0 ? new ArrayBuffer(0) : null;
  return getBufferBytes(buffer, 0, <u32>size);
}

// ---------------------------------------------------------------------------
// Properties: a path is a list of segments, sent NUL-separated.

function serializePath(path: Array<string>): ArrayBuffer {
  let joined = "";
  for (let i = 0; i < path.length; i++) {
    if (i > 0) joined += "\0";
    joined += path[i];
  }
  return utf8(joined);
}

export function getProperty(path: Array<string>): ArrayBuffer | null {
  const data = serializePath(path);
  clearReturnWords();
  if (proxy_get_property(ptr(data), data.byteLength, RETURN_WORD_0, RETURN_WORD_1) != Status.Ok) return null;
  return takeReturnedBuffer();
}

export function setProperty(path: Array<string>, value: ArrayBuffer): Status {
  const data = serializePath(path);
  return proxy_set_property(ptr(data), data.byteLength, ptr(value), value.byteLength);
}

// ---------------------------------------------------------------------------
// Metrics.

/** Define a metric; returns its id, or 0 when the host refused the definition. */
export function defineMetric(type: MetricType, name: string): u32 {
  const data = utf8(name);
  store<u32>(RETURN_WORD_0, 0);
  if (proxy_define_metric(type, ptr(data), data.byteLength, RETURN_WORD_0) != Status.Ok) return 0;
  return load<u32>(RETURN_WORD_0);
}
export function incrementMetric(metricId: u32, delta: i64): Status { return proxy_increment_metric(metricId, delta); }
export function recordMetric(metricId: u32, value: u64): Status { return proxy_record_metric(metricId, value); }
export function getMetric(metricId: u32): u64 {
  store<u64>(RETURN_WORD_0, 0);
  proxy_get_metric(metricId, RETURN_WORD_0);
  return load<u64>(RETURN_WORD_0);
}

export class Counter {
  readonly id: u32;
  constructor(name: string) { this.id = defineMetric(MetricType.Counter, name); }
  increment(delta: i64 = 1): void { incrementMetric(this.id, delta); }
  get value(): u64 { return getMetric(this.id); }
}
export class Gauge {
  readonly id: u32;
  constructor(name: string) { this.id = defineMetric(MetricType.Gauge, name); }
  record(value: u64): void { recordMetric(this.id, value); }
  increment(delta: i64): void { incrementMetric(this.id, delta); }
  get value(): u64 { return getMetric(this.id); }
}
export class Histogram {
  readonly id: u32;
  constructor(name: string) { this.id = defineMetric(MetricType.Histogram, name); }
  record(value: u64): void { recordMetric(this.id, value); }
}

// ---------------------------------------------------------------------------
// Local replies, stream control, ticks, callouts.

export function sendHttpResponse(statusCode: u32, headers: Array<Header>, body: ArrayBuffer | null,
                                 details: string = ""): Status {
  const payload = body !== null ? body : new ArrayBuffer(0);
  const detailBytes = utf8(details);
  const headerBytes = serializeHeaders(headers);
  return proxy_send_local_response(statusCode, ptr(detailBytes), detailBytes.byteLength,
    ptr(payload), payload.byteLength, ptr(headerBytes), headerBytes.byteLength, NO_GRPC_STATUS);
}

export function continueStream(stream: StreamType): Status { return proxy_continue_stream(stream); }
export function setTickPeriod(milliseconds: u32): Status { return proxy_set_tick_period_milliseconds(milliseconds); }
export function done(): Status { return proxy_done(); }

/** Start an HTTP callout to the Envoy cluster `upstream`; the call id, or -1 when refused. */
export function dispatchHttpCall(upstream: string, headers: Array<Header>, body: ArrayBuffer | null,
                                 trailers: Array<Header>, timeoutMilliseconds: u32): i64 {
  const cluster = utf8(upstream);
  const headerBytes = serializeHeaders(headers);
  const trailerBytes = serializeHeaders(trailers);
  const payload = body !== null ? body : new ArrayBuffer(0);
  store<u32>(RETURN_WORD_0, 0);
  const status = proxy_http_call(ptr(cluster), cluster.byteLength, ptr(headerBytes),
    headerBytes.byteLength, ptr(payload), payload.byteLength, ptr(trailerBytes), trailerBytes.byteLength,
    timeoutMilliseconds, RETURN_WORD_0);
  if (status != Status.Ok) return -1;
  const callId = load<u32>(RETURN_WORD_0);
  callouts.set(callId, activeContextId);
  return <i64>callId;
}

// Envoy answers a callout on the root context; the binding hands the answer to the context
// that made the call (as the Rust SDK does), after making it the effective context.
let activeContextId: u32 = 0;
const callouts = new Map<u32, u32>();

export function setActiveContext(contextId: u32): void {
  activeContextId = contextId;
}

export function calloutOwner(callId: u32, contextId: u32): u32 {
  if (!callouts.has(callId)) return contextId;
  const owner = callouts.get(callId);
  callouts.delete(callId);
  if (owner != contextId) proxy_set_effective_context(owner);
  return owner;
}

// ---------------------------------------------------------------------------
// Contexts (names follow proxy-wasm-rust-sdk's traits, in camelCase).

export class Context {
  constructor(public readonly contextId: u32) {}
  /** Return false to finish later with `done()`. */
  onDone(): bool { return true; }
  onLog(): void {}
  onDelete(): void {}
  onHttpCallResponse(callId: u32, numHeaders: u32, bodySize: u32, numTrailers: u32): void {}

  getHttpCallResponseHeaders(): Array<Header> { return getHeaderMapPairs(MapType.HttpCallResponseHeaders); }
  getHttpCallResponseHeader(name: string): string | null {
    return getHeaderMapValue(MapType.HttpCallResponseHeaders, name);
  }
  getHttpCallResponseBody(start: u32, maxSize: u32): ArrayBuffer | null {
    return getBufferBytes(BufferType.HttpCallResponseBody, start, maxSize);
  }
  dispatchHttpCall(upstream: string, headers: Array<Header>, body: ArrayBuffer | null,
                   trailers: Array<Header>, timeoutMilliseconds: u32): i64 {
    return dispatchHttpCall(upstream, headers, body, trailers, timeoutMilliseconds);
  }
  getProperty(path: Array<string>): ArrayBuffer | null { return getProperty(path); }
  setProperty(path: Array<string>, value: ArrayBuffer): Status { return setProperty(path, value); }
}

export class RootContext extends Context {
  onVmStart(vmConfigurationSize: u32): bool { return true; }
  onConfigure(pluginConfigurationSize: u32): bool { return true; }
  onTick(): void {}
  /** Return the context for a new HTTP stream, or null to leave the stream alone. */
  createHttpContext(contextId: u32): HttpContext | null { return null; }

  getVmConfiguration(): ArrayBuffer | null { return wholeBuffer(BufferType.VmConfiguration); }
  getPluginConfiguration(): ArrayBuffer | null { return wholeBuffer(BufferType.PluginConfiguration); }
  setTickPeriod(milliseconds: u32): void { setTickPeriod(milliseconds); }
}

export class HttpContext extends Context {
  onHttpRequestHeaders(numHeaders: u32, endOfStream: bool): Action { return Action.Continue; }
  onHttpRequestBody(bodySize: u32, endOfStream: bool): Action { return Action.Continue; }
  onHttpRequestTrailers(numTrailers: u32): Action { return Action.Continue; }
  onHttpResponseHeaders(numHeaders: u32, endOfStream: bool): Action { return Action.Continue; }
  onHttpResponseBody(bodySize: u32, endOfStream: bool): Action { return Action.Continue; }
  onHttpResponseTrailers(numTrailers: u32): Action { return Action.Continue; }

  getHttpRequestHeaders(): Array<Header> { return getHeaderMapPairs(MapType.HttpRequestHeaders); }
  setHttpRequestHeaders(headers: Array<Header>): void { setHeaderMapPairs(MapType.HttpRequestHeaders, headers); }
  getHttpRequestHeader(name: string): string | null { return getHeaderMapValue(MapType.HttpRequestHeaders, name); }
  setHttpRequestHeader(name: string, value: string | null): void {
    if (value === null) removeHeaderMapValue(MapType.HttpRequestHeaders, name);
    else replaceHeaderMapValue(MapType.HttpRequestHeaders, name, value);
  }
  addHttpRequestHeader(name: string, value: string): void { addHeaderMapValue(MapType.HttpRequestHeaders, name, value); }
  removeHttpRequestHeader(name: string): void { removeHeaderMapValue(MapType.HttpRequestHeaders, name); }

  getHttpRequestTrailers(): Array<Header> { return getHeaderMapPairs(MapType.HttpRequestTrailers); }
  getHttpRequestTrailer(name: string): string | null { return getHeaderMapValue(MapType.HttpRequestTrailers, name); }
  setHttpRequestTrailer(name: string, value: string | null): void {
    if (value === null) removeHeaderMapValue(MapType.HttpRequestTrailers, name);
    else replaceHeaderMapValue(MapType.HttpRequestTrailers, name, value);
  }
  setHttpRequestTrailers(trailers: Array<Header>): void { setHeaderMapPairs(MapType.HttpRequestTrailers, trailers); }
  addHttpRequestTrailer(name: string, value: string): void { addHeaderMapValue(MapType.HttpRequestTrailers, name, value); }
  removeHttpRequestTrailer(name: string): void { removeHeaderMapValue(MapType.HttpRequestTrailers, name); }

  getHttpResponseHeaders(): Array<Header> { return getHeaderMapPairs(MapType.HttpResponseHeaders); }
  setHttpResponseHeaders(headers: Array<Header>): void { setHeaderMapPairs(MapType.HttpResponseHeaders, headers); }
  getHttpResponseHeader(name: string): string | null { return getHeaderMapValue(MapType.HttpResponseHeaders, name); }
  setHttpResponseHeader(name: string, value: string | null): void {
    if (value === null) removeHeaderMapValue(MapType.HttpResponseHeaders, name);
    else replaceHeaderMapValue(MapType.HttpResponseHeaders, name, value);
  }
  addHttpResponseHeader(name: string, value: string): void { addHeaderMapValue(MapType.HttpResponseHeaders, name, value); }
  removeHttpResponseHeader(name: string): void { removeHeaderMapValue(MapType.HttpResponseHeaders, name); }

  getHttpResponseTrailers(): Array<Header> { return getHeaderMapPairs(MapType.HttpResponseTrailers); }
  getHttpResponseTrailer(name: string): string | null { return getHeaderMapValue(MapType.HttpResponseTrailers, name); }
  setHttpResponseTrailer(name: string, value: string | null): void {
    if (value === null) removeHeaderMapValue(MapType.HttpResponseTrailers, name);
    else replaceHeaderMapValue(MapType.HttpResponseTrailers, name, value);
  }
  setHttpResponseTrailers(trailers: Array<Header>): void { setHeaderMapPairs(MapType.HttpResponseTrailers, trailers); }
  addHttpResponseTrailer(name: string, value: string): void { addHeaderMapValue(MapType.HttpResponseTrailers, name, value); }
  removeHttpResponseTrailer(name: string): void { removeHeaderMapValue(MapType.HttpResponseTrailers, name); }

  getHttpRequestBody(start: u32, maxSize: u32): ArrayBuffer | null {
    return getBufferBytes(BufferType.HttpRequestBody, start, maxSize);
  }
  setHttpRequestBody(start: u32, size: u32, value: ArrayBuffer): void {
    setBufferBytes(BufferType.HttpRequestBody, start, size, value);
  }
  getHttpResponseBody(start: u32, maxSize: u32): ArrayBuffer | null {
    return getBufferBytes(BufferType.HttpResponseBody, start, maxSize);
  }
  setHttpResponseBody(start: u32, size: u32, value: ArrayBuffer): void {
    setBufferBytes(BufferType.HttpResponseBody, start, size, value);
  }

  resumeHttpRequest(): void { continueStream(StreamType.HttpRequest); }
  resumeHttpResponse(): void { continueStream(StreamType.HttpResponse); }
  sendHttpResponse(statusCode: u32, headers: Array<Header>, body: ArrayBuffer | null): void {
    sendHttpResponse(statusCode, headers, body);
  }
}

// ---------------------------------------------------------------------------
// The context table the exported callbacks dispatch through.

type RootFactory = (contextId: u32) => RootContext;

const rootFactories = new Map<string, RootFactory>();
const rootContexts = new Map<u32, RootContext>();
const httpContexts = new Map<u32, HttpContext>();

/**
 * Register the root context factory for `rootId` (Envoy's `root_id`); "" matches any root id
 * no other factory claims. Call at module level: it makes no host calls.
 */
export function registerRootContext(factory: RootFactory, rootId: string = ""): void {
  rootFactories.set(rootId, factory);
}

function factoryFor(contextId: u32): RootFactory | null {
  const property = getProperty(["plugin_root_id"]);
  const rootId = property !== null ? String.UTF8.decode(property) : "";
  if (rootFactories.has(rootId)) return rootFactories.get(rootId);
  if (rootFactories.has("")) return rootFactories.get("");
  const keys = rootFactories.keys();
  if (keys.length == 1) return rootFactories.get(keys[0]);
  return null;
}

export function dispatchContextCreate(contextId: u32, parentContextId: u32): void {
  if (parentContextId == 0) {
    const factory = factoryFor(contextId);
    rootContexts.set(contextId, factory !== null ? factory(contextId) : new RootContext(contextId));
    return;
  }
  if (!rootContexts.has(parentContextId)) return;
  const http = rootContexts.get(parentContextId).createHttpContext(contextId);
  if (http !== null) httpContexts.set(contextId, http);
}

export function findContext(contextId: u32): Context | null {
  if (httpContexts.has(contextId)) return httpContexts.get(contextId);
  if (rootContexts.has(contextId)) return rootContexts.get(contextId);
  return null;
}
export function findRoot(contextId: u32): RootContext | null {
  return rootContexts.has(contextId) ? rootContexts.get(contextId) : null;
}
export function findHttp(contextId: u32): HttpContext | null {
  return httpContexts.has(contextId) ? httpContexts.get(contextId) : null;
}
export function forgetContext(contextId: u32): void {
  httpContexts.delete(contextId);
  rootContexts.delete(contextId);
}
