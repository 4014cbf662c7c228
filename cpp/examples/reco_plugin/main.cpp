// The framework's event loop, reduced to its shape: beginJob, produce(event) on N streams
// (threads sharing one producer and one Tagger), endJob.
//   reco_plugin MODEL EVENTS.csv SCORES.csv [--streams N] [--intra-op-threads N] [--cuda]
#include <algorithm>
#include <atomic>
#include <cstdlib>
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
                 "[--intra-op-threads N] [--cuda]\n";
    return 2;
  }
  int streams = 1;
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
    producer.endJob();
    reco::write_scores(argv[3], file.events);
  } catch (const std::exception& error) {
    std::cerr << "reco_plugin: error: " << error.what() << "\n";
    return 1;
  }
  return 0;
}
