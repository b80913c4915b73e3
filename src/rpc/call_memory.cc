#include "rpc/call_memory.h"

#include <optional>
#include <string>
#include <utility>

namespace bucketfs::rpc {

Awaitable<Result<ByteBudget::Grant>> CallMemory::Acquire(std::size_t bytes) {
  if (budget_ == nullptr || bytes == 0) co_return ByteBudget::Grant();
  if (held_.bytes() == 0) co_return co_await budget_->Acquire(bytes);
  std::optional<ByteBudget::Grant> now = budget_->TryAcquire(bytes);
  if (!now) {
    co_return UnavailableError("reply memory budget exhausted (" + std::to_string(bytes) +
                               " bytes more for a call that holds " +
                               std::to_string(held_.bytes()) + "); retry");
  }
  co_return std::move(*now);
}

}  // namespace bucketfs::rpc
