/* Runs classic programs through libpcap's own validator and interpreter.
 * Input lines: "CODE JT JF K,CODE JT JF K,...|PACKETHEX", or with an
 * empty packet part ("...|") only validate: some programs libpcap
 * validates never end in its interpreter.
 * Output lines: "valid VERDICT", "valid" or "invalid". */
#include <pcap/pcap.h>
#include <pcap/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    char line[65536];
    while (fgets(line, sizeof line, stdin)) {
        struct bpf_insn prog[4096];
        unsigned char pkt[8192];
        int n = 0, plen = 0;
        char *bar = strchr(line, '|');
        if (!bar) return 2;
        *bar = 0;
        for (char *tok = strtok(line, ","); tok && n < 4096; tok = strtok(NULL, ",")) {
            unsigned code, jt, jf; unsigned long k;
            if (sscanf(tok, "%u %u %u %lu", &code, &jt, &jf, &k) != 4) return 3;
            prog[n].code = code; prog[n].jt = jt; prog[n].jf = jf; prog[n].k = (bpf_u_int32)k;
            n++;
        }
        for (char *h = bar + 1; h[0] && h[1] && h[0] != '\n' && plen < 8192; h += 2) {
            unsigned b;
            if (sscanf(h, "%2x", &b) != 1) return 4;
            pkt[plen++] = b;
        }
        if (!bpf_validate(prog, n)) { puts("invalid"); fflush(stdout); continue; }
        if (plen == 0) { puts("valid"); fflush(stdout); continue; }
        printf("valid %u\n", bpf_filter(prog, pkt, plen, plen));
        fflush(stdout);
    }
    return 0;
}
