// A TC classifier reading the frame with the legacy packet loads (clang's
// load_byte/half/word: LD_ABS, and LD_IND at the variable transport offset)
// mixed with direct packet access: a TTL written directly is read back
// through a legacy load. Counts transport words in a hash map; loads past
// the frame end the program with 0 (TC_ACT_OK), as the kernel's do.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

unsigned long long load_byte(void *skb, unsigned long long off) asm("llvm.bpf.load.byte");
unsigned long long load_half(void *skb, unsigned long long off) asm("llvm.bpf.load.half");
unsigned long long load_word(void *skb, unsigned long long off) asm("llvm.bpf.load.word");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 2048);
    __type(key, __u64);
    __type(value, __u64);
} words SEC(".maps");

SEC("tc")
int legacy(struct __sk_buff *skb)
{
    if (load_half(skb, 12) != ETH_P_IP)
        return TC_ACT_UNSPEC;
    void *data = (void *)(long)skb->data;
    void *end = (void *)(long)skb->data_end;
    if (data + 34 <= end) {
        struct iphdr *ip = data + 14;
        ip->ttl = 99;
    }
    __u64 ttl = load_byte(skb, 22);
    __u64 l4 = 14 + (load_byte(skb, 14) & 0xf) * 4;
    __u64 key = load_word(skb, l4) << 8 | ttl;
    __u64 one = 1;
    __u64 *n = bpf_map_lookup_elem(&words, &key);
    if (n)
        *n += 1;
    else
        bpf_map_update_elem(&words, &key, &one, BPF_ANY);
    return ttl == 99 ? TC_ACT_OK : TC_ACT_SHOT;
}

char LICENSE[] SEC("license") = "GPL";
