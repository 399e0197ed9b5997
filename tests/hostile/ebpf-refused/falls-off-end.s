mov %r0, 0
