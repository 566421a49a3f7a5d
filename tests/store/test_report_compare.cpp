// `circuit report --compare`: studies from a PostgreSQL server and a SQLite file in one report,
// strategies compared over seeds, every front in one plot, all of it on the HTML page.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include "support/pg_server.h"

namespace {

std::string read(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

TEST(ReportCli, ComparesStudiesFromAPostgreSQLServerAndASQLiteFile) {
  std::string why;
  testing_pg::Server* pg = testing_pg::shared(&why);
  if (!pg) GTEST_SKIP() << "no PostgreSQL server: " << why;
  std::string url = pg->create_database("report_compare");
  auto dir = std::filesystem::temp_directory_path() / ("circuit_compare_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::string sqlite = (dir / "s.sqlite").string(), cli = CIRCUIT_CLI;
  auto search = [&](const std::string& study, const std::string& db, const std::string& strategy, int seed) {
    std::string cmd = "'" + cli + "' search '" CIRCUIT_SOURCE_DIR "/resources/search/moe_mlp.search.json' --study " + study + " --db '" + db +
                      "' --strategy " + strategy + " --seed " + std::to_string(seed) +
                      " --population 4 --trials 3 --limit 300 --no-latency --threads 1 > /dev/null";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  };
  search("r1", sqlite, "random", 1);
  search("r2", sqlite, "random", 2);
  search("n1", url, "nsga2", 3);
  search("n2", url, "nsga2", 4);
  std::string out = (dir / "out.txt").string();
  std::string cmd = "'" + cli + "' report r1 --db '" + sqlite + "' -o '" + dir.string() + "' --compare r2 --compare 'n1@" + url + "' --compare 'n2@" +
                    url + "' > '" + out + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd << "\n" << read(out);
  std::string text = read(out);
  EXPECT_NE(text.find("random                  2  "), std::string::npos) << text;
  EXPECT_NE(text.find("nsga2                   2  "), std::string::npos) << text;
  EXPECT_NE(text.find("random vs nsga2: "), std::string::npos) << text;
  EXPECT_TRUE(text.find("within seed noise") != std::string::npos || text.find(" is better") != std::string::npos) << text;
  std::string fronts = read((dir / "r1_compare_fronts.svg").string());
  EXPECT_EQ(count(fronts, "<g class='study'>"), 4u);
  EXPECT_NE(fronts.find("n1@"), std::string::npos) << "a study of the server is labelled with it";
  std::string html = read((dir / "r1_report.html").string());
  EXPECT_EQ(count(html, "<tr class='strategy'>"), 2u);
  EXPECT_EQ(count(read((dir / "r1_hypervolume.svg").string()), "<polygon class='band'"), 2u) << "each strategy's two seeds as a band";
  EXPECT_EQ(count(html, "<svg "), 5u) << "front, hypervolume, parallel coordinates, scatter matrix, the compared fronts";
  EXPECT_EQ(count(html, "<tr class='trial"), 3u) << "the reported study's trials";
  EXPECT_EQ(std::system(("rsvg-convert '" + (dir / "r1_compare_fronts.svg").string() + "' > /dev/null").c_str()), 0);
  // A study on other objectives cannot be compared: the error says which and why.
  cmd = "'" + cli + "' report r1 --db '" + sqlite + "' -o '" + dir.string() + "' --compare nosuch > '" + out + "' 2>&1";
  EXPECT_NE(std::system(cmd.c_str()), 0);
  EXPECT_NE(read(out).find("--compare nosuch: no study `nosuch`"), std::string::npos) << read(out);
  std::filesystem::remove_all(dir);
}

}  // namespace
