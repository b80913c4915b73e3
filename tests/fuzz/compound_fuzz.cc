// libFuzzer target: bytes as NFSv4 COMPOUND arguments to Nfs4Program over MemoryFs exports.
//
// Each input is served three ways: as raw COMPOUND4args (header included); as the op array of a
// COMPOUND whose header we build (minor version from the first byte, op count from the second);
// and, for minor 1 and 2, behind a valid SEQUENCE on a session created at start-up so that the
// fuzzer reaches the ops past the session checks. Any crash, sanitizer report or leak is a bug:
// malformed XDR must end in GARBAGE_ARGS or NFS4ERR_BADXDR.
#include <cstddef>
#include <cstdint>

#include "nfs/testing/compound_builder.h"
#include "nfs/testing/program_harness.h"

namespace {

using bucketfs::Bytes;
using bucketfs::nfs::Op;
using bucketfs::nfs::testing::CompoundBuilder;
using bucketfs::nfs::testing::ProgramHarness;

class Fuzzer : public ProgramHarness {
 public:
  Fuzzer() { session_ok_ = EstablishSession(); }

  void One(const uint8_t* data, std::size_t size) {
    Bytes raw(data, data + size);
    Compound(raw);
    if (size < 2) return;
    const uint32_t minor = data[0] % 3;
    const uint32_t count = data[1] % 12;
    Bytes ops(data + 2, data + size);
    {
      CompoundBuilder b(minor);
      b.args().WriteRaw(ops);
      Compound(b.Build(count));
    }
    if (minor >= 1 && session_ok_) {
      CompoundBuilder b(minor);
      b.Sequence(session_id_, ++seqid_);
      b.args().WriteRaw(ops);
      Compound(b.Build(count + 1));
    }
  }

 private:
  bool session_ok_ = false;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  static Fuzzer* fuzzer = new Fuzzer();
  fuzzer->One(data, size);
  return 0;
}
