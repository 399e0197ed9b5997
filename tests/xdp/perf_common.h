// The body of perf.c, perf_tc.c and perf_socket.c: every packet outputs
// one perf event record (its length and protocol, then up to 64 of its
// bytes) to the current CPU's slot, and one of 5 bytes to slot 0 (a length
// the kernel pads); the calls the kernel fails at run time (more packet
// bytes than the packet has, a slot with no event, a slot past the array,
// an unknown flag) add their errno to `results`. The tests run on CPU 0
// with a perf event in slot 0 only, as cranebpf's one CPU has.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
    __uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
    __uint(key_size, sizeof(__u32));
    __uint(value_size, sizeof(__u32));
    __uint(max_entries, 2);
} events SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 6);
    __type(key, __u32);
    __type(value, __u64);
} results SEC(".maps");

struct event {
    __u32 len;
    __u16 proto;
    __u16 first;
};

static __always_inline void add(__u32 i, __u64 v)
{
    __u64 *n = bpf_map_lookup_elem(&results, &i);
    if (n)
        *n += v;
}

static __always_inline void report(void *ctx, __u32 len, __u16 proto, __u16 first)
{
    struct event e = {.len = len, .proto = proto, .first = first};
    __u64 take = len < 64 ? len : 64;
    long r = bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU | (take << 32), &e, sizeof(e));
    add(0, r == 0);
    r = bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU | ((__u64)(len + 1) << 32), &e,
                              sizeof(e));
    add(1, -r);
    add(2, -bpf_perf_event_output(ctx, &events, 1, &e, sizeof(e)));
    add(3, -bpf_perf_event_output(ctx, &events, 5, &e, sizeof(e)));
    add(4, -bpf_perf_event_output(ctx, &events, 1ULL << 53, &e, sizeof(e)));
    add(5, bpf_perf_event_output(ctx, &events, 0, &e, 5) == 0);
}
