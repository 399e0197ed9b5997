ldh [12]
ret #0x1ffffffff
