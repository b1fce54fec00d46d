// meridianctl's session token (--session-token, --session-token-out) and
// `keys rotate` (commands.h).
#include <ostream>

#include "absl/strings/str_join.h"
#include "client/ctl/commands.h"

namespace meridian::ctl {

Status Commands::ImportSessionToken(const std::string& token) {
  MERIDIAN_ASSIGN_OR_RETURN(client::Client * c, Cluster());
  return c->DefaultSession().ImportToken(token);
}

std::string Commands::ExportSessionToken() {
  Result<client::Client*> c = Cluster();
  // Connect fails only on bad options, which main checked: nothing to export.
  if (!c.ok()) return "";
  return (*c)->DefaultSession().ExportToken();
}

int Commands::KeysRotate() {
  Result<client::Client*> c = Cluster();
  if (!c.ok()) return Fail(c.status());
  Result<v1::RotateSigningKeyResponse> r = (*c)->RotateSigningKey();
  if (!r.ok()) return Fail(r.status());
  const std::string kept = absl::StrJoin(r->kept_key_ids(), " ");
  switch (options_.format) {
    case OutputFormat::kJson: {
      JsonWriter w;
      w.BeginObject().Key("key_id").Uint(r->key_id()).Key("kept_key_ids").BeginArray();
      for (uint32_t id : r->kept_key_ids()) w.Uint(id);
      Emit(w.EndArray().Key("config_version").Uint(r->config_version()).EndObject());
      break;
    }
    case OutputFormat::kTable: {
      Table t({"KEY ID", "KEPT KEY IDS", "CONFIG VERSION"});
      t.AddRow({absl::StrCat(r->key_id()), kept, absl::StrCat(r->config_version())});
      io_.out << t.Render();
      break;
    }
    case OutputFormat::kSimple:
      io_.out << "signing key " << r->key_id() << " is in use; tokens signed with keys " << kept
              << " verify (config version " << r->config_version() << ")\n";
      break;
  }
  return kExitOk;
}

}  // namespace meridian::ctl
