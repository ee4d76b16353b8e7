//! Types of the Proxy-Wasm ABI, named as in the `proxy-wasm` crate.

pub use super::abi::{Action, BufferType, LogLevel, MapType, MetricType, PeerType, Status, StreamType};

pub type Bytes = Vec<u8>;

pub type NewRootContext = fn(context_id: u32) -> Box<dyn super::traits::RootContext>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContextType {
    HttpContext,
    StreamContext,
}
