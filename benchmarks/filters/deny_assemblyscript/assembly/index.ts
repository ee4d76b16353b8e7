// The benchmark filter in AssemblyScript, on the project's ABI 0.2.1 binding
// (toolchains/assemblyscript/proxywasm/, copied into assembly/proxywasm/ at build time).
// A request carrying `x-deny` gets a 403 local reply "denied\n"; every other response gets
// `x-filter: assemblyscript`.
import { Action, Header, HttpContext, RootContext, registerRootContext } from "./proxywasm";
export * from "./proxywasm/exports";

class Root extends RootContext {
  createHttpContext(contextId: u32): HttpContext | null {
    return new Deny(contextId);
  }
}

class Deny extends HttpContext {
  denied: bool = false;

  onHttpRequestHeaders(numHeaders: u32, endOfStream: bool): Action {
    if (this.getHttpRequestHeader("x-deny") !== null) {
      this.denied = true;
      this.sendHttpResponse(403, new Array<Header>(), String.UTF8.encode("denied\n"));
      return Action.Pause;
    }
    return Action.Continue;
  }

  onHttpResponseHeaders(numHeaders: u32, endOfStream: bool): Action {
    if (!this.denied) this.addHttpResponseHeader("x-filter", "assemblyscript");
    return Action.Continue;
  }
}

registerRootContext((contextId: u32): RootContext => new Root(contextId));
