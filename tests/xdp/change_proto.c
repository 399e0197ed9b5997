// bpf_skb_change_proto (IPv4 to IPv6 and back, every other change
// refused, flags) and bpf_skb_change_type (the packet type within
// host (0) to other-host (3), values past it refused), picked by the frame's
// length; what the program then sees is kept per length.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct seen {
    __s32 results[2];
    __u32 len, protocol, pkt_type, hash;
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 8192);
    __type(key, __u32);
    __type(value, struct seen);
} by_length SEC(".maps");

SEC("tc")
int entry(struct __sk_buff *skb)
{
    __u32 len = skb->len;
    struct seen s = {};
    bpf_set_hash(skb, len);
    switch (len % 5) {
    case 0:
        s.results[0] = bpf_skb_change_proto(skb, bpf_htons(ETH_P_IPV6), 0);
        s.results[1] = bpf_skb_change_proto(skb, bpf_htons(ETH_P_IP), 0);
        break;
    case 1:
        s.results[0] = bpf_skb_change_proto(skb, bpf_htons(ETH_P_IP), 0);
        s.results[1] = bpf_skb_change_proto(skb, bpf_htons(ETH_P_IPV6), 1);
        break;
    case 2:
        s.results[0] = bpf_skb_change_proto(skb, bpf_htons(ETH_P_ARP), 0);
        s.results[1] = bpf_skb_change_type(skb, 1);
        break;
    case 3:
        s.results[0] = bpf_skb_change_type(skb, 4);
        s.results[1] = bpf_skb_change_type(skb, 3);
        break;
    default:
        s.results[0] = bpf_skb_change_proto(skb, bpf_htons(ETH_P_IPV6), 0);
    }
    s.len = skb->len;
    s.protocol = skb->protocol;
    s.pkt_type = skb->pkt_type;
    s.hash = skb->hash;
    bpf_map_update_elem(&by_length, &len, &s, BPF_ANY);
    return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
