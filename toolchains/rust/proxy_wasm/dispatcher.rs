//! The exported `proxy_on_*` callbacks and the context table they dispatch through.
//!
//! A context is taken out of its table while its callback runs, so a callback may freely make
//! host calls that re-enter the module (e.g. allocation) without double borrows.

use std::cell::RefCell;
use std::collections::HashMap;

use super::traits::{HttpContext, RootContext};
use super::types::*;

thread_local! {
    static ROOT_FACTORY: RefCell<Option<NewRootContext>> = RefCell::new(None);
    static ROOTS: RefCell<HashMap<u32, Box<dyn RootContext>>> = RefCell::new(HashMap::new());
    static STREAMS: RefCell<HashMap<u32, Box<dyn HttpContext>>> = RefCell::new(HashMap::new());
    static ACTIVE_CONTEXT: std::cell::Cell<u32> = std::cell::Cell::new(0);
    static CALLOUTS: RefCell<HashMap<u32, u32>> = RefCell::new(HashMap::new());
}

/// Remember which context made callout `token`: Envoy answers callouts on the root context.
pub(crate) fn register_callout(token: u32) {
    let owner = ACTIVE_CONTEXT.with(|active| active.get());
    CALLOUTS.with(|callouts| callouts.borrow_mut().insert(token, owner));
}

pub(crate) fn set_root_context(factory: NewRootContext) {
    ROOT_FACTORY.with(|slot| *slot.borrow_mut() = Some(factory));
}

fn with_root<T>(context_id: u32, default: T, call: impl FnOnce(&mut dyn RootContext) -> T) -> T {
    ACTIVE_CONTEXT.with(|active| active.set(context_id));
    let taken = ROOTS.with(|roots| roots.borrow_mut().remove(&context_id));
    match taken {
        Some(mut root) => {
            let result = call(root.as_mut());
            ROOTS.with(|roots| roots.borrow_mut().insert(context_id, root));
            result
        }
        None => default,
    }
}

fn with_http<T>(context_id: u32, default: T, call: impl FnOnce(&mut dyn HttpContext) -> T) -> T {
    ACTIVE_CONTEXT.with(|active| active.set(context_id));
    let taken = STREAMS.with(|streams| streams.borrow_mut().remove(&context_id));
    match taken {
        Some(mut http) => {
            let result = call(http.as_mut());
            STREAMS.with(|streams| streams.borrow_mut().insert(context_id, http));
            result
        }
        None => default,
    }
}

fn is_http(context_id: u32) -> bool {
    STREAMS.with(|streams| streams.borrow().contains_key(&context_id))
}

fn action(value: Action) -> u32 {
    value as u32
}

#[no_mangle]
pub extern "C" fn proxy_on_context_create(context_id: u32, parent_context_id: u32) {
    if parent_context_id == 0 {
        if let Some(factory) = ROOT_FACTORY.with(|slot| *slot.borrow()) {
            let root = factory(context_id);
            ROOTS.with(|roots| roots.borrow_mut().insert(context_id, root));
        }
        return;
    }
    let http = with_root(parent_context_id, None, |root| root.create_http_context(context_id));
    if let Some(http) = http {
        STREAMS.with(|streams| streams.borrow_mut().insert(context_id, http));
    }
}

#[no_mangle]
pub extern "C" fn proxy_on_vm_start(context_id: u32, vm_configuration_size: usize) -> u32 {
    with_root(context_id, true, |root| root.on_vm_start(vm_configuration_size)) as u32
}

#[no_mangle]
pub extern "C" fn proxy_on_configure(context_id: u32, plugin_configuration_size: usize) -> u32 {
    with_root(context_id, true, |root| root.on_configure(plugin_configuration_size)) as u32
}

#[no_mangle]
pub extern "C" fn proxy_on_tick(context_id: u32) {
    with_root(context_id, (), |root| root.on_tick())
}

#[no_mangle]
pub extern "C" fn proxy_on_done(context_id: u32) -> u32 {
    if is_http(context_id) {
        with_http(context_id, true, |http| http.on_done()) as u32
    } else {
        with_root(context_id, true, |root| root.on_done()) as u32
    }
}

#[no_mangle]
pub extern "C" fn proxy_on_log(context_id: u32) {
    if is_http(context_id) {
        with_http(context_id, (), |http| http.on_log())
    } else {
        with_root(context_id, (), |root| root.on_log())
    }
}

#[no_mangle]
pub extern "C" fn proxy_on_delete(context_id: u32) {
    STREAMS.with(|streams| streams.borrow_mut().remove(&context_id));
    ROOTS.with(|roots| roots.borrow_mut().remove(&context_id));
}

#[no_mangle]
pub extern "C" fn proxy_on_request_headers(context_id: u32, num_headers: usize, end_of_stream: u32) -> u32 {
    action(with_http(context_id, Action::Continue, |http| http.on_http_request_headers(num_headers, end_of_stream != 0)))
}

#[no_mangle]
pub extern "C" fn proxy_on_request_body(context_id: u32, body_size: usize, end_of_stream: u32) -> u32 {
    action(with_http(context_id, Action::Continue, |http| http.on_http_request_body(body_size, end_of_stream != 0)))
}

#[no_mangle]
pub extern "C" fn proxy_on_request_trailers(context_id: u32, num_trailers: usize) -> u32 {
    action(with_http(context_id, Action::Continue, |http| http.on_http_request_trailers(num_trailers)))
}

#[no_mangle]
pub extern "C" fn proxy_on_response_headers(context_id: u32, num_headers: usize, end_of_stream: u32) -> u32 {
    action(with_http(context_id, Action::Continue, |http| http.on_http_response_headers(num_headers, end_of_stream != 0)))
}

#[no_mangle]
pub extern "C" fn proxy_on_response_body(context_id: u32, body_size: usize, end_of_stream: u32) -> u32 {
    action(with_http(context_id, Action::Continue, |http| http.on_http_response_body(body_size, end_of_stream != 0)))
}

#[no_mangle]
pub extern "C" fn proxy_on_response_trailers(context_id: u32, num_trailers: usize) -> u32 {
    action(with_http(context_id, Action::Continue, |http| http.on_http_response_trailers(num_trailers)))
}

#[no_mangle]
pub extern "C" fn proxy_on_http_call_response(context_id: u32, token_id: u32, num_headers: usize,
                                              body_size: usize, num_trailers: usize) {
    let owner = CALLOUTS.with(|callouts| callouts.borrow_mut().remove(&token_id)).unwrap_or(context_id);
    if owner != context_id {
        let _ = super::hostcalls::set_effective_context(owner);
    }
    let context_id = owner;
    if is_http(context_id) {
        with_http(context_id, (), |http| http.on_http_call_response(token_id, num_headers, body_size, num_trailers))
    } else {
        with_root(context_id, (), |root| root.on_http_call_response(token_id, num_headers, body_size, num_trailers))
    }
}
