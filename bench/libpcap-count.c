/* The ceiling: libpcap's offline reader walking a capture and counting
 * packets and bytes, nothing else. Prints "packets bytes seconds". */
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

static uint64_t packets, bytes;

static void count(u_char *user, const struct pcap_pkthdr *h, const u_char *data) {
  (void)user;
  (void)data;
  packets++;
  bytes += h->len;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s capture\n", argv[0]);
    return 2;
  }
  char err[PCAP_ERRBUF_SIZE];
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  pcap_t *p = pcap_open_offline(argv[1], err);
  if (!p) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  if (pcap_loop(p, -1, count, NULL) == -1) fprintf(stderr, "%s\n", pcap_geterr(p));
  pcap_close(p);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double s = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
  printf("%llu %llu %.6f\n", (unsigned long long)packets, (unsigned long long)bytes, s);
  return 0;
}
