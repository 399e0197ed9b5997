mov %r0, 1
frob %r1
exit
