// Tail calls: an entry program dispatches TCP, UDP and ICMP to stages
// through a program array initialised in the object (__array(values)), a
// stage tail-calls an empty slot and goes on, and one stage tail-calls
// itself until the kernel's limit of 33 stops it. Each stage counts its
// runs in an array.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 4);
    __type(key, __u32);
    __type(value, __u64);
} runs SEC(".maps");

static __always_inline void count(__u32 stage)
{
    __u64 *n = bpf_map_lookup_elem(&runs, &stage);
    if (n)
        *n += 1;
}

int tcp_stage(struct xdp_md *ctx);
int udp_stage(struct xdp_md *ctx);
int icmp_stage(struct xdp_md *ctx);

struct {
    __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
    __uint(max_entries, 5);
    __uint(key_size, sizeof(__u32));
    __uint(value_size, sizeof(__u32));
    __array(values, int(void *));
} stages SEC(".maps") = {
    .values = {
        [1] = (void *)&tcp_stage,
        [2] = (void *)&udp_stage,
        [3] = (void *)&icmp_stage,
    },
};

static __always_inline int protocol(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
        return -1;
    struct iphdr *ip = (void *)(eth + 1);
    if ((void *)(ip + 1) > end)
        return -1;
    return ip->protocol;
}

SEC("xdp")
int entry(struct xdp_md *ctx)
{
    count(0);
    int p = protocol(ctx);
    if (p == IPPROTO_TCP)
        bpf_tail_call(ctx, &stages, 1);
    else if (p == IPPROTO_UDP)
        bpf_tail_call(ctx, &stages, 2);
    else if (p == IPPROTO_ICMP)
        bpf_tail_call(ctx, &stages, 3);
    return XDP_PASS;
}

SEC("xdp")
int tcp_stage(struct xdp_md *ctx)
{
    count(1);
    return XDP_DROP;
}

SEC("xdp")
int udp_stage(struct xdp_md *ctx)
{
    count(2);
    // Slot 4 is empty: the call fails and the program goes on.
    bpf_tail_call(ctx, &stages, 4);
    return XDP_TX;
}

SEC("xdp")
int icmp_stage(struct xdp_md *ctx)
{
    count(3);
    // Slot 3 is this program: it runs again until the limit.
    bpf_tail_call(ctx, &stages, 3);
    return XDP_TX;
}

char LICENSE[] SEC("license") = "GPL";
