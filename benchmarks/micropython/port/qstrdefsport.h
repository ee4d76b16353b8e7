// qstrs the port's C code names (MP_QSTR_...) are found by makeqstrdefs.py in main.c itself.
