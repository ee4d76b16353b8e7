// A Proxy-Wasm (ABI 0.2.1) header filter in plain Go, with no dependencies.
//
// It behaves like tests/c_modules/header_filter.c: the plugin configuration names the
// request header that denies a request (default "x-deny"); a request carrying it gets a
// 403 local reply "denied\n"; responses get the header "x-filter: go".
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o filter.wasm
package main

import "unsafe"

const (
	logInfo  = 2
	logError = 4

	mapHTTPRequestHeaders  = 0
	mapHTTPResponseHeaders = 2

	bufferPluginConfiguration = 7

	statusOK = 0

	actionContinue = 0
	actionPause    = 1
)

//go:wasmimport env proxy_log
func proxyLog(level int32, message unsafe.Pointer, messageSize int32) int32

//go:wasmimport env proxy_get_buffer_bytes
func proxyGetBufferBytes(bufferType int32, start int32, length int32, returnData unsafe.Pointer, returnSize unsafe.Pointer) int32

//go:wasmimport env proxy_get_header_map_value
func proxyGetHeaderMapValue(mapType int32, key unsafe.Pointer, keySize int32, returnData unsafe.Pointer, returnSize unsafe.Pointer) int32

//go:wasmimport env proxy_add_header_map_value
func proxyAddHeaderMapValue(mapType int32, key unsafe.Pointer, keySize int32, value unsafe.Pointer, valueSize int32) int32

//go:wasmimport env proxy_send_local_response
func proxySendLocalResponse(statusCode int32, details unsafe.Pointer, detailsSize int32, body unsafe.Pointer, bodySize int32,
	headers unsafe.Pointer, headersSize int32, grpcStatus int32) int32

// Memory handed to the host stays referenced here until the filter takes it back: Go's
// garbage collector does not move objects, so the address stays valid while it is held.
var allocations = map[uintptr][]byte{}

// The host writes hostcall results here. They are globals rather than locals because the
// host calls malloc (Go code) in the middle of a hostcall, which may grow and move the stack.
var returnData, returnSize uint32

var denyHeader = "x-deny"

func allocate(size int32) uintptr {
	if size <= 0 {
		size = 1
	}
	buffer := make([]byte, size)
	address := uintptr(unsafe.Pointer(&buffer[0]))
	allocations[address] = buffer
	return address
}

// takeReturned copies the host-allocated result of the last hostcall and releases it.
func takeReturned() []byte {
	address := uintptr(returnData)
	buffer, held := allocations[address]
	if !held {
		return nil
	}
	delete(allocations, address)
	return append([]byte(nil), buffer[:returnSize]...)
}

func bytesPointer(data []byte) unsafe.Pointer {
	if len(data) == 0 {
		return nil
	}
	return unsafe.Pointer(&data[0])
}

func stringPointer(text string) unsafe.Pointer {
	return unsafe.Pointer(unsafe.StringData(text))
}

func log(level int32, message string) {
	proxyLog(level, stringPointer(message), int32(len(message)))
}

//go:wasmexport malloc
func malloc(size int32) uintptr { return allocate(size) }

//go:wasmexport proxy_on_memory_allocate
func proxyOnMemoryAllocate(size int32) uintptr { return allocate(size) }

//go:wasmexport proxy_abi_version_0_2_1
func proxyAbiVersion0_2_1() {}

//go:wasmexport proxy_on_context_create
func proxyOnContextCreate(contextID int32, parentContextID int32) {}

//go:wasmexport proxy_on_vm_start
func proxyOnVMStart(rootContextID int32, vmConfigurationSize int32) int32 { return 1 }

//go:wasmexport proxy_on_configure
func proxyOnConfigure(rootContextID int32, pluginConfigurationSize int32) int32 {
	if pluginConfigurationSize > 0 {
		if proxyGetBufferBytes(bufferPluginConfiguration, 0, pluginConfigurationSize,
			unsafe.Pointer(&returnData), unsafe.Pointer(&returnSize)) != statusOK {
			log(logError, "go filter: cannot read the plugin configuration")
			return 0
		}
		config := takeReturned()
		if len(config) == 0 || len(config) >= 128 {
			log(logError, "go filter: the plugin configuration must be a header name")
			return 0
		}
		denyHeader = string(config)
	}
	log(logInfo, "go filter: denying requests with header "+denyHeader)
	return 1
}

//go:wasmexport proxy_on_request_headers
func proxyOnRequestHeaders(contextID int32, numHeaders int32, endOfStream int32) int32 {
	if proxyGetHeaderMapValue(mapHTTPRequestHeaders, stringPointer(denyHeader), int32(len(denyHeader)),
		unsafe.Pointer(&returnData), unsafe.Pointer(&returnSize)) == statusOK {
		takeReturned()
		log(logInfo, "go filter: denied a request")
		details, body := "go_filter_denied", []byte("denied\n")
		proxySendLocalResponse(403, stringPointer(details), int32(len(details)), bytesPointer(body), int32(len(body)),
			nil, 0, -1)
		return actionPause
	}
	return actionContinue
}

//go:wasmexport proxy_on_response_headers
func proxyOnResponseHeaders(contextID int32, numHeaders int32, endOfStream int32) int32 {
	key, value := "x-filter", "go"
	proxyAddHeaderMapValue(mapHTTPResponseHeaders, stringPointer(key), int32(len(key)), stringPointer(value), int32(len(value)))
	return actionContinue
}

//go:wasmexport proxy_on_done
func proxyOnDone(contextID int32) int32 { return 1 }

//go:wasmexport proxy_on_log
func proxyOnLog(contextID int32) {}

//go:wasmexport proxy_on_delete
func proxyOnDelete(contextID int32) {}

// main is never called in a reactor (-buildmode=c-shared); the host calls _initialize.
func main() {}
