// A TC classifier with legacy packet loads beside BPF-to-BPF calls (a
// function clang does not inline), which the kernel takes: the loads'
// out-of-packet exits end the main function with 0, the calls still reach
// their functions, and a function reading the packet directly is given the
// context. Held to the kernel by cli/tests/xdp_objects.rs.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

unsigned long long load_byte(void *skb, unsigned long long off) asm("llvm.bpf.load.byte");
unsigned long long load_half(void *skb, unsigned long long off) asm("llvm.bpf.load.half");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 16);
    __type(key, __u32);
    __type(value, __u64);
} seen SEC(".maps");

static __attribute__((noinline)) int mix(int a, int b)
{
    return (a * 31 + b) & 0xff;
}

static __attribute__((noinline)) int direct(struct __sk_buff *skb)
{
    void *data = (void *)(long)skb->data;
    void *end = (void *)(long)skb->data_end;
    if (data + 20 > end)
        return -1;
    return ((unsigned char *)data)[19];
}

SEC("tc")
int entry(struct __sk_buff *skb)
{
    __u32 key = load_byte(skb, 23) & 0xf;
    __u64 *n = bpf_map_lookup_elem(&seen, &key);
    if (n)
        *n += 1;
    int proto = load_half(skb, 12);
    int last = direct(skb);
    if (last < 0)
        return TC_ACT_SHOT;
    // Past the end of short frames: the program ends with 0 there.
    int far = load_byte(skb, 60);
    return mix(proto, far + last) == 7 ? TC_ACT_SHOT : TC_ACT_OK;
}

char _license[] SEC("license") = "GPL";
