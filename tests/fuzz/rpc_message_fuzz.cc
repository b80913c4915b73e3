// libFuzzer target: arbitrary bytes as an RPC record stream. Walks the record-marking fragments
// and decodes each record's call header, as rpc::Server does; must never crash or read out of
// bounds.
#include <cstddef>
#include <cstdint>

#include "rpc/message.h"
#include "rpc/record_marking.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace bucketfs;
  constexpr std::size_t kMaxRecord = 1 << 20;
  Bytes record;
  std::size_t pos = 0;
  while (size - pos >= 4) {
    rpc::FragmentHeader f = rpc::ParseFragmentHeader(data + pos);
    pos += 4;
    if (f.length > size - pos || f.length > kMaxRecord - record.size()) break;
    record.insert(record.end(), data + pos, data + pos + f.length);
    pos += f.length;
    if (!f.last) continue;
    rpc::CallContext ctx;
    ByteView args;
    rpc::DecodeCall(record, &ctx, &args);
    record.clear();
  }
  return 0;
}
