// locktool: byte-range and whole-file locks from inside a kernel-client guest (the guest has only
// busybox). Built static by the lock integration test. Prints one line per step and exits 0 when
// the step did what it reports, 1 otherwise, 2 on bad usage.
//
//   locktool try FILE r|w OFFSET LEN         F_SETLK once: prints GRANTED or DENIED, then unlocks
//   locktool hold FILE r|w OFFSET LEN SECS   F_SETLK, prints GRANTED, holds SECS seconds, unlocks
//   locktool wait FILE r|w OFFSET LEN SECS   F_SETLKW (blocking): prints GRANTED after N ms, holds
//                                            SECS seconds (0: none), unlocks
//   locktool poll FILE w TIMEOUT_SECS MARK   F_SETLK every second until granted: prints the number
//                                            of denials and the seconds it took; creates MARK
//                                            (a file) while it holds, then holds forever
//   locktool getlk FILE r|w OFFSET LEN       F_GETLK: prints UNLOCKED or the conflicting type/range
//   locktool flock FILE                      flock(LOCK_EX|LOCK_NB): prints GRANTED or DENIED
//   locktool holdmark FILE SECS MARK         F_SETLK whole file (w), creates MARK, holds SECS
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/time.h>
#include <unistd.h>

static long long NowMs(void) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static int OpenFile(const char* path) {
  int fd = open(path, O_RDWR | O_CREAT, 0666);
  if (fd < 0) {
    printf("ERROR open %s: %s\n", path, strerror(errno));
    exit(1);
  }
  return fd;
}

static struct flock Range(const char* kind, const char* off, const char* len) {
  struct flock fl;
  memset(&fl, 0, sizeof fl);
  fl.l_type = kind[0] == 'w' ? F_WRLCK : F_RDLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = atoll(off);
  fl.l_len = atoll(len);
  return fl;
}

static void Unlock(int fd, struct flock fl) {
  fl.l_type = F_UNLCK;
  if (fcntl(fd, F_SETLK, &fl) != 0) {
    printf("ERROR unlock: %s\n", strerror(errno));
    exit(1);
  }
}

static void Touch(const char* mark) {
  int fd = open(mark, O_WRONLY | O_CREAT | O_TRUNC, 0666);
  if (fd < 0) {
    printf("ERROR create %s: %s\n", mark, strerror(errno));
    exit(1);
  }
  close(fd);
}

int main(int argc, char** argv) {
  if (argc < 3) return 2;
  const char* cmd = argv[1];
  int fd = OpenFile(argv[2]);
  if (strcmp(cmd, "try") == 0 && argc == 6) {
    struct flock fl = Range(argv[3], argv[4], argv[5]);
    if (fcntl(fd, F_SETLK, &fl) == 0) {
      printf("GRANTED\n");
      Unlock(fd, fl);
      return 0;
    }
    if (errno == EAGAIN || errno == EACCES) {
      printf("DENIED\n");
      return 0;
    }
    printf("ERROR F_SETLK: %s\n", strerror(errno));
    return 1;
  }
  if ((strcmp(cmd, "hold") == 0 || strcmp(cmd, "wait") == 0) && argc == 7) {
    struct flock fl = Range(argv[3], argv[4], argv[5]);
    const int blocking = strcmp(cmd, "wait") == 0;
    long long start = NowMs();
    if (fcntl(fd, blocking ? F_SETLKW : F_SETLK, &fl) != 0) {
      printf("%s\n", errno == EAGAIN || errno == EACCES ? "DENIED" : strerror(errno));
      return 1;
    }
    printf("GRANTED after %lld ms\n", NowMs() - start);
    fflush(stdout);
    sleep(atoi(argv[6]));
    Unlock(fd, fl);
    printf("RELEASED\n");
    return 0;
  }
  if (strcmp(cmd, "holdmark") == 0 && argc == 5) {
    struct flock fl = Range("w", "0", "0");
    if (fcntl(fd, F_SETLK, &fl) != 0) {
      printf("DENIED\n");
      return 1;
    }
    Touch(argv[4]);
    printf("GRANTED\n");
    fflush(stdout);
    sleep(atoi(argv[3]));
    Unlock(fd, fl);
    printf("RELEASED\n");
    return 0;
  }
  if (strcmp(cmd, "poll") == 0 && argc == 6) {
    struct flock fl = Range(argv[3], "0", "0");
    const int timeout = atoi(argv[4]);
    long long start = NowMs();
    int denied = 0;
    while (fcntl(fd, F_SETLK, &fl) != 0) {
      if (errno != EAGAIN && errno != EACCES) {
        printf("ERROR F_SETLK: %s\n", strerror(errno));
        return 1;
      }
      ++denied;
      if (NowMs() - start > timeout * 1000LL) {
        printf("TIMEOUT after %d denials\n", denied);
        return 1;
      }
      sleep(1);
    }
    printf("GRANTED after %d denials, %lld s\n", denied, (NowMs() - start) / 1000);
    fflush(stdout);
    Touch(argv[5]);
    for (;;) pause();
  }
  if (strcmp(cmd, "getlk") == 0 && argc == 6) {
    struct flock fl = Range(argv[3], argv[4], argv[5]);
    if (fcntl(fd, F_GETLK, &fl) != 0) {
      printf("ERROR F_GETLK: %s\n", strerror(errno));
      return 1;
    }
    if (fl.l_type == F_UNLCK) {
      printf("UNLOCKED\n");
    } else {
      printf("LOCKED %s %lld %lld\n", fl.l_type == F_WRLCK ? "w" : "r", (long long)fl.l_start,
             (long long)fl.l_len);
    }
    return 0;
  }
  if (strcmp(cmd, "flock") == 0 && argc == 3) {
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
      printf("GRANTED\n");
      flock(fd, LOCK_UN);
      return 0;
    }
    if (errno == EWOULDBLOCK) {
      printf("DENIED\n");
      return 0;
    }
    printf("ERROR flock: %s\n", strerror(errno));
    return 1;
  }
  return 2;
}
