// Functions in .text that some programs of the object reach and others
// do not, called in another order than the section's: each program is
// linked as libbpf links it (only the functions it reaches, each appended
// the first time it is called, depth first), which the kernel needs (it
// refuses an instruction no path reaches, as a function nothing calls
// would be) and which numbers instructions as the kernel's messages do.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 4);
    __type(key, __u32);
    __type(value, __u64);
} seen SEC(".maps");

static __noinline int bump(__u32 slot)
{
    __u64 *n = bpf_map_lookup_elem(&seen, &slot);
    if (n)
        *n += 1;
    return 0;
}

static __noinline int ether_type(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > end)
        return -1;
    return bpf_ntohs(eth->h_proto);
}

static __noinline int classify(int type)
{
    bump(type == ETH_P_IP ? 1 : type == ETH_P_IPV6 ? 2 : 3);
    return type == ETH_P_IPV6 ? XDP_DROP : XDP_PASS;
}

// Reaches bump only.
SEC("xdp")
int count_all(struct xdp_md *ctx)
{
    bump(0);
    return XDP_PASS;
}

// Reaches ether_type, then classify, then bump (the section holds them
// in the other order).
SEC("xdp")
int entry(struct xdp_md *ctx)
{
    int type = ether_type(ctx);
    if (type < 0)
        return XDP_ABORTED;
    return classify(type);
}

char LICENSE[] SEC("license") = "GPL";
