// Golden scenarios: every tests/sim/scenarios/*.scn is one test, run by
// tests/sim/scenario.h. A failing scenario reports file:line and the
// simulator's full event trace.
#include "tests/sim/scenario.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

namespace meridian::sim {
namespace {

std::vector<std::string> ScenarioFiles() {
  std::vector<std::string> out;
  for (const auto& f : std::filesystem::directory_iterator(MERIDIAN_SIM_SCENARIO_DIR)) {
    if (f.path().extension() == ".scn") out.push_back(f.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

class ScenarioTest : public testing::TestWithParam<std::string> {};

TEST_P(ScenarioTest, Runs) {
  Status s = Scenario::RunFile(GetParam(), /*full_trace=*/true);
  EXPECT_TRUE(s.ok()) << s.message();
}

INSTANTIATE_TEST_SUITE_P(Golden, ScenarioTest, testing::ValuesIn(ScenarioFiles()),
                         [](const testing::TestParamInfo<std::string>& info) {
                           std::string name = std::filesystem::path(info.param).stem().string();
                           std::replace_if(
                               name.begin(), name.end(), [](char ch) { return !std::isalnum(ch); },
                               '_');
                           return name;
                         });

// The language itself: a bad line and a failed expectation name file:line.
TEST(ScenarioLanguageTest, ReportsTheLineOfABadCommand) {
  Status s = Scenario("bad.scn", "nodes 3\nrun 50\n\n# comment\nfrobnicate 2\n").Run();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("bad.scn:5: unknown command 'frobnicate'"), std::string::npos)
      << s.message();
}

TEST(ScenarioLanguageTest, ReportsTheLineOfAFailedExpectation) {
  Status s = Scenario("x.scn", "seed 3\nrun 100\npropose a\nrun 20\nexpect applied * b\n").Run();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("x.scn:5: expected applied * b; actual: node 1: a"), std::string::npos)
      << s.message();
}

TEST(ScenarioLanguageTest, SetupAfterTheFirstEventIsAnError) {
  Status s = Scenario("late.scn", "run 5\nnodes 5\n").Run();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("late.scn:2:"), std::string::npos) << s.message();
}

TEST(ScenarioLanguageTest, AwaitFailsAfterItsDeadline) {
  Status s = Scenario("a.scn", "partition 1 | 2 | 3\nawait leader-in * within 30\n").Run();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("a.scn:2: expected leader-in * within 30 ticks; actual: no leader"),
            std::string::npos)
      << s.message();
}

TEST(ScenarioLanguageTest, HoldAndReleaseTargetMessages) {
  // Node 1's accepts to 3 are held: 3 applies nothing until they are released.
  Status s = Scenario("h.scn", R"(
    nodes 3
    partition 1 2 | 3
    await leader-in 1 2 within 200
    heal
    transfer 1
    await leader 1 within 50
    run 30
    hold accept from 1 to 3
    propose x
    run 10
    expect applied 1,2 x
    expect applied 3 -
    release
    clear
    run 20
    expect applied * x
    expect converged
  )")
                 .Run();
  EXPECT_TRUE(s.ok()) << s.message();
}

}  // namespace
}  // namespace meridian::sim
