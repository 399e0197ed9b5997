ld #0x1234
ld #ifidx
ret #1
ret x
