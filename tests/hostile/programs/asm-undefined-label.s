ld [12]
jeq #0x800, nowhere, drop
drop: ret #0
