ldxw %r0, [%r1+
exit
