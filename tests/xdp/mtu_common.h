// The body of mtu.c (XDP) and mtu_tc.c (TC): bpf_check_mtu on the test
// run's device (ifindex 0, and loopback's own), the frame's length and a
// given length against the MTU, with growths past it, an unknown
// interface and the flags each form refuses; results and the MTU written
// back are summed.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 8);
    __type(key, __u32);
    __type(value, __u64);
} results SEC(".maps");

static __always_inline void add(__u32 i, __u64 v)
{
    __u64 *n = bpf_map_lookup_elem(&results, &i);
    if (n)
        *n += v;
}

#define CHECKS(ctx, len)                                                        \
    do {                                                                        \
        __u32 mtu = 0;                                                          \
        add(0, bpf_check_mtu(ctx, 0, &mtu, 0, 0));                              \
        add(1, mtu);                                                            \
        mtu = 0;                                                                \
        add(2, bpf_check_mtu(ctx, 1, &mtu, 65550 - (len), 0));                  \
        mtu = 0;                                                                \
        add(2, 10 * bpf_check_mtu(ctx, 1, &mtu, 65551 - (len), 0));             \
        mtu = 65536;                                                            \
        add(3, bpf_check_mtu(ctx, 0, &mtu, 0, 0));                              \
        mtu = 65537;                                                            \
        add(3, 10 * bpf_check_mtu(ctx, 0, &mtu, 0, 0));                         \
        mtu = 7;                                                                \
        add(4, -bpf_check_mtu(ctx, 9999, &mtu, 0, 0));                          \
        add(5, mtu);                                                            \
        mtu = 7;                                                                \
        add(6, -bpf_check_mtu(ctx, 0, &mtu, 0, 4));                             \
        add(7, mtu);                                                            \
    } while (0)

