mov %r0, 0
ja -1
