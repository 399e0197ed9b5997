// A socket filter: counts (protocol, pkt_type, length class) in an array,
// reads the IP header with the legacy packet loads (clang's load_byte and
// load_half, LD_ABS on skb->data = the network header) and with
// bpf_skb_load_bytes, keeps 64 bytes of TCP, drops UDP, keeps the rest
// whole.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

unsigned long long load_byte(void *skb, unsigned long long off) asm("llvm.bpf.load.byte");
unsigned long long load_half(void *skb, unsigned long long off) asm("llvm.bpf.load.half");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 64);
    __type(key, __u32);
    __type(value, __u64);
} classes SEC(".maps");

SEC("socket")
int filter(struct __sk_buff *skb)
{
    __u32 key = (skb->pkt_type & 3) << 4 | (skb->len > 100) << 3;
    if (skb->protocol == bpf_htons(ETH_P_IP))
        key |= 1;
    else if (skb->protocol == bpf_htons(ETH_P_IPV6))
        key |= 2;
    else if (skb->protocol == bpf_htons(ETH_P_ARP))
        key |= 3;
    __u64 *n = bpf_map_lookup_elem(&classes, &key);
    if (n)
        __sync_fetch_and_add(n, 1);
    if (skb->protocol != bpf_htons(ETH_P_IP))
        return skb->len;
    __u8 first = 0;
    if (bpf_skb_load_bytes(skb, 0, &first, 1) < 0 || (first >> 4) != 4)
        return 0;
    __u64 proto = load_byte(skb, 9);
    __u64 total = load_half(skb, 2);
    if (proto == IPPROTO_UDP)
        return 0;
    if (proto == IPPROTO_TCP && total > 40)
        return 64;
    return skb->len;
}

char LICENSE[] SEC("license") = "GPL";
