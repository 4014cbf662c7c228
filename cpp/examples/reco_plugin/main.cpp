// The framework's event loop, reduced to its shape: beginJob, produce(event) on N streams
// (threads sharing one producer and one Tagger), endJob.
//   reco_plugin MODEL EVENTS.csv SCORES.csv [--streams N] [--intra-op-threads N] [--cuda]
//               [--per-jet] [--time N]
// --time N runs produce() over all events N more times on one stream and prints the best
// CPU time per event (what benchmarks/bench_runtime.py reads).
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <ctime>
#include <exception>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "event_source.hpp"
#include "jet_tagger_producer.hpp"

int main(int argc, char** argv) {
  if (argc < 4) {
    std::cerr << "usage: reco_plugin MODEL EVENTS.csv SCORES.csv [--streams N] "
                 "[--intra-op-threads N] [--cuda] [--per-jet] [--time N]\n";
    return 2;
  }
  int streams = 1;
  int timing_runs = 0;
  reco::ProducerConfig config;
  config.model_path = argv[1];
  for (int i = 4; i < argc; ++i) {
    const std::string option = argv[i];
    if (option == "--streams" && i + 1 < argc) {
      streams = std::atoi(argv[++i]);
    } else if (option == "--intra-op-threads" && i + 1 < argc) {
      config.intra_op_threads = std::atoi(argv[++i]);
    } else if (option == "--cuda") {
      config.cuda = true;
    } else if (option == "--per-jet") {
      config.per_jet = true;
    } else if (option == "--time" && i + 1 < argc) {
      timing_runs = std::atoi(argv[++i]);
    } else {
      std::cerr << "reco_plugin: unknown option '" << option << "'\n";
      return 2;
    }
  }
  try {
    reco::EventFile file = reco::read_events(argv[2]);
    config.hit_columns = file.columns;
    reco::JetTaggerProducer producer;
    producer.beginJob(config);

    std::atomic<std::size_t> next{0};
    std::vector<std::exception_ptr> errors(static_cast<std::size_t>(std::max(streams, 1)));
    std::vector<std::thread> workers;
    for (std::size_t s = 0; s < errors.size(); ++s) {
      workers.emplace_back([&, s] {
        try {
          for (std::size_t e = next++; e < file.events.size(); e = next++) {
            producer.produce(file.events[e]);
          }
        } catch (...) {
          errors[s] = std::current_exception();
        }
      });
    }
    for (auto& worker : workers) worker.join();
    for (const auto& error : errors) {
      if (error) std::rethrow_exception(error);
    }
    reco::write_scores(argv[3], file.events);
    double best = -1.0;
    for (int run = 0; run < timing_runs; ++run) {
      const std::clock_t start = std::clock();
      for (auto& event : file.events) producer.produce(event);
      const double seconds = static_cast<double>(std::clock() - start) / CLOCKS_PER_SEC;
      best = best < 0 || seconds < best ? seconds : best;
    }
    if (timing_runs > 0) {
      std::cout << "timing: " << best / static_cast<double>(file.events.size()) * 1e6
                << " us per event (CPU, best of " << timing_runs << ")\n";
    }
    producer.endJob();
  } catch (const std::exception& error) {
    std::cerr << "reco_plugin: error: " << error.what() << "\n";
    return 1;
  }
  return 0;
}
