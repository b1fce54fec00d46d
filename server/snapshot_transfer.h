// Snapshot transfer between replicas (meridian.v1.Peer/InstallSnapshot), for
// a replica that is behind the leader's compacted log. The sender streams
// the applied state of its TxnStore in chunks of about 1 MiB; the receiver
// collects every chunk and accepts the snapshot only if the stream ended
// with the final chunk and the record count matches, so a transfer cut
// short never installs half a state.
#pragma once

#include <grpcpp/grpcpp.h>

#include <vector>

#include "common/status.h"
#include "consensus/types.h"
#include "meridian/v1/peer.grpc.pb.h"
#include "storage/engine.h"
#include "txn/txn_store.h"

namespace meridian::server {

// Streams `store`'s applied state (of consensus group `group`) to the peer
// behind `stub`; sets *index to the applied index it was taken at. Cancel
// through `ctx`.
Status SendSnapshot(v1::Peer::Stub* stub, grpc::ClientContext* ctx, consensus::NodeId self,
                    consensus::GroupId group, txn::TxnStore* store, uint64_t* index);

// Reads one whole snapshot stream. INVALID_ARGUMENT if it is malformed,
// incomplete, or larger than max_bytes.
Status ReceiveSnapshot(grpc::ServerReader<v1::SnapshotChunk>* reader, uint64_t max_bytes,
                       consensus::NodeId* from, consensus::GroupId* group,
                       std::vector<storage::Record>* records, uint64_t* index);

}  // namespace meridian::server
