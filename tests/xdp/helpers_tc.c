// TC helpers: bpf_skb_pull_data (all of it, past the end, 20 bytes; the
// packet read directly afterwards), bpf_skb_load_bytes_relative from the
// MAC and network headers and from an unknown start, bpf_csum_update on a
// buffer without a full checksum, bpf_csum_level up, down and unknown,
// bpf_set_hash and bpf_set_hash_invalid read back through skb->hash.
// Every result is summed into `results`.
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 16);
    __type(key, __u32);
    __type(value, __u64);
} results SEC(".maps");

static __always_inline void add(__u32 i, __u64 v)
{
    __u64 *n = bpf_map_lookup_elem(&results, &i);
    if (n)
        *n += v;
}

SEC("tc")
int entry(struct __sk_buff *skb)
{
    add(0, bpf_skb_pull_data(skb, 0) == 0);
    add(1, -bpf_skb_pull_data(skb, skb->len + 1));
    add(2, -bpf_skb_pull_data(skb, 20));
    __u8 buf[8];
    add(3, -bpf_skb_load_bytes_relative(skb, 0, buf, sizeof(buf), BPF_HDR_START_NET));
    add(4, buf[0] + buf[7]);
    add(5, -bpf_skb_load_bytes_relative(skb, 2, buf, sizeof(buf), BPF_HDR_START_MAC));
    add(6, buf[0] + buf[5]);
    add(7, -bpf_skb_load_bytes_relative(skb, 0, buf, sizeof(buf), 7));
    add(7, buf[3]);
    add(8, -bpf_csum_update(skb, 0x1234));
    add(9, -bpf_csum_level(skb, BPF_CSUM_LEVEL_QUERY));
    bpf_csum_level(skb, BPF_CSUM_LEVEL_INC);
    add(10, bpf_csum_level(skb, BPF_CSUM_LEVEL_QUERY));
    bpf_csum_level(skb, BPF_CSUM_LEVEL_INC);
    add(10, bpf_csum_level(skb, BPF_CSUM_LEVEL_QUERY));
    bpf_csum_level(skb, BPF_CSUM_LEVEL_DEC);
    bpf_csum_level(skb, BPF_CSUM_LEVEL_DEC);
    add(11, -bpf_csum_level(skb, BPF_CSUM_LEVEL_QUERY));
    add(12, -bpf_csum_level(skb, 9));
    bpf_set_hash(skb, skb->len * 7);
    add(13, skb->hash);
    bpf_set_hash_invalid(skb);
    add(14, skb->hash);
    void *data = (void *)(long)skb->data;
    void *end = (void *)(long)skb->data_end;
    if (data + 14 <= end)
        add(15, ((__u8 *)data)[13]);
    return skb->len % 2 ? TC_ACT_OK : TC_ACT_SHOT;
}

char LICENSE[] SEC("license") = "GPL";
