// Parses up to two VLAN tags and up to four IPv6 extension headers (bounded
// loops), finds the L4 destination port in a BPF-to-BPF call, and counts
// (protocol, port) pairs in a hash map and what it walked in an array.
// Drops IPv6 fragments and packets too short for what they announce.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <linux/udp.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct vlan_hdr {
    __be16 tci;
    __be16 proto;
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 4096);
    __type(key, __u32);
    __type(value, __u64);
} ports SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 8);
    __type(key, __u32);
    __type(value, __u32);
} stats SEC(".maps");

static __always_inline void bump(__u32 i)
{
    __u32 *v = bpf_map_lookup_elem(&stats, &i);
    if (v)
        __sync_fetch_and_add(v, 1);
}

static __noinline int dest_port(void *l4, void *end, __u32 proto)
{
    if (proto == IPPROTO_TCP) {
        struct tcphdr *t = l4;
        if ((void *)(t + 1) > end)
            return -1;
        return bpf_ntohs(t->dest);
    }
    if (proto == IPPROTO_UDP) {
        struct udphdr *u = l4;
        if ((void *)(u + 1) > end)
            return -1;
        return bpf_ntohs(u->dest);
    }
    return 0;
}

SEC("xdp")
int parse(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > end)
        return XDP_DROP;
    __u16 proto = eth->h_proto;
    void *cur = eth + 1;
#pragma clang loop unroll(disable)
    for (int i = 0; i < 2; i++) {
        if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
            break;
        struct vlan_hdr *v = cur;
        if ((void *)(v + 1) > end)
            return XDP_DROP;
        proto = v->proto;
        cur = v + 1;
        bump(0);
    }
    __u32 l4proto;
    if (proto == bpf_htons(ETH_P_IP)) {
        struct iphdr *ip = cur;
        if ((void *)(ip + 1) > end)
            return XDP_DROP;
        l4proto = ip->protocol;
        cur = (void *)ip + ip->ihl * 4;
    } else if (proto == bpf_htons(ETH_P_IPV6)) {
        struct ipv6hdr *ip6 = cur;
        if ((void *)(ip6 + 1) > end)
            return XDP_DROP;
        __u8 nh = ip6->nexthdr;
        cur = ip6 + 1;
#pragma clang loop unroll(disable)
        for (int i = 0; i < 4; i++) {
            if (nh == IPPROTO_FRAGMENT) {
                bump(2);
                return XDP_DROP;
            }
            if (nh != IPPROTO_HOPOPTS && nh != IPPROTO_ROUTING && nh != IPPROTO_DSTOPTS)
                break;
            struct ipv6_opt_hdr *h = cur;
            if ((void *)(h + 1) > end)
                return XDP_DROP;
            nh = h->nexthdr;
            cur += (h->hdrlen + 1) * 8;
            bump(1);
        }
        l4proto = nh;
    } else {
        bump(4);
        return XDP_PASS;
    }
    int port = dest_port(cur, end, l4proto);
    if (port < 0) {
        bump(3);
        return XDP_DROP;
    }
    __u32 key = (l4proto << 16) | (__u32)port;
    __u64 one = 1;
    __u64 *n = bpf_map_lookup_elem(&ports, &key);
    if (n)
        *n += 1;
    else
        bpf_map_update_elem(&ports, &key, &one, BPF_NOEXIST);
    return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
