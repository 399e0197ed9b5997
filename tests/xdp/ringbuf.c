// Ring buffer records: IPv4 frames reserve an event and submit it (UDP
// ones discard it), other frames output one from the stack, and long
// frames also reserve two large samples of which the second finds no room
// (the ring is one page and must never fill completely). The ring's size
// and available data are queried and counted. Samples are written whole:
// unwritten bytes of a reservation differ (old ring contents in the
// kernel, zeros in cranebpf).
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 4096);
} events SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 4);
    __type(key, __u32);
    __type(value, __u64);
} stats SEC(".maps");

struct event {
    __u32 len;
    __u16 proto;
    __u8 dest[6];
};

struct big {
    __u8 bytes[2040];
} __attribute__((aligned(8)));

static __always_inline void add(__u32 i, __u64 v)
{
    __u64 *n = bpf_map_lookup_elem(&stats, &i);
    if (n)
        *n += v;
}

SEC("xdp")
int trace(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > end)
        return XDP_DROP;
    __u32 len = end - data;
    if (eth->h_proto == bpf_htons(ETH_P_IP)) {
        struct iphdr *ip = (void *)(eth + 1);
        if ((void *)(ip + 1) > end)
            return XDP_DROP;
        struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
        if (!e)
            return XDP_ABORTED;
        e->len = len;
        e->proto = eth->h_proto;
        __builtin_memcpy(e->dest, eth->h_dest, 6);
        if (ip->protocol == IPPROTO_UDP)
            bpf_ringbuf_discard(e, 0);
        else
            bpf_ringbuf_submit(e, 0);
    } else {
        struct event e = {.len = len, .proto = eth->h_proto};
        __builtin_memcpy(e.dest, eth->h_dest, 6);
        if (bpf_ringbuf_output(&events, &e, sizeof(e), 0))
            return XDP_ABORTED;
    }
    add(0, bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA));
    add(1, bpf_ringbuf_query(&events, BPF_RB_RING_SIZE));
    if (len > 1000) {
        for (int i = 0; i < 2; i++) {
            struct big *b = bpf_ringbuf_reserve(&events, sizeof(*b), 0);
            if (!b) {
                add(2, 1);
                break;
            }
            // Every byte written: a reserved sample holds whatever the ring
            // held before in the kernel (zeros here).
            __u64 *words = (__u64 *)b->bytes;
#pragma clang loop unroll(disable)
            for (int j = 0; j < 255; j++)
                words[j] = j * 0x0101010101010101ULL + i;
            b->bytes[2039] = len & 0xff;
            bpf_ringbuf_submit(b, 0);
            add(3, 1);
        }
    }
    return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
