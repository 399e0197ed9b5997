// bpf_skb_adjust_room: room added after the MAC header and after the
// IP header, removed, with the encapsulation flags (the protocol, a
// second encapsulation, skb_change_tail on an encapsulated buffer), the
// decapsulation flags and every refusal; the frame's length picks the
// case, and what the program then sees is kept per length.
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#define DECAP_L3_IPV4 (1ULL << 7)
#define DECAP_L3_IPV6 (1ULL << 8)

struct seen {
    __s32 results[3];
    __u32 len, protocol, bytes;
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
    switch (len % 8) {
    case 0:
        s.results[0] = bpf_skb_adjust_room(skb, 8, BPF_ADJ_ROOM_MAC, 0);
        break;
    case 1:
        s.results[0] = bpf_skb_adjust_room(skb, 12, BPF_ADJ_ROOM_NET, 0);
        break;
    case 2:
        s.results[0] = bpf_skb_adjust_room(skb, -4, BPF_ADJ_ROOM_NET, 0);
        s.results[1] = bpf_skb_adjust_room(skb, -8, BPF_ADJ_ROOM_MAC, BPF_F_ADJ_ROOM_NO_CSUM_RESET);
        break;
    case 3:
        s.results[0] = bpf_skb_adjust_room(skb, 28, BPF_ADJ_ROOM_MAC,
                                           BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 | BPF_F_ADJ_ROOM_ENCAP_L4_UDP);
        s.results[1] = bpf_skb_adjust_room(skb, 8, BPF_ADJ_ROOM_MAC, BPF_F_ADJ_ROOM_ENCAP_L3_IPV4);
        s.results[2] = bpf_skb_change_tail(skb, skb->len - 1, 0);
        break;
    case 4:
        s.results[0] = bpf_skb_adjust_room(skb, 40, BPF_ADJ_ROOM_MAC,
                                           BPF_F_ADJ_ROOM_ENCAP_L3_IPV6 | BPF_F_ADJ_ROOM_ENCAP_L4_GRE |
                                               BPF_F_ADJ_ROOM_ENCAP_L2_ETH |
                                               BPF_F_ADJ_ROOM_ENCAP_L2(14));
        s.results[1] = bpf_skb_change_tail(skb, 30, 0);
        break;
    case 5:
        s.results[0] = bpf_skb_adjust_room(skb, 0x1000, BPF_ADJ_ROOM_MAC, 0);
        s.results[1] = bpf_skb_adjust_room(skb, 4, 7, 0);
        s.results[2] = bpf_skb_adjust_room(skb, 4, BPF_ADJ_ROOM_MAC, 1ULL << 20);
        break;
    case 6:
        s.results[0] = bpf_skb_adjust_room(skb, -20, BPF_ADJ_ROOM_MAC, DECAP_L3_IPV6);
        s.results[1] = bpf_skb_adjust_room(skb, 8, BPF_ADJ_ROOM_MAC, DECAP_L3_IPV4);
        s.results[2] = bpf_skb_adjust_room(skb, -4, BPF_ADJ_ROOM_MAC, DECAP_L3_IPV4 | DECAP_L3_IPV6);
        break;
    default:
        s.results[0] = bpf_skb_adjust_room(skb, -(int)len, BPF_ADJ_ROOM_NET, 0);
        s.results[1] = bpf_skb_adjust_room(skb, 16, BPF_ADJ_ROOM_MAC,
                                           BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 | BPF_F_ADJ_ROOM_ENCAP_L3_IPV6);
        s.results[2] = bpf_skb_adjust_room(skb, 8, BPF_ADJ_ROOM_MAC,
                                           BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 | BPF_F_ADJ_ROOM_ENCAP_L2_ETH |
                                               BPF_F_ADJ_ROOM_ENCAP_L2(20));
    }
    s.len = skb->len;
    s.protocol = skb->protocol;
    __u8 b[2] = {};
    bpf_skb_load_bytes(skb, 12, b, 2);
    s.bytes = b[0] << 8 | b[1];
    bpf_map_update_elem(&by_length, &len, &s, BPF_ANY);
    return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
