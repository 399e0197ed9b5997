// bpf_skb_vlan_push and bpf_skb_vlan_pop on tagged and untagged frames:
// the frame's length picks a sequence (pop; push; two pushes, the second
// writing the first tag into the frame, then a pop; a push with a
// protocol that is not a VLAN type, then two pops; three pops), and what
// __sk_buff shows afterwards (vlan_present, vlan_tci, vlan_proto,
// protocol, len) is kept per length, with each call's result.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct seen {
    __u32 present, tci, proto, protocol, len;
    __s32 results[3];
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
    switch (len % 5) {
    case 0:
        s.results[0] = bpf_skb_vlan_pop(skb);
        break;
    case 1:
        s.results[0] = bpf_skb_vlan_push(skb, bpf_htons(ETH_P_8021Q), 100);
        break;
    case 2:
        s.results[0] = bpf_skb_vlan_push(skb, bpf_htons(ETH_P_8021AD), 5);
        s.results[1] = bpf_skb_vlan_push(skb, bpf_htons(ETH_P_8021Q), 7);
        s.results[2] = bpf_skb_vlan_pop(skb);
        break;
    case 3:
        s.results[0] = bpf_skb_vlan_push(skb, bpf_htons(0x1234), 0xfff);
        s.results[1] = bpf_skb_vlan_pop(skb);
        s.results[2] = bpf_skb_vlan_pop(skb);
        break;
    default:
        s.results[0] = bpf_skb_vlan_pop(skb);
        s.results[1] = bpf_skb_vlan_pop(skb);
        s.results[2] = bpf_skb_vlan_pop(skb);
    }
    s.present = skb->vlan_present;
    s.tci = skb->vlan_tci;
    s.proto = skb->vlan_proto;
    s.protocol = skb->protocol;
    s.len = skb->len;
    bpf_map_update_elem(&by_length, &len, &s, BPF_ANY);
    return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
