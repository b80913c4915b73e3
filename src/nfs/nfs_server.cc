#include "nfs/nfs_server.h"

#include "nfs/nfs4_program.h"

namespace bucketfs::nfs {

class StateManager {};

NfsServer::NfsServer(asio::any_io_executor ex, vfs::ExportTable& exports, NfsOptions options)
    : ex_(std::move(ex)),
      exports_(exports),
      options_(options),
      pseudo_(exports),
      state_(std::make_unique<StateManager>()),
      program_(std::make_shared<Nfs4Program>(*this)) {}

NfsServer::~NfsServer() { Stop(); }

std::shared_ptr<rpc::Program> NfsServer::program() { return program_; }

void NfsServer::Start() {}
void NfsServer::Stop() {}

}  // namespace bucketfs::nfs
