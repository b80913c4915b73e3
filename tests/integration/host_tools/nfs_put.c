// nfs_put LOCAL_FILE URL: copies LOCAL_FILE to a new file at URL
// (nfs://HOST/EXPORT/PATH?version=4&nfsport=PORT) through libnfs, in 3 KiB WRITEs (libnfs 4.0 cannot send larger ones over NFSv4), then fsyncs
// (COMMIT) and closes it. Prints the bytes written; exit status 0 once the server acknowledged
// the COMMIT, non-zero (with the libnfs error) otherwise.
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

// After the system headers: libnfs.h uses struct timeval without including <sys/time.h>.
#include <nfsc/libnfs.h>

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: nfs_put LOCAL_FILE URL\n");
    return 2;
  }
  FILE* in = fopen(argv[1], "rb");
  if (in == NULL) {
    perror(argv[1]);
    return 1;
  }
  struct nfs_context* nfs = nfs_init_context();
  if (nfs == NULL) return 1;
  struct nfs_url* url = nfs_parse_url_full(nfs, argv[2]);
  if (url == NULL) {
    fprintf(stderr, "nfs_put: bad URL: %s\n", nfs_get_error(nfs));
    return 1;
  }
  if (nfs_mount(nfs, url->server, url->path) != 0) {
    fprintf(stderr, "nfs_put: mount: %s\n", nfs_get_error(nfs));
    return 1;
  }
  struct nfsfh* fh = NULL;
  if (nfs_open2(nfs, url->file, O_WRONLY | O_CREAT | O_TRUNC, 0644, &fh) != 0) {
    fprintf(stderr, "nfs_put: create %s: %s\n", url->file, nfs_get_error(nfs));
    return 1;
  }
  // libnfs 4.0 fails to encode an NFSv4 WRITE of 4 KiB or more ("Failed to encode
  // COMPOUND4args"): 3 KiB at a time.
  static char buf[3072];
  uint64_t total = 0;
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), in)) > 0) {
    size_t done = 0;
    while (done < n) {
      int w = nfs_write(nfs, fh, n - done, buf + done);
      if (w <= 0) {
        fprintf(stderr, "nfs_put: write %s at %llu: %s\n", url->file,
                (unsigned long long)(total + done), nfs_get_error(nfs));
        return 1;
      }
      done += (size_t)w;
    }
    total += n;
  }
  if (nfs_fsync(nfs, fh) != 0 || nfs_close(nfs, fh) != 0) {
    fprintf(stderr, "nfs_put: commit %s: %s\n", url->file, nfs_get_error(nfs));
    return 1;
  }
  printf("%llu\n", (unsigned long long)total);
  fclose(in);
  nfs_destroy_url(url);
  nfs_destroy_context(nfs);
  return 0;
}
