#include "server/snapshot_transfer.h"

#include "absl/strings/str_cat.h"
#include "proto/grpc_status.h"

namespace meridian::server {

namespace {
constexpr size_t kChunkBytes = 1 << 20;
}  // namespace

Status SendSnapshot(v1::Peer::Stub* stub, grpc::ClientContext* ctx, consensus::NodeId self,
                    consensus::GroupId group, txn::TxnStore* store, uint64_t* index) {
  v1::SnapshotInstalled reply;
  auto writer = stub->InstallSnapshot(ctx, &reply);
  v1::SnapshotChunk chunk;
  chunk.set_from(self);
  chunk.set_group(group);
  size_t chunk_bytes = 0;
  uint64_t total = 0;
  Status s = store->ExportSnapshot(
      [&](const storage::Record& r) -> Status {
        v1::SnapshotRecord* out = chunk.add_records();
        out->set_key(r.key);
        out->set_hlc(r.version.hlc);
        out->set_site(r.version.site);
        if (r.value) out->set_value(*r.value);
        chunk_bytes += r.key.size() + (r.value ? r.value->size() : 0) + 16;
        ++total;
        if (chunk_bytes >= kChunkBytes) {
          if (!writer->Write(chunk)) return UnavailableError("the peer closed the snapshot stream");
          chunk.clear_records();
          chunk_bytes = 0;
        }
        return absl::OkStatus();
      },
      index);
  if (s.ok()) {
    chunk.set_done(true);
    chunk.set_index(*index);
    chunk.set_total_records(total);
    if (!writer->Write(chunk)) s = UnavailableError("the peer closed the snapshot stream");
  }
  if (!s.ok()) {
    ctx->TryCancel();
    (void)writer->Finish();
    return s;
  }
  writer->WritesDone();
  return FromGrpcStatus(writer->Finish());
}

Status ReceiveSnapshot(grpc::ServerReader<v1::SnapshotChunk>* reader, uint64_t max_bytes,
                       consensus::NodeId* from, consensus::GroupId* group,
                       std::vector<storage::Record>* records, uint64_t* index) {
  v1::SnapshotChunk chunk;
  uint64_t bytes = 0;
  bool done = false;
  while (reader->Read(&chunk)) {
    if (done) return InvalidArgumentError("snapshot chunk after the last one");
    *from = chunk.from();
    *group = chunk.group();
    for (const v1::SnapshotRecord& r : chunk.records()) {
      bytes += r.key().size() + r.value().size();
      if (bytes > max_bytes) {
        return InvalidArgumentError(absl::StrCat("snapshot larger than ", max_bytes, " bytes"));
      }
      storage::Record out;
      out.key = r.key();
      out.version = {r.hlc(), static_cast<storage::SiteId>(r.site())};
      if (r.has_value()) out.value = r.value();
      records->push_back(std::move(out));
    }
    if (chunk.done()) {
      done = true;
      *index = chunk.index();
      if (chunk.total_records() != records->size()) {
        return InvalidArgumentError(absl::StrCat("snapshot announced ", chunk.total_records(),
                                                 " records but carried ", records->size()));
      }
    }
  }
  if (!done) return InvalidArgumentError("snapshot stream ended before its last chunk");
  if (*index == 0) return InvalidArgumentError("snapshot without an index");
  return absl::OkStatus();
}

}  // namespace meridian::server
