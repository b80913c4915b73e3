// Record marking (RFC 5531 §11): reassembly across fragments and arbitrary chunk boundaries, the
// size bound, and the framing encoder.
#include "rpc/record_marking.h"

#include <gtest/gtest.h>

#include <vector>

namespace bucketfs::rpc {
namespace {

Bytes Pattern(std::size_t n, uint8_t seed) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(seed + i);
  return b;
}

TEST(RecordMarkingTest, HeaderRoundTrips) {
  const uint8_t last[4] = {0x80, 0x00, 0x01, 0x02};
  EXPECT_TRUE(ParseFragmentHeader(last).last);
  EXPECT_EQ(ParseFragmentHeader(last).length, 0x102u);
  const uint8_t more[4] = {0x7f, 0xff, 0xff, 0xff};
  EXPECT_FALSE(ParseFragmentHeader(more).last);
  EXPECT_EQ(ParseFragmentHeader(more).length, kMaxFragmentLength);
  EXPECT_EQ(FragmentHeaderValue(true, 5), 0x80000005u);
  EXPECT_EQ(FragmentHeaderValue(false, 5), 5u);
}

TEST(RecordMarkingTest, FrameRecordSplitsIntoFragments) {
  Bytes framed = FrameRecord(Pattern(10, 0), 4);  // 4 + 4 + 2
  ASSERT_EQ(framed.size(), 10u + 3 * 4);
  EXPECT_EQ(ParseFragmentHeader(framed.data()).length, 4u);
  EXPECT_FALSE(ParseFragmentHeader(framed.data()).last);
  EXPECT_FALSE(ParseFragmentHeader(framed.data() + 8).last);
  EXPECT_TRUE(ParseFragmentHeader(framed.data() + 16).last);
  EXPECT_EQ(ParseFragmentHeader(framed.data() + 16).length, 2u);

  Bytes empty = FrameRecord({});
  ASSERT_EQ(empty.size(), 4u);
  EXPECT_TRUE(ParseFragmentHeader(empty.data()).last);
  EXPECT_EQ(ParseFragmentHeader(empty.data()).length, 0u);
}

TEST(RecordMarkingTest, ReassemblesMultiFragmentRecords) {
  Bytes stream;
  const Bytes a = Pattern(10, 1), b = Pattern(7, 50), c = Pattern(0, 0);
  AppendFramedRecord(a, &stream, 3);
  AppendFramedRecord(b, &stream);
  AppendFramedRecord(c, &stream);
  RecordDecoder decoder(1024);
  std::vector<Bytes> records;
  ASSERT_TRUE(decoder.Feed(stream, &records).ok());
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0], a);
  EXPECT_EQ(records[1], b);
  EXPECT_EQ(records[2], c);
  EXPECT_TRUE(decoder.idle());
}

TEST(RecordMarkingTest, EmptyNonLastFragmentsAreAllowed) {
  Bytes stream = {0, 0, 0, 0, 0x80, 0, 0, 2, 9, 8};
  RecordDecoder decoder(1024);
  std::vector<Bytes> records;
  ASSERT_TRUE(decoder.Feed(stream, &records).ok());
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0], (Bytes{9, 8}));
}

// Every way of cutting the stream into two chunks, and one byte at a time, gives the same records.
TEST(RecordMarkingTest, SplitAtEveryByteBoundary) {
  Bytes stream;
  const Bytes a = Pattern(13, 1), b = Pattern(5, 90);
  AppendFramedRecord(a, &stream, 4);
  AppendFramedRecord(b, &stream, 2);
  for (std::size_t split = 0; split <= stream.size(); ++split) {
    RecordDecoder decoder(1024);
    std::vector<Bytes> records;
    ASSERT_TRUE(decoder.Feed(ByteView(stream).first(split), &records).ok());
    ASSERT_TRUE(decoder.Feed(ByteView(stream).subspan(split), &records).ok());
    ASSERT_EQ(records.size(), 2u) << "split at " << split;
    EXPECT_EQ(records[0], a);
    EXPECT_EQ(records[1], b);
  }
  RecordDecoder decoder(1024);
  std::vector<Bytes> records;
  for (uint8_t byte : stream) {
    ASSERT_TRUE(decoder.Feed(ByteView(&byte, 1), &records).ok());
    if (records.empty()) {
      EXPECT_FALSE(decoder.idle());
    }
  }
  EXPECT_TRUE(decoder.idle());
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0], a);
  EXPECT_EQ(records[1], b);
}

TEST(RecordMarkingTest, OversizedFragmentIsRejectedWithoutWaitingForIt) {
  RecordDecoder decoder(100);
  std::vector<Bytes> records;
  const uint8_t huge[4] = {0xff, 0xff, 0xff, 0xff};  // 2 GiB - 1, last
  Status s = decoder.Feed(ByteView(huge, 4), &records);
  EXPECT_EQ(s.code(), ErrorCode::kTooBig);
  EXPECT_TRUE(decoder.failed());
  // Sticky: a well-formed record afterwards is not accepted.
  EXPECT_FALSE(decoder.Feed(FrameRecord(Pattern(4, 0)), &records).ok());
  EXPECT_TRUE(records.empty());
}

TEST(RecordMarkingTest, RecordOverTheBoundAcrossFragmentsIsRejected) {
  Bytes stream;
  AppendFramedRecord(Pattern(101, 0), &stream, 60);  // each fragment fits, the record does not
  RecordDecoder decoder(100);
  std::vector<Bytes> records;
  EXPECT_EQ(decoder.Feed(stream, &records).code(), ErrorCode::kTooBig);
  EXPECT_TRUE(records.empty());

  RecordDecoder exact(100);
  Bytes ok_stream = FrameRecord(Pattern(100, 0), 60);
  ASSERT_TRUE(exact.Feed(ok_stream, &records).ok());
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].size(), 100u);
}

TEST(RecordMarkingTest, FeedUntilFragmentStopsAtEachHeaderAndTellsTheRecordsBound) {
  Bytes stream;
  const Bytes a = Pattern(10, 1), b = Pattern(300, 2);
  AppendFramedRecord(a, &stream);       // one last fragment: bound 10
  AppendFramedRecord({}, &stream);      // an empty record: never stops
  AppendFramedRecord(b, &stream, 200);  // 200 + 100: bound max_record_size until the last
  RecordDecoder decoder(1000);
  std::vector<Bytes> records;
  EXPECT_EQ(decoder.record_bound(), 0u);
  ByteView data(stream);

  auto used = decoder.FeedUntilFragment(data.first(2), &records);  // half a header
  ASSERT_TRUE(used.ok());
  EXPECT_EQ(*used, 2u);
  EXPECT_EQ(decoder.record_bound(), 0u);
  EXPECT_FALSE(decoder.fragment_started());
  data = data.subspan(2);

  used = decoder.FeedUntilFragment(data, &records);  // the rest of a's header, nothing more
  ASSERT_TRUE(used.ok());
  EXPECT_EQ(*used, 2u);
  EXPECT_TRUE(decoder.fragment_started());
  EXPECT_EQ(decoder.record_bound(), 10u);
  decoder.ReserveFragment();
  data = data.subspan(*used);

  // a's body, the empty record, then b's first header.
  used = decoder.FeedUntilFragment(data, &records);
  ASSERT_TRUE(used.ok());
  EXPECT_EQ(*used, 10u + 4u + 4u);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0], a);
  EXPECT_TRUE(records[1].empty());
  EXPECT_TRUE(decoder.fragment_started());
  EXPECT_EQ(decoder.record_bound(), 1000u);  // not the last fragment
  data = data.subspan(*used);

  used = decoder.FeedUntilFragment(data, &records);  // b's first fragment and second header
  ASSERT_TRUE(used.ok());
  EXPECT_EQ(*used, 200u + 4u);
  EXPECT_EQ(decoder.record_bound(), 300u);  // the last fragment: exact now
  data = data.subspan(*used);

  used = decoder.FeedUntilFragment(data, &records);
  ASSERT_TRUE(used.ok());
  EXPECT_EQ(*used, 100u);
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[2], b);
  EXPECT_EQ(decoder.record_bound(), 0u);
  EXPECT_TRUE(decoder.idle());
}

TEST(RecordMarkingTest, ReserveFragmentAllocatesTheAnnouncedBodyOnce) {
  const Bytes a = Pattern(100'000, 3);
  Bytes stream = FrameRecord(a);
  RecordDecoder decoder(1 << 20);
  std::vector<Bytes> records;
  auto used = decoder.FeedUntilFragment(stream, &records);
  ASSERT_TRUE(used.ok());
  ASSERT_EQ(*used, 4u);
  decoder.ReserveFragment();
  ByteView rest = ByteView(stream).subspan(4);
  while (!rest.empty()) {  // in small chunks, as from a socket
    auto n =
        decoder.FeedUntilFragment(rest.first(std::min<std::size_t>(rest.size(), 1000)), &records);
    ASSERT_TRUE(n.ok());
    rest = rest.subspan(*n);
  }
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0], a);
  EXPECT_EQ(records[0].capacity(), a.size());  // grown in place, never doubled
}

}  // namespace
}  // namespace bucketfs::rpc
