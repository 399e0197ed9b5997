// Programs the kernel's verifier refuses, for packet reads no comparison
// with data_end proves, for a map lookup used unchecked, for a helper
// given a stack pointer for a map, for a store into .rodata or a devmap
// value, and for maps given to helpers their type does not go with
// (directly, or as the inner map of a map of maps), for arithmetic on
// data_end, for ring buffer samples never released, held across a tail
// call or used before their NULL check, and for packet pointers moved by
// numbers that may be negative, are too large, or are never bounded
// below MAX_PACKET_OFF, and for map value accesses outside the value;
// and for numbers that may be negative (sign-extended, compared signed
// from one side only) moving either; and for the memory helpers are
// given (a key smaller than the map's, a size that may be zero, negative
// or past the buffer, packet bytes where a helper may not read them or
// past what a comparison proves); and for a read that only some paths
// prove (a per-path packet offset or map value index); and for a loop
// the kernel's verifier walks past its limit of processed instructions;
// cranebpf must refuse each with the same reason.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>

// No check at all.
SEC("xdp")
int no_check(struct xdp_md *ctx)
{
    unsigned char *data = (void *)(long)ctx->data;
    return data[12] == 8 ? XDP_PASS : XDP_DROP;
}

// Checks 14 bytes, reads byte 23.
SEC("xdp")
int short_check(struct xdp_md *ctx)
{
    unsigned char *data = (void *)(long)ctx->data;
    unsigned char *end = (void *)(long)ctx->data_end;
    if (data + 14 > end)
        return XDP_DROP;
    return data[23] == 6 ? XDP_PASS : XDP_DROP;
}

// Checks on one path only.
SEC("xdp")
int one_path(struct xdp_md *ctx)
{
    unsigned char *data = (void *)(long)ctx->data;
    unsigned char *end = (void *)(long)ctx->data_end;
    if (ctx->ingress_ifindex == 7 && data + 40 > end)
        return XDP_DROP;
    return data[30];
}

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 4);
    __type(key, __u32);
    __type(value, __u64);
} counts SEC(".maps");

// Uses a lookup's result without comparing it with NULL.
SEC("xdp")
int unchecked_lookup(struct xdp_md *ctx)
{
    __u32 key = ctx->rx_queue_index & 3;
    __u64 *n = bpf_map_lookup_elem(&counts, &key);
    *n += 1;
    return XDP_PASS;
}

// Passes a stack pointer where the helper takes a map.
SEC("xdp")
int not_a_map(struct xdp_md *ctx)
{
    __u32 key = 0;
    __u64 *n = bpf_map_lookup_elem((void *)&key, &key);
    return n ? XDP_PASS : XDP_DROP;
}

// Writes a constant global (.rodata, read-only to programs).
const volatile __u32 limit = 5;

SEC("xdp")
int write_rodata(struct xdp_md *ctx)
{
    *(volatile __u32 *)&limit = ctx->rx_queue_index;
    return XDP_PASS;
}

struct {
    __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
    __uint(max_entries, 2);
    __uint(key_size, sizeof(__u32));
    __uint(value_size, sizeof(__u32));
} jumps SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_DEVMAP);
    __uint(max_entries, 2);
    __type(key, __u32);
    __type(value, __u32);
} ports SEC(".maps");

// A program array is for bpf_tail_call only.
SEC("xdp")
int lookup_prog_array(struct xdp_md *ctx)
{
    __u32 key = 0;
    return bpf_map_lookup_elem(&jumps, &key) ? XDP_PASS : XDP_DROP;
}

// bpf_redirect_map takes devmaps, cpumaps and xskmaps.
SEC("xdp")
int redirect_to_array(struct xdp_md *ctx)
{
    return bpf_redirect_map(&counts, 0, XDP_PASS);
}

// bpf_perf_event_output takes a perf event array.
SEC("xdp")
int perf_to_array(struct xdp_md *ctx)
{
    __u64 v = 1;
    bpf_perf_event_output(ctx, &counts, BPF_F_CURRENT_CPU, &v, sizeof(v));
    return XDP_PASS;
}

// Programs may not update a devmap.
SEC("xdp")
int update_devmap(struct xdp_md *ctx)
{
    __u32 key = 0, ifindex = 1;
    bpf_map_update_elem(&ports, &key, &ifindex, 0);
    return XDP_PASS;
}

// A devmap's values are read-only to programs.
SEC("xdp")
int write_devmap(struct xdp_md *ctx)
{
    __u32 key = 0;
    __u32 *ifindex = bpf_map_lookup_elem(&ports, &key);
    if (ifindex)
        *ifindex = ctx->rx_queue_index;
    return XDP_PASS;
}

struct inner {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 4);
    __type(key, __u32);
    __type(value, __u64);
} inner_a SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
    __uint(max_entries, 2);
    __type(key, __u32);
    __array(values, struct inner);
} outer SEC(".maps");

// A map of maps is for lookups only.
SEC("xdp")
int update_outer(struct xdp_md *ctx)
{
    __u32 key = 0, value = 0;
    bpf_map_update_elem(&outer, &key, &value, 0);
    return XDP_PASS;
}

// The map a lookup in a map of maps gives is its inner template's type.
SEC("xdp")
int redirect_to_inner(struct xdp_md *ctx)
{
    __u32 key = 0;
    void *inner = bpf_map_lookup_elem(&outer, &key);
    if (!inner)
        return XDP_DROP;
    return bpf_redirect_map(inner, 0, XDP_PASS);
}

// data_end cannot be moved.
SEC("xdp")
int end_arithmetic(struct xdp_md *ctx)
{
    unsigned char *data = (void *)(long)ctx->data;
    unsigned char *end = (void *)(long)ctx->data_end;
    if (end - 1 < data)
        return XDP_DROP;
    return *(end - 1) == 0 ? XDP_PASS : XDP_DROP;
}

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 4096);
} events SEC(".maps");

// A sample reserved and, on one path, neither submitted nor discarded.
SEC("xdp")
int leak_sample(struct xdp_md *ctx)
{
    __u64 *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
    if (!e)
        return XDP_PASS;
    if (ctx->rx_queue_index == 3)
        return XDP_DROP;
    *e = ctx->ingress_ifindex;
    bpf_ringbuf_submit(e, 0);
    return XDP_PASS;
}

// A tail call while holding a sample.
SEC("xdp")
int tail_with_sample(struct xdp_md *ctx)
{
    __u64 *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
    if (!e)
        return XDP_PASS;
    bpf_tail_call(ctx, &jumps, 0);
    bpf_ringbuf_discard(e, 0);
    return XDP_PASS;
}

// A sample written before it is compared with NULL.
SEC("xdp")
int unchecked_sample(struct xdp_md *ctx)
{
    __u64 *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
    *e = 1;
    bpf_ringbuf_submit(e, 0);
    return XDP_PASS;
}

static long visit(void *map, void *key, void *value, void *ctx)
{
    return 0;
}

// bpf_for_each_map_elem walks hash and array maps, not ring buffers.
SEC("xdp")
int for_each_ring(struct xdp_md *ctx)
{
    bpf_for_each_map_elem(&events, visit, 0, 0);
    return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";

// A pointer moved by the IPv4 header's length (a number read from the
// packet), read with no comparison past it.
SEC("xdp")
int variable_unchecked(struct xdp_md *ctx)
{
    unsigned char *data = (void *)(long)ctx->data;
    unsigned char *end = (void *)(long)ctx->data_end;
    if (data + 34 > end)
        return XDP_DROP;
    unsigned char *l4 = data + 14 + (data[14] & 0xf) * 4;
    return l4[2] == 1 ? XDP_PASS : XDP_DROP;
}

// The same, proving 2 bytes past it and reading the third and fourth.
SEC("xdp")
int variable_short(struct xdp_md *ctx)
{
    unsigned char *data = (void *)(long)ctx->data;
    unsigned char *end = (void *)(long)ctx->data_end;
    if (data + 34 > end)
        return XDP_DROP;
    unsigned char *l4 = data + 14 + (data[14] & 0xf) * 4;
    if (l4 + 2 > end)
        return XDP_DROP;
    return l4[3] == 1 ? XDP_PASS : XDP_DROP;
}

// Gives a number (a context field) where the helper takes a pointer to
// the key.
SEC("xdp")
int scalar_key(struct xdp_md *ctx)
{
    __u64 *n = bpf_map_lookup_elem(&counts, (void *)(long)ctx->rx_queue_index);
    return n ? XDP_PASS : XDP_DROP;
}

// Moves a packet pointer by 8 bytes read whole: any 64-bit number,
// negative ones included (refused at the addition).
SEC("xdp")
int unbounded_offset(struct xdp_md *ctx)
{
    unsigned char *data = (void *)(long)ctx->data;
    unsigned char *end = (void *)(long)ctx->data_end;
    if (data + 22 > end)
        return XDP_PASS;
    __u64 n = *(__u64 *)(data + 14);
    unsigned char *p = data + n;
    if (p + 1 > end)
        return XDP_PASS;
    return *p;
}

// The same with a helper's result.
SEC("xdp")
int helper_offset(struct xdp_md *ctx)
{
    unsigned char *data = (void *)(long)ctx->data;
    unsigned char *end = (void *)(long)ctx->data_end;
    unsigned char *p = data + bpf_ktime_get_ns();
    if (p + 1 > end)
        return XDP_PASS;
    return *p;
}

// Moves it by any 32-bit number: allowed, but past MAX_PACKET_OFF no
// comparison with data_end proves anything.
SEC("xdp")
int wide_offset(struct xdp_md *ctx)
{
    unsigned char *data = (void *)(long)ctx->data;
    unsigned char *end = (void *)(long)ctx->data_end;
    if (data + 18 > end)
        return XDP_PASS;
    __u32 n = *(__u32 *)(data + 14);
    unsigned char *p = data + n;
    if (p + 1 > end)
        return XDP_PASS;
    return *p;
}

// The same with a random 32-bit number (zero-extended by clang).
SEC("xdp")
int random_offset(struct xdp_md *ctx)
{
    unsigned char *data = (void *)(long)ctx->data;
    unsigned char *end = (void *)(long)ctx->data_end;
    unsigned char *p = data + bpf_get_prandom_u32();
    if (p + 1 > end)
        return XDP_PASS;
    return *p;
}

// Moves it by 2^29 or more (clang folds the constant into the check).
SEC("xdp")
int far_offset(struct xdp_md *ctx)
{
    unsigned char *data = (void *)(long)ctx->data;
    unsigned char *end = (void *)(long)ctx->data_end;
    if (data + 18 > end)
        return XDP_PASS;
    __u64 n = (*(__u32 *)(data + 14) >> 2) + 0x20000000;
    unsigned char *p = data + n;
    if (p + 1 > end)
        return XDP_PASS;
    return *p;
}

// Map values: accesses past the value's end, at a constant offset or at
// an index no comparison (or too loose a one) keeps inside it; in a
// lookup's result and in .bss.
struct slots {
    __u32 slot[8];
};

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 4);
    __type(key, __u32);
    __type(value, struct slots);
} table SEC(".maps");

__u32 hits[4];

SEC("xdp")
int value_past_end(struct xdp_md *ctx)
{
    __u32 k = 0;
    __u64 *v = bpf_map_lookup_elem(&counts, &k);
    if (!v)
        return XDP_PASS;
    return v[1];
}

SEC("xdp")
int value_index_unchecked(struct xdp_md *ctx)
{
    unsigned char *data = (void *)(long)ctx->data;
    unsigned char *end = (void *)(long)ctx->data_end;
    if (data + 30 > end)
        return XDP_PASS;
    __u32 k = 0;
    struct slots *v = bpf_map_lookup_elem(&table, &k);
    if (!v)
        return XDP_PASS;
    v->slot[data[20]]++;
    return XDP_PASS;
}

SEC("xdp")
int value_index_loose(struct xdp_md *ctx)
{
    unsigned char *data = (void *)(long)ctx->data;
    unsigned char *end = (void *)(long)ctx->data_end;
    if (data + 30 > end)
        return XDP_PASS;
    __u32 k = 0;
    struct slots *v = bpf_map_lookup_elem(&table, &k);
    if (!v)
        return XDP_PASS;
    __u32 i = data[20];
    if (i <= 8)
        v->slot[i]++;
    return XDP_PASS;
}

SEC("xdp")
int global_masked(struct xdp_md *ctx)
{
    unsigned char *data = (void *)(long)ctx->data;
    unsigned char *end = (void *)(long)ctx->data_end;
    if (data + 30 > end)
        return XDP_PASS;
    hits[data[20] & 7]++;
    return XDP_PASS;
}

SEC("xdp")
int value_unbounded(struct xdp_md *ctx)
{
    unsigned char *data = (void *)(long)ctx->data;
    unsigned char *end = (void *)(long)ctx->data_end;
    if (data + 30 > end)
        return XDP_PASS;
    __u32 k = 0;
    unsigned char *v = bpf_map_lookup_elem(&table, &k);
    if (!v)
        return XDP_PASS;
    return v[*(__u64 *)(data + 14)];
}

SEC("xdp")
int value_wide_index(struct xdp_md *ctx)
{
    unsigned char *data = (void *)(long)ctx->data;
    unsigned char *end = (void *)(long)ctx->data_end;
    if (data + 30 > end)
        return XDP_PASS;
    __u32 k = 0;
    unsigned char *v = bpf_map_lookup_elem(&table, &k);
    if (!v)
        return XDP_PASS;
    return v[*(__u32 *)(data + 14)];
}

// Signed numbers: a sign-extended byte bounded from above only (shifted
// past its sign by the index scaling), a sign-extended int bounded from
// above moving a packet pointer, a sign-extended byte moving a packet
// pointer or a map value pointer with nothing bounding it below, and a
// difference that may take an index before the value.
SEC("xdp")
int signed_index(struct xdp_md *ctx)
{
    unsigned char *data = (void *)(long)ctx->data;
    unsigned char *end = (void *)(long)ctx->data_end;
    if (data + 30 > end)
        return XDP_PASS;
    __u32 k = 0;
    struct slots *v = bpf_map_lookup_elem(&table, &k);
    if (!v)
        return XDP_PASS;
    signed char i = data[20];
    if (i < 8)
        v->slot[i]++;
    return XDP_PASS;
}

SEC("xdp")
int signed_far_offset(struct xdp_md *ctx)
{
    unsigned char *data = (void *)(long)ctx->data;
    unsigned char *end = (void *)(long)ctx->data_end;
    if (data + 30 > end)
        return XDP_PASS;
    int n = *(int *)(data + 14);
    if (n < 100) {
        unsigned char *p = data + n;
        if (p + 1 > end)
            return XDP_PASS;
        return *p;
    }
    return XDP_DROP;
}

SEC("xdp")
int signed_packet_offset(struct xdp_md *ctx)
{
    unsigned char *data = (void *)(long)ctx->data;
    unsigned char *end = (void *)(long)ctx->data_end;
    if (data + 30 > end)
        return XDP_PASS;
    unsigned char *p = data + (signed char)data[20];
    if (p + 1 > end)
        return XDP_PASS;
    return *p;
}

SEC("xdp")
int signed_value_offset(struct xdp_md *ctx)
{
    unsigned char *data = (void *)(long)ctx->data;
    unsigned char *end = (void *)(long)ctx->data_end;
    if (data + 30 > end)
        return XDP_PASS;
    __u32 k = 0;
    signed char *v = bpf_map_lookup_elem(&table, &k);
    if (!v)
        return XDP_PASS;
    long d = (signed char)data[20];
    if (d >= -4 && d < 4)
        return v[16 + d];
    return XDP_DROP;
}

SEC("xdp")
int value_before_start(struct xdp_md *ctx)
{
    unsigned char *data = (void *)(long)ctx->data;
    unsigned char *end = (void *)(long)ctx->data_end;
    if (data + 30 > end)
        return XDP_PASS;
    __u32 k = 0;
    struct slots *v = bpf_map_lookup_elem(&table, &k);
    if (!v)
        return XDP_PASS;
    long i = (long)data[20] - 4;
    if (i < 8)
        v->slot[i]++;
    return XDP_PASS;
}

// Memory given to helpers.
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 4);
    __type(key, __u64);
    __type(value, __u64);
} wide_keys SEC(".maps");

SEC("xdp")
int helper_short_key(struct xdp_md *ctx)
{
    unsigned char *data = (void *)(long)ctx->data;
    unsigned char *end = (void *)(long)ctx->data_end;
    if (data + 30 > end)
        return XDP_PASS;
    __u32 k = data[3];
    return bpf_map_lookup_elem(&wide_keys, &k) ? XDP_PASS : XDP_DROP;
}

SEC("xdp")
int helper_zero_size(struct xdp_md *ctx)
{
    unsigned char *data = (void *)(long)ctx->data;
    unsigned char *end = (void *)(long)ctx->data_end;
    if (data + 30 > end)
        return XDP_PASS;
    char buf[64];
    if (bpf_xdp_load_bytes(ctx, 0, buf, data[0] & 63))
        return XDP_DROP;
    return buf[0];
}

SEC("xdp")
int helper_size_past_buffer(struct xdp_md *ctx)
{
    unsigned char *data = (void *)(long)ctx->data;
    unsigned char *end = (void *)(long)ctx->data_end;
    if (data + 30 > end)
        return XDP_PASS;
    char buf[64];
    if (bpf_xdp_load_bytes(ctx, 0, buf, data[0] + 1))
        return XDP_DROP;
    return buf[0];
}

SEC("xdp")
int helper_negative_size(struct xdp_md *ctx)
{
    unsigned char *data = (void *)(long)ctx->data;
    unsigned char *end = (void *)(long)ctx->data_end;
    if (data + 30 > end)
        return XDP_PASS;
    char buf[64];
    long len = (signed char)data[0];
    if (len < 32 && bpf_xdp_load_bytes(ctx, 0, buf, len) == 0)
        return buf[0];
    return XDP_DROP;
}

SEC("xdp")
int helper_packet_data(struct xdp_md *ctx)
{
    unsigned char *data = (void *)(long)ctx->data;
    unsigned char *end = (void *)(long)ctx->data_end;
    if (data + 30 > end)
        return XDP_PASS;
    bpf_ringbuf_output(&events, data, 16, 0);
    return XDP_PASS;
}

SEC("xdp")
int helper_packet_short(struct xdp_md *ctx)
{
    unsigned char *data = (void *)(long)ctx->data;
    unsigned char *end = (void *)(long)ctx->data_end;
    if (data + 30 > end)
        return XDP_PASS;
    return bpf_map_lookup_elem(&wide_keys, data + 26) ? XDP_PASS : XDP_DROP;
}

// Moves a packet pointer by a helper's result the kernel does not bound
// (the frame's length, a 64-bit number to it).
SEC("xdp")
int buff_len_offset(struct xdp_md *ctx)
{
    unsigned char *data = (void *)(long)ctx->data;
    unsigned char *end = (void *)(long)ctx->data_end;
    unsigned char *p = data + bpf_xdp_get_buff_len(ctx);
    if (p + 1 > end)
        return XDP_PASS;
    return *p;
}

// check_mtu writes a u32 where its third argument points: a u16 is short.
SEC("xdp")
int mtu_short_int(struct xdp_md *ctx)
{
    __u16 mtu = 0;
    return bpf_check_mtu(ctx, 0, (__u32 *)&mtu, 0, 0) + mtu;
}

// A stack buffer indexed past its end, out of the frame (a variable
// offset the kernel bounds), and by a number with no bounds at all.
SEC("xdp")
int stack_index_past_frame(struct xdp_md *ctx)
{
    unsigned char *data = (void *)(long)ctx->data;
    unsigned char *end = (void *)(long)ctx->data_end;
    if (data + 30 > end)
        return XDP_PASS;
    volatile char buf[16] = {};
    buf[data[0] & 31] = 1;
    return buf[3];
}

SEC("xdp")
int stack_index_unbounded(struct xdp_md *ctx)
{
    unsigned char *data = (void *)(long)ctx->data;
    unsigned char *end = (void *)(long)ctx->data_end;
    if (data + 30 > end)
        return XDP_PASS;
    volatile char buf[16] = {};
    buf[*(__u64 *)data] = 1;
    return buf[3];
}

// Helpers that take the context given something else: the context moved,
// a number.
SEC("xdp")
int context_moved(struct xdp_md *ctx)
{
    return bpf_xdp_adjust_head((struct xdp_md *)((char *)ctx + 4), 0);
}

SEC("xdp")
int context_number(struct xdp_md *ctx)
{
    unsigned char *data = (void *)(long)ctx->data;
    unsigned char *end = (void *)(long)ctx->data_end;
    if (data + 30 > end)
        return XDP_PASS;
    return bpf_xdp_get_buff_len((struct xdp_md *)(long)data[0]);
}

// An offset that is 14 on one path and 18 on the other: the kernel
// checks each path on its own, and on the second the read past the 34
// checked bytes is refused (joined, the offset could only be called
// "14 to 18" and the read left to a run-time check).
SEC("xdp")
int per_path_offset(struct xdp_md *ctx)
{
    unsigned char *data = (void *)(long)ctx->data;
    unsigned char *end = (void *)(long)ctx->data_end;
    if (data + 34 > end)
        return XDP_DROP;
    unsigned long off = 14;
    if (data[12] == 0x81)
        off = 18;
    asm volatile("" : "+r"(off));
    return *(__u32 *)(data + off + 16) == 1 ? XDP_PASS : XDP_DROP;
}

// The same for a map value: slot 1 on one path, slot 8 (past the
// value's eight) on the other.
SEC("xdp")
int per_path_index(struct xdp_md *ctx)
{
    unsigned char *data = (void *)(long)ctx->data;
    unsigned char *end = (void *)(long)ctx->data_end;
    if (data + 14 > end)
        return XDP_DROP;
    __u32 k = 0;
    struct slots *v = bpf_map_lookup_elem(&table, &k);
    if (!v)
        return XDP_DROP;
    unsigned long i = 1;
    if (data[12] == 8)
        i = 8;
    asm volatile("" : "+r"(i));
    return v->slot[i] & 1 ? XDP_PASS : XDP_DROP;
}

#ifdef BPF_CPU_V3
// An absolute value computed in 32 bits (clang -mcpu=v3: (x + (x >> 31))
// ^ (x >> 31)), checked on a copy the kernel cannot relate to the index
// it then masks to a byte: up to 255 slots of 8 (bounds.c takes the same
// value for other CPU versions, which the kernel accepts).
SEC("xdp")
int absolute_index(struct xdp_md *ctx)
{
    unsigned char *data = (void *)(long)ctx->data;
    unsigned char *end = (void *)(long)ctx->data_end;
    if (data + 30 > end)
        return XDP_PASS;
    __u32 k = 0;
    struct slots *v = bpf_map_lookup_elem(&table, &k);
    if (!v)
        return XDP_PASS;
    long d = (signed char)data[19];
    if (d < 0)
        d = -d;
    if (d < 8)
        v->slot[d] += 4;
    return XDP_PASS;
}
#endif

// A loop with a constant trip count that the kernel's verifier walks
// iteration by iteration: seven instructions 400,000 times are past its
// limit of 1,000,000 processed instructions.
SEC("xdp")
int too_many_iterations(struct xdp_md *ctx)
{
    volatile __u64 sum = 0;
    for (__u32 i = 0; i < 400000; i++)
        sum += i;
    return sum == 12345 ? XDP_DROP : XDP_PASS;
}
