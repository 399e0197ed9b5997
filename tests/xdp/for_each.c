// bpf_for_each_map_elem over an array (in index order: the callback
// weighs each value by its key, bumps it, and stops at a key picked by
// the frame's length) and over a hash map (an order-free sum: the kernel
// walks its buckets in hash order), and with flags (-EINVAL); the
// iteration counts and sums are kept.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 8);
    __type(key, __u32);
    __type(value, __u64);
} counts SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 64);
    __type(key, __u32);
    __type(value, __u64);
} seen SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 6);
    __type(key, __u32);
    __type(value, __u64);
} results SEC(".maps");

struct acc {
    __u64 sum;
    __u32 visited;
    __u32 stop_at;
};

static long weigh(void *map, __u32 *key, __u64 *value, struct acc *a)
{
    a->sum += *value * (*key + 1);
    a->visited++;
    *value += 1;
    return *key == a->stop_at;
}

static long total(void *map, __u32 *key, __u64 *value, struct acc *a)
{
    a->sum += *value + *key;
    a->visited++;
    return 0;
}

static __always_inline void add(__u32 i, __u64 v)
{
    __u64 *n = bpf_map_lookup_elem(&results, &i);
    if (n)
        *n += v;
}

SEC("xdp")
int entry(struct xdp_md *ctx)
{
    __u32 len = ctx->data_end - ctx->data;
    __u32 slot = len % 8, key = len % 64;
    __u64 *c = bpf_map_lookup_elem(&counts, &slot);
    if (c)
        *c += len;
    __u64 one = 1;
    __u64 *s = bpf_map_lookup_elem(&seen, &key);
    if (s)
        *s += 1;
    else
        bpf_map_update_elem(&seen, &key, &one, BPF_NOEXIST);
    struct acc a = {.stop_at = len % 11};
    add(0, bpf_for_each_map_elem(&counts, weigh, &a, 0));
    add(1, bpf_for_each_map_elem(&seen, total, &a, 0));
    add(2, -bpf_for_each_map_elem(&counts, weigh, &a, 1));
    add(3, a.sum);
    add(4, a.visited);
    return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
