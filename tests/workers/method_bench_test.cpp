// The table of `xdit bench --cases methods` and the per-rank figures the
// workers report for it. The sweep itself is a benchmark, not a test. And
// `--cases quality` on a short list: every run graded, the exact methods
// and the fully warmed stale ones equal to serial.

#include "workers/method_bench.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <set>

#include "pipelines/builtin_models.hpp"
#include "workers/control_protocol.hpp"
#include "workers/quality_bench.hpp"

namespace xdit::workers {
namespace {

// builtin:bench-pixart at its own 512 px.
parallel::ModelFacts bench_facts(int64_t images) {
  const auto& shape = pipelines::kBenchPixArtShape;
  parallel::ModelFacts facts;
  facts.num_attention_heads = static_cast<int>(shape.num_attention_heads);
  facts.ffn_inner_dim = static_cast<int>(4 * shape.num_attention_heads * shape.attention_head_dim);
  facts.num_layers = static_cast<int>(shape.num_layers);
  facts.latent_rows = static_cast<int>(shape.sample_size / 2);
  facts.latent_cols = facts.latent_rows;
  facts.batch = static_cast<int>(images);
  facts.guidance = true;
  return facts;
}

TEST(MethodBench, EveryRowIsAValidMeshForItsGroup) {
  std::set<std::string> names;
  for (const MethodCase& c : method_cases()) {
    SCOPED_TRACE(c.name);
    EXPECT_TRUE(names.insert(c.name).second) << "duplicate name";
    EXPECT_EQ(c.name.rfind("method_", 0), 0u);
    EXPECT_NO_THROW(parallel::check_degrees(c.parallel, c.world_size));
    EXPECT_NO_THROW(parallel::validate(c.parallel, c.world_size, bench_facts(c.images)));
    if (c.method == bench::ParallelMethod::kSerial) {
      EXPECT_EQ(c.world_size, 1);
    } else {
      // Every method on 2 ranks of one core and one thread each.
      EXPECT_EQ(c.world_size, 2);
      EXPECT_EQ(c.threads_per_worker, 1);
    }
  }
  // The baseline on both cores, and on one.
  EXPECT_EQ(method_cases().at(0).threads_per_worker, 2);
  EXPECT_EQ(method_cases().at(1).threads_per_worker, 1);
  for (const char* name : {"method_cfg2", "method_ulysses2", "method_ring2", "method_tensor2",
                           "method_data2", "method_pipefusion2", "method_distrifusion2"}) {
    EXPECT_EQ(names.count(name), 1u) << name;
  }
}

TEST(MethodBench, UnknownCaseIsAUsageError) {
  EXPECT_THROW(run_method_bench({"method_nonsense"}, {}), UsageError);
}

TEST(MethodBench, ReadyMessageCarriesTheTransformerParameterBytes) {
  ReadyMessage ready;
  ready.rank = 1;
  ready.transformer_parameter_bytes = int64_t{5} << 32;
  const Message decoded = decode(encode(ready));
  ASSERT_TRUE(std::holds_alternative<ReadyMessage>(decoded));
  EXPECT_EQ(std::get<ReadyMessage>(decoded).transformer_parameter_bytes, int64_t{5} << 32);
  // A worker that does not say is read as zero, like the other optional fields.
  const Message older = decode(R"({"v":1,"type":"ready","rank":0,"load_seconds":1.5})");
  EXPECT_EQ(std::get<ReadyMessage>(older).transformer_parameter_bytes, 0);
}

TEST(QualityBench, GradesEveryRunAndTheExactOnesMatchSerial) {
  ::setenv("XDIT_WORKER", XDIT_WORKER_EXECUTABLE, 1);
  QualityBenchSettings settings;
  settings.steps = 4;
  settings.warmups = {0};
  settings.pipeline_patches = {2};
  settings.prompts = 4;
  settings.seeds = {0};
  const std::vector<bench::Record> records = run_quality_bench(settings);
  // checker, serial, 4 exact methods, (PipeFusion + DistriFusion) x (warm-up 0, all).
  ASSERT_EQ(records.size(), 10u);
  EXPECT_EQ(records[0].find("prompt_accuracy"), 100.0);
  for (const bench::Record& record : records) {
    SCOPED_TRACE(record.name);
    const double accuracy = record.find("prompt_accuracy").value_or(-1);
    EXPECT_GE(accuracy, 0.0);
    EXPECT_LE(accuracy, 100.0);
    EXPECT_EQ(record.find("images"), 4.0);
    const bool exact = record.name.find("warmup") == std::string::npos ||
                       record.name.find("warmup4") != std::string::npos;
    // Exact up to the order of float sums: below one 8-bit level.
    if (exact && record.find("max_abs_levels"))
      EXPECT_LE(*record.find("max_abs_levels"), 1.0);
  }
  const std::string table = format_quality_table(records, settings);
  for (const char* row : {"| serial |", "| Ulysses 2 |", "| PipeFusion 2 stages, M=2 |",
                          "| DistriFusion 2 patches |", "100.0 % on the renderer"}) {
    EXPECT_NE(table.find(row), std::string::npos) << row << " in\n" << table;
  }
}

}  // namespace
}  // namespace xdit::workers
