// proxywasm-python's AssemblyScript binding for Proxy-Wasm ABI 0.2.1.
// Import the API from here; re-export "./exports" from the entry file.
export * from "./runtime";
export { JsonObject } from "./json";
