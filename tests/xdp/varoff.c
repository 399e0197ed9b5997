// Packet pointers moved by a number read from the packet: the TCP or UDP
// header found after an IPv4 header of `ihl * 4` bytes, proven by a
// comparison with data_end past that variable offset (the kernel's
// verifier gives such a pointer its own id and range). Counts each
// protocol's destination ports in an array and sends HTTPS back.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 2);
    __type(key, __u32);
    __type(value, __u64);
} ports SEC(".maps");

SEC("xdp")
int entry(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    struct iphdr *ip = data + sizeof(*eth);
    if ((void *)(ip + 1) > end)
        return XDP_PASS;
    if (eth->h_proto != bpf_htons(ETH_P_IP))
        return XDP_PASS;
    __u32 hlen = ip->ihl * 4;
    if (hlen < sizeof(*ip))
        return XDP_DROP;
    void *l4 = (void *)ip + hlen;
    __u32 key;
    __u16 port;
    if (ip->protocol == IPPROTO_TCP) {
        struct tcphdr *tcp = l4;
        if ((void *)(tcp + 1) > end)
            return XDP_DROP;
        port = tcp->dest;
        key = 0;
    } else if (ip->protocol == IPPROTO_UDP) {
        struct udphdr *udp = l4;
        if ((void *)(udp + 1) > end)
            return XDP_DROP;
        port = udp->dest;
        key = 1;
    } else {
        return XDP_PASS;
    }
    __u64 *n = bpf_map_lookup_elem(&ports, &key);
    if (n)
        *n += bpf_ntohs(port);
    return bpf_ntohs(port) == 443 ? XDP_TX : XDP_PASS;
}

char _license[] SEC("license") = "GPL";
