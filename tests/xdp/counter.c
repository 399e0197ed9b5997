// Counts packets per IPv4 protocol (array, atomic add) and bytes per
// source address (hash: lookup, else update from the stack); drops UDP to
// the port in .rodata; counts every frame in .bss.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 256);
    __type(key, __u32);
    __type(value, __u64);
} proto_count SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 1024);
    __type(key, __u32);
    __type(value, __u64);
} src_bytes SEC(".maps");

const volatile __u16 blocked_port = 9;
__u64 seen = 0;

SEC("xdp")
int count(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > data_end)
        return XDP_DROP;
    seen++;
    if (eth->h_proto != bpf_htons(ETH_P_IP))
        return XDP_PASS;
    struct iphdr *ip = (void *)(eth + 1);
    if ((void *)(ip + 1) > data_end)
        return XDP_DROP;
    __u32 p = ip->protocol;
    __u64 *c = bpf_map_lookup_elem(&proto_count, &p);
    if (c)
        __sync_fetch_and_add(c, 1);
    __u32 src = ip->saddr;
    __u64 len = data_end - data;
    __u64 *b = bpf_map_lookup_elem(&src_bytes, &src);
    if (b) {
        *b += len;
    } else {
        bpf_map_update_elem(&src_bytes, &src, &len, BPF_ANY);
    }
    if (ip->protocol == IPPROTO_UDP) {
        struct udphdr *udp = (void *)ip + ip->ihl * 4;
        if ((void *)(udp + 1) > data_end)
            return XDP_DROP;
        if (udp->dest == bpf_htons(blocked_port))
            return XDP_DROP;
    }
    return XDP_PASS;
}
char LICENSE[] SEC("license") = "GPL";
