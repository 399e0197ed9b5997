// bpf_loop with two callbacks: one walks the frame's bytes through
// bpf_xdp_load_bytes, stopping at the first byte over 0xf0 (its return
// value counts the iterations, the stopping one included) and counting
// bytes in a map from inside the callback; one runs to its end. Then the
// helper's failures: flags other than 0 (-EINVAL) and more than
// BPF_MAX_LOOPS iterations (-E2BIG, checked on the low 32 bits).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 8);
    __type(key, __u32);
    __type(value, __u64);
} results SEC(".maps");

struct walk {
    struct xdp_md *ctx;
    __u64 sum;
    __u32 high;
};

static __always_inline void add(__u32 i, __u64 v)
{
    __u64 *n = bpf_map_lookup_elem(&results, &i);
    if (n)
        *n += v;
}

static long walk_byte(__u32 i, void *data)
{
    struct walk *w = data;
    __u8 b;
    if (bpf_xdp_load_bytes(w->ctx, i, &b, 1))
        return 1;
    w->sum += b;
    if (b > 0xf0) {
        w->high = i;
        return 1;
    }
    add(5, 1);
    return 0;
}

static long square(__u32 i, void *data)
{
    __u64 *acc = data;
    *acc += (__u64)i * i;
    return 0;
}

SEC("xdp")
int entry(struct xdp_md *ctx)
{
    struct walk w = {.ctx = ctx};
    long n = bpf_loop(200, walk_byte, &w, 0);
    add(0, n);
    add(1, w.sum);
    add(2, w.high);
    __u64 acc = 0;
    long m = bpf_loop((ctx->data_end - ctx->data) % 37, square, &acc, 0);
    add(3, m + acc);
    add(4, -bpf_loop(3, square, &acc, 1));
    add(4, -bpf_loop(0x800001, square, &acc, 0));
    return n % 2 ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
