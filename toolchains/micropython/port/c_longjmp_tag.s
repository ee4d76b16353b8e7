# The exception tag clang's setjmp/longjmp lowering throws and catches (wasi-libc's runtime,
# rt.c in zig's libc, refers to it; here it is defined): one i32, the jmp_buf's argument block.
	.globl	__c_longjmp
	.tagtype	__c_longjmp i32
__c_longjmp:
