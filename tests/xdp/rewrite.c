// Rewrites packets: pops an 802.1Q tag (bpf_xdp_adjust_head), answers
// ICMP echo requests in place (MACs and addresses swapped, type 0, checksum
// updated) with XDP_TX, trims UDP frames to 128 bytes
// (bpf_xdp_adjust_tail), and redirects TCP to port 22 to ifindex 3.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

// <linux/icmp.h> pulls in libc headers: the two fields used, by hand.
struct icmphdr {
    __u8 type;
    __u8 code;
    __sum16 checksum;
    __be32 rest;
};
#define ICMP_ECHOREPLY 0
#define ICMP_ECHO 8

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 4);
    __type(key, __u32);
    __type(value, __u64);
} done SEC(".maps");

static __always_inline void count(__u32 i)
{
    __u64 *v = bpf_map_lookup_elem(&done, &i);
    if (v)
        *v += 1;
}

SEC("xdp")
int rewrite(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > end)
        return XDP_PASS;
    if (eth->h_proto == bpf_htons(ETH_P_8021Q)) {
        if (data + 18 > end)
            return XDP_DROP;
        unsigned char macs[12];
        __builtin_memcpy(macs, data, 12);
        if (bpf_xdp_adjust_head(ctx, 4))
            return XDP_ABORTED;
        data = (void *)(long)ctx->data;
        end = (void *)(long)ctx->data_end;
        if (data + 14 > end)
            return XDP_DROP;
        __builtin_memcpy(data, macs, 12);
        eth = data;
        count(0);
    }
    if (eth->h_proto != bpf_htons(ETH_P_IP))
        return XDP_PASS;
    struct iphdr *ip = (void *)(eth + 1);
    if ((void *)(ip + 1) > end || ip->ihl != 5)
        return XDP_PASS;
    if (ip->protocol == IPPROTO_ICMP) {
        struct icmphdr *icmp = (void *)(ip + 1);
        if ((void *)(icmp + 1) > end || icmp->type != ICMP_ECHO)
            return XDP_PASS;
        unsigned char tmp[6];
        __builtin_memcpy(tmp, eth->h_source, 6);
        __builtin_memcpy(eth->h_source, eth->h_dest, 6);
        __builtin_memcpy(eth->h_dest, tmp, 6);
        __be32 a = ip->saddr;
        ip->saddr = ip->daddr;
        ip->daddr = a;
        icmp->type = ICMP_ECHOREPLY;
        __u32 sum = (__u16)~icmp->checksum + (__u16)~bpf_htons(ICMP_ECHO << 8) + bpf_htons(ICMP_ECHOREPLY << 8);
        sum = (sum & 0xffff) + (sum >> 16);
        sum = (sum & 0xffff) + (sum >> 16);
        icmp->checksum = ~sum;
        count(1);
        return XDP_TX;
    }
    if (ip->protocol == IPPROTO_UDP && end - data > 128) {
        if (bpf_xdp_adjust_tail(ctx, 128 - (int)(end - data)))
            return XDP_ABORTED;
        count(2);
        return XDP_PASS;
    }
    if (ip->protocol == IPPROTO_TCP) {
        struct tcphdr *t = (void *)(ip + 1);
        if ((void *)(t + 1) <= end && t->dest == bpf_htons(22)) {
            count(3);
            return bpf_redirect(3, 0);
        }
    }
    return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
