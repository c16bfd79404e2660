#pragma once

// Stored events for the WebSocket replay (api::ReplaySource) of `aragora serve`.

#include <cstdint>
#include <string>
#include <vector>

#include "api/ws_handler.hpp"
#include "common/result.hpp"
#include "events/event.hpp"
#include "storage/store.hpp"

namespace aragora::app {

struct App;

// The stored events of `debate_id` with since < seq < until_exclusive, ascending, read
// from `store` in pages of `page_size`. Blocking (store calls): run it on the blocking
// pool. kNotFound when the debate does not exist; any other store error as it came.
common::Result<std::vector<events::Event>> StoredEventsBetween(storage::Store& store,
                                                               const std::string& debate_id,
                                                               std::int64_t since,
                                                               std::int64_t until_exclusive,
                                                               int page_size = 500);

// The ReplaySource of the WebSocket handler: StoredEventsBetween on the blocking pool over
// the App's store, answered on the io_context; kUnavailable until the store is open.
api::ReplaySource MakeReplaySource(App& app);

}  // namespace aragora::app
