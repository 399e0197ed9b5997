/* never closed
ret #0
