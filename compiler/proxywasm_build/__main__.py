"""`python -m proxywasm_build`: the `proxywasm` command line."""

from proxywasm_build.cli import main

main()
