#include "client/ctl/progress.h"

#include <gtest/gtest.h>

#include <sstream>

namespace meridian::ctl {
namespace {

TEST(ProgressTest, LineHasRecordsBytesRateAndPercentWhenKnown) {
  EXPECT_EQ(Progress::Line("save", 1500, 2'000'000, 0, 1'000'000),
            "save: 1500 records, 2.0 MB, 2.0 MB/s");
  EXPECT_EQ(Progress::Line("restore", 50, 10'000'000, 200, 4'000'000),
            "restore: 50 of 200 records (25%), 10 MB, 2.5 MB/s");
}

TEST(ProgressTest, LogLinesArePeriodicAndATerminalLineIsRewritten) {
  ManualClock clock;
  std::ostringstream log;
  Progress p(log, &clock, "save", /*enabled=*/true, /*tty=*/false);
  p.Update(10, 100);
  EXPECT_EQ(log.str(), "");  // not yet due
  clock.AdvanceMillis(2000);
  p.Update(20, 200);
  EXPECT_EQ(log.str(), "save: 20 records, 200 B, 0.0 MB/s\n");
  p.Finish(true);
  EXPECT_EQ(log.str(), "save: 20 records, 200 B, 0.0 MB/s\nsave: 20 records, 200 B, 0.0 MB/s\n");

  std::ostringstream tty;
  Progress live(tty, &clock, "save", true, /*tty=*/true);
  clock.AdvanceMillis(200);
  live.Update(5, 50);
  EXPECT_EQ(tty.str(), "\rsave: 5 records, 50 B, 0.0 MB/s\x1b[K");
  live.Finish(false);  // a failure: the line ends, nothing more
  EXPECT_EQ(tty.str(), "\rsave: 5 records, 50 B, 0.0 MB/s\x1b[K\n");

  std::ostringstream quiet;
  Progress off(quiet, &clock, "save", /*enabled=*/false, true);
  clock.AdvanceMillis(5000);
  off.Update(1, 1);
  off.Finish(true);
  EXPECT_EQ(quiet.str(), "");
}

}  // namespace
}  // namespace meridian::ctl
