// libFuzzer target: arbitrary bytes as the byte stream of one RPC connection. Feeds them to the
// record-marking decoder (RFC 5531 §11) in two chunks split at a position taken from the input,
// and decodes each record's call header (§9) as rpc::Server does, then the reply decoder. Must
// never crash, read out of bounds or allocate beyond the record bound.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "rpc/message.h"
#include "rpc/record_marking.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace bucketfs;
  constexpr std::size_t kMaxRecord = 1 << 20;
  if (size == 0) return 0;
  const ByteView input(data + 1, size - 1);
  const std::size_t split = input.empty() ? 0 : data[0] % (input.size() + 1);
  rpc::RecordDecoder decoder(kMaxRecord);
  std::vector<Bytes> records;
  if (decoder.Feed(input.first(split), &records).ok()) {
    (void)decoder.Feed(input.subspan(split), &records);
  }
  for (const Bytes& record : records) {
    rpc::CallContext ctx;
    ByteView args;
    (void)rpc::DecodeCall(record, &ctx, &args);
    rpc::ReplyHeader reply;
    (void)rpc::DecodeReply(record, &reply);
  }
  return 0;
}
