// bpf_skb_load_bytes_relative in a socket filter, whose packet starts at
// the network header: from the MAC header before it, from the network
// header, past the end.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("socket")
int entry(struct __sk_buff *skb)
{
    __u8 buf[4];
    long a = bpf_skb_load_bytes_relative(skb, 10, buf, sizeof(buf), BPF_HDR_START_MAC);
    __u32 mac = buf[0] | buf[3] << 8;
    long b = bpf_skb_load_bytes_relative(skb, 16, buf, sizeof(buf), BPF_HDR_START_NET);
    __u32 net = buf[1] | buf[2] << 8;
    return (mac ^ net) + (-a << 16) + (-b << 24);
}

char LICENSE[] SEC("license") = "GPL";
