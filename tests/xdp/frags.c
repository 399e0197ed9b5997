// A multi-buffer XDP program (xdp.frags): frames past one page arrive as
// a linear part and page-sized fragments. It records the frame's whole
// and linear length, reads and writes bytes across the fragments with
// bpf_xdp_load_bytes/_store_bytes, and adjusts the tail by the frame's
// length: shrinking within the last fragment, across every fragment into
// the linear part, growing within the last fragment's page and past it.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct seen {
    __u64 total, linear, tail;
    __s32 results[3];
    __u32 after_total, after_linear;
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 16384);
    __type(key, __u32);
    __type(value, struct seen);
} by_length SEC(".maps");

SEC("xdp.frags")
int entry(struct xdp_md *ctx)
{
    struct seen s = {};
    __u32 total = bpf_xdp_get_buff_len(ctx);
    s.total = total;
    s.linear = ctx->data_end - ctx->data;
    __u64 tail = 0;
    s.results[0] = bpf_xdp_load_bytes(ctx, total > 8 ? total - 8 : 0, &tail, 8);
    s.tail = tail;
    __u32 mark = 0xfeedf00d;
    s.results[1] = bpf_xdp_store_bytes(ctx, 3600, &mark, sizeof(mark));
    switch (total % 5) {
    case 0:
        s.results[2] = bpf_xdp_adjust_tail(ctx, -100);
        break;
    case 1:
        s.results[2] = bpf_xdp_adjust_tail(ctx, 50);
        break;
    case 2:
        s.results[2] = bpf_xdp_adjust_tail(ctx, -(int)(total - 20));
        break;
    case 3:
        s.results[2] = bpf_xdp_adjust_tail(ctx, 5000);
        break;
    default:
        s.results[2] = bpf_xdp_adjust_tail(ctx, -(int)(total - 10));
    }
    s.after_total = bpf_xdp_get_buff_len(ctx);
    s.after_linear = ctx->data_end - ctx->data;
    bpf_map_update_elem(&by_length, &total, &s, BPF_ANY);
    return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
