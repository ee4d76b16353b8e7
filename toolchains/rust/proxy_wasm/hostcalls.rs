//! Safe wrappers over the `env.proxy_*` imports declared in `abi.rs`.

use std::cell::Cell;
use std::ptr::null_mut;
use std::time::Duration;

use super::abi;
use super::types::*;

thread_local! {
    static MINIMUM_LOG_LEVEL: Cell<u32> = Cell::new(LogLevel::Trace as u32);
}

pub(crate) fn set_minimum_log_level(level: LogLevel) {
    MINIMUM_LOG_LEVEL.with(|minimum| minimum.set(level as u32));
}

fn check(status: u32) -> Result<(), Status> {
    match status {
        0 => Ok(()),
        1 => Err(Status::NotFound),
        2 => Err(Status::BadArgument),
        3 => Err(Status::SerializationFailure),
        4 => Err(Status::ParseFailure),
        6 => Err(Status::InvalidMemoryAccess),
        7 => Err(Status::Empty),
        8 => Err(Status::CasMismatch),
        12 => Err(Status::Unimplemented),
        _ => Err(Status::InternalFailure),
    }
}

/// Take ownership of memory the host filled through `proxy_on_memory_allocate`.
unsafe fn take_host_bytes(data: *mut u8, size: usize) -> Bytes {
    if data.is_null() {
        Vec::new()
    } else {
        Vec::from_raw_parts(data, size, size)
    }
}

pub fn log(level: LogLevel, message: &str) -> Result<(), Status> {
    if (level as u32) < MINIMUM_LOG_LEVEL.with(|minimum| minimum.get()) {
        return Ok(());
    }
    check(unsafe { abi::proxy_log(level as u32, message.as_ptr(), message.len()) })
}

pub fn serialize_map(pairs: &[(&str, &str)]) -> Bytes {
    let mut size = 4 + pairs.len() * 8;
    for (name, value) in pairs {
        size += name.len() + value.len() + 2;
    }
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(&(pairs.len() as u32).to_le_bytes());
    for (name, value) in pairs {
        out.extend_from_slice(&(name.len() as u32).to_le_bytes());
        out.extend_from_slice(&(value.len() as u32).to_le_bytes());
    }
    for (name, value) in pairs {
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        out.extend_from_slice(value.as_bytes());
        out.push(0);
    }
    out
}

pub fn deserialize_map(bytes: &[u8]) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    if bytes.len() < 4 {
        return pairs;
    }
    let word = |at: usize| u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize;
    let count = word(0);
    if 4 + count * 8 > bytes.len() {
        return pairs;
    }
    let mut position = 4 + count * 8;
    for index in 0..count {
        let name_size = word(4 + index * 8);
        let value_size = word(8 + index * 8);
        if position + name_size + value_size + 2 > bytes.len() {
            break;
        }
        let name = String::from_utf8_lossy(&bytes[position..position + name_size]).into_owned();
        position += name_size + 1;
        let value = String::from_utf8_lossy(&bytes[position..position + value_size]).into_owned();
        position += value_size + 1;
        pairs.push((name, value));
    }
    pairs
}

pub fn get_map(map_type: MapType) -> Result<Vec<(String, String)>, Status> {
    let mut data: *mut u8 = null_mut();
    let mut size: usize = 0;
    check(unsafe { abi::proxy_get_header_map_pairs(map_type as u32, &mut data, &mut size) })?;
    Ok(deserialize_map(&unsafe { take_host_bytes(data, size) }))
}

pub fn set_map(map_type: MapType, pairs: Vec<(&str, &str)>) -> Result<(), Status> {
    let data = serialize_map(&pairs);
    check(unsafe { abi::proxy_set_header_map_pairs(map_type as u32, data.as_ptr(), data.len()) })
}

pub fn get_map_value(map_type: MapType, name: &str) -> Result<Option<String>, Status> {
    let mut data: *mut u8 = null_mut();
    let mut size: usize = 0;
    let status = unsafe {
        abi::proxy_get_header_map_value(map_type as u32, name.as_ptr(), name.len(), &mut data, &mut size)
    };
    match check(status) {
        Ok(()) => Ok(Some(String::from_utf8_lossy(&unsafe { take_host_bytes(data, size) }).into_owned())),
        Err(Status::NotFound) => Ok(None),
        Err(error) => Err(error),
    }
}

pub fn set_map_value(map_type: MapType, name: &str, value: Option<&str>) -> Result<(), Status> {
    match value {
        Some(value) => check(unsafe {
            abi::proxy_replace_header_map_value(map_type as u32, name.as_ptr(), name.len(), value.as_ptr(), value.len())
        }),
        None => remove_map_value(map_type, name),
    }
}

pub fn add_map_value(map_type: MapType, name: &str, value: &str) -> Result<(), Status> {
    check(unsafe {
        abi::proxy_add_header_map_value(map_type as u32, name.as_ptr(), name.len(), value.as_ptr(), value.len())
    })
}

pub fn remove_map_value(map_type: MapType, name: &str) -> Result<(), Status> {
    check(unsafe { abi::proxy_remove_header_map_value(map_type as u32, name.as_ptr(), name.len()) })
}

pub fn get_buffer(buffer_type: BufferType, start: usize, max_size: usize) -> Result<Option<Bytes>, Status> {
    let mut data: *mut u8 = null_mut();
    let mut size: usize = 0;
    let status = unsafe { abi::proxy_get_buffer_bytes(buffer_type as u32, start as u32, max_size, &mut data, &mut size) };
    match check(status) {
        Ok(()) => Ok(if data.is_null() { None } else { Some(unsafe { take_host_bytes(data, size) }) }),
        Err(Status::NotFound) => Ok(None),
        Err(error) => Err(error),
    }
}

pub fn get_buffer_size(buffer_type: BufferType) -> Result<usize, Status> {
    let mut size: usize = 0;
    let mut flags: u32 = 0;
    check(unsafe { abi::proxy_get_buffer_status(buffer_type as u32, &mut size, &mut flags) })?;
    Ok(size)
}

pub fn set_buffer(buffer_type: BufferType, start: usize, size: usize, value: &[u8]) -> Result<(), Status> {
    check(unsafe { abi::proxy_set_buffer_bytes(buffer_type as u32, start as u32, size as u32, value.as_ptr(), value.len()) })
}

/// The whole buffer (configuration, callout body), or None when the host has none.
pub fn get_whole_buffer(buffer_type: BufferType) -> Option<Bytes> {
    match get_buffer_size(buffer_type) {
        Ok(0) => Some(Vec::new()),
        Ok(size) => get_buffer(buffer_type, 0, size).ok().flatten(),
        Err(_) => None,
    }
}

pub fn send_http_response(status_code: u32, headers: Vec<(&str, &str)>, body: Option<&[u8]>) -> Result<(), Status> {
    let serialized = serialize_map(&headers);
    let body = body.unwrap_or(&[]);
    check(unsafe {
        abi::proxy_send_local_response(status_code, std::ptr::null(), 0, body.as_ptr(), body.len(),
            serialized.as_ptr(), serialized.len(), abi::NO_GRPC_STATUS)
    })
}

pub fn resume_http_request() -> Result<(), Status> {
    check(unsafe { abi::proxy_continue_stream(StreamType::HttpRequest as u32) })
}

pub fn resume_http_response() -> Result<(), Status> {
    check(unsafe { abi::proxy_continue_stream(StreamType::HttpResponse as u32) })
}

pub fn set_tick_period(period: Duration) -> Result<(), Status> {
    check(unsafe { abi::proxy_set_tick_period_milliseconds(period.as_millis() as u32) })
}

pub fn done() -> Result<(), Status> {
    check(unsafe { abi::proxy_done() })
}

fn serialize_path(path: &[&str]) -> Bytes {
    path.join("\0").into_bytes()
}

pub fn get_property(path: Vec<&str>) -> Result<Option<Bytes>, Status> {
    let serialized = serialize_path(&path);
    let mut data: *mut u8 = null_mut();
    let mut size: usize = 0;
    match check(unsafe { abi::proxy_get_property(serialized.as_ptr(), serialized.len(), &mut data, &mut size) }) {
        Ok(()) => Ok(Some(unsafe { take_host_bytes(data, size) })),
        Err(Status::NotFound) => Ok(None),
        Err(error) => Err(error),
    }
}

pub fn set_property(path: Vec<&str>, value: Option<&[u8]>) -> Result<(), Status> {
    let serialized = serialize_path(&path);
    let value = value.unwrap_or(&[]);
    check(unsafe { abi::proxy_set_property(serialized.as_ptr(), serialized.len(), value.as_ptr(), value.len()) })
}

pub fn define_metric(metric_type: MetricType, name: &str) -> Result<u32, Status> {
    let mut id: u32 = 0;
    check(unsafe { abi::proxy_define_metric(metric_type as u32, name.as_ptr(), name.len(), &mut id) })?;
    Ok(id)
}

pub fn increment_metric(metric_id: u32, offset: i64) -> Result<(), Status> {
    check(unsafe { abi::proxy_increment_metric(metric_id, offset) })
}

pub fn record_metric(metric_id: u32, value: u64) -> Result<(), Status> {
    check(unsafe { abi::proxy_record_metric(metric_id, value) })
}

pub fn get_metric(metric_id: u32) -> Result<u64, Status> {
    let mut value: u64 = 0;
    check(unsafe { abi::proxy_get_metric(metric_id, &mut value) })?;
    Ok(value)
}

pub fn dispatch_http_call(upstream: &str, headers: Vec<(&str, &str)>, body: Option<&[u8]>,
                          trailers: Vec<(&str, &str)>, timeout: Duration) -> Result<u32, Status> {
    let headers = serialize_map(&headers);
    let trailers = serialize_map(&trailers);
    let body = body.unwrap_or(&[]);
    let mut token: u32 = 0;
    check(unsafe {
        abi::proxy_http_call(upstream.as_ptr(), upstream.len(), headers.as_ptr(), headers.len(),
            body.as_ptr(), body.len(), trailers.as_ptr(), trailers.len(), timeout.as_millis() as u32, &mut token)
    })?;
    super::dispatcher::register_callout(token);
    Ok(token)
}

pub fn set_effective_context(context_id: u32) -> Result<(), Status> {
    check(unsafe { abi::proxy_set_effective_context(context_id) })
}
