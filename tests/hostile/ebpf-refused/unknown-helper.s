call 77
exit
