// A TC classifier rewriting IPv4 headers as NAT does, with the checksum
// helpers: the destination address (bpf_skb_store_bytes, then
// bpf_l3_csum_replace and bpf_l4_csum_replace with BPF_F_PSEUDO_HDR, 4
// bytes), the destination port (l4, 2 bytes; UDP with
// BPF_F_MARK_MANGLED_0), the IP id (l3, 2 bytes) and the TOS byte (l3 by
// a bpf_csum_diff difference). Bytes are read with bpf_skb_load_bytes.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define IP_OFF 14
#define IP_CSUM (IP_OFF + 10)
#define IP_DST (IP_OFF + 16)

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 8);
    __type(key, __u32);
    __type(value, __s64);
} results SEC(".maps");

static __always_inline void note(__u32 i, __s64 v)
{
    __s64 *r = bpf_map_lookup_elem(&results, &i);
    if (r)
        *r += v;
}

SEC("tc")
int nat(struct __sk_buff *skb)
{
    struct iphdr ip;
    if (skb->protocol != bpf_htons(ETH_P_IP) || bpf_skb_load_bytes(skb, IP_OFF, &ip, sizeof(ip)))
        return TC_ACT_OK;
    if (ip.ihl != 5)
        return TC_ACT_OK;
    // Destination 10.a.b.c becomes 192.168.b.c.
    __be32 old_dst = ip.daddr;
    __be32 new_dst = (old_dst & bpf_htonl(0x0000ffff)) | bpf_htonl(0xc0a80000);
    __u32 l4 = IP_OFF + 20;
    int csum_at = -1;
    __u64 mangled = 0;
    if (ip.protocol == IPPROTO_TCP) {
        csum_at = l4 + 16;
    } else if (ip.protocol == IPPROTO_UDP) {
        csum_at = l4 + 6;
        mangled = BPF_F_MARK_MANGLED_0;
    }
    note(0, bpf_skb_store_bytes(skb, IP_DST, &new_dst, 4, 0));
    note(1, bpf_l3_csum_replace(skb, IP_CSUM, old_dst, new_dst, 4));
    if (csum_at >= 0) {
        note(2, bpf_l4_csum_replace(skb, csum_at, old_dst, new_dst,
                                    BPF_F_PSEUDO_HDR | mangled | 4));
        __be16 ports[2];
        if (bpf_skb_load_bytes(skb, l4, ports, 4) == 0) {
            __be16 old_port = ports[1];
            __be16 new_port = bpf_htons(bpf_ntohs(old_port) + 1000);
            note(3, bpf_skb_store_bytes(skb, l4 + 2, &new_port, 2, 0));
            note(4, bpf_l4_csum_replace(skb, csum_at, old_port, new_port, mangled | 2));
        }
    }
    // The IP id, by the 2-byte form.
    __be16 old_id = ip.id;
    __be16 new_id = bpf_htons(bpf_ntohs(old_id) + 1);
    bpf_skb_store_bytes(skb, IP_OFF + 4, &new_id, 2, 0);
    note(5, bpf_l3_csum_replace(skb, IP_CSUM, old_id, new_id, 2));
    // The TOS byte, by a difference over the header's first word.
    __u32 first[1], changed[1];
    if (bpf_skb_load_bytes(skb, IP_OFF, first, 4) == 0) {
        changed[0] = first[0];
        ((__u8 *)changed)[1] ^= 0x10;
        __s64 diff = bpf_csum_diff(first, 4, changed, 4, 0);
        bpf_skb_store_bytes(skb, IP_OFF, changed, 4, 0);
        note(6, bpf_l3_csum_replace(skb, IP_CSUM, 0, diff, 0));
    }
    // Past the packet: -EFAULT, nothing written.
    note(7, bpf_l3_csum_replace(skb, skb->len, 0, 1, 2));
    return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
