// Programs the kernel's verifier refuses, for packet reads no comparison
// with data_end proves, for a map lookup used unchecked, for a helper
// given a stack pointer for a map and for a store into .rodata; cranebpf must
// refuse each with the same reason.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>

// No check at all.
SEC("xdp")
int no_check(struct xdp_md *ctx)
{
    unsigned char *data = (void *)(long)ctx->data;
    return data[12] == 8 ? XDP_PASS : XDP_DROP;
}

// Checks 14 bytes, reads byte 23.
SEC("xdp")
int short_check(struct xdp_md *ctx)
{
    unsigned char *data = (void *)(long)ctx->data;
    unsigned char *end = (void *)(long)ctx->data_end;
    if (data + 14 > end)
        return XDP_DROP;
    return data[23] == 6 ? XDP_PASS : XDP_DROP;
}

// Checks on one path only.
SEC("xdp")
int one_path(struct xdp_md *ctx)
{
    unsigned char *data = (void *)(long)ctx->data;
    unsigned char *end = (void *)(long)ctx->data_end;
    if (ctx->ingress_ifindex == 7 && data + 40 > end)
        return XDP_DROP;
    return data[30];
}

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 4);
    __type(key, __u32);
    __type(value, __u64);
} counts SEC(".maps");

// Uses a lookup's result without comparing it with NULL.
SEC("xdp")
int unchecked_lookup(struct xdp_md *ctx)
{
    __u32 key = ctx->rx_queue_index & 3;
    __u64 *n = bpf_map_lookup_elem(&counts, &key);
    *n += 1;
    return XDP_PASS;
}

// Passes a stack pointer where the helper takes a map.
SEC("xdp")
int not_a_map(struct xdp_md *ctx)
{
    __u32 key = 0;
    __u64 *n = bpf_map_lookup_elem((void *)&key, &key);
    return n ? XDP_PASS : XDP_DROP;
}

// Writes a constant global (.rodata, read-only to programs).
const volatile __u32 limit = 5;

SEC("xdp")
int write_rodata(struct xdp_md *ctx)
{
    *(volatile __u32 *)&limit = ctx->rx_queue_index;
    return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
