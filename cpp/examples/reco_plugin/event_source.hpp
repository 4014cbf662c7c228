// The "framework" side of the example: events of jets of hits read from a CSV file.
//
// File format, one hit per line after a header naming the columns:
//   event,jet,<feature 1>,<feature 2>,...
//   0,0,0.12,-0.5,1.7,0.9
// Hits of a jet are contiguous, jets of an event are contiguous; an event with no jets is a
// line "event,-1" with no features (so events without jets are represented too). Jet-level
// values (a model's graph features) are columns repeated on every hit of the jet.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace reco {

struct Jet {
  std::vector<float> hits;  // row-major [num_hits, num_columns]
  std::int64_t num_hits = 0;
};

/// One row of model outputs: of a jet (hit = -1) or of one hit of a jet.
struct ScoreRow {
  std::int64_t jet = 0;
  std::int64_t hit = -1;
  std::vector<float> values;
};

struct Event {
  std::int64_t id = 0;
  std::vector<Jet> jets;
  std::vector<ScoreRow> scores;  // filled by the producer: one row per jet or per hit
};

struct EventFile {
  std::vector<std::string> columns;  // hit feature names, in file order
  std::vector<Event> events;
};

/// Reads the whole file; throws std::runtime_error naming the line on malformed input.
EventFile read_events(const std::string& path);

/// Writes event,jet,value_0,... per jet row, event,jet,hit,value_0,... per hit row, with
/// every float printed to round-trip exactly.
void write_scores(const std::string& path, const std::vector<Event>& events);

}  // namespace reco
