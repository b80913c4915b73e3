// listdir DIR: prints the names of DIR's entries (not "." and "..") one per line, in the order
// readdir(3) returns them, i.e. the server's READDIR order. Unlike find or ls it never stats an
// entry, so listing a 100,000-entry directory in the guest costs READDIRs only.
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: listdir DIR\n");
    return 2;
  }
  DIR* dir = opendir(argv[1]);
  if (dir == NULL) {
    fprintf(stderr, "listdir: %s: %s\n", argv[1], strerror(errno));
    return 1;
  }
  for (;;) {
    errno = 0;
    struct dirent* e = readdir(dir);
    if (e == NULL) break;
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    if (puts(e->d_name) == EOF) return 1;
  }
  if (errno != 0) {
    fprintf(stderr, "listdir: readdir %s: %s\n", argv[1], strerror(errno));
    return 1;
  }
  closedir(dir);
  return fflush(stdout) == 0 ? 0 : 1;
}
