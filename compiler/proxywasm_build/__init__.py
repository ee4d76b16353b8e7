"""proxywasm_build: the `proxywasm` command line and everything that is not the SDK."""
