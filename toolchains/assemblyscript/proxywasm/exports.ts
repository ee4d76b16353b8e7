// The Proxy-Wasm 0.2.1 callbacks this binding exports. Re-export them from the entry file:
//   export * from "./proxywasm/exports";

import { Action } from "./abi";
import {
  allocateForHost, calloutOwner, dispatchContextCreate, findContext, findHttp, findRoot, forgetContext,
  setActiveContext,
} from "./runtime";

export function proxy_abi_version_0_2_1(): void {}

export function proxy_on_memory_allocate(size: usize): usize { return allocateForHost(size); }
export function malloc(size: usize): usize { return allocateForHost(size); }

export function proxy_on_context_create(contextId: u32, parentContextId: u32): void {
  dispatchContextCreate(contextId, parentContextId);
}

export function proxy_on_vm_start(rootContextId: u32, vmConfigurationSize: u32): u32 {
  setActiveContext(rootContextId);
  const root = findRoot(rootContextId);
  return root === null || root.onVmStart(vmConfigurationSize) ? 1 : 0;
}

export function proxy_on_configure(rootContextId: u32, pluginConfigurationSize: u32): u32 {
  setActiveContext(rootContextId);
  const root = findRoot(rootContextId);
  return root === null || root.onConfigure(pluginConfigurationSize) ? 1 : 0;
}

export function proxy_on_tick(rootContextId: u32): void {
  setActiveContext(rootContextId);
  const root = findRoot(rootContextId);
  if (root !== null) root.onTick();
}

export function proxy_on_done(contextId: u32): u32 {
  setActiveContext(contextId);
  const context = findContext(contextId);
  return context === null || context.onDone() ? 1 : 0;
}

export function proxy_on_log(contextId: u32): void {
  setActiveContext(contextId);
  const context = findContext(contextId);
  if (context !== null) context.onLog();
}

export function proxy_on_delete(contextId: u32): void {
  setActiveContext(contextId);
  const context = findContext(contextId);
  if (context !== null) context.onDelete();
  forgetContext(contextId);
}

export function proxy_on_request_headers(contextId: u32, numHeaders: u32, endOfStream: u32): u32 {
  setActiveContext(contextId);
  const http = findHttp(contextId);
  return http === null ? Action.Continue : http.onHttpRequestHeaders(numHeaders, endOfStream != 0);
}

export function proxy_on_request_body(contextId: u32, bodySize: u32, endOfStream: u32): u32 {
  setActiveContext(contextId);
  const http = findHttp(contextId);
  return http === null ? Action.Continue : http.onHttpRequestBody(bodySize, endOfStream != 0);
}

export function proxy_on_request_trailers(contextId: u32, numTrailers: u32): u32 {
  setActiveContext(contextId);
  const http = findHttp(contextId);
  return http === null ? Action.Continue : http.onHttpRequestTrailers(numTrailers);
}

export function proxy_on_response_headers(contextId: u32, numHeaders: u32, endOfStream: u32): u32 {
  setActiveContext(contextId);
  const http = findHttp(contextId);
  return http === null ? Action.Continue : http.onHttpResponseHeaders(numHeaders, endOfStream != 0);
}

export function proxy_on_response_body(contextId: u32, bodySize: u32, endOfStream: u32): u32 {
  setActiveContext(contextId);
  const http = findHttp(contextId);
  return http === null ? Action.Continue : http.onHttpResponseBody(bodySize, endOfStream != 0);
}

export function proxy_on_response_trailers(contextId: u32, numTrailers: u32): u32 {
  setActiveContext(contextId);
  const http = findHttp(contextId);
  return http === null ? Action.Continue : http.onHttpResponseTrailers(numTrailers);
}

export function proxy_on_http_call_response(contextId: u32, callId: u32, numHeaders: u32,
                                            bodySize: u32, numTrailers: u32): void {
  const owner = calloutOwner(callId, contextId);
  setActiveContext(owner);
  const context = findContext(owner);
  if (context !== null) context.onHttpCallResponse(callId, numHeaders, bodySize, numTrailers);
}
