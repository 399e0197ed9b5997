// bpf_skb_change_tail and bpf_skb_change_head: the frame's length picks
// grow, trim, the refused lengths and flags, a small and a large head
// (larger than the headroom: the kernel reallocates), and a head then a
// tail; what the program then sees (len, the first byte through direct
// access, the last through bpf_skb_load_bytes) is kept per length with each call's result.
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

struct seen {
    __s32 results[6];
    __u32 len, first, last;
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 8192);
    __type(key, __u32);
    __type(value, struct seen);
} by_length SEC(".maps");

SEC("tc")
int entry(struct __sk_buff *skb)
{
    __u32 len = skb->len;
    struct seen s = {};
    switch (len % 6) {
    case 0:
        s.results[0] = bpf_skb_change_tail(skb, len + 10, 0);
        break;
    case 1:
        s.results[0] = bpf_skb_change_tail(skb, len > 40 ? len - 20 : 14, 0);
        break;
    case 2:
        s.results[0] = bpf_skb_change_tail(skb, 13, 0);
        s.results[1] = bpf_skb_change_tail(skb, len, 1);
        s.results[2] = bpf_skb_change_tail(skb, 65551, 0);
        // SKB_MAX_ALLOC (16064) is the limit; then back.
        s.results[3] = bpf_skb_change_tail(skb, 16064, 0);
        s.results[4] = bpf_skb_change_tail(skb, 16065, 0);
        s.results[5] = bpf_skb_change_tail(skb, len, 0);
        break;
    case 3:
        s.results[0] = bpf_skb_change_head(skb, 14, 0);
        break;
    case 4:
        s.results[0] = bpf_skb_change_head(skb, 300, 0);
        s.results[1] = bpf_skb_change_head(skb, 0xffffffff, 0);
        s.results[2] = bpf_skb_change_head(skb, 4, 1);
        break;
    default:
        s.results[0] = bpf_skb_change_head(skb, 8, 0);
        s.results[1] = bpf_skb_change_tail(skb, len + 4, 0);
    }
    s.len = skb->len;
    unsigned char *data = (void *)(long)skb->data;
    unsigned char *end = (void *)(long)skb->data_end;
    if (data + 1 <= end)
        s.first = data[0];
    __u8 last = 0;
    s.results[2] += bpf_skb_load_bytes(skb, skb->len - 1, &last, 1);
    s.last = last;
    bpf_map_update_elem(&by_length, &len, &s, BPF_ANY);
    return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
