// The map core.c and core_matches.c write their resolved CO-RE values to,
// one per slot, as cli/tests/xdp_objects.rs reads it (core_against_libbpf).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 32);
    __type(key, __u32);
    __type(value, __u64);
} results SEC(".maps");

static __always_inline void put(__u32 slot, __u64 value)
{
    bpf_map_update_elem(&results, &slot, &value, BPF_ANY);
}
