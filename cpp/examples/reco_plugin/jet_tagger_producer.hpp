// A framework producer (CMSSW EDProducer / Gaudi algorithm style) that tags every jet of an
// event with a GNN through e2e_gnn: one Tagger for the whole job (one ONNX Runtime session),
// graphs built from the jets' hits with the graph spec stored in the model file, and ONE
// batched inference call per event. produce() is const: many streams share one producer.
// A model with per-node outputs (e.g. a per-hit energy fraction) gets one row per hit.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include <e2e_gnn/tagger.hpp>

#include "event_source.hpp"

namespace reco {

struct ProducerConfig {
  std::string model_path;
  std::vector<std::string> hit_columns;  // the event file's feature names
  int intra_op_threads = 1;              // ONNX Runtime threads per call
  bool cuda = false;                     // CUDA execution provider, CPU fallback
  bool per_jet = false;                  // one inference call per jet (for comparison only)
};

class JetTaggerProducer {
 public:
  /// Loads the model once and maps its features onto the event file's columns.
  void beginJob(const ProducerConfig& config);
  /// Fills event.scores: one row per jet with every output of a per-jet model; one row
  /// per hit with the model's per-node outputs, then its per-jet ones, for a model that
  /// has per-node outputs.
  void produce(Event& event) const;
  /// Prints what the job did.
  void endJob() const;

 private:
  /// Appends the rows of `outputs` (graphs = jets first_jet, first_jet + 1, ...).
  void store(const std::vector<e2e_gnn::TaggerOutput>& outputs, std::int64_t first_jet,
             Event& event) const;

  std::unique_ptr<e2e_gnn::Tagger> tagger_;
  std::vector<std::size_t> columns_;        // file column of each model feature
  std::vector<std::size_t> jet_columns_;    // file column of each graph feature (u)
  bool per_hit_ = false;                    // the model has per-node outputs
  std::size_t file_width_ = 0;
  bool per_jet_ = false;
  mutable std::atomic<std::int64_t> events_{0}, jets_{0}, calls_{0};
};

}  // namespace reco
