// bpf_check_mtu from a TC classifier (mtu_common.h says what), and the
// flag only TC takes (BPF_MTU_CHK_SEGS), refused with a length.
#include "mtu_common.h"
#include <linux/pkt_cls.h>

SEC("tc")
int entry(struct __sk_buff *skb)
{
    __u32 len = skb->len;
    CHECKS(skb, len);
    __u32 mtu = 0;
    add(6, -bpf_check_mtu(skb, 0, &mtu, 5, BPF_MTU_CHK_SEGS));
    add(7, mtu);
    mtu = 0;
    add(0, 100 * bpf_check_mtu(skb, 0, &mtu, 0, BPF_MTU_CHK_SEGS));
    return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
