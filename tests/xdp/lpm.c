// Routes IPv4 packets by source address through an LPM trie the test
// preloads (value: the XDP action), learns each source's /24 in a second
// trie (deleting it again for odd TTLs), and rewrites the source address of
// passed UDP with the checksum fixed through bpf_csum_diff.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct v4_key {
    __u32 prefixlen;
    __u8 addr[4];
};

struct {
    __uint(type, BPF_MAP_TYPE_LPM_TRIE);
    __uint(max_entries, 64);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, struct v4_key);
    __type(value, __u32);
} routes SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LPM_TRIE);
    __uint(max_entries, 16);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, struct v4_key);
    __type(value, __u64);
} learned SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 8);
    __type(key, __u32);
    __type(value, __u64);
} verdicts SEC(".maps");

SEC("xdp")
int route(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
        return XDP_PASS;
    struct iphdr *ip = (void *)(eth + 1);
    if ((void *)(ip + 1) > end)
        return XDP_DROP;
    struct v4_key key = {.prefixlen = 32};
    __builtin_memcpy(key.addr, &ip->saddr, 4);
    __u32 action = XDP_PASS;
    __u32 *routed = bpf_map_lookup_elem(&routes, &key);
    if (routed)
        action = *routed;
    __u32 slot = action & 7;
    __u64 *n = bpf_map_lookup_elem(&verdicts, &slot);
    if (n)
        *n += 1;
    struct v4_key net = {.prefixlen = 24};
    __builtin_memcpy(net.addr, &ip->saddr, 3);
    __u64 *seen = bpf_map_lookup_elem(&learned, &net);
    if (seen) {
        *seen += 1;
        if (ip->ttl & 1)
            bpf_map_delete_elem(&learned, &net);
    } else {
        __u64 one = 1;
        bpf_map_update_elem(&learned, &net, &one, BPF_NOEXIST);
    }
    if (action == XDP_PASS && ip->protocol == IPPROTO_UDP) {
        __be32 from = ip->saddr;
        __be32 to = from ^ bpf_htonl(0x01000000);
        __s64 sum = bpf_csum_diff(&from, 4, &to, 4, ~((__u32)ip->check) & 0xffff);
        if (sum < 0)
            return XDP_ABORTED;
        __u32 s = (__u32)sum;
        s = (s & 0xffff) + (s >> 16);
        s = (s & 0xffff) + (s >> 16);
        ip->saddr = to;
        ip->check = ~s;
    }
    return action;
}

char LICENSE[] SEC("license") = "GPL";
