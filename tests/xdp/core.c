// CO-RE relocations resolved against the running kernel's BTF, as libbpf
// resolves them: kernel types declared here as a program built against
// another kernel might see them (subsets, other orders, flavours, fields
// that do not exist), their offsets, sizes, existence, bit-field shifts,
// enum values and type ids written to a map, and the XDP context read
// through a flavour whose fields are swapped and widened.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "core_results.h"

struct sched_entity { unsigned long long vruntime; } __attribute__((preserve_access_index));
struct task_struct {
    int pid;
    struct sched_entity se;
} __attribute__((preserve_access_index));
struct net_device;
struct sk_buff {
    unsigned long long len; // an unsigned int in the kernel
    unsigned short protocol;
    unsigned char pkt_type : 3;
    char cb[48];
    struct sk_buff *next; // inside anonymous unions in the kernel
    struct net_device *dev;
    unsigned int mark;
} __attribute__((preserve_access_index));
struct sk_buff___old {
    int cranebpf_no_such_field;
    unsigned int len;
} __attribute__((preserve_access_index));
struct cranebpf_no_such_type { int x; } __attribute__((preserve_access_index));
// The context with its first two fields swapped, data as 64 bits.
struct xdp_md___swapped {
    unsigned int data_end;
    unsigned long long data;
} __attribute__((preserve_access_index));
enum bpf_map_type___mine {
    BPF_MAP_TYPE_RINGBUF___mine = 1,
    BPF_MAP_TYPE_CRANEBPF___mine = 2,
};

SEC("xdp")
int core(struct xdp_md *ctx)
{
    struct xdp_md___swapped *c = (void *)ctx;
    void *data = (void *)(long)c->data;
    void *data_end = (void *)(long)c->data_end;
    struct sk_buff *skb = 0;
    struct sk_buff___old *old = 0;

    put(0, bpf_core_field_offset(struct sk_buff, len));
    put(1, bpf_core_field_size(struct sk_buff, protocol));
    put(2, bpf_core_field_offset(struct sk_buff, protocol));
    put(3, bpf_core_field_exists(struct sk_buff___old, cranebpf_no_such_field));
    put(4, bpf_core_field_exists(struct sk_buff___old, len));
    put(5, bpf_core_type_exists(struct task_struct));
    put(6, bpf_core_type_exists(struct cranebpf_no_such_type));
    put(7, bpf_core_type_size(struct sk_buff));
    put(8, bpf_core_enum_value(enum bpf_map_type___mine, BPF_MAP_TYPE_RINGBUF___mine));
    put(9, bpf_core_enum_value_exists(enum bpf_map_type___mine, BPF_MAP_TYPE_CRANEBPF___mine));
    put(10, bpf_core_enum_value_exists(enum bpf_map_type___mine, BPF_MAP_TYPE_RINGBUF___mine));
    put(11, __builtin_preserve_field_info(skb->len, BPF_FIELD_SIGNED));
    put(12, __builtin_preserve_field_info(((struct task_struct *)0)->pid, BPF_FIELD_SIGNED));
    put(13, __builtin_preserve_field_info(skb->pkt_type, BPF_FIELD_BYTE_OFFSET));
    put(14, __builtin_preserve_field_info(skb->pkt_type, BPF_FIELD_BYTE_SIZE));
    put(15, __builtin_preserve_field_info(skb->pkt_type, BPF_FIELD_LSHIFT_U64));
    put(16, __builtin_preserve_field_info(skb->pkt_type, BPF_FIELD_RSHIFT_U64));
    put(17, bpf_core_field_offset(struct sk_buff, cb[5]));
    put(18, bpf_core_field_offset(struct sk_buff, next));
    put(19, bpf_core_field_offset(struct sk_buff, dev));
    put(20, bpf_core_field_offset(struct sk_buff, mark));
    put(21, bpf_core_field_offset(struct task_struct, se.vruntime));
    put(22, bpf_core_type_id_kernel(struct task_struct));
    put(23, bpf_core_type_size(struct task_struct));
    put(24, (__u64)(unsigned long)&skb[2].mark);
    if (bpf_core_field_exists(struct sk_buff___old, cranebpf_no_such_field))
        put(25, bpf_core_field_offset(struct sk_buff___old, cranebpf_no_such_field));
    else
        put(25, 12345);
    put(26, (__u64)(long)(data_end - data));

    if (data + 14 > data_end)
        return XDP_ABORTED;
    return ((unsigned char *)data)[12] == 0x08 ? XDP_PASS : XDP_DROP;
}

char _license[] SEC("license") = "GPL";
