// qstrs the port C names (MP_QSTR_...) are collected from the C files themselves.
