// Perf event records from a TC classifier (perf_common.h says what).
#include "perf_common.h"
#include <linux/pkt_cls.h>

SEC("tc")
int entry(struct __sk_buff *skb)
{
    report(skb, skb->len, skb->protocol, skb->pkt_type);
    return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
