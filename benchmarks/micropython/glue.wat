;; Glue that turns MicroPython's emscripten WebAssembly build (npm
;; @micropython/micropython-webassembly-pyscript) into a Proxy-Wasm 0.2.1 module.
;;
;; benchmarks/micropython_probe.py assembles this with wasm-tools and merges it with
;; binaryen's wasm-merge, where this module is named "env" (so it answers MicroPython's
;; `env.*` imports) and MicroPython's module is named "micropython". What it does:
;;   - invoke_*: emscripten's setjmp/longjmp trampolines, as a call_indirect inside a
;;     Wasm exception handler; `_emscripten_throw_longjmp` throws the tag they catch,
;;     exactly what emscripten's JS does with `throw Infinity`, so Python exceptions work.
;;   - __syscall_*: -ENOSYS (-52); JS-proxy imports (the `js` module): trap, never used;
;;   - time and randomness from WASI, which Envoy provides; resize_heap grows memory.
;;   - `_initialize` is emscripten's start-up (stack, C constructors); proxy_on_vm_start is
;;     loadMicroPython's (mp_js_init, proxy_c_init), then runs the Python start snippet and
;;     logs its `on_start()`; each response calls the snippet's `on_request()` and adds its
;;     string result as the response header `x-micropython`.
;; The start snippet is spliced in by the build where the SNIPPET marker stands.
(module
  (type $t_v (func))
  (type $t_vi (func (param i32)))
  (type $t_vii (func (param i32 i32)))
  (type $t_viii (func (param i32 i32 i32)))
  (type $t_viiii (func (param i32 i32 i32 i32)))
  (type $t_i (func (result i32)))
  (type $t_ii (func (param i32) (result i32)))
  (type $t_iii (func (param i32 i32) (result i32)))
  (type $t_iiii (func (param i32 i32 i32) (result i32)))
  (type $t_iiiii (func (param i32 i32 i32 i32) (result i32)))
  (type $t_iiiiii (func (param i32 i32 i32 i32 i32) (result i32)))

  ;; Proxy-Wasm 0.2.1 hostcalls and WASI (both provided by Envoy).
  (import "env" "proxy_log" (func $proxy_log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_add_header_map_value"
    (func $proxy_add_header_map_value (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get"
    (func $clock_time_get (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))

  ;; MicroPython's own exports.
  (import "micropython" "memory" (memory 1))
  (import "micropython" "__indirect_function_table" (table 1 funcref))
  (import "micropython" "__wasm_call_ctors" (func $wasm_call_ctors))
  (import "micropython" "emscripten_stack_init" (func $emscripten_stack_init))
  (import "micropython" "emscripten_stack_get_current" (func $stack_current (result i32)))
  (import "micropython" "_emscripten_stack_restore" (func $stack_restore (param i32)))
  (import "micropython" "_emscripten_stack_alloc" (func $stack_alloc (param i32) (result i32)))
  (import "micropython" "setThrew" (func $setThrew (param i32 i32)))
  (import "micropython" "malloc" (func $malloc (param i32) (result i32)))
  (import "micropython" "free" (func $free (param i32)))
  (import "micropython" "mp_js_init" (func $mp_js_init (param i32 i32)))
  (import "micropython" "proxy_c_init" (func $proxy_c_init))
  (import "micropython" "mp_js_do_exec" (func $mp_js_do_exec (param i32 i32 i32)))
  (import "micropython" "mp_js_do_import" (func $mp_js_do_import (param i32 i32)))
  (import "micropython" "proxy_c_to_js_lookup_attr"
    (func $proxy_c_to_js_lookup_attr (param i32 i32 i32)))
  (import "micropython" "proxy_c_to_js_call" (func $proxy_c_to_js_call (param i32 i32 i32 i32)))

  (tag $longjmp)

  ;; MicroPython's result records (3 x i32): kind, then a value or (length, pointer).
  (global $KIND_EXCEPTION i32 (i32.const -1))
  (global $KIND_STR i32 (i32.const 5))
  (global $KIND_CALLABLE i32 (i32.const 6))
  (global $PYSTACK_WORDS i32 (i32.const 2048))   ;; loadMicroPython's defaults
  (global $HEAP_BYTES i32 (i32.const 1048576))
  (global $LOG_WARN i32 (i32.const 3))
  (global $LOG_ERROR i32 (i32.const 4))
  (global $RESPONSE_HEADERS i32 (i32.const 2))

  (global $started (mut i32) (i32.const 0))
  (global $on_request_ref (mut i32) (i32.const -1))
  (global $result (mut i32) (i32.const 0))        ;; 12-byte result record, malloc'd once
  (global $header_name (mut i32) (i32.const 0))

  (data $header "x-micropython")
  (data $main_name "__main__\00")
  (data $on_start_name "on_start\00")
  (data $on_request_name "on_request\00")
  (data $starting "micropython-probe: starting MicroPython")
  ;;SNIPPET;;

  ;; ---------------------------------------------------------------- emscripten's imports
  (func (export "invoke_v") (param $f i32)
    (local $sp i32)
    (local.set $sp (call $stack_current))
    (block $longjmp_caught
      (try_table (catch $longjmp $longjmp_caught)
        (call_indirect (type $t_v) (local.get $f)))
      (return))
    (call $stack_restore (local.get $sp))
    (call $setThrew (i32.const 1) (i32.const 0)))
  (func (export "invoke_vi") (param $f i32) (param i32)
    (local $sp i32)
    (local.set $sp (call $stack_current))
    (block $longjmp_caught
      (try_table (catch $longjmp $longjmp_caught)
        (call_indirect (type $t_vi) (local.get 1) (local.get $f)))
      (return))
    (call $stack_restore (local.get $sp))
    (call $setThrew (i32.const 1) (i32.const 0)))
  (func (export "invoke_vii") (param $f i32) (param i32 i32)
    (local $sp i32)
    (local.set $sp (call $stack_current))
    (block $longjmp_caught
      (try_table (catch $longjmp $longjmp_caught)
        (call_indirect (type $t_vii) (local.get 1) (local.get 2) (local.get $f)))
      (return))
    (call $stack_restore (local.get $sp))
    (call $setThrew (i32.const 1) (i32.const 0)))
  (func (export "invoke_viii") (param $f i32) (param i32 i32 i32)
    (local $sp i32)
    (local.set $sp (call $stack_current))
    (block $longjmp_caught
      (try_table (catch $longjmp $longjmp_caught)
        (call_indirect (type $t_viii) (local.get 1) (local.get 2) (local.get 3) (local.get $f)))
      (return))
    (call $stack_restore (local.get $sp))
    (call $setThrew (i32.const 1) (i32.const 0)))
  (func (export "invoke_viiii") (param $f i32) (param i32 i32 i32 i32)
    (local $sp i32)
    (local.set $sp (call $stack_current))
    (block $longjmp_caught
      (try_table (catch $longjmp $longjmp_caught)
        (call_indirect (type $t_viiii) (local.get 1) (local.get 2) (local.get 3) (local.get 4) (local.get $f)))
      (return))
    (call $stack_restore (local.get $sp))
    (call $setThrew (i32.const 1) (i32.const 0)))
  (func (export "invoke_i") (param $f i32) (result i32)
    (local $sp i32)
    (local.set $sp (call $stack_current))
    (block $longjmp_caught
      (try_table (result i32) (catch $longjmp $longjmp_caught)
        (call_indirect (type $t_i) (local.get $f)))
      (return))
    (call $stack_restore (local.get $sp))
    (call $setThrew (i32.const 1) (i32.const 0))
    (i32.const 0))
  (func (export "invoke_ii") (param $f i32) (param i32) (result i32)
    (local $sp i32)
    (local.set $sp (call $stack_current))
    (block $longjmp_caught
      (try_table (result i32) (catch $longjmp $longjmp_caught)
        (call_indirect (type $t_ii) (local.get 1) (local.get $f)))
      (return))
    (call $stack_restore (local.get $sp))
    (call $setThrew (i32.const 1) (i32.const 0))
    (i32.const 0))
  (func (export "invoke_iii") (param $f i32) (param i32 i32) (result i32)
    (local $sp i32)
    (local.set $sp (call $stack_current))
    (block $longjmp_caught
      (try_table (result i32) (catch $longjmp $longjmp_caught)
        (call_indirect (type $t_iii) (local.get 1) (local.get 2) (local.get $f)))
      (return))
    (call $stack_restore (local.get $sp))
    (call $setThrew (i32.const 1) (i32.const 0))
    (i32.const 0))
  (func (export "invoke_iiii") (param $f i32) (param i32 i32 i32) (result i32)
    (local $sp i32)
    (local.set $sp (call $stack_current))
    (block $longjmp_caught
      (try_table (result i32) (catch $longjmp $longjmp_caught)
        (call_indirect (type $t_iiii) (local.get 1) (local.get 2) (local.get 3) (local.get $f)))
      (return))
    (call $stack_restore (local.get $sp))
    (call $setThrew (i32.const 1) (i32.const 0))
    (i32.const 0))
  (func (export "invoke_iiiii") (param $f i32) (param i32 i32 i32 i32) (result i32)
    (local $sp i32)
    (local.set $sp (call $stack_current))
    (block $longjmp_caught
      (try_table (result i32) (catch $longjmp $longjmp_caught)
        (call_indirect (type $t_iiiii) (local.get 1) (local.get 2) (local.get 3) (local.get 4) (local.get $f)))
      (return))
    (call $stack_restore (local.get $sp))
    (call $setThrew (i32.const 1) (i32.const 0))
    (i32.const 0))
  (func (export "invoke_iiiiii") (param $f i32) (param i32 i32 i32 i32 i32) (result i32)
    (local $sp i32)
    (local.set $sp (call $stack_current))
    (block $longjmp_caught
      (try_table (result i32) (catch $longjmp $longjmp_caught)
        (call_indirect (type $t_iiiiii) (local.get 1) (local.get 2) (local.get 3) (local.get 4) (local.get 5) (local.get $f)))
      (return))
    (call $stack_restore (local.get $sp))
    (call $setThrew (i32.const 1) (i32.const 0))
    (i32.const 0))
  (func (export "_emscripten_throw_longjmp") (throw $longjmp))
  (func (export "_abort_js") (unreachable))

  (func (export "emscripten_resize_heap") (param $requested i32) (result i32)
    (local $pages i32)
    (local.set $pages (i32.sub
      (i32.wrap_i64 (i64.shr_u (i64.add (i64.extend_i32_u (local.get $requested)) (i64.const 65535))
                               (i64.const 16)))
      (memory.size)))
    (if (i32.le_s (local.get $pages) (i32.const 0)) (then (return (i32.const 1))))
    (i32.ne (memory.grow (local.get $pages)) (i32.const -1)))

  ;; Milliseconds from a WASI clock (0 realtime, 1 monotonic) through an 8-byte stack slot.
  (func $clock_ms (param $clock i32) (result i64)
    (local $sp i32) (local $slot i32) (local $ns i64)
    (local.set $sp (call $stack_current))
    (local.set $slot (call $stack_alloc (i32.const 8)))
    (i64.store (local.get $slot) (i64.const 0))
    (drop (call $clock_time_get (local.get $clock) (i64.const 1000000) (local.get $slot)))
    (local.set $ns (i64.load (local.get $slot)))
    (call $stack_restore (local.get $sp))
    (i64.div_u (local.get $ns) (i64.const 1000000)))
  (func (export "mp_js_ticks_ms") (result i32) (i32.wrap_i64 (call $clock_ms (i32.const 1))))
  (func (export "mp_js_time_ms") (result f64) (f64.convert_i64_u (call $clock_ms (i32.const 0))))
  (func (export "mp_js_random_u32") (result i32)
    (local $sp i32) (local $slot i32) (local $value i32)
    (local.set $sp (call $stack_current))
    (local.set $slot (call $stack_alloc (i32.const 4)))
    (drop (call $random_get (local.get $slot) (i32.const 4)))
    (local.set $value (i32.load (local.get $slot)))
    (call $stack_restore (local.get $sp))
    (local.get $value))

  ;; MicroPython asks whether JS still holds a proxy for an object: never, in Envoy.
  (func (export "js_check_existing") (param i32) (result i32) (i32.const -1))

  ;; The `js` module's bridge to JavaScript objects: there is no JavaScript here.
  (func (export "proxy_convert_mp_to_js_then_js_to_mp_obj_jsside") (param i32) (unreachable))
  (func (export "proxy_convert_mp_to_js_then_js_to_js_then_js_to_mp_obj_jsside") (param i32) (unreachable))
  (func (export "js_get_proxy_js_ref_info") (param i32) (unreachable))
  (func (export "call0_kwarg") (param i32 i32 i32 i32 i32 i32) (unreachable))
  (func (export "calln_kwarg") (param i32 i32 i32 i32 i32 i32 i32 i32) (unreachable))
  (func (export "call1") (param i32 i32 i32 i32) (result i32) (unreachable))
  (func (export "call2") (param i32 i32 i32 i32 i32) (result i32) (unreachable))
  (func (export "calln") (param i32 i32 i32 i32 i32) (result i32) (unreachable))
  (func (export "call0") (param i32 i32) (unreachable))
  (func (export "lookup_attr") (param i32 i32 i32) (result i32) (unreachable))
  (func (export "store_attr") (param i32 i32 i32) (unreachable))
  (func (export "js_subscr_load") (param i32 i32 i32) (unreachable))
  (func (export "js_subscr_store") (param i32 i32 i32) (unreachable))
  (func (export "has_attr") (param i32 i32) (result i32) (unreachable))
  (func (export "js_get_iter") (param i32 i32) (unreachable))
  (func (export "proxy_js_free_obj") (param i32) (unreachable))
  (func (export "js_reflect_construct") (param i32 i32 i32 i32) (unreachable))
  (func (export "js_iter_next") (param i32 i32) (result i32) (unreachable))
  (func (export "js_get_error_info") (param i32 i32 i32) (unreachable))
  (func (export "js_then_resolve") (param i32 i32) (unreachable))
  (func (export "create_promise") (param i32 i32) (unreachable))
  (func (export "js_then_continue") (param i32 i32 i32 i32 i32) (unreachable))
  (func (export "js_then_reject") (param i32 i32) (unreachable))

  ;; No filesystem: every syscall fails with ENOSYS.
  (func (export "__syscall_chdir") (param i32) (result i32) (i32.const -52))
  (func (export "__syscall_getcwd") (param i32 i32) (result i32) (i32.const -52))
  (func (export "__syscall_mkdirat") (param i32 i32 i32) (result i32) (i32.const -52))
  (func (export "__syscall_openat") (param i32 i32 i32 i32) (result i32) (i32.const -52))
  (func (export "__syscall_poll") (param i32 i32 i32) (result i32) (i32.const -52))
  (func (export "__syscall_getdents64") (param i32 i32 i32) (result i32) (i32.const -52))
  (func (export "__syscall_renameat") (param i32 i32 i32 i32) (result i32) (i32.const -52))
  (func (export "__syscall_rmdir") (param i32) (result i32) (i32.const -52))
  (func (export "__syscall_fstat64") (param i32 i32) (result i32) (i32.const -52))
  (func (export "__syscall_stat64") (param i32 i32) (result i32) (i32.const -52))
  (func (export "__syscall_newfstatat") (param i32 i32 i32 i32) (result i32) (i32.const -52))
  (func (export "__syscall_lstat64") (param i32 i32) (result i32) (i32.const -52))
  (func (export "__syscall_statfs64") (param i32 i32 i32) (result i32) (i32.const -52))
  (func (export "__syscall_unlinkat") (param i32 i32 i32) (result i32) (i32.const -52))

  ;; ---------------------------------------------------------------- Proxy-Wasm
  (func (export "proxy_abi_version_0_2_1"))

  ;; A passive data segment copied into a fresh malloc'd buffer (MicroPython owns the memory).
  (func $copy_out (param $segment i32) (param $size i32) (result i32)
    (local $buffer i32)
    (local.set $buffer (call $malloc (local.get $size)))
    (block $done
      (block $snippet
        (block $on_request
          (block $on_start
            (block $main
              (block $header
                (br_table $header $main $on_start $on_request $snippet (local.get $segment)))
              (memory.init $header (local.get $buffer) (i32.const 0) (local.get $size))
              (br $done))
            (memory.init $main_name (local.get $buffer) (i32.const 0) (local.get $size))
            (br $done))
          (memory.init $on_start_name (local.get $buffer) (i32.const 0) (local.get $size))
          (br $done))
        (memory.init $on_request_name (local.get $buffer) (i32.const 0) (local.get $size))
        (br $done))
      (memory.init $snippet (local.get $buffer) (i32.const 0) (local.get $size)))
    (local.get $buffer))

  ;; Logs the string (or the exception's text) in the result record; true if it was a string.
  (func $log_result (result i32)
    (local $kind i32)
    (local.set $kind (i32.load (global.get $result)))
    (if (i32.eq (local.get $kind) (global.get $KIND_STR))
      (then
        (drop (call $proxy_log (global.get $LOG_WARN)
          (i32.load offset=8 (global.get $result)) (i32.load offset=4 (global.get $result))))
        (return (i32.const 1))))
    (if (i32.eq (local.get $kind) (global.get $KIND_EXCEPTION))
      (then
        (drop (call $proxy_log (global.get $LOG_ERROR)
          (i32.load offset=8 (global.get $result)) (i32.load offset=4 (global.get $result))))
        (call $free (i32.load offset=8 (global.get $result)))))
    (i32.const 0))

  ;; MicroPython's reference to the function `owner.<name>` (name: a data segment), or -1
  ;; (logged) if that is no function.
  (func $lookup (param $owner i32) (param $segment i32) (param $size i32) (result i32)
    (local $name i32)
    (local.set $name (call $copy_out (local.get $segment) (local.get $size)))
    (call $proxy_c_to_js_lookup_attr (local.get $owner) (local.get $name) (global.get $result))
    (call $free (local.get $name))
    (if (i32.ne (i32.load (global.get $result)) (global.get $KIND_CALLABLE))
      (then (drop (call $log_result)) (return (i32.const -1))))
    (i32.load offset=4 (global.get $result)))

  ;; emscripten's start-up (stackCheckInit, then the C constructors): no hostcalls.
  (func (export "_initialize")
    (call $emscripten_stack_init)
    (call $wasm_call_ctors))

  (func $start_micropython (result i32)
    (local $sp i32) (local $buffer i32) (local $main i32) (local $on_start i32)
    ;; A log line whose timestamp marks the start (copied onto the stack: memory is MicroPython's).
    (local.set $sp (call $stack_current))
    (local.set $buffer (call $stack_alloc (i32.const 39)))
    (memory.init $starting (local.get $buffer) (i32.const 0) (i32.const 39))
    (drop (call $proxy_log (global.get $LOG_WARN) (local.get $buffer) (i32.const 39)))
    (call $stack_restore (local.get $sp))
    ;; loadMicroPython's start-up: the interpreter, then its reference table.
    (call $mp_js_init (global.get $PYSTACK_WORDS) (global.get $HEAP_BYTES))
    (call $proxy_c_init)
    (global.set $result (call $malloc (i32.const 12)))
    (global.set $header_name (call $copy_out (i32.const 0) (i32.const 13)))
    ;; runPython(snippet)
    (local.set $buffer (call $copy_out (i32.const 4) (global.get $SNIPPET_SIZE)))
    (call $mp_js_do_exec (local.get $buffer) (global.get $SNIPPET_SIZE) (global.get $result))
    (call $free (local.get $buffer))
    (if (i32.eq (i32.load (global.get $result)) (global.get $KIND_EXCEPTION))
      (then (drop (call $log_result)) (return (i32.const 0))))
    ;; pyimport("__main__").on_start(), logged; keep pyimport("__main__").on_request.
    (local.set $buffer (call $copy_out (i32.const 1) (i32.const 9)))
    (call $mp_js_do_import (local.get $buffer) (global.get $result))
    (call $free (local.get $buffer))
    (local.set $main (i32.load offset=4 (global.get $result)))
    (local.set $on_start (call $lookup (local.get $main) (i32.const 2) (i32.const 9)))
    (if (i32.lt_s (local.get $on_start) (i32.const 0)) (then (return (i32.const 0))))
    (call $proxy_c_to_js_call (local.get $on_start) (i32.const 0) (i32.const 0) (global.get $result))
    (if (i32.eqz (call $log_result)) (then (return (i32.const 0))))
    (global.set $on_request_ref (call $lookup (local.get $main) (i32.const 3) (i32.const 11)))
    (i32.ge_s (global.get $on_request_ref) (i32.const 0)))

  (func (export "proxy_on_vm_start") (param $context i32) (param $size i32) (result i32)
    (if (global.get $started) (then (return (i32.const 1))))
    (global.set $started (i32.const 1))
    (call $start_micropython))

  (func (export "proxy_on_configure") (param i32 i32) (result i32) (i32.const 1))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) (i32.const 0))

  ;; Runs on_request() and adds its result as `x-micropython`; Continue either way.
  (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32)
    (if (i32.lt_s (global.get $on_request_ref) (i32.const 0)) (then (return (i32.const 0))))
    (call $proxy_c_to_js_call (global.get $on_request_ref) (i32.const 0) (i32.const 0)
      (global.get $result))
    (if (i32.eq (i32.load (global.get $result)) (global.get $KIND_STR))
      (then
        (drop (call $proxy_add_header_map_value (global.get $RESPONSE_HEADERS)
          (global.get $header_name) (i32.const 13)
          (i32.load offset=8 (global.get $result)) (i32.load offset=4 (global.get $result)))))
      (else (drop (call $log_result))))
    (i32.const 0))

  (func (export "proxy_on_done") (param i32) (result i32) (i32.const 1))
  (func (export "proxy_on_log") (param i32))
  (func (export "proxy_on_delete") (param i32))
)
