// read_client: the reader side of the read-path benchmarks. Reads files either over NFSv4 with
// libnfs (one TCP connection per reader thread) or through a local path (a FUSE mount), so the
// same code measures bucketfs, nfs-ganesha, s3fs and rclone.
//
//   read_client seq    TARGET FILE [CHUNK]            one reader, whole file: MiB/s
//   read_client fanout TARGET READERS FILE...         READERS readers, each reads every FILE
//                                                     (TARGET may be a comma-separated list, one
//                                                     per reader, e.g. 8 FUSE mounts)
//   read_client rand   TARGET FILE READERS SECONDS    READERS readers doing random 4 KiB preads:
//                                                     ops/s, p50 and p99 latency
//
// TARGET: nfs://HOST/EXPORT?version=4&nfsport=PORT, or a local directory. Output: one line of
// key=value figures. Bounded: rand stops after SECONDS (at most 300); reads stop at EOF.
#include <fcntl.h>
#include <nfsc/libnfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

// One reader's connection to the files: libnfs context or plain file descriptors.
class Source {
 public:
  virtual ~Source() = default;
  virtual bool Open(const std::string& file) = 0;
  virtual int64_t PRead(uint64_t offset, uint64_t count, uint8_t* buf) = 0;
  virtual uint64_t Size() = 0;
  virtual void Close() = 0;
  virtual std::string Error() = 0;
};

class NfsSource : public Source {
 public:
  NfsSource(const std::string& url, int reader) {
    nfs_ = nfs_init_context();
    // Each connection is its own NFSv4 client: the same name from several connections would make
    // each new one replace the previous one's client record (RFC 7530 §16.33.5).
    std::string name = "bucketfs-read-client-" + std::to_string(::getpid()) + "-" +
                       std::to_string(reader);
    nfs4_set_client_name(nfs_, name.c_str());
    nfs_url* u = nfs_parse_url_dir(nfs_, url.c_str());
    if (u == nullptr || nfs_mount(nfs_, u->server, u->path) != 0) {
      error_ = std::string("mount ") + url + ": " + nfs_get_error(nfs_);
    }
    if (u != nullptr) nfs_destroy_url(u);
  }
  ~NfsSource() override {
    Close();
    nfs_destroy_context(nfs_);
  }
  bool ok() const { return error_.empty(); }
  bool Open(const std::string& file) override {
    std::string path = "/" + file;
    if (nfs_open(nfs_, path.c_str(), O_RDONLY, &fh_) != 0) {
      error_ = "open " + file + ": " + nfs_get_error(nfs_);
      return false;
    }
    nfs_stat_64 st{};
    if (nfs_stat64(nfs_, path.c_str(), &st) != 0) return false;
    size_ = st.nfs_size;
    return true;
  }
  int64_t PRead(uint64_t offset, uint64_t count, uint8_t* buf) override {
    int r = nfs_pread(nfs_, fh_, offset, count, buf);
    if (r < 0) error_ = std::string("read: ") + nfs_get_error(nfs_);
    return r;
  }
  uint64_t Size() override { return size_; }
  void Close() override {
    if (fh_ != nullptr) nfs_close(nfs_, fh_);
    fh_ = nullptr;
  }
  std::string Error() override { return error_; }

 private:
  nfs_context* nfs_ = nullptr;
  nfsfh* fh_ = nullptr;
  uint64_t size_ = 0;
  std::string error_;
};

class FileSource : public Source {
 public:
  explicit FileSource(std::string dir) : dir_(std::move(dir)) {}
  ~FileSource() override { Close(); }
  bool Open(const std::string& file) override {
    fd_ = ::open((dir_ + "/" + file).c_str(), O_RDONLY);
    if (fd_ < 0) error_ = "open " + dir_ + "/" + file + ": " + std::strerror(errno);
    return fd_ >= 0;
  }
  int64_t PRead(uint64_t offset, uint64_t count, uint8_t* buf) override {
    ssize_t r = ::pread(fd_, buf, count, static_cast<off_t>(offset));
    if (r < 0) error_ = std::string("read: ") + std::strerror(errno);
    return r;
  }
  uint64_t Size() override {
    off_t end = ::lseek(fd_, 0, SEEK_END);
    return end < 0 ? 0 : static_cast<uint64_t>(end);
  }
  void Close() override {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  std::string Error() override { return error_; }

 private:
  std::string dir_;
  int fd_ = -1;
  std::string error_;
};

std::unique_ptr<Source> Connect(const std::string& target, int reader = 0) {
  if (target.rfind("nfs://", 0) == 0) {
    auto s = std::make_unique<NfsSource>(target, reader);
    if (!s->ok()) {
      std::fprintf(stderr, "read_client: %s\n", s->Error().c_str());
      std::exit(1);
    }
    return s;
  }
  return std::make_unique<FileSource>(target);
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// Reads `file` from start to end in `chunk` pieces; returns bytes or -1.
int64_t ReadWhole(Source& src, const std::string& file, uint64_t chunk) {
  if (!src.Open(file)) return -1;
  std::vector<uint8_t> buf(chunk);
  uint64_t total = 0;
  for (;;) {
    int64_t n = src.PRead(total, chunk, buf.data());
    if (n < 0) return -1;
    if (n == 0) break;
    total += static_cast<uint64_t>(n);
  }
  src.Close();
  return static_cast<int64_t>(total);
}

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    std::size_t p = s.find(sep, start);
    out.push_back(s.substr(start, p - start));
    if (p == std::string::npos) return out;
    start = p + 1;
  }
}

int Seq(const std::string& target, const std::string& file, uint64_t chunk) {
  auto src = Connect(target);
  auto t0 = Clock::now();
  int64_t n = ReadWhole(*src, file, chunk);
  double secs = Seconds(Clock::now() - t0);
  if (n < 0) {
    std::fprintf(stderr, "read_client: %s\n", src->Error().c_str());
    return 1;
  }
  std::printf("bytes=%lld seconds=%.3f mib_s=%.1f\n", static_cast<long long>(n), secs,
              n / 1048576.0 / secs);
  return 0;
}

int Fanout(const std::string& targets, int readers, const std::vector<std::string>& files) {
  std::vector<std::string> t = Split(targets, ',');
  std::vector<std::unique_ptr<Source>> sources;
  for (int i = 0; i < readers; ++i) sources.push_back(Connect(t[i % t.size()], i));
  std::atomic<int64_t> total{0};
  std::atomic<int> failures{0};
  auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (int i = 0; i < readers; ++i) {
    threads.emplace_back([&, i] {
      for (const auto& f : files) {
        int64_t n = ReadWhole(*sources[i], f, 1 << 20);
        if (n < 0) {
          std::fprintf(stderr, "read_client: reader %d: %s\n", i, sources[i]->Error().c_str());
          ++failures;
          return;
        }
        total += n;
      }
    });
  }
  for (auto& th : threads) th.join();
  double secs = Seconds(Clock::now() - t0);
  std::printf("bytes=%lld seconds=%.3f mib_s=%.1f failures=%d\n",
              static_cast<long long>(total.load()), secs, total / 1048576.0 / secs,
              failures.load());
  return failures == 0 ? 0 : 1;
}

int Rand(const std::string& target, const std::string& file, int readers, double seconds) {
  seconds = std::min(seconds, 300.0);
  std::vector<std::unique_ptr<Source>> sources;
  for (int i = 0; i < readers; ++i) {
    sources.push_back(Connect(target, i));
    if (!sources.back()->Open(file)) {
      std::fprintf(stderr, "read_client: %s\n", sources.back()->Error().c_str());
      return 1;
    }
  }
  const uint64_t blocks = sources[0]->Size() / 4096;
  std::vector<std::vector<double>> lat(readers);
  std::atomic<int> failures{0};
  const auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
  std::vector<std::thread> threads;
  for (int i = 0; i < readers; ++i) {
    threads.emplace_back([&, i] {
      std::mt19937_64 rng(1234 + i);
      uint8_t buf[4096];
      while (Clock::now() < deadline) {
        uint64_t off = (rng() % blocks) * 4096;
        auto t = Clock::now();
        if (sources[i]->PRead(off, 4096, buf) != 4096) {
          ++failures;
          return;
        }
        lat[i].push_back(Seconds(Clock::now() - t));
      }
    });
  }
  for (auto& th : threads) th.join();
  std::vector<double> all;
  for (auto& l : lat) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  auto pct = [&](double p) {
    return all.empty() ? 0 : all[static_cast<std::size_t>(p * (all.size() - 1))];
  };
  std::printf("ops=%zu seconds=%.1f ops_s=%.0f p50_us=%.0f p99_us=%.0f failures=%d\n", all.size(),
              seconds, all.size() / seconds, pct(0.5) * 1e6, pct(0.99) * 1e6, failures.load());
  return failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> a(argv + 1, argv + argc);
  if (a.size() >= 3 && a[0] == "seq") {
    return Seq(a[1], a[2], a.size() > 3 ? std::strtoull(a[3].c_str(), nullptr, 10) : 1 << 20);
  }
  if (a.size() >= 4 && a[0] == "fanout") {
    return Fanout(a[1], std::max(1, std::atoi(a[2].c_str())), {a.begin() + 3, a.end()});
  }
  if (a.size() == 5 && a[0] == "rand") {
    return Rand(a[1], a[2], std::max(1, std::atoi(a[3].c_str())), std::atof(a[4].c_str()));
  }
  std::fprintf(stderr,
               "usage: read_client seq TARGET FILE [CHUNK] | fanout TARGET READERS FILE... | "
               "rand TARGET FILE READERS SECONDS\n");
  return 2;
}
