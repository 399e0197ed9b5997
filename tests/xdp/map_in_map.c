// Maps of maps: an array of maps initialised in the object (slot 1 left
// empty) picks a per-slot counter array by frame length; a hash of maps,
// filled from outside, picks a per-protocol hash of lengths seen, updated
// and deleted through the inner map. Frames whose slot or protocol has no
// map are dropped or passed without counting.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct counters {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 4);
    __type(key, __u32);
    __type(value, __u64);
} small SEC(".maps"), large SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
    __uint(max_entries, 3);
    __type(key, __u32);
    __array(values, struct counters);
} by_slot SEC(".maps") = {
    .values = {[0] = &small, [2] = &large},
};

struct lengths {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 16);
    __type(key, __u32);
    __type(value, __u32);
} ipv4_lengths SEC(".maps"), ipv6_lengths SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
    __uint(max_entries, 4);
    __type(key, __u16);
    __array(values, struct lengths);
} by_proto SEC(".maps");

SEC("xdp")
int entry(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > end)
        return XDP_ABORTED;
    __u32 len = end - data;
    __u32 slot = len % 3;
    void *counts = bpf_map_lookup_elem(&by_slot, &slot);
    if (!counts)
        return XDP_DROP;
    __u32 k = len & 3;
    __u64 *n = bpf_map_lookup_elem(counts, &k);
    if (n)
        *n += 1;
    __u16 proto = bpf_ntohs(eth->h_proto);
    void *seen = bpf_map_lookup_elem(&by_proto, &proto);
    if (!seen)
        return XDP_PASS;
    __u32 bucket = len / 64;
    __u32 one = 1;
    __u32 *c = bpf_map_lookup_elem(seen, &bucket);
    if (c)
        *c += 1;
    else if (bpf_map_update_elem(seen, &bucket, &one, BPF_NOEXIST))
        return XDP_TX;
    if (len % 7 == 0)
        bpf_map_delete_elem(seen, &bucket);
    return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
