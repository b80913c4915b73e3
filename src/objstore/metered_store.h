// MeteredStore: an ObjectStore decorator that records every request in the default metrics
// registry — requests by operation and outcome, latency by operation, bytes received and sent —
// whatever the backend (S3 or the local-directory store). Retries inside S3Store count once: this
// measures what the gateway asked for and how long it took to get it.
//
// Metrics: bucketfs_s3_requests_total{op,outcome}, bucketfs_s3_request_duration_seconds{op},
// bucketfs_s3_received_bytes_total, bucketfs_s3_sent_bytes_total (op: HEAD, GET, LIST, PUT,
// DELETE, CHECK; outcome: ok, not_found, stale, error).
//
// Ownership: shares the wrapped store. Thread-safety: as the wrapped store.
#pragma once

#include <memory>

#include "objstore/object_store.h"

namespace bucketfs::objstore {

std::shared_ptr<ObjectStore> WithMetrics(std::shared_ptr<ObjectStore> store);

}  // namespace bucketfs::objstore
