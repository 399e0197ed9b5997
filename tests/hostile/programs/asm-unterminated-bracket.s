ld [x + 
