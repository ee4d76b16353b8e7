//! proxywasm-python's dependency-free Proxy-Wasm ABI 0.2.1 binding for Rust.
//!
//! It mirrors the part of the `proxy-wasm` crate's API a filter usually needs (same module
//! paths `proxy_wasm::traits`, `proxy_wasm::types`, `proxy_wasm::hostcalls`, same trait and
//! method names), so moving to the crate means deleting `mod proxy_wasm;` from lib.rs and
//! adding `proxy-wasm = "0.2"` to Cargo.toml. `abi.rs` is generated from proxywasm.abi.
#![allow(dead_code)]

pub mod abi;
pub mod hostcalls;
pub mod traits;
pub mod types;

mod dispatcher;

use types::{LogLevel, NewRootContext};

/// Register the factory that makes the root context of each plugin. Makes no host calls.
pub fn set_root_context(factory: NewRootContext) {
    dispatcher::set_root_context(factory);
}

/// Set the minimum level of `hostcalls::log` output and log panics through `proxy_log`.
pub fn set_log_level(level: LogLevel) {
    hostcalls::set_minimum_log_level(level);
    std::panic::set_hook(Box::new(|info| {
        let _ = hostcalls::log(LogLevel::Critical, &info.to_string());
    }));
}

/// `proxy_wasm::main! {{ ... }}`: the code that registers the root context. It becomes the
/// reactor entry `_initialize`, which the host runs once per VM before any callback.
macro_rules! main {
    ($code:block) => {
        #[no_mangle]
        pub extern "C" fn _initialize() {
            $code
        }
    };
}
pub(crate) use main;

#[no_mangle]
pub extern "C" fn proxy_abi_version_0_2_1() {}

#[no_mangle]
pub extern "C" fn proxy_on_memory_allocate(size: usize) -> *mut u8 {
    let mut buffer: Vec<u8> = Vec::with_capacity(size);
    let pointer = buffer.as_mut_ptr();
    std::mem::forget(buffer);
    pointer
}
