l1: ret #0
l1: ret #1
