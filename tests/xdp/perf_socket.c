// Perf event records from a socket filter, whose packet starts at the
// network header (perf_common.h says what).
#include "perf_common.h"

SEC("socket")
int entry(struct __sk_buff *skb)
{
    report(skb, skb->len, skb->protocol, skb->pkt_type);
    return skb->len;
}

char LICENSE[] SEC("license") = "GPL";
