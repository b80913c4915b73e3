#include "base/status.h"

#include <gtest/gtest.h>

#include <string>

namespace bucketfs {
namespace {

Result<int> Half(int x) {
  if (x % 2 != 0) return InvalidArgumentError("odd");
  return x / 2;
}

Result<int> Quarter(int x) {
  BFS_ASSIGN_OR_RETURN(int h, Half(x));
  return Half(h);
}

TEST(StatusTest, OkAndError) {
  EXPECT_TRUE(Status::Ok().ok());
  Status s = NotFoundError("no such key a/b");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), ErrorCode::kNotFound);
  EXPECT_EQ(s.ToString(), "NotFound: no such key a/b");
  EXPECT_EQ(s.WithContext("HEAD").ToString(), "NotFound: HEAD: no such key a/b");
}

TEST(ResultTest, PropagatesErrors) {
  EXPECT_EQ(*Quarter(8), 2);
  EXPECT_EQ(Quarter(6).status().code(), ErrorCode::kInvalidArgument);
  Result<std::string> r(Status::Ok());  // misuse is turned into an internal error, not UB
  EXPECT_EQ(r.status().code(), ErrorCode::kInternal);
}

}  // namespace
}  // namespace bucketfs
