// meridianctl's commands against an in-process fake server: output formats
// and exit codes.
#include "client/ctl/commands.h"
#include "client/ctl/commands_testing.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <functional>
#include <sstream>

#include "client/testing/fake_server.h"
#include "meridian/v1/admin.grpc.pb.h"

namespace meridian::ctl {
namespace {

using client::testing::FakeServer;

Outcome Ctl(const std::vector<std::string>& endpoints, OutputFormat format,
            const std::function<int(Commands&)>& fn, const std::string& in = "", bool tty = false) {
  return RunCommands(endpoints, format, fn, in, tty);
}

// A node that answers Admin/Status with a fixed response, such as a
// meridiand hosting several consensus groups. Other methods are
// UNIMPLEMENTED.
class StatusServer {
 public:
  explicit StatusServer(v1::StatusResponse status) : service_(std::move(status)) {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    if (server_ == nullptr || port == 0) {
      ADD_FAILURE() << "StatusServer: cannot listen on 127.0.0.1";
      return;
    }
    address_ = "127.0.0.1:" + std::to_string(port);
  }
  ~StatusServer() {
    if (server_ != nullptr) server_->Shutdown();
  }
  const std::string& address() const { return address_; }

 private:
  class Service final : public v1::Admin::Service {
   public:
    explicit Service(v1::StatusResponse status) : status_(std::move(status)) {}
    grpc::Status Status(grpc::ServerContext*, const v1::StatusRequest*,
                        v1::StatusResponse* resp) override {
      *resp = status_;
      return grpc::Status::OK;
    }

   private:
    const v1::StatusResponse status_;
  };
  Service service_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
};

// node-2 of three, hosting three groups: it leads group 2, follows member 1
// in group 1, and group 3 has no leader it knows of.
v1::StatusResponse ThreeGroups() {
  v1::StatusResponse st;
  st.mutable_header()->set_node_id("node-2");
  st.set_is_leader(false);
  st.set_peer_batches_sent(7);
  st.set_peer_messages_sent(19);
  const auto add = [&](uint64_t group, uint64_t leader, bool is_leader, uint64_t ballot,
                       uint64_t commit, uint64_t applied, uint32_t learners) {
    v1::GroupStatus* g = st.add_groups();
    g->set_group(group);
    g->set_leader_id(leader);
    g->set_is_leader(is_leader);
    g->set_ballot_round(ballot);
    g->set_commit_index(commit);
    g->set_applied_index(applied);
    g->set_voters(3);
    g->set_learners(learners);
  };
  add(1, 1, false, 4, 48211, 48209, 1);
  add(2, 2, true, 2, 17, 17, 0);
  add(3, 0, false, 9, 0, 0, 0);
  return st;
}

class CommandsTest : public ::testing::Test {
 protected:
  Outcome Do(const std::function<int(Commands&)>& fn, OutputFormat f = OutputFormat::kSimple,
             const std::string& in = "", bool tty = false) {
    return Ctl({server_.address()}, f, fn, in, tty);
  }
  void Put(const std::string& k, const std::string& v) {
    ASSERT_EQ(Do([&](Commands& c) { return c.Put(k, v); }).code, kExitOk);
  }
  FakeServer server_;
};

TEST_F(CommandsTest, PutAndGetSimple) {
  Outcome r = Do([](Commands& c) { return c.Put("k", std::string("v")); });
  EXPECT_EQ(r.code, kExitOk);
  EXPECT_EQ(r.out, "OK\n");
  r = Do([](Commands& c) { return c.Get("k", false); });
  EXPECT_EQ(r.code, kExitOk);
  EXPECT_EQ(r.out, "v\n");
  EXPECT_EQ(r.err, "");
}

TEST_F(CommandsTest, GetMissingKey) {
  Outcome r = Do([](Commands& c) { return c.Get("nope", false); });
  EXPECT_EQ(r.code, kExitOk);
  EXPECT_EQ(r.out, "");
  r = Do([](Commands& c) { return c.Get("nope", true); });
  EXPECT_EQ(r.code, kExitNotFound);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "Error: NOT_FOUND: key \"nope\" does not exist\n");
  r = Do([](Commands& c) { return c.Get("nope", false); }, OutputFormat::kJson);
  EXPECT_EQ(r.out, "{\"key\":\"nope\",\"found\":false}\n");
}

TEST_F(CommandsTest, PutFromStdinIsBinarySafe) {
  const std::string value("a\0b\xff\n", 5);
  Outcome r =
      Do([](Commands& c) { return c.Put("bin", std::nullopt); }, OutputFormat::kJson, value);
  EXPECT_EQ(r.code, kExitOk);
  EXPECT_EQ(r.out, "{\"op\":\"put\",\"key\":\"bin\",\"commit_hlc\":1001}\n");
  EXPECT_EQ(server_.Value("bin"), value);
  r = Do([](Commands& c) { return c.Get("bin", false); }, OutputFormat::kJson);
  EXPECT_EQ(r.out,
            "{\"key\":\"bin\",\"found\":true,\"value\":\"a\\u0000b\\u00ff\\n\","
            "\"version\":{\"hlc\":1001,\"site_id\":1}}\n");
  r = Do([](Commands& c) { return c.Get("bin", false); });
  EXPECT_EQ(r.out, value + "\n");
}

TEST_F(CommandsTest, GetTable) {
  Put("k", "v");
  Outcome r = Do([](Commands& c) { return c.Get("k", false); }, OutputFormat::kTable);
  EXPECT_EQ(r.out,
            "+-----+-------+---------+\n"
            "| KEY | VALUE | VERSION |\n"
            "+-----+-------+---------+\n"
            "| k   | v     | 1001@1  |\n"
            "+-----+-------+---------+\n");
}

TEST_F(CommandsTest, ServerErrorExitsOne) {
  Outcome r = Do([](Commands& c) { return c.Put(std::string(5000, 'k'), std::string("v")); });
  EXPECT_EQ(r.code, kExitError);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "Error: INVALID_ARGUMENT: key is 5000 bytes, over max_key_bytes (4096)\n");
}

TEST_F(CommandsTest, UnreachableExitsThree) {
  Outcome r =
      Ctl({"127.0.0.1:1"}, OutputFormat::kSimple, [](Commands& c) { return c.Get("k", false); });
  EXPECT_EQ(r.code, kExitUnavailable);
  EXPECT_TRUE(r.err.starts_with("Error: UNAVAILABLE: could not connect to 127.0.0.1:1")) << r.err;
}

TEST_F(CommandsTest, LostWriteExitsFive) {
  server_.InjectLostReply("KV/Put");
  Outcome r = Do([](Commands& c) { return c.Put("k", std::string("v")); });
  EXPECT_EQ(r.code, kExitCommitUnknown);
  EXPECT_TRUE(r.err.starts_with("Error: COMMIT_UNKNOWN: ")) << r.err;
}

TEST_F(CommandsTest, Delete) {
  Put("k", "v");
  EXPECT_EQ(Do([](Commands& c) { return c.Delete("k"); }).out, "1\n");
  EXPECT_EQ(Do([](Commands& c) { return c.Delete("k"); }).out, "0\n");
  EXPECT_EQ(Do([](Commands& c) { return c.Delete("k"); }, OutputFormat::kJson).out,
            "{\"key\":\"k\",\"deleted\":0}\n");
}

TEST_F(CommandsTest, ScanFormats) {
  Put("a/1", "x");
  Put("a/2", "y");
  Put("a/3", "z");
  Put("b", "w");
  Outcome r = Do([](Commands& c) { return c.Scan({.prefix = "a/"}); });
  EXPECT_EQ(r.out, "a/1\nx\na/2\ny\na/3\nz\n");
  r = Do([](Commands& c) { return c.Scan({.start = "a/2", .keys_only = true}); });
  EXPECT_EQ(r.out, "a/2\na/3\nb\n");
  r = Do([](Commands& c) { return c.Scan({.prefix = "a/", .limit = 1}); }, OutputFormat::kJson);
  EXPECT_EQ(r.out,
            "{\"kvs\":[{\"key\":\"a/1\",\"value\":\"x\",\"version\":{\"hlc\":1001,\"site_id\":1}}"
            "],\"count\":1,\"more\":true}\n");
  r = Do([](Commands& c) { return c.Scan({.start = "a/3", .end = "c"}); }, OutputFormat::kTable);
  EXPECT_EQ(r.out,
            "+-----+-------+---------+\n"
            "| KEY | VALUE | VERSION |\n"
            "+-----+-------+---------+\n"
            "| a/3 | z     | 1003@1  |\n"
            "| b   | w     | 1004@1  |\n"
            "+-----+-------+---------+\n");
}

constexpr char kSwap[] =
    "value(\"k\") = \"old\"\n"
    "\n"
    "put k new\n"
    "get k\n"
    "del gone\n"
    "\n"
    "get k\n";

TEST_F(CommandsTest, TxnSuccessAndFailure) {
  Put("k", "old");
  Outcome r = Do([](Commands& c) { return c.Txn(); }, OutputFormat::kSimple, kSwap);
  EXPECT_EQ(r.code, kExitOk);
  EXPECT_EQ(r.out, "SUCCESS\n\nOK\n\nk\nnew\n\n0\n");
  // The compare now fails: not an error.
  r = Do([](Commands& c) { return c.Txn(); }, OutputFormat::kSimple, kSwap);
  EXPECT_EQ(r.code, kExitOk);
  EXPECT_EQ(r.out, "FAILURE\n\nk\nnew\n");
  r = Do([](Commands& c) { return c.Txn(); }, OutputFormat::kJson, kSwap);
  EXPECT_EQ(r.out,
            "{\"succeeded\":false,\"results\":[{\"op\":\"get\",\"key\":\"k\",\"found\":true,"
            "\"value\":\"new\",\"version\":{\"hlc\":1002,\"site_id\":1}}]}\n");
  r = Do([](Commands& c) { return c.Txn(); }, OutputFormat::kTable, kSwap);
  EXPECT_EQ(r.out,
            "FAILURE\n"
            "+-----+-----+--------+\n"
            "| OP  | KEY | RESULT |\n"
            "+-----+-----+--------+\n"
            "| get | k   | new    |\n"
            "+-----+-----+--------+\n");
}

TEST_F(CommandsTest, TxnScriptErrorIsUsage) {
  Outcome r = Do([](Commands& c) { return c.Txn(); }, OutputFormat::kSimple,
                 "value(\"k\") = \"v\"\n\nput k\n");
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_EQ(r.err, "Error: INVALID_ARGUMENT: line 3: put takes KEY VALUE, got 1 argument\n");
  EXPECT_EQ(server_.Calls("Txn/Execute"), 0);
}

TEST_F(CommandsTest, TxnConflictExitsFour) {
  server_.InjectError("Txn/Execute", ConflictError("concurrent write"));
  Outcome r = Do([](Commands& c) { return c.Txn(); }, OutputFormat::kSimple, "\nput k v\n");
  EXPECT_EQ(r.code, kExitConflict);
  EXPECT_EQ(r.err, "Error: CONFLICT: concurrent write\n");
}

TEST_F(CommandsTest, InteractiveTxnCommits) {
  Put("a", "0");
  Outcome r = Do([](Commands& c) { return c.InteractiveTxn(); }, OutputFormat::kSimple,
                 "# comment\n"
                 "get a\n"
                 "put a 1\n"
                 "put \"b c\" 'd e'\n"
                 "\n"
                 "get a\n"
                 "scan --prefix b\n"
                 "del a\n"
                 "commit\n"
                 "get ignored-after-commit\n");
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out, "0\nOK\nOK\n1\nb c\nd e\nOK\nCOMMITTED\n");
  EXPECT_EQ(r.err, "");
  EXPECT_FALSE(server_.Value("a").has_value());
  EXPECT_EQ(server_.Value("b c"), "d e");
}

TEST_F(CommandsTest, InteractiveTxnJson) {
  Outcome r = Do([](Commands& c) { return c.InteractiveTxn(); }, OutputFormat::kJson,
                 "put a 1\nget a\ncommit\n");
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out,
            "{\"op\":\"put\",\"key\":\"a\"}\n"
            "{\"key\":\"a\",\"found\":true,\"value\":\"1\"}\n"
            "{\"committed\":true,\"commit_hlc\":1001}\n");
}

TEST_F(CommandsTest, InteractiveTxnFailsFastWhenPiped) {
  Outcome r = Do([](Commands& c) { return c.InteractiveTxn(); }, OutputFormat::kSimple,
                 "put a 1\nbogus\ncommit\n");
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_EQ(r.out, "OK\n");
  EXPECT_EQ(r.err, "Error: INVALID_ARGUMENT: line 2: unknown command \"bogus\" (try help)\n");
  EXPECT_FALSE(server_.Value("a").has_value());
  EXPECT_EQ(server_.Calls("Txn/Abort"), 1);
}

TEST_F(CommandsTest, InteractiveTxnKeepsGoingOnATerminal) {
  Outcome r = Do([](Commands& c) { return c.InteractiveTxn(); }, OutputFormat::kSimple,
                 "put a\nput a 1\ncommit\n", /*tty=*/true);
  EXPECT_EQ(r.code, kExitOk);
  EXPECT_EQ(r.out, "OK\nCOMMITTED\n");
  EXPECT_NE(r.err.find("line 1: usage: put KEY VALUE"), std::string::npos) << r.err;
  EXPECT_EQ(server_.Value("a"), "1");
}

TEST_F(CommandsTest, InteractiveTxnConflictExitsFour) {
  server_.InjectError("Txn/Commit", ConflictError("first committer won"));
  Outcome r = Do([](Commands& c) { return c.InteractiveTxn(); }, OutputFormat::kSimple,
                 "put a 1\ncommit\n");
  EXPECT_EQ(r.code, kExitConflict);
  EXPECT_EQ(r.err, "Error: CONFLICT: first committer won\n");
}

TEST_F(CommandsTest, InteractiveTxnAbortsAtEndOfInput) {
  Outcome r =
      Do([](Commands& c) { return c.InteractiveTxn(); }, OutputFormat::kSimple, "put a 1\n");
  EXPECT_EQ(r.code, kExitOk);
  EXPECT_EQ(r.out, "OK\nABORTED\n");
  EXPECT_EQ(r.err, "end of input before commit: transaction aborted\n");
  EXPECT_FALSE(server_.Value("a").has_value());
  r = Do([](Commands& c) { return c.InteractiveTxn(); }, OutputFormat::kSimple, "put a 1\nabort\n");
  EXPECT_EQ(r.out, "OK\nABORTED\n");
  EXPECT_EQ(r.err, "");
}

TEST_F(CommandsTest, Csets) {
  EXPECT_EQ(Do([](Commands& c) { return c.CsetAdd("s", "x"); }).out, "OK\n");
  EXPECT_EQ(Do([](Commands& c) { return c.CsetAdd("s", "x"); }).code, kExitOk);
  EXPECT_EQ(Do([](Commands& c) { return c.CsetRemove("s", "y"); }).out, "OK\n");
  EXPECT_EQ(Do([](Commands& c) { return c.CsetRead("s"); }).out, "x\t2\ny\t-1\n");
  EXPECT_EQ(Do([](Commands& c) { return c.CsetRead("s"); }, OutputFormat::kJson).out,
            "{\"key\":\"s\",\"elements\":[{\"element\":\"x\",\"count\":2},"
            "{\"element\":\"y\",\"count\":-1}]}\n");
}

TEST_F(CommandsTest, EndpointStatusAndMembers) {
  Outcome r = Do([](Commands& c) { return c.EndpointStatus(); });
  EXPECT_EQ(r.code, kExitOk);
  EXPECT_EQ(r.out, server_.address() + ", fake-1, local, 0.0.0-fake, memory, 0, 12 kB, true\n");
  r = Do([](Commands& c) { return c.EndpointStatus(); }, OutputFormat::kTable);
  EXPECT_NE(r.out.find("| ENDPOINT "), std::string::npos);
  EXPECT_NE(r.out.find("| fake-1  "), std::string::npos) << r.out;
  r = Do([](Commands& c) { return c.MemberList(); });
  EXPECT_EQ(r.out, "1, fake-1, local, 1, " + server_.address() + ", voter, true\n");
}

TEST_F(CommandsTest, GroupListFormats) {
  StatusServer node(ThreeGroups());
  const std::string ep = node.address();
  Outcome r = Ctl({ep}, OutputFormat::kSimple, [](Commands& c) { return c.GroupList(); });
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out, ep + ", 1, 1, false, 4, 48211, 48209, 3, 1\n" +  //
                       ep + ", 2, 2, true, 2, 17, 17, 3, 0\n" +     //
                       ep + ", 3, none, false, 9, 0, 0, 3, 0\n");
  EXPECT_EQ(r.err, "");

  r = Ctl({ep}, OutputFormat::kJson, [](Commands& c) { return c.GroupList(); });
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out,
            "[{\"endpoint\":\"" + ep +
                "\",\"node_id\":\"node-2\",\"peer_batches_sent\":7,"
                "\"peer_messages_sent\":19,\"groups\":["
                "{\"group\":1,\"leader_id\":1,\"is_leader\":false,\"ballot_round\":4,"
                "\"commit_index\":48211,\"applied_index\":48209,\"voters\":3,\"learners\":1},"
                "{\"group\":2,\"leader_id\":2,\"is_leader\":true,\"ballot_round\":2,"
                "\"commit_index\":17,\"applied_index\":17,\"voters\":3,\"learners\":0},"
                "{\"group\":3,\"leader_id\":0,\"is_leader\":false,\"ballot_round\":9,"
                "\"commit_index\":0,\"applied_index\":0,\"voters\":3,\"learners\":0}]}]\n");
  EXPECT_EQ(r.err, "");

  r = Ctl({ep}, OutputFormat::kTable, [](Commands& c) { return c.GroupList(); });
  EXPECT_EQ(r.code, kExitOk) << r.err;
  // The endpoint's port varies: pad its column to the address's width.
  const std::string pad(ep.size() - std::string("ENDPOINT").size(), ' ');
  const std::string dashes(ep.size() + 2, '-');
  const std::string rule = "+" + dashes +
                           "+-------+--------+-----------+--------+--------------+---------------"
                           "+--------+----------+\n";
  EXPECT_EQ(r.out,
            rule + "| ENDPOINT" + pad +
                " | GROUP | LEADER | IS LEADER | BALLOT | COMMIT INDEX | APPLIED INDEX | VOTERS "
                "| LEARNERS |\n" +
                rule +  //
                "| " + ep +
                " | 1     | 1      | false     | 4      | 48211        | 48209         | 3      "
                "| 1        |\n"
                "| " +
                ep +
                " | 2     | 2      | true      | 2      | 17           | 17            | 3      "
                "| 0        |\n"
                "| " +
                ep +
                " | 3     | none   | false     | 9      | 0            | 0             | 3      "
                "| 0        |\n" +
                rule);
  EXPECT_EQ(r.err, "");
}

// The fake server is a node that is not in replicated mode: no groups.
TEST_F(CommandsTest, GroupListSingleNodeHasNoGroups) {
  const std::string ep = server_.address();
  const std::string line = ep + ": runs no consensus groups (not in replicated mode)\n";
  Outcome r = Do([](Commands& c) { return c.GroupList(); });
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out, line);
  EXPECT_EQ(r.err, "");
  r = Do([](Commands& c) { return c.GroupList(); }, OutputFormat::kJson);
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out, "[{\"endpoint\":\"" + ep +
                       "\",\"node_id\":\"fake-1\",\"peer_batches_sent\":0,"
                       "\"peer_messages_sent\":0,\"groups\":[]}]\n");
  r = Do([](Commands& c) { return c.GroupList(); }, OutputFormat::kTable);
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out,
            "+----------+-------+--------+-----------+--------+--------------+---------------+"
            "--------+----------+\n"
            "| ENDPOINT | GROUP | LEADER | IS LEADER | BALLOT | COMMIT INDEX | APPLIED INDEX |"
            " VOTERS | LEARNERS |\n"
            "+----------+-------+--------+-----------+--------+--------------+---------------+"
            "--------+----------+\n" +
                line);
}

// Each endpoint is reported, in order; a dead one on stderr (and as an
// error entry in json), and the first failure decides the exit code.
TEST_F(CommandsTest, GroupListMixedEndpoints) {
  v1::StatusResponse one = ThreeGroups();
  one.mutable_groups()->DeleteSubrange(1, 2);
  StatusServer node(one);
  const std::string grouped = node.address();
  const std::string single = server_.address();
  const std::vector<std::string> eps = {"127.0.0.1:1", grouped, single};

  Outcome r = Ctl(eps, OutputFormat::kSimple, [](Commands& c) { return c.GroupList(); });
  EXPECT_EQ(r.code, kExitUnavailable);
  EXPECT_EQ(r.out, grouped + ", 1, 1, false, 4, 48211, 48209, 3, 1\n" + single +
                       ": runs no consensus groups (not in replicated mode)\n");
  EXPECT_TRUE(r.err.starts_with("Error: UNAVAILABLE: ")) << r.err;
  EXPECT_TRUE(r.err.ends_with(" (endpoint 127.0.0.1:1)\n")) << r.err;

  r = Ctl(eps, OutputFormat::kJson, [](Commands& c) { return c.GroupList(); });
  EXPECT_EQ(r.code, kExitUnavailable);
  EXPECT_TRUE(r.out.starts_with("[{\"endpoint\":\"127.0.0.1:1\",\"error\":\"Error: UNAVAILABLE"))
      << r.out;
  EXPECT_TRUE(r.out.ends_with("\"},{\"endpoint\":\"" + grouped +
                              "\",\"node_id\":\"node-2\",\"peer_batches_sent\":7,"
                              "\"peer_messages_sent\":19,\"groups\":[{\"group\":1,"
                              "\"leader_id\":1,\"is_leader\":false,\"ballot_round\":4,"
                              "\"commit_index\":48211,\"applied_index\":48209,\"voters\":3,"
                              "\"learners\":1}]},{\"endpoint\":\"" +
                              single +
                              "\",\"node_id\":\"fake-1\",\"peer_batches_sent\":0,"
                              "\"peer_messages_sent\":0,\"groups\":[]}]\n"))
      << r.out;

  // table: the rows, then a line per endpoint without groups.
  r = Ctl(eps, OutputFormat::kTable, [](Commands& c) { return c.GroupList(); });
  EXPECT_EQ(r.code, kExitUnavailable);
  const std::string dashes(grouped.size() + 2, '-');
  const std::string rule = "+" + dashes +
                           "+-------+--------+-----------+--------+--------------+---------------"
                           "+--------+----------+\n";
  const std::string pad(grouped.size() - std::string("ENDPOINT").size(), ' ');
  EXPECT_EQ(r.out, rule + "| ENDPOINT" + pad +
                       " | GROUP | LEADER | IS LEADER | BALLOT | COMMIT INDEX | APPLIED INDEX | "
                       "VOTERS | LEARNERS |\n" +
                       rule + "| " + grouped +
                       " | 1     | 1      | false     | 4      | 48211        | 48209         | "
                       "3      | 1        |\n" +
                       rule + single + ": runs no consensus groups (not in replicated mode)\n");
  EXPECT_NE(r.err.find("(endpoint 127.0.0.1:1)"), std::string::npos) << r.err;
}

TEST_F(CommandsTest, MemberChangesPrintTheNewMembership) {
  // simple: as member list.
  Outcome r = Do([](Commands& c) { return c.MemberAdd("2", "10.0.0.2:2379", false); });
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out, "1, fake-1, local, 1, " + server_.address() +
                       ", voter, true\n"
                       "2, fake-2, local, 1, 10.0.0.2:2379, learner, false\n");
  EXPECT_EQ(r.err, "");
  // json: with the config index.
  r = Do([](Commands& c) { return c.MemberPromote("2"); }, OutputFormat::kJson);
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out,
            "{\"config_index\":2,\"members\":["
            "{\"member_id\":1,\"node_id\":\"fake-1\",\"site_name\":\"local\",\"site_id\":1,"
            "\"client_url\":\"" +
                server_.address() +
                "\",\"role\":\"voter\",\"is_leader\":true,\"is_learner\":false},"
                "{\"member_id\":2,\"node_id\":\"fake-2\",\"site_name\":\"local\",\"site_id\":1,"
                "\"client_url\":\"10.0.0.2:2379\",\"role\":\"voter\",\"is_leader\":false,"
                "\"is_learner\":false}]}\n");
  // table.
  r = Do([](Commands& c) { return c.MemberRemove("1"); }, OutputFormat::kTable);
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out,
            "+-----------+---------+-------+---------+---------------+-------+-----------+\n"
            "| MEMBER ID | NODE ID | SITE  | SITE ID | CLIENT URL    | ROLE  | IS LEADER |\n"
            "+-----------+---------+-------+---------+---------------+-------+-----------+\n"
            "| 2         | fake-2  | local | 1       | 10.0.0.2:2379 | voter | false     |\n"
            "+-----------+---------+-------+---------+---------------+-------+-----------+\n");
  r = Do([](Commands& c) { return c.MemberAdd("65535", "[::1]:2380", /*as_voter=*/true); });
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out,
            "2, fake-2, local, 1, 10.0.0.2:2379, voter, false\n"
            "65535, fake-65535, local, 1, [::1]:2380, voter, false\n");
}

TEST_F(CommandsTest, MemberBadArgumentsAreUsageErrorsAndSendNothing) {
  const std::string id_error =
      "Error: INVALID_ARGUMENT: member ID must be a number in 1..65535, got ";
  Outcome r = Do([](Commands& c) { return c.MemberAdd("0", "10.0.0.2:2379", false); });
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, id_error + "\"0\"\n");
  EXPECT_EQ(Do([](Commands& c) { return c.MemberPromote("65536"); }).err, id_error + "\"65536\"\n");
  EXPECT_EQ(Do([](Commands& c) { return c.MemberRemove("two"); }).code, kExitUsage);
  for (const char* bad : {"10.0.0.2", "10.0.0.2:", ":2379", "10.0.0.2:0", "host:99999",
                          "http://h:1", "a b:1", "[::1:2380"}) {
    r = Do([&](Commands& c) { return c.MemberAdd("2", bad, false); });
    EXPECT_EQ(r.code, kExitUsage) << bad;
    EXPECT_EQ(r.err,
              "Error: INVALID_ARGUMENT: ADDRESS must be host:port (e.g. 10.0.0.4:2379), "
              "got \"" +
                  std::string(bad) + "\"\n");
  }
  EXPECT_EQ(server_.Calls("Admin/MemberAdd"), 0);
  EXPECT_EQ(server_.Calls("Admin/MemberPromote"), 0);
  EXPECT_EQ(server_.Calls("Admin/MemberRemove"), 0);
}

TEST_F(CommandsTest, MemberServerErrorsMapToExitCodes) {
  // Refused by the server: 1.
  Outcome r = Do([](Commands& c) { return c.MemberRemove("9"); });
  EXPECT_EQ(r.code, kExitError);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "Error: INVALID_ARGUMENT: member 9 is not in the group\n");
  r = Do([](Commands& c) { return c.MemberPromote("1"); });
  EXPECT_EQ(r.code, kExitError);
  EXPECT_EQ(r.err, "Error: INVALID_ARGUMENT: member 1 is not a learner\n");
  // The reply was lost after the change committed: 5, and not sent twice.
  server_.InjectLostReply("Admin/MemberAdd");
  r = Do([](Commands& c) { return c.MemberAdd("2", "10.0.0.2:2379", false); });
  EXPECT_EQ(r.code, kExitCommitUnknown);
  EXPECT_TRUE(r.err.starts_with("Error: COMMIT_UNKNOWN: ")) << r.err;
  EXPECT_EQ(server_.Calls("Admin/MemberAdd"), 1);
  EXPECT_EQ(Do([](Commands& c) { return c.MemberList(); }).out,
            "1, fake-1, local, 1, " + server_.address() +
                ", voter, true\n"
                "2, fake-2, local, 1, 10.0.0.2:2379, learner, false\n");
}

TEST_F(CommandsTest, EndpointHealthReportsEachEndpoint) {
  Outcome r = Ctl({server_.address(), "127.0.0.1:1"}, OutputFormat::kSimple,
                  [](Commands& c) { return c.EndpointHealth(); });
  EXPECT_EQ(r.code, kExitUnavailable);
  EXPECT_TRUE(r.out.starts_with(server_.address() + " is healthy: took = ")) << r.out;
  EXPECT_TRUE(r.err.starts_with("127.0.0.1:1 is unhealthy: took = ")) << r.err;
  server_.SetServing(false);
  r = Ctl({server_.address()}, OutputFormat::kJson, [](Commands& c) { return c.EndpointHealth(); });
  EXPECT_EQ(r.code, kExitUnavailable);
  EXPECT_NE(r.out.find("\"health\":false"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("NOT_SERVING"), std::string::npos) << r.out;
}

TEST_F(CommandsTest, EndpointStatusWithADeadEndpoint) {
  Outcome r = Ctl({"127.0.0.1:1", server_.address()}, OutputFormat::kJson,
                  [](Commands& c) { return c.EndpointStatus(); });
  EXPECT_EQ(r.code, kExitUnavailable);
  EXPECT_TRUE(r.out.starts_with("[{\"endpoint\":\"127.0.0.1:1\",\"error\":\"Error: UNAVAILABLE"))
      << r.out;
  EXPECT_NE(r.out.find("\"node_id\":\"fake-1\""), std::string::npos);
  EXPECT_NE(r.err.find("(endpoint 127.0.0.1:1)"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace meridian::ctl
