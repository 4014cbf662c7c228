// The "framework" side of the example: events of jets of hits read from a CSV file.
//
// File format, one hit per line after a header naming the columns:
//   event,jet,<feature 1>,<feature 2>,...
//   0,0,0.12,-0.5,1.7,0.9
// Hits of a jet are contiguous, jets of an event are contiguous; an event with no jets is a
// line "event,-1" with no features (so events without jets are represented too).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace reco {

struct Jet {
  std::vector<float> hits;  // row-major [num_hits, num_columns]
  std::int64_t num_hits = 0;
};

struct Event {
  std::int64_t id = 0;
  std::vector<Jet> jets;
  std::vector<std::vector<float>> scores;  // filled by the producer: one row per jet
};

struct EventFile {
  std::vector<std::string> columns;  // hit feature names, in file order
  std::vector<Event> events;
};

/// Reads the whole file; throws std::runtime_error naming the line on malformed input.
EventFile read_events(const std::string& path);

/// Writes event,jet,score_0,... with every float printed to round-trip exactly.
void write_scores(const std::string& path, const std::vector<Event>& events);

}  // namespace reco
