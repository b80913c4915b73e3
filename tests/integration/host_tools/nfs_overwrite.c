// nfs_overwrite URL DATA SECONDS: replaces the contents of the file at URL
// (nfs://HOST/EXPORT/PATH?version=4&nfsport=PORT) with DATA through libnfs, an NFSv4.0 client
// independent of the kernel's. An OPEN the server answers with NFS4ERR_DELAY (a delegation being
// recalled) is retried every 200 ms for up to SECONDS, as a kernel client would. Prints how many
// OPENs were delayed; exit status 0 on success.
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

// After the system headers: libnfs.h uses struct timeval without including <sys/time.h>.
#include <nfsc/libnfs.h>

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: nfs_overwrite URL DATA SECONDS\n");
    return 2;
  }
  struct nfs_context* nfs = nfs_init_context();
  if (nfs == NULL) return 1;
  struct nfs_url* url = nfs_parse_url_full(nfs, argv[1]);
  if (url == NULL) {
    fprintf(stderr, "nfs_overwrite: bad URL: %s\n", nfs_get_error(nfs));
    return 1;
  }
  if (nfs_mount(nfs, url->server, url->path) != 0) {
    fprintf(stderr, "nfs_overwrite: mount: %s\n", nfs_get_error(nfs));
    return 1;
  }
  const time_t deadline = time(NULL) + atoi(argv[3]);
  struct nfsfh* fh = NULL;
  int delayed = 0;
  while (nfs_open(nfs, url->file, O_WRONLY | O_TRUNC, &fh) != 0) {
    const char* err = nfs_get_error(nfs);
    if (strstr(err, "DELAY") == NULL || time(NULL) >= deadline) {
      fprintf(stderr, "nfs_overwrite: open %s: %s (after %d delayed opens)\n", url->file, err,
              delayed);
      return 1;
    }
    ++delayed;
    usleep(200 * 1000);
  }
  const size_t len = strlen(argv[2]);
  if (nfs_write(nfs, fh, len, argv[2]) != (int)len || nfs_fsync(nfs, fh) != 0 ||
      nfs_close(nfs, fh) != 0) {
    fprintf(stderr, "nfs_overwrite: write %s: %s\n", url->file, nfs_get_error(nfs));
    return 1;
  }
  printf("delayed opens: %d\n", delayed);
  nfs_destroy_url(url);
  nfs_destroy_context(nfs);
  return 0;
}
