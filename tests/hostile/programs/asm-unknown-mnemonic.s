ld [12]
frobnicate #1
ret a
